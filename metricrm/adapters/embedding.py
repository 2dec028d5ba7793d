"""Scorers that expose the embedding their score is computed from.

A post-hoc refiner such as ``ebrm`` needs, per item, the base scorer's score *and* the vector
the score was read from. A scorer offers both by mixing in :class:`EmbeddingScorer` and
handing its embeddings to :meth:`EmbeddingScorer._emit_embeddings` inside ``_score``;
:meth:`EmbeddingScorer.score_with_embeddings` then returns ``(ScoreResult, embeddings)``,
with the same input checks as ``score``. ``embedding_kind`` says what the vector is (it enters
the signature of scorers built on it).

Implemented by ``bt_head`` (the feature vector the head reads), ``reward_model`` (the pooled
final hidden state the classification head reads), ``lm_judge`` (the final hidden state at
the position the Yes/No answer is predicted from) and ``activation_rm`` (the same, patched).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..core.errors import ScorerConfigError, ScorerOutputError


class EmbeddingScorer:
    """Mixin for a ``BaseScorer`` that can return the embedding behind each score."""

    #: what the embedding is, e.g. ``"features"`` or ``"final_hidden@answer"``
    embedding_kind: ClassVar[str] = "embedding"
    _embedding_sink: list[np.ndarray] | None = None

    @property
    def wants_embeddings(self) -> bool:
        """True while ``score_with_embeddings`` runs (``_score`` may skip the work otherwise)."""
        return self._embedding_sink is not None

    def _emit_embeddings(self, embeddings: Any) -> None:
        if self._embedding_sink is not None:
            self._embedding_sink.append(np.asarray(embeddings, dtype=np.float64))

    def score_with_embeddings(
        self,
        responses: Sequence[Any],
        *,
        references: Any = None,
        prompts: Any = None,
        sources: Any = None,
    ) -> tuple[Any, np.ndarray]:
        """``score(...)`` and the embeddings ``(n, d)`` float64 the scores were computed from."""
        self._embedding_sink = []
        try:
            result = self.score(  # type: ignore[attr-defined]
                responses, references=references, prompts=prompts, sources=sources
            )
            sink = self._embedding_sink
        finally:
            self._embedding_sink = None
        name = getattr(self, "name", type(self).__name__)
        if not sink:
            raise ScorerOutputError(f"{name}: _score gave no embeddings; this is a bug")
        embeddings = np.concatenate(sink, axis=0)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(result.scores):
            raise ScorerOutputError(
                f"{name}: expected embeddings of shape (n={len(result.scores)}, d); "
                f"got {embeddings.shape}"
            )
        return result, embeddings


def check_embedding_scorer(who: str, scorer: Any) -> EmbeddingScorer:
    """``scorer`` if it exposes embeddings, else a clear error naming the scorers that do."""
    if not isinstance(scorer, EmbeddingScorer):
        raise ScorerConfigError(
            f"{who}: the base scorer must expose the embedding behind its score (bt_head, "
            f"reward_model, lm_judge, activation_rm); got {type(scorer).__name__}"
        )
    return scorer
