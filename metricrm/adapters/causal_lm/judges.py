"""LM judges on any causal language model: a pointwise Yes/No judge (a Scorer) and a pairwise
A/B judge asked in both orders. They share the loader and engine of :mod:`.engine`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.errors import ScorerConfigError, ScorerInputError
from ...core.types import ScoreOutput, ScoreResult, make_signature
from ...core.validation import check_not_empty, check_responses, check_texts
from ..chat_format import flat_prompt, render_user_turn
from ..embedding import EmbeddingScorer
from ..hf_common import warn_truncated
from ..model_settings import ModelSettings, expose_model_settings
from .engine import DEFAULT_LM_TOKENS_PER_BATCH, Encoded, build_lm_engine
from .scorers import LM_SCORE_NEUTRAL, _LMScorer, check_lm_options, lm_settings

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


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class LMJudge(_LMScorer, EmbeddingScorer):
    """Pointwise LM judge: probability that the answer to a Yes/No rubric question is "Yes".

    The template (with ``{prompt}`` and ``{response}`` filled in) is asked as a user turn
    (through the chat template when there is one); the score is ``P(Yes) / (P(Yes) + P(No))``
    from the next-token distribution, where ``P(Yes)`` sums the probabilities of the one-token
    spellings of ``yes_words`` with and without a leading space (likewise for No). The raw,
    un-normalised ``p_yes`` and ``p_no`` are in ``details``: a small sum means the model did
    not answer with either word.
    """

    name = "lm_judge"
    accepts_empty_responses = True  # the question still has an answer
    embedding_kind = "final_hidden@answer"

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

    def encode_questions(
        self,
        responses: Sequence[str],
        prompts: Sequence[Any] | None,
        template: str | None = None,
    ) -> list:
        """The judging question per item as a user turn, tokenized and truncated (``template``:
        another judging question than the scorer's own)."""
        e = self.engine
        template = self.judge_template if template is None else template
        if prompts is None and "{prompt}" in template:
            raise ScorerInputError(
                f"{self.name}: the judge template has a {{prompt}} field but no `prompts` were "
                "given; pass prompts or a template without {prompt}"
            )
        prompts = [None] * len(responses) if prompts is None else prompts
        items = []
        for i, (p, r) in enumerate(zip(prompts, responses)):
            flat = flat_prompt(p)
            question = _fill(template, {"prompt": flat, "response": r})
            text = render_user_turn(e.lm.tokenizer, e.mode, question, e.plain)
            # questions about one prompt share the template's head and the prompt
            items.append(e.fit(Encoded(e.lead + e._ids(text), 0, share=flat), i))
        return items

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        e = self.engine
        items = self.encode_questions(responses, prompts)
        logp, hidden = e.next_token_outputs(
            items, self.yes_ids + self.no_ids, hidden=self.wants_embeddings
        )
        if hidden is not None:
            self._emit_embeddings(hidden)
        k = len(self.yes_ids)
        raw, norm = _label_probs(logp, [list(range(k)), list(range(k, logp.shape[1]))])
        details = self._report(items)
        del details["boundary"]
        details.update(p_yes=raw[:, 0], p_no=raw[:, 1])
        return ScoreOutput(norm[:, 0], details)


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
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
    score_neutral = LM_SCORE_NEUTRAL
    model_defaults: dict[str, Any] = {"max_tokens_per_batch": DEFAULT_LM_TOKENS_PER_BATCH}

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        judge_template: str = DEFAULT_PAIRWISE_TEMPLATE,
        labels: tuple[str, str] = ("A", "B"),
        share_prefix: bool = True,
        quantize: str = "none",
        **settings: Any,
    ) -> None:
        who = self.name
        share_prefix, quantize = check_lm_options(who, share_prefix, quantize)
        self.judge_template = _check_template(who, judge_template, ("response_a", "response_b"))
        if len(labels) != 2 or labels[0] == labels[1]:
            raise ScorerConfigError(f"{who}: labels must be two different words (got {labels!r})")
        self.labels = tuple(labels)
        self.options = ModelSettings.build(who, settings, **self.model_defaults)
        self.revision = self.options.revision
        self.lm, self.engine = build_lm_engine(
            who, model, tokenizer, self.options, share_prefix=share_prefix, quantize=quantize
        )
        self.label_ids = [self.engine.single_token_ids([w], f"label {w!r}") for w in self.labels]
        if set(self.label_ids[0]) & set(self.label_ids[1]):
            raise ScorerConfigError(f"{who}: the two labels share a token")

    def settings(self) -> dict[str, Any]:
        return {
            **lm_settings(self.lm, self.engine, self.options),
            "judge_template": repr(self.judge_template),
            "labels": ",".join(self.labels),
        }

    @property
    def signature(self) -> str:
        return make_signature(self.name, ("torch", "transformers"), self.settings())

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
        for first, second in ((a, b), (b, a)):
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
                share = flat_prompt(prompts[i])
                items.append(e.fit(Encoded(e.lead + e._ids(text), 0, share=share), i))
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
