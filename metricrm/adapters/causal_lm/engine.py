"""The engine behind every causal-LM scorer: load once, find the response tokens, batch, run.

How response tokens are found: the text before the response (``prefix``: the prompt rendered
with the chat template and its generation prompt, or the plain-text format) and the whole text
(``prefix + response``) are tokenized separately. If the prefix's tokens are a prefix of the
whole text's tokens, the response tokens are the rest (``details["boundary"] == 0``).
Tokenizers that glue a space to the next word (BPE, SentencePiece) break this when the prefix
ends with whitespace (``"Assistant: "``); the whitespace is then moved from the prefix to the
response and the check is repeated (``boundary == 1``: the scored tokens include that
whitespace). If neither split is clean, the prompt and the response are tokenized separately
and concatenated (``boundary == 2``), which is what the model scores even though it is not the
canonical tokenization of the joined text.

Batches are filled to a token budget and padded on the right with an attention mask; token
positions are then those of an unpadded sequence, so scores do not depend on the batch size.
Only the logits at the positions needed are projected onto the vocabulary.

With ``share_prefix`` on (the default), items that carry the same ``share`` key (the responses
to one prompt) run their common leading tokens once and reuse that key/value cache
(:mod:`.prefix`); scores agree with the plain path to float tolerance, so the setting is
score-neutral like the batch size.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ...core.errors import ScorerConfigError, ScorerInputError
from ...core.token_batching import pad_right, run_in_batches
from ..chat_format import PlainFormat, resolve_mode
from ..hf_common import ensure_pad_token, load_or_wrap, resolve_max_length
from ..model_settings import ModelSettings
from .prefix import SharedPrefixRunner, plan_groups
from .quantize import quantize_model

DEFAULT_LM_TOKENS_PER_BATCH = 2048
REDUCTIONS = ("mean", "sum")


@dataclass
class LoadedLM:
    """A causal LM ready to score: model in eval mode on its device, tokenizer with a pad id,
    what identifies the weights in signatures (``label``) and the weights its checkpoint lacked
    (``untrained``, only when ``allow_untrained_head=True`` let it load)."""

    model: Any
    tokenizer: Any
    label: str
    dtype: str
    pad_how: str
    pad_id: int
    untrained: tuple[str, ...] = ()
    quantize: str = "none"


def load_causal_lm(
    who: str,
    model: Any,
    tokenizer: Any = None,
    settings: ModelSettings | None = None,
    *,
    quantize: str = "none",
) -> LoadedLM:
    """Load ``model`` (local folder or hub id), or wrap a loaded one (then pass ``tokenizer``),
    with ``settings`` (revision, dtype, device, remote code); ``quantize="int8"`` quantises its
    linear layers (:mod:`.quantize`; a loaded model passed in is copied first)."""
    settings = settings if settings is not None else ModelSettings()
    owned = isinstance(model, (str, os.PathLike))
    loaded = load_or_wrap(who, "AutoModelForCausalLM", model, tokenizer, settings)
    pad_id, how = ensure_pad_token(who, loaded.tokenizer, loaded.model)
    weights = quantize_model(who, loaded.model, quantize, copy_first=not owned)
    return LoadedLM(
        weights,
        loaded.tokenizer,
        loaded.identity,
        loaded.dtype,
        how,
        pad_id,
        loaded.untrained,
        quantize,
    )


def _special_lead(tokenizer: Any) -> list[int]:
    """Special tokens the tokenizer puts before a text (e.g. BOS); trailing ones are not used."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start])
    return []


@dataclass
class Encoded:
    """Token ids of one sequence; tokens from ``start`` on are scored. Items with the same
    ``share`` key (not None) may run their common leading tokens once."""

    ids: list[int]
    start: int
    boundary: int = 0
    truncated: bool = False
    share: Any = None


