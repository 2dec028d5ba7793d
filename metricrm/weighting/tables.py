"""Component scores as arrays: every component scored once per item (through the score cache),
then fitting, re-weighting and evaluating work on these arrays without running a scorer.

- :class:`PairTable`: raw scores of the chosen and the rejected response of each preference
  pair, one column per component, with each pair's group (prompt or source segment), human
  tie flag and category (for label-dependent weights).
- :class:`ItemTable`: raw scores of pointwise items with their human scores, groups (source
  document / segment) and systems.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.batching import record_inputs, score_in_chunks, score_pairs, score_with_cache
from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.records import PointwiseItem, PreferencePair
from ..core.validation import check_integer
from .normalizers import Normalizer

WHO = "component scores"


def _record_key(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _field_of(who: str, records: Sequence[Any], spec: Any, what: str) -> np.ndarray | None:
    """Per-record values: a field name (``prompt``, ``source``, ``subset``, ``group``,
    ``system``, ``id``), ``meta:KEY``, a function of the record, or a sequence of values."""
    if spec is None:
        return None
    n = len(records)
    if callable(spec):
        values = [spec(r) for r in records]
    elif isinstance(spec, str):
        if spec.startswith("meta:"):
            key = spec[5:]
            missing = next((i for i, r in enumerate(records) if key not in r.meta), None)
            if missing is not None:
                raise ScorerConfigError(
                    f"{who}: {what} {spec!r}: record {missing} has no meta key {key!r}"
                )
            values = [r.meta[key] for r in records]
        else:
            if not all(hasattr(r, spec) for r in records):
                raise ScorerConfigError(
                    f"{who}: {what} {spec!r} is not a field of these records; use a field "
                    "(prompt, source, subset, group, system, id), 'meta:KEY' or a function"
                )
            values = [getattr(r, spec) for r in records]
    else:
        values = list(spec)
        if len(values) != n:
            raise ScorerInputError(
                f"{who}: expected one {what} per record (got {len(values)} for {n} records)"
            )
    return np.array([_record_key(v) for v in values], dtype=object)


def _matrix(who: str, columns: Mapping[str, Any], labels: Sequence[str], side: str) -> np.ndarray:
    missing = [lab for lab in labels if lab not in columns]
    if missing:
        raise ScorerInputError(
            f"{who}: no {side} scores for component {missing[0]!r}; expected scores for every "
            f"component ({', '.join(labels)})"
        )
    arrays = {}
    for lab in labels:
        arr = np.asarray(columns[lab], dtype=np.float64)
        if arr.ndim != 1:
            raise ScorerInputError(
                f"{who}: {side} scores of component {lab!r} must be 1-D (got shape {arr.shape})"
            )
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ScorerInputError(
                f"{who}: {side} score {int(bad[0])} of component {lab!r} is {arr[bad[0]]}; "
                "expected finite scores"
            )
        arrays[lab] = arr
    first = labels[0]
    for lab in labels:
        if arrays[lab].size != arrays[first].size:
            raise ScorerInputError(
                f"{who}: components have different lengths: {first!r} has "
                f"{arrays[first].size} {side} scores, {lab!r} has {arrays[lab].size}"
            )
    if arrays[first].size == 0:
        raise ScorerInputError(f"{who}: expected at least one item (got none)")
    return np.stack([arrays[lab] for lab in labels], axis=1)


def _directions(who: str, labels: Sequence[str], higher_is_better: Any) -> tuple[bool, ...]:
    if isinstance(higher_is_better, Mapping):
        missing = [lab for lab in labels if lab not in higher_is_better]
        if missing:
            raise ScorerInputError(f"{who}: no direction for component {missing[0]!r}")
        return tuple(bool(higher_is_better[lab]) for lab in labels)
    return tuple(bool(higher_is_better) for _ in labels)


def _optional(who: str, name: str, values: Any, n: int, dtype: Any = object) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise ScorerInputError(
            f"{who}: expected one {name} per item (got shape {arr.shape}, n={n})"
        )
    return arr


@dataclass
class PairTable:
    """Raw component scores on preference pairs: ``chosen`` and ``rejected`` are (n_pairs, k)
    with one column per component in ``labels`` order."""

    labels: tuple[str, ...]
    chosen: np.ndarray
    rejected: np.ndarray
    higher_is_better: tuple[bool, ...]
    groups: np.ndarray
    ties: np.ndarray
    categories: np.ndarray | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)

    kind = "preference"

    @classmethod
    def from_arrays(
        cls,
        chosen: Mapping[str, Any],
        rejected: Mapping[str, Any],
        *,
        higher_is_better: bool | Mapping[str, bool] = True,
        groups: Any = None,
        ties: Any = None,
        categories: Any = None,
        meta: Mapping[str, Any] | None = None,
        labels: Sequence[str] | None = None,
    ) -> PairTable:
        """A table from per-component arrays (``label -> scores``), e.g. cached scores; an
        error names a component whose scores are missing, non-finite or of another length."""
        who = f"{WHO} (pairs)"
        labels = tuple(labels or chosen)
        c = _matrix(who, chosen, labels, "chosen")
        r = _matrix(who, rejected, labels, "rejected")
        if c.shape != r.shape:
            raise ScorerInputError(
                f"{who}: {c.shape[0]} chosen but {r.shape[0]} rejected scores; expected one of "
                "each per pair"
            )
        n = c.shape[0]
        g = _optional(who, "group", groups, n)
        g = np.array([str(i) for i in range(n)], dtype=object) if g is None else g.astype(str)
        t = _optional(who, "tie flag", ties, n, bool)
        extra = {k: _optional(who, f"meta {k!r}", v, n) for k, v in (meta or {}).items()}
        return cls(
            labels,
            c,
            r,
            _directions(who, labels, higher_is_better),
            g,
            np.zeros(n, dtype=bool) if t is None else t,
            _optional(who, "category", categories, n),
            extra,
        )

    def __len__(self) -> int:
        return int(self.chosen.shape[0])

    def take(self, rows: Any) -> PairTable:
        """The table restricted to ``rows`` (indices or a boolean mask)."""
        return PairTable(
            self.labels,
            self.chosen[rows],
            self.rejected[rows],
            self.higher_is_better,
            self.groups[rows],
            self.ties[rows],
            None if self.categories is None else self.categories[rows],
            {k: v[rows] for k, v in self.meta.items()},
            dict(self.signatures),
        )

    def calibration(self, j: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Component ``j``'s calibration data: every response's raw score, the (chosen,
        rejected) pairs and the tie flags."""
        c, r = self.chosen[:, j], self.rejected[:, j]
        return np.concatenate([c, r]), (c, r), self.ties

    def normalised(self, normalizers: Sequence[Normalizer]) -> tuple[np.ndarray, np.ndarray]:
        """(chosen, rejected) normalised with one fitted normalizer per component."""
        return (
            _apply(normalizers, self.chosen, self.labels),
            _apply(normalizers, self.rejected, self.labels),
        )


