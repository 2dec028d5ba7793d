"""Scorers on any causal language model (``AutoModelForCausalLM``): log-probability, perplexity,
a Yes/No judge, a pairwise A/B judge, and the DPO implicit reward.

All share one loader and one engine (``LMEngine``). How response tokens are found: the text
before the response (``prefix``: the prompt rendered with the chat template and its generation
prompt, or the plain-text format) and the whole text (``prefix + response``) are tokenized
separately. If the prefix's tokens are a prefix of the whole text's tokens, the response tokens
are the rest (``details["boundary"] == 0``). Tokenizers that glue a space to the next word
(BPE, SentencePiece) break this when the prefix ends with whitespace (``"Assistant: "``); the
whitespace is then moved from the prefix to the response and the check is repeated
(``boundary == 1``: the scored tokens include that whitespace). If neither split is clean, the
prompt and the response are tokenized separately and concatenated (``boundary == 2``), which
is what the model scores even though it is not the canonical tokenization of the joined text.

Batches are filled to a token budget and padded on the right with an attention mask; token
positions are then those of an unpadded sequence, so scores do not depend on the batch size.
Only the logits at the positions needed are projected onto the vocabulary.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.token_batching import check_budget, pad_right, run_in_batches
from ..core.types import BaseScorer, ScoreOutput, ScoreResult, _dist_version
from ..core.validation import check_not_empty, check_responses, check_texts
from .chat_format import (
    PlainFormat,
    describe_mode,
    flat_prompt,
    render_prefix,
    render_user_turn,
    resolve_mode,
)
from .hf_common import (
    check_choice,
    ensure_pad_token,
    load_or_wrap,
    resolve_max_length,
    warn_truncated,
)

#: smaller than for classifiers: the logits of a batch take tokens x vocabulary x 4 bytes
DEFAULT_LM_TOKENS_PER_BATCH = 2048
REDUCTIONS = ("mean", "sum")

DEFAULT_JUDGE_TEMPLATE = (
    "Here is a request and a response to it.\n\n"
    "Request: {prompt}\n\n"
    "Response: {response}\n\n"
    "Is the response helpful, correct and harmless? Answer Yes or No."
)
DEFAULT_PAIRWISE_TEMPLATE = (
    "Here is a request and two responses to it.\n\n"
    "Request: {prompt}\n\n"
    "Response A: {response_a}\n\n"
    "Response B: {response_b}\n\n"
    "Which response is better? Answer A or B."
)


@dataclass
class LoadedLM:
    """A causal LM ready to score: model in eval mode on its device, tokenizer with a pad id."""

    model: Any
    tokenizer: Any
    label: str
    dtype: str
    pad_how: str
    pad_id: int


def load_causal_lm(
    who: str,
    model: Any,
    tokenizer: Any = None,
    *,
    revision: str | None = None,
    dtype: Any = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedLM:
    """Load ``model`` (local folder or hub id), or wrap a loaded one (then pass ``tokenizer``)."""
    model, tokenizer, label, dtype_used = load_or_wrap(
        who,
        "AutoModelForCausalLM",
        model,
        tokenizer,
        revision=revision,
        dtype=dtype,
        device=device,
        trust_remote_code=trust_remote_code,
    )
    pad_id, how = ensure_pad_token(who, tokenizer, model)
    return LoadedLM(model, tokenizer, label, dtype_used, how, pad_id)


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
        with torch.inference_mode():
            logits = self.lm.model(**kwargs).logits
        return [logits[b, [column[p] for p in pos]].float() for b, pos in enumerate(positions)]

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
        import torch

        wanted = None

        def run(batch: list[int]) -> list[np.ndarray]:
            nonlocal wanted
            seqs = [items[i].ids for i in batch]
            rows = self._logits(seqs, [[len(s) - 1] for s in seqs])
            if wanted is None:
                wanted = torch.tensor(token_ids, device=rows[0].device)
            return [torch.log_softmax(r[0], dim=-1)[wanted].double().cpu().numpy() for r in rows]

        return np.stack(self._run(items, run))

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


# -- scorers ------------------------------------------------------------------------------------


def _full_signature(cls: type) -> type:
    """Expose the shared keyword settings of ``_LMScorer`` in ``cls``'s signature (for
    ``get_scorer``'s check of setting names and for listing settings) instead of ``**settings``."""
    own = inspect.signature(cls.__init__)
    params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    names = {p.name for p in params}
    for base in cls.__mro__[1:]:
        if "__init__" in vars(base) and issubclass(base, _LMScorer):
            for p in inspect.signature(base.__init__).parameters.values():
                if p.kind is p.KEYWORD_ONLY and p.name not in names:
                    params.append(p)
                    names.add(p.name)
    cls.__signature__ = own.replace(parameters=params[1:])  # without self
    return cls


