"""Score long inputs in chunks with a progress bar, keeping what finished if a chunk fails."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import MetricRMError, ScorerInputError
from .records import Text
from .types import ScoreResult, Scorer
from .validation import check_not_empty, check_sequence


class PartialScoringError(MetricRMError, RuntimeError):
    """Scoring failed part-way; ``partial`` holds the result for the items that finished."""

    def __init__(self, message: str, partial: ScoreResult | None, failed_at: int) -> None:
        super().__init__(message)
        self.partial = partial
        self.failed_at = failed_at


def concat_results(scorer: Scorer, parts: Sequence[ScoreResult]) -> ScoreResult:
    """Join chunk results in order; the corpus score is recomputed from the joined details."""
    first = parts[0]
    keys = set(first.details)
    details = {k: np.concatenate([p.details[k] for p in parts]) for k in keys}
    corpus_fn = getattr(scorer, "corpus_from_details", None)
    corpus = corpus_fn(details) if corpus_fn is not None else None
    return ScoreResult(
        name=first.name,
        scores=np.concatenate([p.scores for p in parts]),
        higher_is_better=first.higher_is_better,
        signature=first.signature,
        details=details,
        corpus_score=None if corpus is None else float(corpus),
    )


def _slice(values: Any, start: int, stop: int) -> Any:
    return None if values is None else values[start:stop]


def score_in_chunks(
    scorer: Scorer,
    responses: Sequence[Text],
    *,
    references: Sequence[Any] | None = None,
    prompts: Sequence[Text] | None = None,
    sources: Sequence[str] | None = None,
    chunk_size: int = 256,
    progress: bool = True,
    desc: str | None = None,
) -> ScoreResult:
    """Call ``scorer.score`` on successive chunks and join the results.

    Lengths are checked on the whole input first so errors name global item indices. If a
    chunk fails, ``PartialScoringError`` carries the result for every item before it.
    """
    name = getattr(scorer, "name", type(scorer).__name__)
    responses = check_sequence(name, "responses", responses)
    check_not_empty(name, len(responses))
    n = len(responses)
    for arg, values in (("references", references), ("prompts", prompts), ("sources", sources)):
        if values is not None and len(check_sequence(name, arg, values)) != n:
            raise ScorerInputError(
                f"{name}: expected `{arg}` to have one entry per response "
                f"(got {n} responses, {len(values)} {arg})"
            )
    if chunk_size < 1:
        raise ValueError(f"score_in_chunks: chunk_size must be >= 1 (got {chunk_size})")

    from tqdm.auto import tqdm

    parts: list[ScoreResult] = []
    with tqdm(total=n, desc=desc or name, unit="item", disable=not progress, leave=False) as bar:
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            try:
                part = scorer.score(
                    list(responses[start:stop]),
                    references=_slice(references, start, stop),
                    prompts=_slice(prompts, start, stop),
                    sources=_slice(sources, start, stop),
                )
            except Exception as exc:
                partial = concat_results(scorer, parts) if parts else None
                raise PartialScoringError(
                    f"{name}: scoring failed in the chunk of items {start}..{stop - 1} "
                    f"(item numbers in the cause are counted from {start}); "
                    f"{start} items finished: {exc}",
                    partial,
                    start,
                ) from exc
            parts.append(part)
            bar.update(stop - start)
    return concat_results(scorer, parts)