@dataclass
class ItemTable:
    """Raw component scores of pointwise items, (n_items, k), with their human scores."""

    labels: tuple[str, ...]
    scores: np.ndarray
    higher_is_better: tuple[bool, ...]
    human: dict[str, np.ndarray]
    groups: np.ndarray
    systems: np.ndarray | None = None
    categories: np.ndarray | None = None
    signatures: dict[str, str] = field(default_factory=dict)

    kind = "pointwise"

    @classmethod
    def from_arrays(
        cls,
        scores: Mapping[str, Any],
        human: Mapping[str, Any],
        *,
        higher_is_better: bool | Mapping[str, bool] = True,
        groups: Any = None,
        systems: Any = None,
        categories: Any = None,
        labels: Sequence[str] | None = None,
    ) -> ItemTable:
        """A table from per-component arrays and human scores (NaN = unscored)."""
        who = f"{WHO} (items)"
        labels = tuple(labels or scores)
        x = _matrix(who, scores, labels, "")
        n = x.shape[0]
        hum = {k: _optional(who, f"human score {k!r}", v, n, np.float64) for k, v in human.items()}
        if not hum:
            raise ScorerInputError(f"{who}: expected at least one human judgment (got none)")
        g = _optional(who, "group", groups, n)
        g = np.array([str(i) for i in range(n)], dtype=object) if g is None else g.astype(str)
        s = _optional(who, "system", systems, n)
        return cls(
            labels,
            x,
            _directions(who, labels, higher_is_better),
            hum,
            g,
            None if s is None else s.astype(str),
            _optional(who, "category", categories, n),
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, rows: Any) -> ItemTable:
        return ItemTable(
            self.labels,
            self.scores[rows],
            self.higher_is_better,
            {k: v[rows] for k, v in self.human.items()},
            self.groups[rows],
            None if self.systems is None else self.systems[rows],
            None if self.categories is None else self.categories[rows],
            dict(self.signatures),
        )

    def calibration(self, j: int, human: str | None = None):
        """Component ``j``'s calibration data: every item's raw score and, for a ``bt``
        normalizer, pairs of items of one group that humans scored differently."""
        x = self.scores[:, j]
        key = human or next(iter(self.human))
        h = self.human[key]
        first, second = human_pairs(h, self.groups)
        return x, (x[first], x[second]), None

    def normalised(self, normalizers: Sequence[Normalizer]) -> np.ndarray:
        return _apply(normalizers, self.scores, self.labels)