def build_lm_engine(
    who: str,
    model: Any,
    tokenizer: Any,
    *,
    revision: str | None,
    dtype: Any,
    device: str | None,
    trust_remote_code: bool,
    template: str,
    plain_format: str,
    plain_separator: str,
    max_length: int | None,
    truncation: bool,
    truncation_side: str,
    max_tokens_per_batch: int,
    max_batch_size: int | None,
) -> tuple[LoadedLM, LMEngine]:
    """Check the shared settings, load the causal LM once and build its scoring engine."""
    check_choice(who, "truncation_side", truncation_side, ("left", "right"))
    check_choice(who, "truncation", truncation, (True, False))
    check_budget(who, max_tokens_per_batch, max_batch_size)
    plain = PlainFormat(plain_format, plain_separator)
    plain.check(who)
    lm = load_causal_lm(
        who,
        model,
        tokenizer,
        revision=revision,
        dtype=dtype,
        device=device,
        trust_remote_code=trust_remote_code,
    )
    engine = LMEngine(
        who,
        lm,
        mode=resolve_mode(who, lm.tokenizer, template, allow_pair=False),
        plain=plain,
        max_length=resolve_max_length(who, max_length, lm.tokenizer, lm.model),
        truncation=truncation,
        truncation_side=truncation_side,
        max_tokens_per_batch=max_tokens_per_batch,
        max_batch_size=max_batch_size,
    )
    return lm, engine


class _LMScorer(BaseScorer):
    """Shared constructor, signature and encoding for causal-LM scorers."""

    requires_model = True
    keep_prompt_messages = True
    backends = ("torch", "transformers")

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        revision: str | None = None,
        dtype: Any = None,
        device: str | None = None,
        max_length: int | None = None,
        truncation: bool = True,
        truncation_side: str = "left",
        template: str = "auto",
        plain_format: str = "{role}: {content}",
        plain_separator: str = "\n\n",
        max_tokens_per_batch: int = DEFAULT_LM_TOKENS_PER_BATCH,
        max_batch_size: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        who = self.name
        self.revision = revision
        self.lm, self.engine = build_lm_engine(
            who, model, tokenizer, revision=revision, dtype=dtype, device=device,
            trust_remote_code=trust_remote_code, template=template, plain_format=plain_format,
            plain_separator=plain_separator, max_length=max_length, truncation=truncation,
            truncation_side=truncation_side, max_tokens_per_batch=max_tokens_per_batch,
            max_batch_size=max_batch_size,
        )  # fmt: skip

    def settings(self) -> dict[str, Any]:
        e = self.engine
        return {
            "model": self.lm.label,
            "revision": self.revision or "default",
            "dtype": self.lm.dtype,
            "max_length": e.max_length,
            "truncation": e.truncation_side if e.truncation else "off",
            "template": describe_mode(e.mode, e.plain),
        }

    @property
    def max_tokens_per_batch(self) -> int:
        return self.engine.max_tokens_per_batch

    @max_tokens_per_batch.setter
    def max_tokens_per_batch(self, value: int) -> None:
        check_budget(self.name, value)
        for engine in self._engines():
            engine.max_tokens_per_batch = value

    @property
    def max_batch_size(self) -> int | None:
        return self.engine.max_batch_size

    @max_batch_size.setter
    def max_batch_size(self, value: int | None) -> None:
        check_budget(self.name, self.engine.max_tokens_per_batch, value)
        for engine in self._engines():
            engine.max_batch_size = value

    def _engines(self) -> list[LMEngine]:
        return [self.engine]

    def _report(self, items: Sequence[Encoded]) -> dict[str, np.ndarray]:
        flags = [i for i, it in enumerate(items) if it.truncated]
        e = self.engine
        warn_truncated(self.name, flags, len(items), e.max_length, e.truncation_side)
        return {
            "truncated": np.array([it.truncated for it in items], dtype=bool),
            "boundary": np.array([it.boundary for it in items], dtype=np.int64),
        }


