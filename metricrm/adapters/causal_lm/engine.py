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
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import ScorerConfigError, ScorerInputError
from ...core.token_batching import pad_right, run_in_batches
from ..chat_format import PlainFormat, resolve_mode
from ..hf_common import ensure_pad_token, load_or_wrap, resolve_max_length
from ..model_settings import ModelSettings

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


def load_causal_lm(
    who: str, model: Any, tokenizer: Any = None, settings: ModelSettings | None = None
) -> LoadedLM:
    """Load ``model`` (local folder or hub id), or wrap a loaded one (then pass ``tokenizer``),
    with ``settings`` (revision, dtype, device, remote code)."""
    settings = settings if settings is not None else ModelSettings()
    loaded = load_or_wrap(who, "AutoModelForCausalLM", model, tokenizer, settings)
    pad_id, how = ensure_pad_token(who, loaded.tokenizer, loaded.model)
    return LoadedLM(
        loaded.model, loaded.tokenizer, loaded.identity, loaded.dtype, how, pad_id, loaded.untrained
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
    """Token ids of one sequence; tokens from ``start`` on are scored."""

    ids: list[int]
    start: int
    boundary: int = 0
    truncated: bool = False


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
            return Encoded(item.ids[: self.max_length], item.start, item.boundary, True)
        lead = self.lead if item.ids[: len(self.lead)] == self.lead else []
        keep = self.max_length - len(lead)
        dropped = n - len(lead) - keep
        ids = lead + item.ids[len(lead) + dropped :]
        start = max(item.start - dropped, len(lead), 1)
        return Encoded(ids, start, item.boundary, True)

    # -- model calls --------------------------------------------------------------------------

    def _logits(self, seqs: list[list[int]], positions: list[list[int]]) -> list[Any]:
        """Float32 logits at the given positions of each sequence (one tensor per item)."""
        return self._forward(seqs, positions)[0]

    def _forward(
        self, seqs: list[list[int]], positions: list[list[int]], *, hidden: bool = False
    ) -> tuple[list[Any], list[Any] | None]:
        """Float32 logits at the given positions of each sequence (one tensor per item) and,
        with ``hidden``, the final hidden states there (the input of the output layer)."""
        import torch

        ids, mask = pad_right(seqs, self.lm.pad_id)
        kwargs: dict[str, Any] = {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
            "use_cache": False,
        }
        keep = sorted({p for pos in positions for p in pos})
        width = len(ids[0])
        if self._keep and len(keep) < width:
            kwargs["logits_to_keep"] = torch.tensor(keep, device=self.device)
            column = {p: j for j, p in enumerate(keep)}
        else:
            column = {p: p for p in range(width)}
        captured: list[Any] = []
        handle = None
        if hidden:
            head = self.lm.model.get_output_embeddings()
            handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            with torch.inference_mode():
                logits = self.lm.model(**kwargs).logits
        finally:
            if handle is not None:
                handle.remove()
        cols = [[column[p] for p in pos] for pos in positions]
        rows = [logits[b, c].float() for b, c in enumerate(cols)]
        states = [captured[-1][b, c].float() for b, c in enumerate(cols)] if hidden else None
        return rows, states

    def token_logprobs(self, items: Sequence[Encoded]) -> list[np.ndarray]:
        """Log-probability of every scored token (``ids[start:]``), in input order."""
        import torch

        def run(batch: list[int]) -> list[np.ndarray]:
            seqs = [items[i].ids for i in batch]
            positions = [list(range(items[i].start - 1, len(items[i].ids) - 1)) for i in batch]
            out = []
            for i, rows in zip(batch, self._logits(seqs, positions)):
                targets = torch.tensor(items[i].ids[items[i].start :], device=rows.device)
                logp = torch.log_softmax(rows, dim=-1).gather(1, targets[:, None])[:, 0]
                out.append(logp.double().cpu().numpy())
            return out

        return self._run(items, run)

    def next_token_logprobs(self, items: Sequence[Encoded], token_ids: list[int]) -> np.ndarray:
        """Log-probabilities ``(n, len(token_ids))`` of the next token after each sequence."""
        return self.next_token_outputs(items, token_ids)[0]

    def next_token_outputs(
        self, items: Sequence[Encoded], token_ids: list[int], *, hidden: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``next_token_logprobs`` and, with ``hidden``, the final hidden state ``(n, d)`` at the
        last token of each sequence (the state the next token is predicted from).

        Callers that hook the model (activation patching) set ``on_batch``: it receives each
        batch's last-token positions before the forward pass.
        """
        import torch

        wanted = None

        def run(batch: list[int]) -> list[tuple[np.ndarray, np.ndarray | None]]:
            nonlocal wanted
            seqs = [items[i].ids for i in batch]
            last = [len(s) - 1 for s in seqs]
            if self.on_batch is not None:
                self.on_batch(last)
            rows, states = self._forward(seqs, [[p] for p in last], hidden=hidden)
            if wanted is None:
                wanted = torch.tensor(token_ids, device=rows[0].device)
            out = []
            for b, r in enumerate(rows):
                logp = torch.log_softmax(r[0], dim=-1)[wanted].double().cpu().numpy()
                state = states[b][0].double().cpu().numpy() if states is not None else None
                out.append((logp, state))
            return out

        results = self._run(items, run)
        logps = np.stack([r[0] for r in results])
        return logps, (np.stack([r[1] for r in results]) if hidden else None)

    def _run(self, items: Sequence[Encoded], fn) -> list:
        lengths = [len(it.ids) for it in items]
        return run_in_batches(
            lengths, fn, self.max_tokens_per_batch, max_batch_size=self.max_batch_size
        )

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
    who: str, model: Any, tokenizer: Any, settings: ModelSettings
) -> tuple[LoadedLM, LMEngine]:
    """Load the causal LM once and build its scoring engine from checked ``settings``."""
    lm = load_causal_lm(who, model, tokenizer, settings)
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
    )
    return lm, engine
