"""Lexical scorers: SQuAD-style exact match and token F1, response length."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
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


class ExactMatch(BaseScorer):
    """1 if the normalized response equals any normalized reference, else 0 (SQuAD)."""

    name = "exact_match"
    requires_references = True
    uses_inputs = frozenset({"references"})
    accepts_empty_responses = True

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def settings(self) -> dict[str, Any]:
        return {"normalize": self.normalize}

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        norm = squad_normalize if self.normalize else (lambda s: s)
        scores = [
            float(any(norm(h) == norm(r) for r in refs)) for h, refs in zip(responses, references)
        ]
        return ScoreOutput(scores)


class TokenF1(BaseScorer):
    """SQuAD token F1, the maximum over references."""

    name = "token_f1"
    requires_references = True
    uses_inputs = frozenset({"references"})
    accepts_empty_responses = True

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        scores = [max(token_f1(h, r) for r in refs) for h, refs in zip(responses, references)]
        return ScoreOutput(scores)


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