class _ResponseLogProb(_LMScorer):
    """Base of the scorers built on the response tokens' log-probabilities."""

    def __init__(
        self, model: Any, tokenizer: Any = None, *, include_eos: bool = False, **settings: Any
    ) -> None:
        check_choice(self.name, "include_eos", include_eos, (True, False))
        self.include_eos = include_eos
        super().__init__(model, tokenizer, **settings)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "include_eos": self.include_eos}

    def encode(self, responses: Sequence[str], prompts: Sequence[Any] | None) -> list[Encoded]:
        e = self.engine
        prompts = [None] * len(responses) if prompts is None else prompts
        return [
            e.fit(
                e.continuation(
                    render_prefix(e.lm.tokenizer, e.mode, p, e.plain),
                    r,
                    append_eos=self.include_eos,
                ),
                i,
            )
            for i, (p, r) in enumerate(zip(prompts, responses))
        ]

    def response_logprobs(
        self, responses, prompts
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        items = self.encode(responses, prompts)
        logps = self.engine.token_logprobs(items)
        details = self._report(items)
        details["n_tokens"] = np.array([len(x) for x in logps], dtype=np.int64)
        details["sum_logprob"] = np.array([x.sum() for x in logps])
        return logps, details


@_full_signature
class LMLogProb(_ResponseLogProb):
    """Log-probability of the response tokens given the prompt (``reduction`` mean or sum)."""

    name = "lm_logprob"

    def __init__(
        self, model: Any, tokenizer: Any = None, *, reduction: str = "mean", **settings: Any
    ) -> None:
        check_choice(self.name, "reduction", reduction, REDUCTIONS)
        self.reduction = reduction
        super().__init__(model, tokenizer, **settings)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "reduction": self.reduction}

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        _, details = self.response_logprobs(responses, prompts)
        total = details["sum_logprob"]
        scores = total / details["n_tokens"] if self.reduction == "mean" else total
        return ScoreOutput(scores, details)


@_full_signature
class LMPerplexity(_ResponseLogProb):
    """Perplexity of the response given the prompt: ``exp(-mean token log-probability)``."""

    name = "lm_perplexity"
    higher_is_better = False

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        _, details = self.response_logprobs(responses, prompts)
        return ScoreOutput(np.exp(-details["sum_logprob"] / details["n_tokens"]), details)


def _fill(template: str, fields: dict[str, str]) -> str:
    for key, value in fields.items():
        template = template.replace("{" + key + "}", value)
    return template


def _check_template(who: str, template: Any, needed: tuple[str, ...]) -> str:
    if not isinstance(template, str) or any("{" + f + "}" not in template for f in needed):
        raise ScorerConfigError(
            f"{who}: the judge template must be a string containing "
            f"{', '.join('{' + f + '}' for f in needed)} (got {template!r})"
        )
    return template


