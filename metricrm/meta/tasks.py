"""Summaries across tasks (language pairs, datasets, levels): mt-metrics-eval's ``TaskSetResults``.

- :func:`task_weights`: weights that split evenly over the values of one task attribute, then the
  next (``AssignWeights``): e.g. by ``lang`` first, so a language pair with two tasks does not
  count twice.
- :func:`average_across_tasks`: weighted mean of each metric's value over the tasks where every
  task has it (``AverageCorrs``), optionally after mapping each task's range to [0, 1] so that
  correlations in [-1, 1] and accuracies in [0, 1] can be averaged.
- :func:`average_ranks`: weighted mean of each metric's cluster rank (``AverageRanks``).
- :func:`global_accuracy`: system-level pairwise accuracy pooled over tasks: agreements and
  system pairs are summed over tasks before dividing (WMT's accuracy over all language pairs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks


def task_weights(
    tasks: Sequence[Mapping[str, Any]], attributes: Sequence[str], total: float = 1.0
) -> np.ndarray:
    """One weight per task: ``total`` is split evenly over the distinct values of
    ``attributes[0]`` (in order of first appearance), each share over the values of
    ``attributes[1]`` among those tasks, and so on; what is left is split evenly."""
    who = "task_weights"
    if isinstance(attributes, str):
        raise _checks.ScorerConfigError(
            f"{who}: `attributes` must be a sequence of attribute names (got the string "
            f"{attributes!r}; wrap it in a list)"
        )
    tasks = list(tasks)
    _checks.non_empty(who, len(tasks), "tasks")
    for i, t in enumerate(tasks):
        absent = [a for a in attributes if a not in t]
        if absent:
            raise _checks.ScorerInputError(f"{who}: task {i} has no attribute(s) {absent}")
    out = np.zeros(len(tasks))

    def split(idx: list[int], attrs: Sequence[str], weight: float) -> None:
        if not attrs:
            out[idx] = weight / len(idx)
            return
        values: dict[str, list[int]] = {}
        for i in idx:
            values.setdefault(repr(tasks[i][attrs[0]]), []).append(i)
        for members in values.values():
            split(members, attrs[1:], weight / len(values))

    split(list(range(len(tasks))), list(attributes), float(total))
    return out


def _weights(who: str, names: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    if weights is None:
        return np.full(len(names), 1.0 / len(names))
    missing = [t for t in names if t not in weights]
    if missing:
        raise _checks.ScorerInputError(f"{who}: no weight for task(s) {missing}")
    w = np.array([float(weights[t]) for t in names])
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise _checks.ScorerConfigError(
            f"{who}: task weights must be finite, >= 0 and not all 0 (got {w.tolist()})"
        )
    return w


def _common_metrics(who: str, table: Mapping[str, Mapping[str, float]]) -> list[str]:
    if not table:
        raise _checks.ScorerInputError(f"{who}: expected at least one task (got none)")
    first = list(next(iter(table.values())))
    return [m for m in first if all(m in row for row in table.values())]


def average_across_tasks(
    values: Mapping[str, Mapping[str, float]],
    *,
    weights: Mapping[str, float] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Weighted mean over tasks of each metric's value, best first.

    ``values[task][metric]``; only metrics present in every task are averaged. ``weights``
    (task -> weight, default equal; e.g. from :func:`task_weights`) are used as given:
    mt-metrics-eval expects them to sum to 1. ``ranges[task] = (low, high)`` maps that task's
    values to (v - low) / (high - low) first (mt-metrics-eval: (-1, 1) for correlations, (0, 1)
    for accuracies); tasks missing from ``ranges`` are not mapped.
    """
    who = "average_across_tasks"
    names = list(values)
    metrics = _common_metrics(who, values)
    w = _weights(who, names, weights)
    out: dict[str, float] = {}
    for m in metrics:
        total = 0.0
        for task, wt in zip(names, w):
            v = float(values[task][m])
            if ranges is not None and task in ranges:
                low, high = ranges[task]
                if not high > low:
                    raise _checks.ScorerConfigError(
                        f"{who}: range of task {task!r} must have high > low (got {ranges[task]})"
                    )
                v = (v - low) / (high - low)
            total += wt * v
        out[m] = total
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def average_ranks(
    ranks: Mapping[str, Mapping[str, float]], *, weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Weighted mean over tasks of each metric's rank (cluster), best (lowest) first; only
    metrics ranked in every task are included. ``weights`` as in :func:`average_across_tasks`."""
    who = "average_ranks"
    names = list(ranks)
    metrics = _common_metrics(who, ranks)
    w = _weights(who, names, weights)
    out = {m: float(sum(wt * float(ranks[t][m]) for t, wt in zip(names, w))) for m in metrics}
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


@dataclass(frozen=True)
class GlobalAccuracyResult:
    """Pairwise accuracy pooled over tasks: ``agreements / pairs``; per-task counts kept."""

    value: float
    agreements: int
    pairs: int
    per_task: dict[str, tuple[int, int]]


def _agreements(h: np.ndarray, m: np.ndarray) -> tuple[int, int]:
    keep = ~np.isnan(h)
    h, m = h[keep], m[keep]
    i, j = np.triu_indices(h.size, 1)
    agree = np.sign(h[i] - h[j]) == np.sign(m[i] - m[j])
    return int(agree.sum()), int(i.size)


def global_accuracy(
    human: Mapping[str, Any], metric: Mapping[str, Any], *, higher_is_better: bool = True
) -> GlobalAccuracyResult:
    """System-level pairwise accuracy over several tasks (e.g. one per language pair).

    ``human[task]`` and ``metric[task]`` hold one score per system. Within each task every pair of
    systems with human scores counts; it agrees when the signs of the human and metric
    differences are equal (so a pair tied by both agrees, a pair tied by one side only does not:
    mt-metrics-eval's ``Agreement``). Agreements and pairs are summed over tasks, then divided.
    """
    who = "global_accuracy"
    if set(human) != set(metric):
        raise _checks.ScorerInputError(
            f"{who}: expected the same tasks in `human` and `metric` "
            f"(got {sorted(human)} and {sorted(metric)})"
        )
    _checks.non_empty(who, len(human), "tasks")
    per_task: dict[str, tuple[int, int]] = {}
    for task in human:
        h = _checks.as_float_array(who, f"human[{task!r}]", human[task], allow_nan=True)
        m = _checks.as_float_array(who, f"metric[{task!r}]", metric[task])
        _checks.same_length(who, human=h, metric=m)
        per_task[task] = _agreements(h, m if higher_is_better else -m)
    agree = sum(a for a, _ in per_task.values())
    pairs = sum(p for _, p in per_task.values())
    if pairs == 0:
        raise _checks.ScorerInputError(
            f"{who}: no task has two systems with human scores; expected at least one pair"
        )
    return GlobalAccuracyResult(agree / pairs, agree, pairs, per_task)
