"""Core types: the Scorer protocol, results, records, registry and validation."""

from .errors import (
    DataFormatError,
    MetricRMError,
    MissingDependencyError,
    NotFittedError,
    ScorerConfigError,
    ScorerInputError,
    ScorerOutputError,
    UnknownScorerError,
)
from .records import Message, PointwiseItem, PreferencePair, Text, prompt_text, response_text
from .registry import get_scorer, list_scorers, register_scorer, scorer_spec, unregister_scorer
from .types import BaseScorer, ScoreOutput, Scorer, ScoreResult

__all__ = [
    "BaseScorer",
    "DataFormatError",
    "Message",
    "MetricRMError",
    "MissingDependencyError",
    "NotFittedError",
    "PointwiseItem",
    "PreferencePair",
    "ScoreOutput",
    "ScoreResult",
    "Scorer",
    "ScorerConfigError",
    "ScorerInputError",
    "ScorerOutputError",
    "Text",
    "UnknownScorerError",
    "get_scorer",
    "list_scorers",
    "prompt_text",
    "register_scorer",
    "response_text",
    "scorer_spec",
    "unregister_scorer",
]
