"""The ``Scorer`` protocol, the ``BaseScorer`` every built-in scorer extends, and
``ScoreResult``."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from .errors import ScorerInputError, ScorerOutputError
from .records import Text
from .validation import (
    check_not_empty,
    check_references,
    check_responses,
    check_scores,
    check_texts,
)
from .versions import version_label


@dataclass
class ScoreResult:
    """Per-item scores from one scorer, in the order the responses were given.

    ``details`` holds extra per-item arrays (e.g. BERTScore precision and recall, BLEU n-gram
    statistics). ``corpus_score`` is the corpus-level aggregate where the metric defines one
    from summed statistics (corpus BLEU, chrF, TER), else ``None``.
    """

    name: str
    scores: np.ndarray
    higher_is_better: bool
    signature: str
    details: dict[str, np.ndarray] = field(default_factory=dict)
    corpus_score: float | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def mean(self) -> float:
        return float(self.scores.mean())

    def to_frame(self):
        """Scores and details as a pandas DataFrame, one row per item."""
        import pandas as pd

        frame = pd.DataFrame({self.name: self.scores})
        for key, values in self.details.items():
            frame[f"{self.name}.{key}"] = values
        return frame


@runtime_checkable
class Scorer(Protocol):
    """Anything that maps responses (with optional references, prompts, sources) to numbers."""

    name: str
    higher_is_better: bool

    @property
    def signature(self) -> str: ...

    def score(
        self,
        responses: Sequence[Text],
        *,
        references: Sequence[str | Sequence[str]] | None = None,
        prompts: Sequence[Text] | None = None,
        sources: Sequence[str] | None = None,
    ) -> ScoreResult: ...


def make_signature(name: str, backends: Sequence[str], settings: Mapping[str, Any]) -> str:
    """``name|metricrm:<version>|<backend>:<version>...|<setting>:<value>...`` (settings sorted)."""
    parts = [name, f"metricrm:{version_label('metricrm')}"]
    parts += [f"{b}:{version_label(b)}" for b in backends]
    parts += [f"{k}:{v}" for k, v in sorted(settings.items())]
    return "|".join(parts)


@dataclass
class ScoreOutput:
    """What ``BaseScorer._score`` returns: scores plus optional per-item details."""

    scores: Any
    details: Mapping[str, Any] = field(default_factory=dict)


class BaseScorer(abc.ABC):
    """Validates input, calls ``_score`` on clean lists, checks the output, builds the result.

    Subclasses set the class attributes, implement ``_score`` and ``settings`` (every setting
    that changes a score, for the signature), and import heavy libraries inside methods so
    that ``import metricrm`` stays light.
    """

    name: str = "base"
    description: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    requires_references: ClassVar[bool] = False
    requires_prompts: ClassVar[bool] = False
    requires_model: ClassVar[bool] = False
    #: distributions whose version enters the signature
    backends: ClassVar[tuple[str, ...]] = ()
    #: pass prompts through as chat-message lists (reward models) instead of flat text
    keep_prompt_messages: ClassVar[bool] = False
    #: constructor settings that cannot change a score (device, batch sizes, cache folders);
    #: every other setting must show in the signature (checked for every registered scorer)
    score_neutral: ClassVar[frozenset[str]] = frozenset()
    #: the inputs besides the response that can change a score; the score cache keys each
    #: item on exactly these (a source given to chrF, say, does not split its cache entries)
    uses_inputs: ClassVar[frozenset[str]] = frozenset({"references", "prompts", "sources"})
    #: whether an empty (or whitespace-only) response is valid input (a length is 0, a
    #: reward model scores an empty reply); scorers that cannot score it refuse it
    accepts_empty_responses: ClassVar[bool] = False
    #: items per chunk for the runners (progress, cache writes, resume); None: their default.
    #: Expensive scorers ask for small chunks so an interrupt loses little work.
    preferred_chunk_size: ClassVar[int | None] = None

    def settings(self) -> dict[str, Any]:
        """Every setting that changes a score."""
        return {}

    def corpus_from_details(self, details: Mapping[str, np.ndarray]) -> float | None:
        """Corpus-level aggregate from per-item details (summed statistics), if the metric has one.

        Computing it from per-item statistics keeps it exact when items are scored in chunks.
        """
        return None

    @property
    def signature(self) -> str:
        return make_signature(self.name, self.backends, self.settings())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.settings().items()))
        return f"{type(self).__name__}(name={self.name!r}{', ' + args if args else ''})"

    @abc.abstractmethod
    def _score(
        self,
        responses: list[str],
        *,
        references: list[list[str]] | None,
        prompts: list | None,
        sources: list[str] | None,
    ) -> ScoreOutput:
        """Score clean, validated lists. Return one value per response."""

    def score(
        self,
        responses: Sequence[Text],
        *,
        references: Sequence[str | Sequence[str]] | None = None,
        prompts: Sequence[Text] | None = None,
        sources: Sequence[str] | None = None,
    ) -> ScoreResult:
        hyps = check_responses(self.name, responses, allow_empty_text=self.accepts_empty_responses)
        n = len(hyps)
        check_not_empty(self.name, n)
        refs = None
        if references is not None:
            refs = check_references(self.name, references, n)
        elif self.requires_references:
            raise ScorerInputError(
                f"{self.name}: expected `references` (one or more per response); got none"
            )
        prompt_list = None
        if prompts is not None:
            prompt_list = check_texts(
                self.name, "prompts", prompts, n, flatten=not self.keep_prompt_messages
            )
        elif self.requires_prompts:
            raise ScorerInputError(f"{self.name}: expected `prompts` (one per response); got none")
        source_list = check_texts(self.name, "sources", sources, n) if sources is not None else None

        out = self._score(hyps, references=refs, prompts=prompt_list, sources=source_list)
        scores = check_scores(self.name, out.scores, n)
        details: dict[str, np.ndarray] = {}
        for key, values in out.details.items():
            arr = np.asarray(values)
            if arr.shape[0] != n:
                raise ScorerOutputError(
                    f"{self.name}: detail {key!r} has {arr.shape[0]} values for {n} responses"
                )
            details[key] = arr
        corpus = self.corpus_from_details(details)
        return ScoreResult(
            name=self.name,
            scores=scores,
            higher_is_better=self.higher_is_better,
            signature=self.signature,
            details=details,
            corpus_score=None if corpus is None else float(corpus),
        )
