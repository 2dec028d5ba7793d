"""Benchmark totals for :func:`~metricrm.study.meta_evaluate`: RM-Bench's domain-mean total and
RewardBench-style section scores, each with a bootstrap interval and the inputs of a paired
permutation test for the significance clusters.

Values come from the benchmark functions of :mod:`metricrm.meta` (``rmbench_totals``,
``rewardbench_section_scores``, ``section_scores``); intervals from
:func:`~metricrm.meta.stratified_bootstrap` over :func:`~metricrm.meta.weighted_cell_means`
with the same weights, resampling within the benchmark's fixed strata (RM-Bench: prompts within
each domain; RewardBench: pairs within each subset), so no domain or subset goes missing from a
resample.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import meta
from ..core.errors import ScorerInputError
from ..meta.pairwise import RMBENCH_DIFFICULTIES
from ..meta.rewardbench_constants import (
    PRIOR_SETS_SECTION,
    REWARDBENCH_PRIOR_SETS,
    REWARDBENCH_PRIOR_SETS_WEIGHT,
    REWARDBENCH_SECTIONS,
    REWARDBENCH_WEIGHTS,
)

RMBENCH_LEVELS = ("hard", "normal", "easy", "average")


@dataclass(frozen=True)
class ClusterInput:
    """What a paired permutation test between scorers needs for one row: the statistic, this
    scorer's per-item array and arrays shared by every scorer (human scores, cell codes)."""

    statistic: Callable[..., float]
    candidate: np.ndarray
    shared: tuple[np.ndarray, ...] = ()
    standardize: bool = False


@dataclass(frozen=True)
class TotalRow:
    """One aggregate row: ``level`` is "total" (the benchmark's own total over the dataset),
    "section" (a RewardBench section) or "domain" (an RM-Bench domain after merging)."""

    subset: str
    level: str
    statistic: str
    value: float
    ci: tuple[float, float]
    n: int
    n_excluded: int
    note: str
    test: ClusterInput


#: rng_for(*key) -> a Generator for the row with that key (see MetaEvalConfig.rng)
RngFor = Callable[..., np.random.Generator]


