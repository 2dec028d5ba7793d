"""Voting LM judge: several wordings of the Yes/No judging question, optionally several sampled
answers to each, and the share of Yes votes as the score.

Each template in ``judge_templates`` (default :data:`DEFAULT_VOTE_TEMPLATES`; ``judge_template``
gives a single one) is asked exactly as ``lm_judge`` asks its one question, and
gives ``P(Yes) / (P(Yes) + P(No))``. Votes per template:

- ``samples=0`` (default): one hard vote, Yes when that probability is above 0.5 (half a vote
  at exactly 0.5): a majority vote over the wordings;
- ``samples=n``: ``n`` answers drawn from the answer distribution at ``temperature`` (the
  probability becomes ``sigmoid(logit(P) / temperature)``), from a generator seeded by
  ``seed`` and the question's own token ids, so a response's votes depend neither on the other
  items in the batch nor on their order.

The score is the share of Yes votes over all templates and samples, so it takes few distinct
values and two responses often tie. ``details`` hold ``votes_yes``, ``p_yes_mean`` (the mean
probability over the templates) and ``truncated`` (any question cut). The embedding offered to
``ebrm`` is the final hidden state at the answer position of the first template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.errors import ScorerConfigError
from ...core.types import ScoreOutput
from ...core.validation import check_integer, check_number
from ..model_settings import expose_model_settings
from .engine import DEFAULT_LM_TOKENS_PER_BATCH
from .judges import DEFAULT_JUDGE_TEMPLATE, LMJudge, _check_template, _label_probs

DEFAULT_VOTE_TEMPLATES = (
    DEFAULT_JUDGE_TEMPLATE,
    "Request: {prompt}\n\n"
    "Response: {response}\n\n"
    "Does this response answer the request well and safely? Answer Yes or No.",
    "Read the request and the response below.\n\n"
    "Request: {prompt}\n\n"
    "Response: {response}\n\n"
    "Would a careful expert approve of this response? Answer Yes or No.",
)


def item_seed(ids: Sequence[int]) -> int:
    """A 64-bit integer from a question's token ids (seeds that question's sampled votes)."""
    data = np.asarray(ids, dtype=np.int64).tobytes()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def tempered(p: np.ndarray, temperature: float) -> np.ndarray:
    """``sigmoid(logit(p) / temperature)``, exact at p = 0 and 1."""
    with np.errstate(divide="ignore", over="ignore"):
        z = (np.log(p) - np.log1p(-p)) / temperature
        return 1.0 / (1.0 + np.exp(-z))


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class VotingJudge(LMJudge):
    """Yes/No LM judge voting over several question wordings and sampled answers (module
    docstring); the score is the share of Yes votes."""

    name = "lm_vote_judge"
    embedding_kind = "final_hidden@answer:first_template"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        judge_templates: Sequence[str] | None = None,
        judge_template: str | None = None,
        samples: int = 0,
        temperature: float = 1.0,
        seed: int = 0,
        yes_words: Sequence[str] = ("Yes",),
        no_words: Sequence[str] = ("No",),
        **settings: Any,
    ) -> None:
        who = self.name
        if judge_template is not None:  # one wording, as lm_judge takes it
            if judge_templates is not None:
                raise ScorerConfigError(
                    f"{who}: give `judge_templates` (several wordings) or `judge_template` (one), "
                    "not both"
                )
            judge_templates = [judge_template]
        elif judge_templates is None:
            judge_templates = DEFAULT_VOTE_TEMPLATES
        if isinstance(judge_templates, str) or not isinstance(judge_templates, Sequence):
            raise ScorerConfigError(
                f"{who}: `judge_templates` must be a list of templates, each containing "
                f"{{response}} (got {type(judge_templates).__name__})"
            )
        if not judge_templates:
            raise ScorerConfigError(f"{who}: `judge_templates` must hold at least one template")
        templates = tuple(_check_template(who, t, ("response",)) for t in judge_templates)
        self.samples = check_integer(who, "samples", samples, minimum=0)
        self.temperature = check_number(who, "temperature", temperature, above=0.0)
        self.seed = check_integer(who, "seed", seed, minimum=0)
        super().__init__(
            model,
            tokenizer,
            judge_template=templates[0],
            yes_words=yes_words,
            no_words=no_words,
            **settings,
        )
        self.judge_templates = templates

    def settings(self) -> dict[str, Any]:
        out = super().settings()
        del out["judge_template"]
        return {
            **out,
            "judge_templates": repr(self.judge_templates),
            "samples": self.samples,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    def votes(self, p_yes: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Yes votes per item from ``p_yes`` (n, templates) and one seed per question."""
        if self.samples == 0:
            return (p_yes > 0.5).sum(axis=1) + 0.5 * (p_yes == 0.5).sum(axis=1)
        p = tempered(p_yes, self.temperature)
        out = np.zeros(len(p))
        for i, t in np.ndindex(*p.shape):
            draws = np.random.default_rng([self.seed, int(seeds[i, t])]).random(self.samples)
            out[i] += float((draws < p[i, t]).sum())
        return out

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        e = self.engine
        k = len(self.yes_ids)
        groups = [list(range(k)), list(range(k, k + len(self.no_ids)))]
        columns, seeds, details = [], [], {}
        for t, template in enumerate(self.judge_templates):
            items = self.encode_questions(responses, prompts, template=template)
            logp, hidden = e.next_token_outputs(
                items, self.yes_ids + self.no_ids, hidden=t == 0 and self.wants_embeddings
            )
            if hidden is not None:
                self._emit_embeddings(hidden)
            columns.append(_label_probs(logp, groups)[1][:, 0])
            seeds.append([item_seed(it.ids) for it in items])
            report = self._report(items)
            details["truncated"] = details.get("truncated", False) | report["truncated"]
            if "untrained_head" in report:
                details["untrained_head"] = report["untrained_head"]
        p_yes = np.stack(columns, axis=1)
        votes = self.votes(p_yes, np.array(seeds, dtype=object).T)
        total = len(self.judge_templates) * max(self.samples, 1)
        details.update(votes_yes=votes, p_yes_mean=p_yes.mean(axis=1))
        return ScoreOutput(votes / total, details)
