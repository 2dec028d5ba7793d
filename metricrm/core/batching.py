"""Score long inputs in chunks with a progress bar, keeping what finished if a chunk fails.

An engine that scores elsewhere (a Ray cluster, :mod:`metricrm.engines`) can take over every
call of :func:`score_in_chunks` and :func:`score_with_cache` -- and so of ``score_pairs`` and
``meta_evaluate`` -- inside a ``with use_engine(engine):`` block.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import PartialScoringError, ScorerConfigError, ScorerInputError
from .records import PointwiseItem, PreferencePair, Text
from .types import Scorer, ScoreResult
from .validation import check_not_empty, check_sequence

if TYPE_CHECKING:
    import os

    from .cache import CacheStats, ScoreCache


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


class ScoringEngine(Protocol):
    """Something that scores a whole input for the runners: same arguments, same result, the
    score cache consulted first when one is given (``stats`` counting hits and new items)."""

    def score(
        self,
        scorer: Scorer,
        responses: list,
        *,
        references: Sequence[Any] | None,
        prompts: Sequence[Any] | None,
        sources: Sequence[str] | None,
        cache: ScoreCache | None,
        stats: CacheStats | None,
    ) -> ScoreResult: ...


_ENGINE: ContextVar[ScoringEngine | None] = ContextVar("metricrm_engine", default=None)


@contextmanager
def use_engine(engine: ScoringEngine | None) -> Iterator[ScoringEngine | None]:
    """Within the block, the runners (``score_in_chunks``, ``score_with_cache``, so also
    ``score_pairs`` and ``meta_evaluate``) hand whole inputs to ``engine`` (None: in-process)."""
    if engine is not None and not callable(getattr(engine, "score", None)):
        raise ScorerConfigError(
            f"use_engine: expected an engine with a score(...) method (got {type(engine).__name__})"
        )
    token = _ENGINE.set(engine)
    try:
        yield engine
    finally:
        _ENGINE.reset(token)


#: items per chunk when neither the caller nor the scorer chooses
DEFAULT_CHUNK_SIZE = 256
ALL_INPUTS = frozenset({"references", "prompts", "sources"})


def chunk_size_for(scorer: Scorer, chunk_size: int | None) -> int:
    """``chunk_size`` as given, else the scorer's ``preferred_chunk_size``, else 256."""
    if chunk_size is None:
        chunk_size = getattr(scorer, "preferred_chunk_size", None) or DEFAULT_CHUNK_SIZE
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ScorerConfigError(f"`chunk_size` must be an integer >= 1 (got {chunk_size!r})")
    return chunk_size


def used_inputs(scorer: Scorer) -> frozenset[str]:
    """The inputs besides the response that can change this scorer's scores (all of them for
    a scorer that does not say)."""
    return frozenset(getattr(scorer, "uses_inputs", ALL_INPUTS))


def _check_lengths(name: str, responses: Any, *others: Any) -> list:
    """Check that every given argument has one entry per response, on the whole input."""
    responses = check_sequence(name, "responses", responses)
    check_not_empty(name, len(responses))
    n = len(responses)
    for arg, values in zip(("references", "prompts", "sources"), others):
        if values is not None and len(check_sequence(name, arg, values)) != n:
            raise ScorerInputError(
                f"{name}: expected `{arg}` to have one entry per response "
                f"(got {n} responses, {len(values)} {arg})"
            )
    return responses


def _slice(values: Any, start: int, stop: int) -> Any:
    return None if values is None else values[start:stop]


def _prompt_key(prompt: Any) -> str:
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True, default=str)


