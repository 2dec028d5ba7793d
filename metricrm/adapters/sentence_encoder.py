"""A frozen sentence encoder: transformer token states pooled into one vector per text.

With the defaults (mean pooling over the attention mask, L2 normalisation, 256 tokens,
truncation on the right) an ``all-MiniLM-L6-v2`` folder gives the embeddings its
sentence-transformers configuration defines (``modules.json``: Transformer, mean Pooling,
Normalize; ``max_seq_length`` 256). Texts are grouped by a token budget and padded on the
right, so an embedding does not depend on the batch it was computed in beyond float rounding.

Each call embeds every distinct text once. A ``memo`` dict passed by the caller keeps
embeddings in memory across calls (training); ``cache_dir`` keeps them on disk across runs,
in one ``.npz`` file per encoder and setting combination.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
from ..core.token_batching import (
    DEFAULT_MAX_TOKENS_PER_BATCH,
    check_budget,
    pad_right,
    run_in_batches,
    select_device,
)
from ..core.validation import check_choice, check_flag, check_integer
from .hf_common import load_model, resolve_max_length
from .model_location import (
    default_encoder_path,
    hub_snapshot,
    is_default_encoder,
    model_identity,
    resolve_model_location,
)

POOLINGS = ("mean", "cls")
SIDES = ("left", "right")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SentenceEncoder:
    """Embed texts with a frozen transformer encoder (``AutoModel``), loaded on first use.

    ``model`` is a local folder or hub id; None means the offline all-MiniLM-L6-v2.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        max_length: int = 256,
        pooling: str = "mean",
        normalize: bool = True,
        device: str | None = None,
        max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
        cache_dir: str | os.PathLike | None = None,
        who: str = "sentence_encoder",
    ) -> None:
        self.who = who
        check_choice(who, "pooling", pooling, POOLINGS)
        check_flag(who, "normalize", normalize)
        check_budget(who, max_tokens_per_batch)
        check_integer(who, "max_length", max_length, minimum=2)
        self.location = str(
            default_encoder_path() if model is None else resolve_model_location(model, who=who)
        )
        self.is_default = is_default_encoder(self.location)
        self._label: str | None = None
        self.max_length, self.pooling, self.normalize = max_length, pooling, normalize
        self.max_tokens_per_batch = max_tokens_per_batch
        self.device = select_device(device)
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self._model: Any = None
        self._tokenizer: Any = None
        self._disk: dict[str, tuple[np.ndarray, bool]] | None = None

    # -- identity -----------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The encoder's identity: ``<name>@<digest of its files>`` (a hub model not yet in the
        local hub cache is loaded first)."""
        if self._label is None:
            if not Path(self.location).is_dir() and hub_snapshot(self.location) is None:
                self.load()
                self._label = model_identity(self.location, model=self._model)
            else:
                self._label = model_identity(self.location)
        return self._label

    def settings(self) -> dict[str, Any]:
        """Everything that changes an embedding."""
        return {
            "encoder": self.label,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_length": self.max_length,
        }

    @property
    def key(self) -> str:
        """Short hash of :meth:`settings`: names the disk cache file and keys memo entries."""
        text = repr(sorted(self.settings().items()))
        if getattr(self, "_key_for", None) != text:
            self._key_for, self._key = text, _sha(text)[:16]
        return self._key

    # -- model --------------------------------------------------------------------------------

    def load(self) -> SentenceEncoder:
        if self._model is None:
            model, tokenizer, _, untrained = load_model(
                self.who,
                "AutoModel",
                self.location,
                revision=None,
                dtype="float32",
                trust_remote_code=False,
            )
            # the pooler is never used (mean or first-token pooling of the last hidden states)
            untrained = tuple(n for n in untrained if not n.startswith("pooler."))
            if untrained:
                shown = ", ".join(untrained[:8])
                more = f", ... ({len(untrained)} in all)" if len(untrained) > 8 else ""
                raise ScorerConfigError(
                    f"{self.who}: the encoder checkpoint at {self.location!r} does not hold every "
                    f"weight of {type(model).__name__}: {shown}{more} would be initialised at "
                    "random, so its embeddings (and every score built on them) would be noise; "
                    "use a checkpoint of an encoder model"
                )
            self.max_length = resolve_max_length(self.who, self.max_length, tokenizer, model)
            if tokenizer.pad_token_id is None:
                raise ScorerConfigError(
                    f"{self.who}: the encoder's tokenizer at {self.location!r} has no pad token"
                )
            model.to(self.device)
            self._model, self._tokenizer = model, tokenizer
        return self

    @property
    def dim(self) -> int:
        """Embedding size (the encoder's hidden size)."""
        return int(self.load()._model.config.hidden_size)

    # -- embedding ----------------------------------------------------------------------------

    def _tokenize(self, texts: list[str], side: str) -> tuple[list[dict], list[bool]]:
        tok = self._tokenizer
        keys = ("input_ids", "token_type_ids")
        full = tok(texts, truncation=False, verbose=False)
        enc = [{k: list(full[k][i]) for k in keys if k in full} for i in range(len(texts))]
        long_items = [i for i, e in enumerate(enc) if len(e["input_ids"]) > self.max_length]
        if long_items:
            old = tok.truncation_side
            tok.truncation_side = side
            try:
                cut = tok(
                    [texts[i] for i in long_items], truncation=True, max_length=self.max_length
                )
            finally:
                tok.truncation_side = old
            for j, i in enumerate(long_items):
                enc[i] = {k: list(cut[k][j]) for k in keys if k in cut}
        truncated = [False] * len(texts)
        for i in long_items:
            truncated[i] = True
        return enc, truncated

    def _forward(self, items: list[dict]) -> list[np.ndarray]:
        import torch

        ids, mask = pad_right([it["input_ids"] for it in items], self._tokenizer.pad_token_id)
        inputs = {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
        }
        if "token_type_ids" in items[0]:
            inputs["token_type_ids"] = torch.tensor(
                pad_right([it["token_type_ids"] for it in items], 0)[0], device=self.device
            )
        with torch.inference_mode():
            states = self._model(**inputs).last_hidden_state.float()
            if self.pooling == "cls":
                pooled = states[:, 0]
            else:
                m = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return list(pooled.cpu().numpy())

    def embed(
        self,
        texts: Sequence[str],
        *,
        side: str = "right",
        memo: dict | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (n, dim) float32, truncated (n,) bool)`` for ``texts``.

        Texts longer than ``max_length`` tokens are cut on ``side`` (``"left"`` keeps the end);
        each distinct text is embedded once; ``memo`` (a dict owned by the caller) and the disk
        cache are looked up first and filled with what was computed.
        """
        check_choice(self.who, "side", side, SIDES)
        texts = list(texts)
        known: dict[str, tuple[np.ndarray, bool]] = {}
        disk = self._disk_entries()
        todo: list[str] = []
        key = self.key
        for text in dict.fromkeys(texts):
            hit = None
            if memo is not None:
                hit = memo.get((key, side, text))
            if hit is None and disk is not None:
                hit = disk.get(_sha(f"{side}\0{text}"))
            if hit is None:
                todo.append(text)
            else:
                known[text] = hit
        if todo:
            self.load()
            encoded, truncated = self._tokenize(todo, side)
            vectors = run_in_batches(
                [len(e["input_ids"]) for e in encoded],
                lambda batch: self._forward([encoded[i] for i in batch]),
                self.max_tokens_per_batch,
            )
            for text, vec, cut in zip(todo, vectors, truncated):
                known[text] = (np.asarray(vec, dtype=np.float32), bool(cut))
            if disk is not None:
                for text in todo:
                    disk[_sha(f"{side}\0{text}")] = known[text]
                self._save_disk()
        if memo is not None:
            for text, value in known.items():
                memo[(key, side, text)] = value
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros(0, dtype=bool)
        return (
            np.stack([known[t][0] for t in texts]),
            np.asarray([known[t][1] for t in texts], dtype=bool),
        )

    # -- disk cache ---------------------------------------------------------------------------

    @property
    def cache_file(self) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"embeddings-{self.key}.npz"

    def _disk_entries(self) -> dict[str, tuple[np.ndarray, bool]] | None:
        if self.cache_dir is None:
            return None
        if self._disk is None:
            self._disk = {}
            file = self.cache_file
            if file is not None and file.is_file():
                with np.load(file) as data:
                    if str(data["settings"]) != repr(sorted(self.settings().items())):
                        raise ScorerConfigError(
                            f"{self.who}: embedding cache {str(file)!r} was written with other "
                            "encoder settings; remove it or use another cache_dir"
                        )
                    for k, v, t in zip(data["keys"], data["vectors"], data["truncated"]):
                        self._disk[str(k)] = (v, bool(t))
        return self._disk

    def _save_disk(self) -> None:
        file = self.cache_file
        assert file is not None and self._disk is not None
        file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._disk)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            settings=np.asarray(repr(sorted(self.settings().items()))),
            keys=np.asarray(keys),
            vectors=np.stack([self._disk[k][0] for k in keys]),
            truncated=np.asarray([self._disk[k][1] for k in keys], dtype=bool),
        )
        os.replace(tmp, file)
