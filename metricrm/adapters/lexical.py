"""Lexical scorers: SQuAD-style exact match and token F1, response length.

Exact match and token F1 score large inputs on every core (``n_jobs``, see
:mod:`metricrm.core.parallel`), bit-identical to one process. The lengths do not: counting
characters or whitespace tokens costs less than sending the text to another process (measured:
a worker would pay off only from about 130,000 items).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
from ..core.parallel import ParallelItems, check_n_jobs
from ..core.types import BaseScorer, ScoreOutput

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """Lower-case, drop punctuation and English articles, collapse whitespace (SQuAD v1.1)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token-overlap F1 between normalized prediction and reference."""
    pred = squad_normalize(prediction).split()
    ref = squad_normalize(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


class ExactMatch(ParallelItems, BaseScorer):
    """1 if the normalized response equals any normalized reference, else 0 (SQuAD)."""

    name = "exact_match"
    requires_references = True
    uses_inputs = frozenset({"references"})
    accepts_empty_responses = True
    score_neutral = frozenset({"n_jobs"})
    parallel_min_items = 12_000  # 0.02 ms per DARR sentence; a cold worker costs 0.15 s CPU

    def __init__(self, normalize: bool = True, n_jobs: int | None = None) -> None:
        self.normalize = normalize
        self.n_jobs = check_n_jobs("exact_match", n_jobs)

    def settings(self) -> dict[str, Any]:
        return {"normalize": self.normalize}

    def _item_scores(self, responses: list[str], references: list[list[str]]) -> list[float]:
        norm = squad_normalize if self.normalize else (lambda s: s)
        return [
            float(any(norm(h) == norm(r) for r in refs)) for h, refs in zip(responses, references)
        ]

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        return ScoreOutput(self.map_items("_item_scores", responses, references))


class TokenF1(ParallelItems, BaseScorer):
    """SQuAD token F1, the maximum over references."""

    name = "token_f1"
    requires_references = True
    uses_inputs = frozenset({"references"})
    accepts_empty_responses = True
    score_neutral = frozenset({"n_jobs"})
    parallel_min_items = 8_000  # 0.03 ms per DARR sentence

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = check_n_jobs("token_f1", n_jobs)

    def _item_scores(self, responses: list[str], references: list[list[str]]) -> list[float]:
        return [max(token_f1(h, r) for r in refs) for h, refs in zip(responses, references)]

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        return ScoreOutput(self.map_items("_item_scores", responses, references))


class LengthChars(BaseScorer):
    """Response length in characters (a length-bias baseline: longer scores higher)."""

    name = "length_chars"
    uses_inputs = frozenset()
    accepts_empty_responses = True  # an empty reply has length 0

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        return ScoreOutput(np.fromiter((len(r) for r in responses), dtype=np.float64))


_REGEX_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class LengthTokens(BaseScorer):
    """Response length in tokens: ``whitespace``, ``regex`` (words and punctuation), or a
    Hugging Face tokenizer id or local path."""

    name = "length_tokens"
    uses_inputs = frozenset()
    accepts_empty_responses = True

    def __init__(self, tokenizer: str = "whitespace") -> None:
        if not isinstance(tokenizer, str) or not tokenizer:
            raise ScorerConfigError(
                f"length_tokens: tokenizer must be 'whitespace', 'regex' or a tokenizer id/path "
                f"(got {tokenizer!r})"
            )
        self.tokenizer = tokenizer
        self._hf = None

    def settings(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer}

    def _count(self, text: str) -> int:
        if self.tokenizer == "whitespace":
            return len(text.split())
        if self.tokenizer == "regex":
            return len(_REGEX_TOKEN.findall(text))
        if self._hf is None:
            from ..core.optional import require

            transformers = require("transformers", who="length_tokens", extra="models")
            self._hf = transformers.AutoTokenizer.from_pretrained(self.tokenizer)
        return len(self._hf(text, add_special_tokens=False)["input_ids"])

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        return ScoreOutput(np.fromiter((self._count(r) for r in responses), dtype=np.float64))