def _interval(
    stat: meta.SumStatistic,
    outcomes: np.ndarray,
    cells: np.ndarray,
    strata: np.ndarray,
    groups: np.ndarray | None,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> tuple[float, float]:
    b = meta.stratified_bootstrap(
        stat, outcomes, cells, strata=strata, groups=groups, rng=rng,
        n_resamples=n_resamples, confidence=confidence,
    )  # fmt: skip
    return b.low, b.high


# ------------------------------------------------------------------------------- RM-Bench


def rmbench_rows(
    outcomes: np.ndarray,
    domains: np.ndarray,
    difficulty: np.ndarray,
    prompts: np.ndarray,
    *,
    convention: meta.Convention,
    rng_for: RngFor,
    n_resamples: int,
    confidence: float,
    with_domains: bool,
    dropped: Sequence[str],
) -> list[TotalRow]:
    """RM-Bench's total (hard / normal / easy / average: equal-weight means over the domains
    after ``convention.domain_merge``, RM-Bench's safety merge when the convention has none)
    and, ``with_domains``, one row per merged domain. Prompts are resampled within domains."""
    merge = convention.domains or dict(meta.RMBENCH_DOMAIN_MERGE)
    totals = meta.rmbench_totals(outcomes, domains, difficulty, merge=merge)
    merged = np.array([merge.get(str(d), str(d)) for d in domains], dtype=object)
    names = sorted(totals.domains)
    d_index = {name: i for i, name in enumerate(names)}
    d_code = np.array([d_index[m] for m in merged])
    l_code = np.array([RMBENCH_DIFFICULTIES.index(str(x)) for x in difficulty])
    cells = d_code * 3 + l_code
    k = len(names)
    used = ~np.isnan(outcomes)
    present = sorted({str(d) for d in domains})
    n_dropped = {name: sum(merge.get(d, d) == name for d in dropped) for name in names}
    parts = {m: [d for d in present if merge.get(d, d) == m] for m in names}
    merged_text = "; ".join(f"{m} = {' + '.join(p)}" for m, p in parts.items() if p != [m])
    rows: list[TotalRow] = []
    for level in RMBENCH_LEVELS:
        w = np.zeros(3 * k)
        if level == "average":
            w[:] = 1.0 / (3 * k)
        else:
            w[RMBENCH_LEVELS.index(level) :: 3] = 1.0 / k
        stat = meta.weighted_cell_means(w, name=f"rmbench_total_{level}")
        ci = _interval(stat, outcomes, cells, merged, prompts, rng_for("rmbench-total", level),
                       n_resamples, confidence)  # fmt: skip
        note = (
            f"RM-Bench total: equal-weight mean over the domains {', '.join(names)}"
            + (f" ({merged_text})" if merged_text else "")
            + "; prompts resampled within domains"
        )
        rows.append(TotalRow("all", "total", f"rmbench_{level}", getattr(totals, level), ci,
                             int(used.sum()), int((~used).sum()) + len(dropped), note,
                             ClusterInput(stat, outcomes, (cells,))))  # fmt: skip
    if not with_domains:
        return rows
    for d, name in enumerate(names):
        inside = d_code == d
        for level in RMBENCH_LEVELS:
            w = np.zeros(3 * k)
            if level == "average":
                w[3 * d : 3 * d + 3] = 1.0 / 3
            else:
                w[3 * d + RMBENCH_LEVELS.index(level)] = 1.0
            stat = meta.weighted_cell_means(w, name=f"rmbench_{name}_{level}")
            ci = _interval(stat, outcomes[inside], cells[inside], merged[inside], prompts[inside],
                           rng_for("rmbench-domain", name, level), n_resamples,
                           confidence)  # fmt: skip
            sources = parts[name]
            note = f"RM-Bench domain {name}" + (
                f" ({' + '.join(sources)})" if sources != [name] else ""
            )
            rows.append(TotalRow(name, "domain", f"rmbench_{level}",
                                 totals.domains[name][level], ci, int(used[inside].sum()),
                                 int((~used[inside]).sum()) + n_dropped[name], note,
                                 ClusterInput(stat, outcomes, (cells,))))  # fmt: skip
    return rows


# ---------------------------------------------------------------------------- RewardBench


def _subset_results(outcomes: np.ndarray, subsets: np.ndarray, names: Sequence[str]) -> dict:
    out = {}
    for s in names:
        o = outcomes[subsets == s]
        used = ~np.isnan(o)
        value = float(o[used].mean()) if used.any() else float("nan")
        out[s] = meta.AccuracyResult(value, int(used.sum()), int((~used).sum()))
    return out


def section_rows(
    outcomes: np.ndarray,
    subsets: np.ndarray,
    *,
    convention: meta.Convention,
    dataset: str,
    rng_for: RngFor,
    n_resamples: int,
    confidence: float,
    dropped: Sequence[str],
) -> list[TotalRow]:
    """Section scores and the total of a convention with ``total="section-mean"``.

    ``section_weighting="rewardbench"``: the subsets must be RewardBench subsets (a dataset with
    none gets no rows and a warning; one mixing them with others is refused); rows for each
    section present and the leaderboard total (:func:`metricrm.meta.rewardbench_section_scores`).
    Otherwise each subset is its own section, weighted by ``section_weighting``, and only the
    total is reported (RewardBench 2: the plain mean of the subsets). Pairs are resampled within
    their subset.
    """
    names = sorted({str(s) for s in subsets})
    results = _subset_results(outcomes, subsets, names)
    who = f"meta_evaluate: convention {convention.name!r}, dataset {dataset!r}"
    if convention.section_weighting == "rewardbench":
        unknown = [s for s in names if s not in REWARDBENCH_WEIGHTS]
        if len(unknown) == len(names):
            warnings.warn(
                f"{who}: no subset is a RewardBench subset (got {names[:5]}"
                f"{' ...' if len(names) > 5 else ''}), so there are no section or total rows; "
                "name the subsets as RewardBench does (e.g. 'llmbar-natural')",
                stacklevel=4,
            )
            return []
        if unknown:
            raise ScorerInputError(
                f"{who}: subsets {unknown} are not RewardBench subsets while others are; "
                "RewardBench's sections would leave them out silently (expected only names "
                "from metricrm.meta.REWARDBENCH_SECTIONS and REWARDBENCH_PRIOR_SETS)"
            )
        prior = convention.prior_sets_weight
        scores = meta.rewardbench_section_scores(
            results,
            prior_sets=prior is not None,
            prior_sets_weight=REWARDBENCH_PRIOR_SETS_WEIGHT if prior is None else prior,
        )
        sections = dict(REWARDBENCH_SECTIONS)
        if prior is not None:
            sections[PRIOR_SETS_SECTION] = REWARDBENCH_PRIOR_SETS
        how = "subsets weighted by RewardBench's published example counts"
        present = [sec for sec, v in scores.sections.items() if not np.isnan(v)]
        prior_note = (
            f", {PRIOR_SETS_SECTION} at {prior} the weight of a core section"
            if PRIOR_SETS_SECTION in present
            else ""
        )
        total_note = (
            f"RewardBench total: mean of the sections present ({', '.join(present)}){prior_note}"
            "; pairs resampled within subsets"
        )
        with_sections = True
    else:
        if convention.name == "rewardbench2" and "Ties" in names:
            raise ScorerInputError(
                f"{who}: RewardBench 2 scores its Ties subset with its own formula, which needs "
                "every response of a prompt, not pairs; score it with "
                "metricrm.meta.rewardbench2_ties_score and leave it out of the pairs"
            )
        sections = {s: (s,) for s in names}
        scores = meta.section_scores(
            results, sections, weighting=convention.section_weighting,
            missing=convention.missing_subsets,
        )  # fmt: skip
        how = ""
        total_note = (
            f"{convention.name} total: {convention.section_weighting}-weighted mean of the "
            "subset accuracies; pairs resampled within subsets"
        )
        with_sections = False
    code = {s: i for i, s in enumerate(names)}
    cells = np.array([code[str(s)] for s in subsets])
    strata = np.asarray(subsets, dtype=object)
    used = ~np.isnan(outcomes)

    def row(subset: str, level: str, value: float, w: np.ndarray, note: str, key: str) -> TotalRow:
        stat = meta.weighted_cell_means(w, name=f"section_{key}")
        inside = np.isin(strata, [s for s, x in zip(names, w) if x > 0])
        ci = _interval(stat, outcomes, cells, strata, None, rng_for("section", key),
                       n_resamples, confidence)  # fmt: skip
        n_out = int((inside & ~used).sum()) + int((~inside).sum()) + len(dropped)
        return TotalRow(subset, level, "accuracy", value, ci, int((inside & used).sum()), n_out,
                        note, ClusterInput(stat, outcomes, (cells,)))  # fmt: skip

    rows: list[TotalRow] = []
    if with_sections:
        for sec, value in scores.sections.items():
            if np.isnan(value):
                continue
            w = np.array([scores.weights[sec].get(s, 0.0) for s in names])
            absent = scores.missing.get(sec) or []
            note = f"RewardBench section {sec}: {how}" + (
                f"; absent, left out: {', '.join(absent)}" if absent else ""
            )
            rows.append(row(sec, "section", value, w, note, sec))
    w_total = np.zeros(len(names))
    for sec, sw in scores.section_weights.items():
        for s, w in scores.weights.get(sec, {}).items():
            w_total[code[s]] += sw * w
    rows.append(row("all", "total", scores.overall, w_total, total_note, "total"))
    return rows