def plan_chunks(
    scorer: Scorer, indices: Sequence[int], prompts: Sequence[Any] | None, chunk_size: int
) -> list[list[int]]:
    """``indices`` cut into chunks of at most ``chunk_size`` items.

    For a scorer with ``groups_by_prompt`` (causal LMs, which run a shared prompt once for all
    its responses) items with the same prompt are brought together first, in order of first
    appearance, and a chunk ends between two prompts rather than inside one (a prompt with
    more than ``chunk_size`` responses is split). Otherwise the chunks follow input order.
    """
    indices = list(indices)
    if prompts is None or not getattr(scorer, "groups_by_prompt", False):
        return [indices[s : s + chunk_size] for s in range(0, len(indices), chunk_size)]
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(_prompt_key(prompts[i]), []).append(i)
    chunks: list[list[int]] = []
    current: list[int] = []
    for members in groups.values():
        for s in range(0, len(members), chunk_size):
            piece = members[s : s + chunk_size]
            if current and len(current) + len(piece) > chunk_size:
                chunks.append(current)
                current = []
            current += piece
    if current:
        chunks.append(current)
    return chunks


def _in_order(scorer: Scorer, parts: list[ScoreResult], positions: list[int]) -> ScoreResult:
    """Chunk results (covering ``positions``, in chunk order) as one result in input order."""
    joined = concat_results(scorer, parts)
    if positions == sorted(positions):
        return joined
    order = np.argsort(np.asarray(positions), kind="stable")
    details = {k: v[order] for k, v in joined.details.items()}
    corpus_fn = getattr(scorer, "corpus_from_details", None)
    corpus = corpus_fn(details) if corpus_fn is not None else None
    return ScoreResult(
        name=joined.name,
        scores=joined.scores[order],
        higher_is_better=joined.higher_is_better,
        signature=joined.signature,
        details=details,
        corpus_score=None if corpus is None else float(corpus),
    )