def _label_probs(logp: np.ndarray, groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per group: total probability (raw), and probabilities renormalised over the groups."""
    raw = np.stack([np.exp(logp[:, g]).sum(axis=1) for g in groups], axis=1)
    logs = np.stack([np.logaddexp.reduce(logp[:, g], axis=1) for g in groups], axis=1)
    norm = np.exp(logs - np.logaddexp.reduce(logs, axis=1, keepdims=True))
    return raw, norm


@_full_signature
class LMJudge(_LMScorer):
    """Pointwise LM judge: probability that the answer to a Yes/No rubric question is "Yes".

    The template (with ``{prompt}`` and ``{response}`` filled in) is asked as a user turn
    (through the chat template when there is one); the score is ``P(Yes) / (P(Yes) + P(No))``
    from the next-token distribution, where ``P(Yes)`` sums the probabilities of the one-token
    spellings of ``yes_words`` with and without a leading space (likewise for No). The raw,
    un-normalised ``p_yes`` and ``p_no`` are in ``details``: a small sum means the model did
    not answer with either word.
    """

    name = "lm_judge"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        judge_template: str = DEFAULT_JUDGE_TEMPLATE,
        yes_words: Sequence[str] = ("Yes",),
        no_words: Sequence[str] = ("No",),
        **settings: Any,
    ) -> None:
        self.judge_template = _check_template(self.name, judge_template, ("response",))
        super().__init__(model, tokenizer, **settings)
        self.yes_words, self.no_words = tuple(yes_words), tuple(no_words)
        self.yes_ids = self.engine.single_token_ids(self.yes_words, "yes_words")
        self.no_ids = self.engine.single_token_ids(self.no_words, "no_words")
        if set(self.yes_ids) & set(self.no_ids):
            raise ScorerConfigError(f"{self.name}: yes_words and no_words share a token")

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "judge_template": repr(self.judge_template),
            "yes": ",".join(self.yes_words),
            "no": ",".join(self.no_words),
        }

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        e = self.engine
        if prompts is None and "{prompt}" in self.judge_template:
            raise ScorerInputError(
                f"{self.name}: the judge template has a {{prompt}} field but no `prompts` were "
                "given; pass prompts or a template without {prompt}"
            )
        prompts = [None] * len(responses) if prompts is None else prompts
        items = []
        for i, (p, r) in enumerate(zip(prompts, responses)):
            question = _fill(self.judge_template, {"prompt": flat_prompt(p), "response": r})
            text = render_user_turn(e.lm.tokenizer, e.mode, question, e.plain)
            items.append(e.fit(Encoded(e.lead + e._ids(text), 0), i))
        logp = e.next_token_logprobs(items, self.yes_ids + self.no_ids)
        k = len(self.yes_ids)
        raw, norm = _label_probs(logp, [list(range(k)), list(range(k, logp.shape[1]))])
        details = self._report(items)
        del details["boundary"]
        details.update(p_yes=raw[:, 0], p_no=raw[:, 1])
        return ScoreOutput(norm[:, 0], details)


class PairwiseJudge:
    """Pairwise LM judge: which of responses A and B is better, asked in both orders.

    Each pair is shown as (A, B) and as (B, A); ``compare`` returns P(A better) averaged over
    the two presentations, which cancels a constant preference for the first or second
    position, so ``compare(p, a, b) == 1 - compare(p, b, a)``. In each presentation
    ``P(first better) = P("A") / (P("A") + P("B"))`` for the next token after the question.
    Not a per-response ``Scorer``: ``score_pairs`` gives chosen/rejected-style results.
    """

    name = "lm_pairwise_judge"
    higher_is_better = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        judge_template: str = DEFAULT_PAIRWISE_TEMPLATE,
        labels: tuple[str, str] = ("A", "B"),
        revision: str | None = None,
        dtype: Any = None,
        device: str | None = None,
        max_length: int | None = None,
        truncation: bool = True,
        truncation_side: str = "left",
        template: str = "auto",
        plain_format: str = "{role}: {content}",
        plain_separator: str = "\n\n",
        max_tokens_per_batch: int = DEFAULT_LM_TOKENS_PER_BATCH,
        max_batch_size: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        who = self.name
        self.judge_template = _check_template(who, judge_template, ("response_a", "response_b"))
        if len(labels) != 2 or labels[0] == labels[1]:
            raise ScorerConfigError(f"{who}: labels must be two different words (got {labels!r})")
        self.labels, self.revision = tuple(labels), revision
        self.lm, self.engine = build_lm_engine(
            who, model, tokenizer, revision=revision, dtype=dtype, device=device,
            trust_remote_code=trust_remote_code, template=template, plain_format=plain_format,
            plain_separator=plain_separator, max_length=max_length, truncation=truncation,
            truncation_side=truncation_side, max_tokens_per_batch=max_tokens_per_batch,
            max_batch_size=max_batch_size,
        )  # fmt: skip
        self.label_ids = [self.engine.single_token_ids([w], f"label {w!r}") for w in self.labels]
        if set(self.label_ids[0]) & set(self.label_ids[1]):
            raise ScorerConfigError(f"{who}: the two labels share a token")

    def settings(self) -> dict[str, Any]:
        e = self.engine
        return {
            "model": self.lm.label,
            "revision": self.revision or "default",
            "dtype": self.lm.dtype,
            "max_length": e.max_length,
            "truncation": e.truncation_side if e.truncation else "off",
            "template": describe_mode(e.mode, e.plain),
            "judge_template": repr(self.judge_template),
            "labels": ",".join(self.labels),
        }

    @property
    def signature(self) -> str:
        parts = [self.name, f"metricrm:{_dist_version('metricrm')}"]
        parts += [f"{b}:{_dist_version(b)}" for b in ("torch", "transformers")]
        return "|".join(parts + [f"{k}:{v}" for k, v in sorted(self.settings().items())])

    def _check(self, prompts, responses_a, responses_b) -> tuple[list, list[str], list[str]]:
        who = self.name
        a = check_responses(who, responses_a)
        check_not_empty(who, len(a))
        b = check_responses(who, responses_b)
        if len(b) != len(a):
            raise ScorerInputError(
                f"{who}: expected `responses_b` to have one entry per item of `responses_a` "
                f"(got {len(a)} and {len(b)})"
            )
        if prompts is None:
            if "{prompt}" in self.judge_template:
                raise ScorerInputError(
                    f"{who}: the judge template has a {{prompt}} field but no `prompts` were given"
                )
            return [None] * len(a), a, b
        return check_texts(who, "prompts", prompts, len(a), flatten=False), a, b

    def compare_details(self, prompts, responses_a, responses_b) -> dict[str, np.ndarray]:
        """``p_a_better`` (the average) plus ``p_a_first`` (A shown first) and ``p_a_second``."""
        prompts, a, b = self._check(prompts, responses_a, responses_b)
        e, n = self.engine, len(a)
        items = []
        for order, (first, second) in enumerate(((a, b), (b, a))):
            for i in range(n):
                question = _fill(
                    self.judge_template,
                    {
                        "prompt": flat_prompt(prompts[i]),
                        "response_a": first[i],
                        "response_b": second[i],
                    },
                )
                text = render_user_turn(e.lm.tokenizer, e.mode, question, e.plain)
                items.append(e.fit(Encoded(e.lead + e._ids(text), 0), i))
        ids_a, ids_b = self.label_ids
        logp = e.next_token_logprobs(items, ids_a + ids_b)
        k = len(ids_a)
        raw, norm = _label_probs(logp, [list(range(k)), list(range(k, logp.shape[1]))])
        p_first = norm[:n, 0]  # A shown first, answer "A"
        p_second = norm[n:, 1]  # A shown second, answer "B"
        flags = [i for i, it in enumerate(items[:n]) if it.truncated or items[n + i].truncated]
        warn_truncated(self.name, flags, n, e.max_length, e.truncation_side)
        return {
            "p_a_better": (p_first + p_second) / 2,
            "p_a_first": p_first,
            "p_a_second": p_second,
            "label_mass": (raw[:n].sum(axis=1) + raw[n:].sum(axis=1)) / 2,
            "truncated": np.isin(np.arange(n), flags),
        }

    def compare(self, prompts, responses_a, responses_b) -> np.ndarray:
        """P(A better than B) per item, averaged over both presentation orders."""
        return self.compare_details(prompts, responses_a, responses_b)["p_a_better"]

    def score_pairs(self, prompts, chosen, rejected) -> tuple[ScoreResult, ScoreResult]:
        """Chosen/rejected-style results: P(chosen better) and P(rejected better) = 1 - that.

        Accuracy on a preference set is then ``mean(chosen.scores > rejected.scores)``.
        """
        details = self.compare_details(prompts, chosen, rejected)
        p = details["p_a_better"]
        make = lambda scores: ScoreResult(  # noqa: E731
            self.name, np.asarray(scores, dtype=np.float64), True, self.signature, dict(details)
        )
        return make(p), make(1.0 - p)


@_full_signature
class DPOReward(_LMScorer):
    """DPO implicit reward: ``beta * (log p_policy(response|prompt) - log p_ref(response|prompt))``,
    log-probabilities summed over the response tokens.

    ``policy`` and ``reference`` are folders, hub ids or loaded models sharing one tokenizer
    (the policy's; the reference's vocabulary must be identical). The same location for both
    loads one model, and the reward is then exactly 0.
    """

    name = "dpo_reward"

    def __init__(
        self,
        policy: Any,
        reference: Any,
        tokenizer: Any = None,
        *,
        beta: float = 0.1,
        reference_revision: str | None = None,
        include_eos: bool = False,
        reference_tokenizer: Any = None,
        **settings: Any,
    ) -> None:
        if (
            isinstance(beta, bool)
            or not isinstance(beta, (int, float))
            or not np.isfinite(beta)
            or beta <= 0
        ):
            raise ScorerConfigError(f"{self.name}: beta must be a positive number (got {beta!r})")
        check_choice(self.name, "include_eos", include_eos, (True, False))
        self.beta, self.include_eos = float(beta), include_eos
        super().__init__(policy, tokenizer, **settings)
        revision = settings.get("revision")
        self.reference_revision = reference_revision
        same = reference is policy or (
            isinstance(reference, (str, os.PathLike))
            and isinstance(policy, (str, os.PathLike))
            and str(reference) == str(policy)
            and reference_revision == revision
        )
        if same:
            self.ref = self.lm
        else:
            self.ref = load_causal_lm(
                self.name,
                reference,
                reference_tokenizer,
                revision=reference_revision,
                dtype=settings.get("dtype"),
                device=settings.get("device"),
                trust_remote_code=settings.get("trust_remote_code", False),
            )
            if self.ref.tokenizer.get_vocab() != self.lm.tokenizer.get_vocab():
                raise ScorerConfigError(
                    f"{self.name}: the policy and reference tokenizers differ; the DPO reward "
                    "needs both models to share one vocabulary"
                )
        limit = resolve_max_length(self.name, None, self.ref.tokenizer, self.ref.model)
        self.engine.max_length = min(self.engine.max_length, limit)
        self.ref_engine = LMEngine(
            self.name,
            self.ref,
            mode=self.engine.mode,
            plain=self.engine.plain,
            max_length=self.engine.max_length,
            truncation=self.engine.truncation,
            truncation_side=self.engine.truncation_side,
            max_tokens_per_batch=self.engine.max_tokens_per_batch,
            max_batch_size=self.engine.max_batch_size,
        )

    def _engines(self) -> list[LMEngine]:
        return [self.engine, self.ref_engine]

    def settings(self) -> dict[str, Any]:
        base = super().settings()
        policy = base.pop("model")
        return {
            **base,
            "policy": policy,
            "reference": self.ref.label,
            "reference_revision": self.reference_revision or "default",
            "reference_dtype": self.ref.dtype,
            "beta": self.beta,
            "include_eos": self.include_eos,
        }

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        e = self.engine
        prompts = [None] * len(responses) if prompts is None else prompts
        items = [
            e.fit(
                e.continuation(
                    render_prefix(e.lm.tokenizer, e.mode, p, e.plain),
                    r,
                    append_eos=self.include_eos,
                ),
                i,
            )
            for i, (p, r) in enumerate(zip(prompts, responses))
        ]
        policy = np.array([x.sum() for x in e.token_logprobs(items)])
        if self.ref is self.lm:
            reference = policy.copy()
        else:
            reference = np.array([x.sum() for x in self.ref_engine.token_logprobs(items)])
        details = self._report(items)
        details.update(
            logp_policy=policy,
            logp_reference=reference,
            n_tokens=np.array([len(it.ids) - it.start for it in items], dtype=np.int64),
        )
        return ScoreOutput(self.beta * (policy - reference), details)