class LMEngine:
    """Tokenizes, truncates, batches and runs one causal LM."""

    def __init__(
        self,
        who: str,
        lm: LoadedLM,
        *,
        mode: str,
        plain: PlainFormat,
        max_length: int,
        truncation: bool,
        truncation_side: str,
        max_tokens_per_batch: int,
        max_batch_size: int | None,
        share_prefix: bool = True,
    ) -> None:
        self.who, self.lm = who, lm
        self.mode, self.plain = mode, plain
        self.max_length, self.truncation, self.truncation_side = (
            max_length,
            truncation,
            truncation_side,
        )
        self.max_tokens_per_batch, self.max_batch_size = max_tokens_per_batch, max_batch_size
        self.lead = [] if mode == "chat" else _special_lead(lm.tokenizer)
        params = inspect.signature(lm.model.forward).parameters
        self._keep = "logits_to_keep" in params
        tok = lm.tokenizer
        self._context = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        # transformers 5 calls the key/value cache argument `cache`, 4.x `past_key_values`
        self._cache_arg = next((a for a in ("cache", "past_key_values") if a in params), None)
        self.share_prefix = share_prefix
        #: why prefix sharing is off for this model although asked for (None: it is not)
        self.share_disabled: str | None = None
        if self._cache_arg is None or "position_ids" not in params:
            self.share_disabled = "the model's forward takes no key/value cache or position ids"
        #: padded tokens run through the model, and forward calls (plain or shared)
        self.counters = {"tokens": 0, "calls": 0}
        #: called with each batch's last-token positions before its forward pass (see
        #: ``next_token_outputs``); None for plain scoring
        self.on_batch: Any = None

    @property
    def device(self) -> Any:
        return next(self.lm.model.parameters()).device

    def _ids(self, text: str) -> list[int]:
        return list(self.lm.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    # -- encoding -----------------------------------------------------------------------------

    def continuation(self, prefix: str, response: str, *, append_eos: bool = False) -> Encoded:
        """Token ids of ``prefix + response`` and where the response tokens start (module doc)."""
        full = self.lead + self._ids(prefix + response)
        head = self.lead + self._ids(prefix)
        boundary = 0
        if full[: len(head)] != head or len(full) == len(head):
            stripped = prefix.rstrip()
            head2 = self.lead + self._ids(stripped)
            if stripped != prefix and full[: len(head2)] == head2 and len(full) > len(head2):
                head, boundary = head2, 1
            else:
                full, boundary = head + self._ids(response), 2
        if not head:  # nothing to condition the first response token on
            if self._context is None:
                raise ScorerConfigError(
                    f"{self.who}: the prompt format yields no tokens before the response and the "
                    "tokenizer has no BOS/EOS token to start from; use a prompt format with text"
                )
            head, full = [self._context], [self._context] + full
        if append_eos:
            eos = self.lm.tokenizer.eos_token_id
            if eos is None:
                raise ScorerConfigError(
                    f"{self.who}: include_eos=True but the tokenizer has no EOS token"
                )
            full = full + [int(eos)]
        return Encoded(full, len(head), boundary)

    def fit(self, item: Encoded, index: int) -> Encoded:
        """Apply ``max_length``: truncate (keeping leading special tokens) or refuse."""
        n = len(item.ids)
        if n <= self.max_length:
            return item
        if not self.truncation:
            raise ScorerInputError(
                f"{self.who}: item {index} is {n} tokens long, more than max_length="
                f"{self.max_length}, and truncation is off; shorten it or pass truncation=True"
            )
        if self.truncation_side == "right":
            if item.start >= self.max_length:
                raise ScorerInputError(
                    f"{self.who}: item {index}: its prompt alone fills "
                    f"max_length={self.max_length} "
                    "tokens, so right truncation leaves no response token to score; use "
                    "truncation_side='left'"
                )
            return replace(item, ids=item.ids[: self.max_length], truncated=True)
        lead = self.lead if item.ids[: len(self.lead)] == self.lead else []
        keep = self.max_length - len(lead)
        dropped = n - len(lead) - keep
        ids = lead + item.ids[len(lead) + dropped :]
        start = max(item.start - dropped, len(lead), 1)
        return replace(item, ids=ids, start=start, truncated=True)

    # -- model calls --------------------------------------------------------------------------

    def forward(
        self,
        seqs: list[list[int]],
        *,
        keep: list[int],
        mask: list[list[int]] | None = None,
        cache: Any = None,
        position_ids: list[list[int]] | None = None,
        use_cache: bool = False,
        states_out: list | None = None,
    ) -> tuple[Any, Any]:
        """One forward pass over right-padded ``seqs``: the logits at the input positions
        ``keep`` (column ``j`` is position ``keep[j]``) and the key/value cache if asked for.
        ``mask`` (covering cached and new tokens) and ``position_ids`` go with a ``cache``.
        With ``states_out`` (a list), the final hidden states at ``keep`` (the input of the
        output layer, same columns as the logits) are appended to it."""
        import torch

        ids, own_mask = pad_right(seqs, self.lm.pad_id)
        device = self.device
        kwargs: dict[str, Any] = {
            "input_ids": torch.tensor(ids, device=device),
            "attention_mask": torch.tensor(own_mask if mask is None else mask, device=device),
            "use_cache": use_cache,
        }
        if cache is not None:
            kwargs[self._cache_arg] = cache
        if position_ids is not None:
            kwargs["position_ids"] = torch.tensor(position_ids, device=device)
        width = len(ids[0])
        slice_keep = self._keep and len(keep) < width
        if slice_keep:
            kwargs["logits_to_keep"] = torch.tensor(keep, device=device)
        self.counters["tokens"] += width * len(ids)
        self.counters["calls"] += 1
        captured: list[Any] = []
        handle = None
        if states_out is not None:
            head = self.lm.model.get_output_embeddings()
            handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            with torch.inference_mode():
                out = self.lm.model(**kwargs)
        finally:
            if handle is not None:
                handle.remove()
        logits = out.logits if slice_keep else out.logits[:, keep]
        if states_out is not None:
            states = captured[-1]
            # the model slices its hidden states like its logits when it takes logits_to_keep
            states_out.append(states if states.shape[1] == len(keep) else states[:, keep])
        new_cache = getattr(out, self._cache_arg, None) if use_cache and self._cache_arg else None
        return logits, new_cache

    def _collect(
        self,
        items: Sequence[Encoded],
        needed: list[list[int]],
        reduce: Callable[[int, Any], Any],
    ) -> list:
        """``reduce(i, rows)`` for every item, where ``rows`` are the float32 logits at the
        positions ``needed[i]`` (ascending) of item ``i``; results in input order."""
        out: list = [None] * len(items)
        ids = [it.ids for it in items]
        if self.share_prefix and self.share_disabled is None:
            keys = [it.share for it in items]
            plain, groups = plan_groups(ids, [n[0] for n in needed], keys)
            if groups:
                plain += SharedPrefixRunner(self).run(ids, needed, groups, reduce, out)
        else:
            plain = list(range(len(items)))

        def run(batch: list[int]) -> list:
            chosen = [plain[b] for b in batch]
            keep = sorted({p for i in chosen for p in needed[i]})
            column = {p: j for j, p in enumerate(keep)}
            logits, _ = self.forward([ids[i] for i in chosen], keep=keep)
            return [
                reduce(i, logits[b, [column[p] for p in needed[i]]].float())
                for b, i in enumerate(chosen)
            ]

        lengths = [len(ids[i]) for i in plain]
        results = run_in_batches(
            lengths, run, self.max_tokens_per_batch, max_batch_size=self.max_batch_size
        )
        for i, value in zip(plain, results):
            out[i] = value
        return out

    def token_logprobs(self, items: Sequence[Encoded]) -> list[np.ndarray]:
        """Log-probability of every scored token (``ids[start:]``), in input order."""
        import torch

        def reduce(i: int, rows: Any) -> np.ndarray:
            targets = torch.tensor(items[i].ids[items[i].start :], device=rows.device)
            logp = torch.log_softmax(rows, dim=-1).gather(1, targets[:, None])[:, 0]
            return logp.double().cpu().numpy()

        needed = [list(range(it.start - 1, len(it.ids) - 1)) for it in items]
        return self._collect(items, needed, reduce)

    def next_token_logprobs(self, items: Sequence[Encoded], token_ids: list[int]) -> np.ndarray:
        """Log-probabilities ``(n, len(token_ids))`` of the next token after each sequence."""
        return self.next_token_outputs(items, token_ids)[0]

    def next_token_outputs(
        self, items: Sequence[Encoded], token_ids: list[int], *, hidden: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``next_token_logprobs`` and, with ``hidden``, the final hidden state ``(n, d)`` at the
        last token of each sequence (the state the next token is predicted from).

        Callers that hook the model (activation patching) set ``on_batch``: it receives each
        batch's last-token positions before the forward pass. Hooked runs and runs with
        ``hidden`` pass every sequence whole (no shared prefix), so positions are absolute.
        """
        import torch

        wanted: dict[Any, Any] = {}

        def logp_of(row: Any) -> np.ndarray:
            if row.device not in wanted:
                wanted[row.device] = torch.tensor(token_ids, device=row.device)
            return torch.log_softmax(row, dim=-1)[wanted[row.device]].double().cpu().numpy()

        if not hidden and self.on_batch is None:
            needed = [[len(it.ids) - 1] for it in items]
            rows = self._collect(items, needed, lambda i, r: logp_of(r[0]))
            return np.stack(rows), None

        def run(batch: list[int]) -> list[tuple[np.ndarray, np.ndarray | None]]:
            seqs = [items[i].ids for i in batch]
            last = [len(s) - 1 for s in seqs]
            if self.on_batch is not None:
                self.on_batch(last)
            keep = sorted(set(last))
            column = {p: j for j, p in enumerate(keep)}
            states: list[Any] = []
            logits, _ = self.forward(seqs, keep=keep, states_out=states if hidden else None)
            out = []
            for b, p in enumerate(last):
                logp = logp_of(logits[b, column[p]].float())
                state = states[0][b, column[p]].double().cpu().numpy() if hidden else None
                out.append((logp, state))
            return out

        lengths = [len(it.ids) for it in items]
        results = run_in_batches(
            lengths, run, self.max_tokens_per_batch, max_batch_size=self.max_batch_size
        )
        logps = np.stack([r[0] for r in results])
        return logps, (np.stack([r[1] for r in results]) if hidden else None)

    def single_token_ids(self, words: Sequence[str], what: str) -> list[int]:
        """Ids of the one-token spellings of ``words`` (with and without a leading space)."""
        if isinstance(words, str) or not words:
            raise ScorerConfigError(
                f"{self.who}: {what} must be a non-empty list of words (got {words!r})"
            )
        found: list[int] = []
        for word in words:
            for variant in (word, " " + word):
                ids = self._ids(variant)
                if len(ids) == 1 and ids[0] not in found:
                    found.append(ids[0])
        if not found:
            raise ScorerConfigError(
                f"{self.who}: none of the {what} {list(words)} is a single token for this "
                "tokenizer; choose words that are"
            )
        return found


def build_lm_engine(
    who: str,
    model: Any,
    tokenizer: Any,
    settings: ModelSettings,
    *,
    share_prefix: bool = True,
    quantize: str = "none",
) -> tuple[LoadedLM, LMEngine]:
    """Load the causal LM once (quantised as ``quantize`` says) and build its scoring engine
    from checked ``settings``."""
    lm = load_causal_lm(who, model, tokenizer, settings, quantize=quantize)
    engine = LMEngine(
        who,
        lm,
        mode=resolve_mode(who, lm.tokenizer, settings.template, allow_pair=False),
        plain=settings.plain,
        max_length=resolve_max_length(who, settings.max_length, lm.tokenizer, lm.model),
        truncation=settings.truncation,
        truncation_side=settings.truncation_side,
        max_tokens_per_batch=settings.max_tokens_per_batch,
        max_batch_size=settings.max_batch_size,
        share_prefix=share_prefix,
    )
    return lm, engine