def score_in_chunks(
    scorer: Scorer,
    responses: Sequence[Text],
    *,
    references: Sequence[Any] | None = None,
    prompts: Sequence[Text] | None = None,
    sources: Sequence[str] | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> ScoreResult:
    """Call ``scorer.score`` on successive chunks (:func:`plan_chunks`) and join the results
    in input order.

    Lengths are checked on the whole input first so errors name global item indices. If a
    chunk fails, ``PartialScoringError`` carries the result for every item before the first
    unfinished one. ``chunk_size`` defaults to the scorer's ``preferred_chunk_size`` (else
    256). Under :func:`use_engine`, the engine scores instead.
    """
    name = getattr(scorer, "name", type(scorer).__name__)
    responses = _check_lengths(name, responses, references, prompts, sources)
    n = len(responses)
    chunk_size = chunk_size_for(scorer, chunk_size)
    engine = _ENGINE.get()
    if engine is not None:
        inputs = dict(references=references, prompts=prompts, sources=sources)
        return engine.score(scorer, list(responses), **inputs, cache=None, stats=None)

    from tqdm.auto import tqdm

    parts: list[ScoreResult] = []
    positions: list[int] = []
    with tqdm(total=n, desc=desc or name, unit="item", disable=not progress, leave=False) as bar:
        for idx in plan_chunks(scorer, range(n), prompts, chunk_size):
            try:
                part = scorer.score(
                    _at(responses, idx),
                    references=_at(references, idx),
                    prompts=_at(prompts, idx),
                    sources=_at(sources, idx),
                )
            except Exception as exc:
                done = np.zeros(n, dtype=bool)
                done[positions] = True
                start = int(np.argmin(done)) if not done.all() else n
                partial = None
                if start:
                    whole = _in_order(scorer, parts, positions)
                    rank = np.sort(np.asarray(positions))
                    keep = np.searchsorted(rank, np.arange(start))
                    partial = _take(scorer, whole, keep)
                raise PartialScoringError(
                    f"{name}: scoring failed in the chunk of items {idx[0]}..{idx[-1]} "
                    f"(item numbers in the cause are positions within that chunk); "
                    f"the first {start} items finished: {exc}",
                    partial,
                    start,
                ) from exc
            parts.append(part)
            positions += idx
            bar.update(len(idx))
    return _in_order(scorer, parts, positions)


def _take(scorer: Scorer, result: ScoreResult, idx: np.ndarray) -> ScoreResult:
    details = {k: v[idx] for k, v in result.details.items()}
    corpus_fn = getattr(scorer, "corpus_from_details", None)
    corpus = corpus_fn(details) if corpus_fn is not None else None
    return ScoreResult(
        name=result.name,
        scores=result.scores[idx],
        higher_is_better=result.higher_is_better,
        signature=result.signature,
        details=details,
        corpus_score=None if corpus is None else float(corpus),
    )


def _at(values: Sequence[Any] | None, idx: Sequence[int]) -> list | None:
    return None if values is None else [values[i] for i in idx]


def score_with_cache(
    scorer: Scorer,
    responses: Sequence[Text],
    *,
    references: Sequence[Any] | None = None,
    prompts: Sequence[Text] | None = None,
    sources: Sequence[str] | None = None,
    cache: ScoreCache | str | os.PathLike | bool | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    desc: str | None = None,
    stats: CacheStats | None = None,
) -> ScoreResult:
    """Like ``score_in_chunks``, but items already in ``cache`` are not scored again
    (``cache``: a ScoreCache, a folder, None or True for the default folder, False for none).

    Each item is keyed on the scorer's signature and on the inputs the scorer uses (its
    ``uses_inputs``): a source given to chrF does not split its entries, while a judge keeps
    one entry per prompt. New scores are written to the cache chunk by chunk, so an
    interrupted run keeps every chunk it finished. ``stats`` (if given) counts cache hits
    and, chunk by chunk, newly computed distinct items.
    """
    from .cache import item_key, resolve_cache

    name = getattr(scorer, "name", type(scorer).__name__)
    cache = resolve_cache(cache, who=f"{name} (score_with_cache)")
    if cache is None:
        inputs = dict(references=references, prompts=prompts, sources=sources)
        result = score_in_chunks(scorer, responses, **inputs, chunk_size=chunk_size,
                                 progress=progress, desc=desc)  # fmt: skip
        if stats is not None:
            stats.computed += len(result.scores)
        return result
    responses = _check_lengths(name, responses, references, prompts, sources)
    n = len(responses)
    chunk_size = chunk_size_for(scorer, chunk_size)
    engine = _ENGINE.get()
    if engine is not None:
        inputs = dict(references=references, prompts=prompts, sources=sources)
        return engine.score(scorer, list(responses), **inputs, cache=cache, stats=stats)
    signature = scorer.signature
    uses = used_inputs(scorer)
    keyed = {
        "references": references if "references" in uses else None,
        "prompts": prompts if "prompts" in uses else None,
        "sources": sources if "sources" in uses else None,
    }
    keys = [
        item_key(
            responses[i],
            *(None if v is None else v[i] for v in keyed.values()),
        )
        for i in range(n)
    ]
    found = cache.get_many(signature, keys)
    missing = [i for i, k in enumerate(keys) if k not in found]
    # Score each distinct missing item once.
    first_of: dict[str, int] = {}
    todo = [first_of.setdefault(keys[i], i) for i in missing if keys[i] not in first_of]
    if stats is not None:
        stats.hits += n - len(missing)

    if todo:
        from tqdm.auto import tqdm

        with tqdm(
            total=len(todo), desc=desc or name, unit="item", disable=not progress, leave=False
        ) as bar:
            for idx in plan_chunks(scorer, todo, prompts, chunk_size):
                try:
                    part = scorer.score(
                        _at(responses, idx),
                        references=_at(references, idx),
                        prompts=_at(prompts, idx),
                        sources=_at(sources, idx),
                    )
                except Exception as exc:
                    raise PartialScoringError(
                        f"{name}: scoring failed in a chunk of items {idx[0]}..{idx[-1]} "
                        f"(item numbers in the cause are positions within that chunk); "
                        f"every earlier chunk is saved in the cache at {cache.path}: {exc}",
                        None,
                        idx[0],
                    ) from exc
                rows = [
                    (keys[i], part.scores[j], {k: v[j] for k, v in part.details.items()})
                    for j, i in enumerate(idx)
                ]
                cache.put_many(signature, rows)
                found.update({key: (score, details) for key, score, details in rows})
                if stats is not None:
                    stats.computed += len(idx)
                bar.update(len(idx))

    scores = np.array([found[k][0] for k in keys], dtype=np.float64)
    detail_keys = list(found[keys[0]][1])
    details = {d: np.asarray([found[k][1][d] for k in keys]) for d in detail_keys}
    corpus_fn = getattr(scorer, "corpus_from_details", None)
    corpus = corpus_fn(details) if corpus_fn is not None else None
    return ScoreResult(
        name=name,
        scores=scores,
        higher_is_better=bool(scorer.higher_is_better),
        signature=signature,
        details=details,
        corpus_score=None if corpus is None else float(corpus),
    )


# -- records -------------------------------------------------------------------------------------


def _shared(who: str, records: Sequence[Any], field: str) -> list | None:
    """The field of every record, or None when no record has it; an error when only some do."""
    values = [getattr(r, field) for r in records]
    present = [bool(v) for v in values]
    if not any(present):
        return None
    if not all(present):
        i = present.index(False)
        raise ScorerInputError(
            f"{who}: record {i} has no {field} while others do; "
            f"expected {field} on every record or on none"
        )
    return [list(v) if field == "references" else v for v in values]


def record_inputs(records: Sequence[PointwiseItem], *, who: str = "score_items") -> dict[str, Any]:
    """``responses``, ``references``, ``prompts`` and ``sources`` of pointwise items, as the
    keyword arguments of ``Scorer.score`` (a field none of the items has is None)."""
    return {
        "responses": [it.response for it in records],
        "references": _shared(who, records, "references"),
        "prompts": _shared(who, records, "prompt"),
        "sources": _shared(who, records, "source"),
    }


def pair_inputs(pairs: Sequence[PreferencePair], *, who: str = "score_pairs") -> dict[str, Any]:
    """The inputs of one ``Scorer.score`` call over every chosen response, then every rejected
    one (each with its pair's prompt, references and source)."""
    both = lambda values: None if values is None else values + values  # noqa: E731
    return {
        "responses": [p.chosen for p in pairs] + [p.rejected for p in pairs],
        "references": both(_shared(who, pairs, "references")),
        "prompts": both(_shared(who, pairs, "prompt")),
        "sources": both(_shared(who, pairs, "source")),
    }


@dataclass(frozen=True)
class PairScores:
    """A scorer's scores for the chosen and the rejected response of each pair.

    ``result`` is the single scoring call behind them (chosen responses first); ``margin`` is
    positive where the scorer prefers the chosen response, whatever its direction.
    """

    chosen: np.ndarray
    rejected: np.ndarray
    result: ScoreResult

    @property
    def margin(self) -> np.ndarray:
        diff = self.chosen - self.rejected
        return diff if self.result.higher_is_better else -diff


def score_pairs(
    scorer: Scorer,
    pairs: Sequence[PreferencePair],
    *,
    cache: ScoreCache | str | os.PathLike | bool | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    desc: str | None = None,
    stats: CacheStats | None = None,
    who: str | None = None,
) -> PairScores:
    """Score the chosen and rejected response of every pair in one call (so both sides see the
    same scorer state), through ``cache`` when one is given (a ScoreCache, a folder, or True
    for the default folder; None or False: no cache). ``who`` names the pairs in errors about
    their fields (default: the scorer's name)."""
    name = getattr(scorer, "name", type(scorer).__name__)
    pairs = list(pairs)
    if not pairs:
        raise ScorerInputError(f"{name}: expected at least one preference pair (got none)")
    inputs = pair_inputs(pairs, who=who or name)
    responses = inputs.pop("responses")
    options = dict(chunk_size=chunk_size, progress=progress, desc=desc)
    if cache is not None:
        from .cache import resolve_cache

        cache = resolve_cache(cache, who=f"{name} (score_pairs)")
    if cache is None:
        if stats is not None:
            stats.computed += len(responses)
        result = score_in_chunks(scorer, responses, **inputs, **options)
    else:
        result = score_with_cache(scorer, responses, **inputs, cache=cache, stats=stats, **options)
    n = len(pairs)
    return PairScores(result.scores[:n], result.scores[n:], result)