def human_pairs(human: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (better, worse) of items in one group with different human scores."""
    better, worse = [], []
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(groups[order][1:] != groups[order][:-1]) + 1
    for members in np.split(order, bounds):
        members = members[~np.isnan(human[members])]
        if members.size < 2:
            continue
        i, j = np.triu_indices(members.size, 1)
        a, b = members[i], members[j]
        ha, hb = human[a], human[b]
        keep = ha != hb
        better.append(np.where(ha > hb, a, b)[keep])
        worse.append(np.where(ha > hb, b, a)[keep])
    if not better:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(better), np.concatenate(worse)


def table_with_directions(table: PairTable | ItemTable, directions: Sequence[bool]):
    """The same table with other component directions."""
    return replace(table, higher_is_better=tuple(bool(d) for d in directions))


def _apply(normalizers: Sequence[Normalizer], x: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    return np.stack(
        [n.transform(x[:, j], who=f"component {labels[j]!r}") for j, n in enumerate(normalizers)],
        axis=1,
    )


def fit_normalizers(
    table: PairTable | ItemTable,
    kinds: Sequence[Any],
    *,
    rows: Any = None,
    human: str | None = None,
) -> list[Normalizer]:
    """One normalizer per component, fitted on ``rows`` of the table (all by default).

    ``kinds``: a kind or an unfitted Normalizer per component (its options are kept)."""
    from .normalizers import make_normalizer

    part = table if rows is None else table.take(rows)
    fitted = []
    for j, (label, kind) in enumerate(zip(table.labels, kinds)):
        who = f"component {label!r}"
        template = make_normalizer(kind, who=who)
        norm = template.unfitted_copy()
        scores, pairs, ties = (
            part.calibration(j) if part.kind == "preference" else part.calibration(j, human)
        )
        norm.fit(
            scores, higher_is_better=table.higher_is_better[j], pairs=pairs, ties=ties, who=who
        )
        fitted.append(norm)
    return fitted


# ------------------------------------------------------------------------- from records


def score_pair_table(
    components: Sequence[Any],
    pairs: Sequence[PreferencePair],
    *,
    cache: Any = None,
    group_by: Any = "prompt",
    category: Any = None,
    meta: Sequence[str] = (),
    progress: bool = True,
    chunk_size: int | None = None,
) -> PairTable:
    """Score every component on every pair (chosen and rejected in one call, through the score
    cache) and collect the scores. ``components``: :class:`Component` entries (or anything with
    ``label``, ``scorer``, ``higher_is_better``). ``group_by`` keeps pairs of one group in one
    fold (default: the prompt; ``"source"`` for translation). ``category`` gives each pair the
    label that ``by_label`` weights key on (e.g. ``"subset"``). ``meta`` keys are copied."""
    from ..core.cache import ScoreCache

    pairs = list(pairs)
    if not pairs or not all(isinstance(p, PreferencePair) for p in pairs):
        raise ScorerInputError(f"{WHO}: expected a non-empty list of PreferencePair records")
    store = (
        None if cache is False else cache if isinstance(cache, ScoreCache) else ScoreCache(cache)
    )
    chosen, rejected, sigs = {}, {}, {}
    for c in components:
        both = score_pairs(
            c.scorer, pairs, cache=store, progress=progress, chunk_size=chunk_size, desc=c.label
        )
        chosen[c.label], rejected[c.label] = both.chosen, both.rejected
        sigs[c.label] = both.result.signature
    table = PairTable.from_arrays(
        chosen,
        rejected,
        higher_is_better={c.label: c.higher_is_better for c in components},
        groups=_field_of(WHO, pairs, group_by, "group"),
        ties=[p.label == "tie" for p in pairs],
        categories=_field_of(WHO, pairs, category, "category"),
        meta={k: _field_of(WHO, pairs, f"meta:{k}", "meta") for k in meta},
    )
    table.signatures = sigs
    return table


def score_item_table(
    components: Sequence[Any],
    items: Sequence[PointwiseItem],
    *,
    cache: Any = None,
    group_by: Any = "group",
    category: Any = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> ItemTable:
    """Score every component on every pointwise item (through the score cache) and collect the
    scores with the items' human scores, groups (default: ``group``) and systems."""
    from ..core.cache import ScoreCache

    items = list(items)
    if not items or not all(isinstance(it, PointwiseItem) for it in items):
        raise ScorerInputError(f"{WHO}: expected a non-empty list of PointwiseItem records")
    store = (
        None if cache is False else cache if isinstance(cache, ScoreCache) else ScoreCache(cache)
    )
    inputs = record_inputs(items, who=WHO)
    responses = inputs.pop("responses")
    scores, sigs = {}, {}
    for c in components:
        opts = dict(progress=progress, chunk_size=chunk_size, desc=c.label)
        if store is None:
            result = score_in_chunks(c.scorer, responses, **inputs, **opts)
        else:
            result = score_with_cache(c.scorer, responses, **inputs, cache=store, **opts)
        scores[c.label], sigs[c.label] = result.scores, result.signature
    keys = sorted({k for it in items for k in it.human})
    human = {k: [np.nan if it.human.get(k) is None else it.human[k] for it in items] for k in keys}
    systems = None if any(it.system is None for it in items) else [it.system for it in items]
    table = ItemTable.from_arrays(
        scores,
        human,
        higher_is_better={c.label: c.higher_is_better for c in components},
        groups=_field_of(WHO, items, group_by, "group"),
        systems=systems,
        categories=_field_of(WHO, items, category, "category"),
    )
    table.signatures = sigs
    return table


# ------------------------------------------------------------------------------ folds


def group_folds(groups: Any, k: int = 5, *, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint folds of row indices (each sorted) covering every row; rows of one group
    share a fold. Groups are shuffled with ``seed`` from their sorted labels (the row order does
    not matter) and each goes to the fold with the fewest rows so far (lowest number on ties)."""
    who = "group_folds"
    k = check_integer(who, "k", k, minimum=2)
    seed = check_integer(who, "seed", seed, minimum=0)
    labels = np.asarray(groups).astype(str)
    uniq, codes = np.unique(labels, return_inverse=True)
    if uniq.size < k:
        raise ScorerConfigError(
            f"{who}: cannot make {k} folds from {uniq.size} groups ({labels.size} rows); use a "
            "smaller k"
        )
    members = [np.flatnonzero(codes == g) for g in range(uniq.size)]
    order = np.random.default_rng(seed).permutation(uniq.size)
    folds: list[list[int]] = [[] for _ in range(k)]
    for g in order:
        smallest = min(range(k), key=lambda f: (len(folds[f]), f))
        folds[smallest].extend(members[g].tolist())
    return [np.asarray(sorted(f), dtype=np.int64) for f in folds]


def group_split(groups: Any, test: float = 0.3, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) with whole groups on each side: seeded shuffled groups go to the
    test side until it holds at least ``test`` of the rows."""
    labels = np.asarray(groups).astype(str)
    if not 0 < test < 1:
        raise ScorerConfigError(f"group_split: `test` must be a fraction in (0, 1) (got {test!r})")
    uniq, codes = np.unique(labels, return_inverse=True)
    if uniq.size < 2:
        raise ScorerConfigError(f"group_split: expected at least 2 groups (got {uniq.size})")
    order = np.random.default_rng(seed).permutation(uniq.size)
    target, taken, chosen = test * labels.size, 0, []
    for g in order[:-1]:
        if taken >= target:
            break
        chosen.append(g)
        taken += int((codes == g).sum())
    in_test = np.isin(codes, chosen)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)
