"""Statistics on preference pairs: pairwise accuracy with explicit tie policies, RewardBench-style
subset/section aggregation, best-of-n accuracy, the RM-Bench style matrix and totals, and WMT
DARR tau-like. Each benchmark's own tie rule and weighting are named in
:mod:`metricrm.meta.conventions`.

Every function works on arrays of scores a scorer gave to the preferred ("chosen", "better") and
the other ("rejected", "worse") response of each pair; higher scores mean better unless a function
says otherwise. Per-pair outcomes (1 correct, 0 wrong, 0.5 half credit, NaN excluded) are exposed
so that resampling can reuse them (see :mod:`metricrm.meta.resampling`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .rewardbench_constants import REWARDBENCH_WEIGHTS

SCORE_TIES = ("half", "loss", "drop")
HUMAN_TIE_POLICIES = ("exclude", "threshold")


@dataclass(frozen=True)
class AccuracyResult:
    """An accuracy and the counts behind it.

    ``n_used`` pairs entered the mean; ``n_excluded`` were left out (human ties under
    ``human_tie_policy="exclude"``, score ties under ``score_ties="drop"``); ``n_human_ties`` and
    ``n_score_ties`` count the ties seen, whatever happened to them. ``value`` is NaN when no pair
    was used.
    """

    value: float
    n_used: int
    n_excluded: int
    n_human_ties: int = 0
    n_score_ties: int = 0


def _tie_credit(score_ties: str) -> float:
    return {"half": 0.5, "loss": 0.0, "drop": np.nan}[score_ties]


def _outcomes(
    chosen: Any,
    rejected: Any,
    score_ties: str,
    human_ties: Any,
    human_tie_policy: str,
    tie_threshold: float,
    who: str,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Outcomes, the human-tie mask (or None) and the mask of score ties on non-human-tie pairs."""
    _checks.choice(who, "score_ties", score_ties, SCORE_TIES)
    _checks.choice(who, "human_tie_policy", human_tie_policy, HUMAN_TIE_POLICIES)
    if not _checks.is_number(tie_threshold) or not tie_threshold >= 0:
        raise _checks.ScorerConfigError(
            f"{who}: `tie_threshold` must be a number >= 0 (got {tie_threshold!r})"
        )
    c = _checks.as_float_array(who, "chosen", chosen)
    r = _checks.as_float_array(who, "rejected", rejected)
    n = _checks.same_length(who, chosen=c, rejected=r)
    diff = c - r
    score_tie = np.abs(diff) <= tie_threshold
    out = np.where(diff > 0, 1.0, 0.0)
    out[score_tie] = _tie_credit(score_ties)
    h = None
    if human_ties is not None:
        h = _checks.as_mask(who, "human_ties", human_ties, n)
        if human_tie_policy == "exclude":
            out[h] = np.nan
        else:
            out[h] = score_tie[h].astype(np.float64)
        score_tie = score_tie & ~h
    return out, h, score_tie


def pairwise_outcomes(
    chosen: Any,
    rejected: Any,
    *,
    score_ties: str = "half",
    human_ties: Any = None,
    human_tie_policy: str = "exclude",
    tie_threshold: float = 0.0,
) -> np.ndarray:
    """Per-pair outcome of "the scorer prefers the chosen response": 1, 0, 0.5 or NaN (excluded).

    A pair is a *score tie* when ``|chosen - rejected| <= tie_threshold`` (exact equality with the
    default 0). For a pair the humans did not tie, a score tie earns ``score_ties``: "half" (0.5,
    what a coin flip would earn), "loss" (0) or "drop" (excluded). ``human_ties`` marks the pairs
    humans judged equal; with ``human_tie_policy="exclude"`` they are left out, with "threshold"
    they count as correct exactly when the scorer also ties them (``|diff| <= tie_threshold``).
    """
    out, _, _ = _outcomes(
        chosen,
        rejected,
        score_ties,
        human_ties,
        human_tie_policy,
        tie_threshold,
        "pairwise_outcomes",
    )
    return out


def _summarise(
    outcomes: np.ndarray, human_ties: np.ndarray | None, score_ties: np.ndarray
) -> AccuracyResult:
    used = ~np.isnan(outcomes)
    n_used = int(used.sum())
    value = float(outcomes[used].sum() / n_used) if n_used else float("nan")
    return AccuracyResult(
        value=value,
        n_used=n_used,
        n_excluded=int(outcomes.size - n_used),
        n_human_ties=int(human_ties.sum()) if human_ties is not None else 0,
        n_score_ties=int(score_ties.sum()),
    )


def pairwise_accuracy(
    chosen: Any,
    rejected: Any,
    *,
    score_ties: str = "half",
    human_ties: Any = None,
    human_tie_policy: str = "exclude",
    tie_threshold: float = 0.0,
) -> AccuracyResult:
    """Share of pairs where the scorer prefers the chosen response (see :func:`pairwise_outcomes`
    for the tie policies). ``n_score_ties`` counts score ties on pairs humans did not tie.
    RewardBench and RM-Bench count a score tie as wrong: pass ``score_ties="loss"`` to match them
    (``get_convention("rewardbench").score_ties``).
    """
    out, h, score_tie = _outcomes(
        chosen,
        rejected,
        score_ties,
        human_ties,
        human_tie_policy,
        tie_threshold,
        "pairwise_accuracy",
    )
    return _summarise(out, h, score_tie)


# --------------------------------------------------------------------- RewardBench-style sections


@dataclass(frozen=True)
class SectionScores:
    """Per-section accuracies and their weighted mean (``overall``).

    ``weights[section][subset]``: the normalised weight each subset got inside its section;
    ``section_weights[section]``: the normalised weight of each section in ``overall`` (sections
    without a value get 0); ``missing[section]``: subsets named by the section but left out
    (absent, or, under ``missing="skip"``, without a value and with a weight > 0; a subset
    without a value whose weight is 0, e.g. no pair used under "count", stays in ``weights``
    with 0).
    """

    sections: dict[str, float]
    overall: float
    weights: dict[str, dict[str, float]]
    section_weights: dict[str, float] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)


def subset_accuracies(
    chosen: Any,
    rejected: Any,
    subsets: Any,
    *,
    score_ties: str = "half",
    human_ties: Any = None,
    human_tie_policy: str = "exclude",
    tie_threshold: float = 0.0,
) -> dict[str, AccuracyResult]:
    """Pairwise accuracy within each subset label (labels sorted), same policies as
    :func:`pairwise_accuracy`."""
    out, ht, score_tie = _outcomes(
        chosen,
        rejected,
        score_ties,
        human_ties,
        human_tie_policy,
        tie_threshold,
        "subset_accuracies",
    )
    names, codes = _checks.labels("subset_accuracies", "subsets", subsets, out.size)
    result: dict[str, AccuracyResult] = {}
    for k, name in enumerate(names):
        sel = codes == k
        result[str(name)] = _summarise(out[sel], None if ht is None else ht[sel], score_tie[sel])
    return result


SECTION_WEIGHTINGS = ("count", "equal", "rewardbench")


def _subset_value(who: str, name: str, result: Any) -> tuple[float, int | None]:
    """(value, pairs used or None) from an AccuracyResult or a plain number."""
    if isinstance(result, AccuracyResult):
        return float(result.value), result.n_used
    if isinstance(result, bool) or not isinstance(result, (int, float, np.floating, np.integer)):
        raise _checks.ScorerInputError(
            f"{who}: subset {name!r} must map to an AccuracyResult or a number "
            f"(got {type(result).__name__})"
        )
    return float(result), None


def _subset_weights(who: str, weighting: Any) -> Mapping[str, float] | str:
    if isinstance(weighting, str):
        _checks.choice(who, "weighting", weighting, SECTION_WEIGHTINGS)
        if weighting == "rewardbench":
            return REWARDBENCH_WEIGHTS
        return weighting
    if not isinstance(weighting, Mapping):
        raise _checks.ScorerConfigError(
            f"{who}: `weighting` must be one of {', '.join(map(repr, SECTION_WEIGHTINGS))} or a "
            f"mapping subset -> weight (got {type(weighting).__name__})"
        )
    for name, w in weighting.items():
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)):
            raise _checks.ScorerConfigError(
                f"{who}: weight of subset {name!r} must be a number (got {w!r})"
            )
        if not (np.isfinite(w) and w >= 0):
            raise _checks.ScorerConfigError(
                f"{who}: weight of subset {name!r} must be finite and >= 0 (got {w!r})"
            )
    return weighting


def section_scores(
    subset_results: Mapping[str, AccuracyResult | float],
    sections: Mapping[str, Sequence[str]],
    *,
    weighting: str | Mapping[str, float] = "count",
    missing: str = "error",
    section_weights: Mapping[str, float] | None = None,
) -> SectionScores:
    """Aggregate subset accuracies into sections, then the sections into ``overall``.

    Subset weights inside a section (``weighting``):

    - ``"count"``: the subset's number of used pairs (needs AccuracyResult values);
    - ``"equal"``: every subset the same;
    - ``"rewardbench"``: RewardBench's published example counts
      (:data:`~metricrm.meta.rewardbench.REWARDBENCH_EXAMPLE_COUNTS`; e.g. math-prm counts 984
      though it has 447 pairs) and weight 1 for each prior set;
    - a mapping subset -> weight (custom weights; every used subset needs one).

    ``missing="error"`` refuses a section naming a subset absent from ``subset_results``;
    ``"skip"`` leaves such subsets (and subsets whose value is NaN) out and renormalises the
    section over the rest, as RewardBench's ``calculate_scores_per_section`` does; a section left
    with nothing is NaN and, under "skip", left out of ``overall`` (renormalised over the others).
    ``section_weights`` (default: equal) weigh the sections in ``overall``; RewardBench weighs its
    four sections 1 and the prior sets 0.5. Values are fractions, not percent.
    """
    who = "section_scores"
    _checks.choice(who, "missing", missing, ("error", "skip"))
    scheme = _subset_weights(who, weighting)
    if not sections:
        raise _checks.ScorerInputError(f"{who}: expected at least one section (got none)")
    if section_weights is None:
        sw = {sec: 1.0 for sec in sections}
    else:
        if set(section_weights) != set(sections):
            raise _checks.ScorerConfigError(
                f"{who}: `section_weights` must name exactly the sections {sorted(sections)} "
                f"(got {sorted(section_weights)})"
            )
        sw = {}
        for sec, w in section_weights.items():
            if not _checks.is_number(w) or not w > 0:
                raise _checks.ScorerConfigError(
                    f"{who}: weight of section {sec!r} must be a number > 0 (got {w!r})"
                )
            sw[sec] = float(w)
    scores: dict[str, float] = {}
    weights: dict[str, dict[str, float]] = {}
    left_out: dict[str, list[str]] = {}
    for section, members in sections.items():
        if isinstance(members, str) or not members:
            raise _checks.ScorerInputError(
                f"{who}: section {section!r} must list one or more subset names (got {members!r})"
            )
        absent = [m for m in members if m not in subset_results]
        if absent and missing == "error":
            raise _checks.ScorerInputError(
                f"{who}: section {section!r} names subsets with no results: {absent} "
                f"(available: {sorted(subset_results)}); pass missing='skip' to leave them out"
            )
        values: dict[str, float] = {}
        w: dict[str, float] = {}
        for m in members:
            if m in absent:
                continue
            value, n_used = _subset_value(who, m, subset_results[m])
            if scheme == "count":
                if n_used is None:
                    raise _checks.ScorerInputError(
                        f"{who}: weighting='count' needs AccuracyResult values with pair counts; "
                        f"subset {m!r} is a plain number (use another weighting)"
                    )
                weight = float(n_used)
            elif scheme == "equal":
                weight = 1.0
            elif m in scheme:
                weight = float(scheme[m])
            else:
                raise _checks.ScorerConfigError(
                    f"{who}: no weight for subset {m!r} in the given weighting "
                    f"(weights known for {sorted(scheme)})"
                )
            if np.isnan(value) and weight > 0 and missing == "skip":
                absent.append(m)
                continue
            values[m], w[m] = value, weight
        total = sum(w.values())
        if total == 0:
            scores[section] = float("nan")
        else:
            scores[section] = float(sum(w[m] * values[m] for m in w if w[m] > 0) / total)
        weights[section] = {m: (w[m] / total if total else 0.0) for m in w}
        left_out[section] = absent
    used = {sec: sw[sec] for sec in sections if missing == "error" or not np.isnan(scores[sec])}
    norm = sum(used.values())
    overall = float(sum(sw[sec] * scores[sec] for sec in used) / norm) if norm else float("nan")
    return SectionScores(
        sections=scores,
        overall=overall,
        weights=weights,
        section_weights={sec: (used.get(sec, 0.0) / norm if norm else 0.0) for sec in sections},
        missing=left_out,
    )


# -------------------------------------------------------------------------------- best of n


def best_of_n_outcomes(chosen: Any, rejected: Any, *, score_ties: str = "half") -> np.ndarray:
    """Per-item outcome of "chosen beats every rejected response".

    ``rejected`` has shape (n_items, n_rejected). When the chosen score equals the best rejected
    score and ``t`` rejected responses share it, "half" gives 1 / (t + 1) (the chance that a random
    tie-break puts the chosen first), "loss" gives 0 and "drop" excludes the item (NaN).
    """
    who = "best_of_n_accuracy"
    _checks.choice(who, "score_ties", score_ties, SCORE_TIES)
    c = _checks.as_float_array(who, "chosen", chosen)
    r = _checks.as_float_array(who, "rejected", rejected, ndim=2)
    _checks.same_length(who, chosen=c, rejected=r)
    if r.shape[1] == 0:
        raise _checks.ScorerInputError(f"{who}: expected at least one rejected response per item")
    best = r.max(axis=1)
    out = (c > best).astype(np.float64)
    tied = c == best
    if tied.any():
        if score_ties == "half":
            t = (r[tied] == best[tied, None]).sum(axis=1)
            out[tied] = 1.0 / (t + 1.0)
        else:
            out[tied] = _tie_credit(score_ties)
    return out


def best_of_n_accuracy(chosen: Any, rejected: Any, *, score_ties: str = "half") -> AccuracyResult:
    """Share of items whose chosen response scores above all its rejected ones."""
    out = best_of_n_outcomes(chosen, rejected, score_ties=score_ties)
    c = np.asarray(chosen, dtype=np.float64)
    tied = c == np.asarray(rejected, dtype=np.float64).max(axis=1)
    return _summarise(out, None, tied)


# ------------------------------------------------------------------------------ RM-Bench matrix


@dataclass(frozen=True)
class StyleMatrixResult:
    """RM-Bench style accuracies.

    ``matrix[i, j]`` is the accuracy of chosen style ``i`` against rejected style ``j``;
    ``hard`` is the mean of the upper triangle (i < j: the chosen response is plainer than the
    rejected one), ``normal`` the diagonal, ``easy`` the lower triangle, ``average`` their mean.
    ``counts[i, j]`` is the number of prompts used in each cell.
    """

    matrix: np.ndarray
    hard: float
    normal: float
    easy: float
    average: float
    counts: np.ndarray


def rmbench_matrix(chosen: Any, rejected: Any, *, score_ties: str = "loss") -> StyleMatrixResult:
    """RM-Bench's style-by-style accuracy matrix from (n_prompts, k) chosen and rejected scores.

    Columns are styles from plainest to fanciest (RM-Bench: concise, detailed plain, detailed
    markdown). RM-Bench's own ``compute_accuracy`` counts ``chosen > rejected`` and so scores a
    tie as wrong: the default ``score_ties="loss"`` reproduces it; "half" and "drop" are offered.
    """
    who = "rmbench_matrix"
    _checks.choice(who, "score_ties", score_ties, SCORE_TIES)
    c = _checks.as_float_array(who, "chosen", chosen, ndim=2)
    r = _checks.as_float_array(who, "rejected", rejected, ndim=2)
    if c.shape != r.shape or c.shape[1] < 2:
        raise _checks.ScorerInputError(
            f"{who}: expected `chosen` and `rejected` of the same shape (n_prompts, k >= 2) "
            f"(got {c.shape} and {r.shape})"
        )
    _checks.non_empty(who, c.shape[0], "prompts")
    diff = c[:, :, None] - r[:, None, :]  # (n, i chosen style, j rejected style)
    out = (diff > 0).astype(np.float64)
    out[diff == 0] = _tie_credit(score_ties)
    return _style_matrix(out)


def rmbench_matrix_from_outcomes(outcomes: Any) -> StyleMatrixResult:
    """RM-Bench's style matrix from per-pair outcomes, for judges that compare two responses
    instead of scoring each: ``outcomes[n, i, j]`` is 1 if prompt ``n``'s chosen response in
    style ``i`` won against its rejected response in style ``j``, 0 if it lost (a tie: the
    credit you give it; NaN: left out), shape (n_prompts, k, k)."""
    who = "rmbench_matrix_from_outcomes"
    out = _checks.as_float_array(who, "outcomes", outcomes, ndim=3, allow_nan=True)
    if out.shape[1] != out.shape[2] or out.shape[1] < 2:
        raise _checks.ScorerInputError(
            f"{who}: expected `outcomes` of shape (n_prompts, k, k), k >= 2 (got {out.shape})"
        )
    _checks.non_empty(who, out.shape[0], "prompts")
    bad = ~np.isnan(out) & ((out < 0) | (out > 1))
    if bad.any():
        n, i, j = np.argwhere(bad)[0]
        raise _checks.ScorerInputError(
            f"{who}: expected outcomes between 0 and 1 (got {float(out[n, i, j])} at prompt {n}, "
            f"chosen style {i}, rejected style {j})"
        )
    return _style_matrix(out)


def _style_matrix(out: np.ndarray) -> StyleMatrixResult:
    """The matrix, difficulty means and counts of (n_prompts, k, k) outcomes (NaN: left out)."""
    counts = (~np.isnan(out)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.nansum(out, axis=0) / counts
    matrix[counts == 0] = np.nan
    k = out.shape[1]
    hard = float(matrix[np.triu_indices(k, 1)].mean())
    easy = float(matrix[np.tril_indices(k, -1)].mean())
    normal = float(np.diag(matrix).mean())
    return StyleMatrixResult(
        matrix=matrix,
        hard=hard,
        normal=normal,
        easy=easy,
        average=float(np.mean([hard, normal, easy])),
        counts=counts,
    )


RMBENCH_DIFFICULTIES = ("hard", "normal", "easy")
#: RM-Bench reports its two safety files as one "safety" domain.
RMBENCH_DOMAIN_MERGE: Mapping[str, str] = {
    "safety-refuse": "safety",
    "safety-response": "safety",
}


@dataclass(frozen=True)
class RMBenchTotals:
    """RM-Bench's totals: per (merged) domain the mean outcome of its hard, normal and easy pairs
    and their mean (``domains[d]["average"]``); the totals are equal-weight means over domains.
    ``n_pairs[d]`` counts the pairs used in each domain (NaN outcomes are left out)."""

    hard: float
    normal: float
    easy: float
    average: float
    domains: dict[str, dict[str, float]]
    n_pairs: dict[str, int]


def rmbench_totals(
    outcomes: Any,
    domains: Any,
    difficulty: Any,
    *,
    merge: Mapping[str, str] | None = RMBENCH_DOMAIN_MERGE,
) -> RMBenchTotals:
    """RM-Bench's hard / normal / easy / average totals from per-pair outcomes.

    ``outcomes`` (1, 0, 0.5 or NaN = excluded; RM-Bench itself scores ``chosen > rejected``, so
    build them with ``score_ties="loss"``), ``domains`` and ``difficulty`` ("hard", "normal",
    "easy") hold one entry per pair, e.g. the 9 style pairs of every prompt as
    :func:`metricrm.data.load_rm_bench` gives them. Domains are first renamed by ``merge``
    (default: the two safety files form "safety", as in RM-Bench's tables); each merged domain's
    accuracy per difficulty is the mean of its pairs of that difficulty (for complete prompts, the
    mean of the matching cells of :func:`rmbench_matrix`); each total is the plain mean over
    domains, and ``average`` the mean of hard, normal and easy. Pooling every pair instead (one
    mean over all domains) weighs domains by their size, which RM-Bench does not.
    """
    who = "rmbench_totals"
    o = _checks.as_float_array(who, "outcomes", outcomes, allow_nan=True)
    n = o.size
    _checks.non_empty(who, n, "pairs")
    dom_names, dom_codes = _checks.labels(who, "domains", domains, n)
    diff_names, diff_codes = _checks.labels(who, "difficulty", difficulty, n)
    bad = [k for k, d in enumerate(diff_names) if d not in RMBENCH_DIFFICULTIES]
    if bad:
        # located by code: labels that are not strings (e.g. 0, 1, 2) are found too
        first = int(np.flatnonzero(np.isin(diff_codes, bad))[0])
        raise _checks.ScorerInputError(
            f"{who}: `difficulty` must be one of {RMBENCH_DIFFICULTIES} (got "
            f"{[str(diff_names[k]) for k in bad]}; first at pair {first})"
        )
    if merge is not None and not isinstance(merge, Mapping):
        raise _checks.ScorerConfigError(
            f"{who}: `merge` must be a mapping domain -> merged domain or None "
            f"(got {type(merge).__name__})"
        )
    rename = dict(merge or {})
    merged = np.array([rename.get(str(d), str(d)) for d in dom_names], dtype=object)[dom_codes]
    diff = diff_names.astype(object)[diff_codes]
    per_domain: dict[str, dict[str, float]] = {}
    n_pairs: dict[str, int] = {}
    for d in sorted(set(merged)):
        in_d = merged == d
        row: dict[str, float] = {}
        for level in RMBENCH_DIFFICULTIES:
            sel = in_d & (diff == level) & ~np.isnan(o)
            if not sel.any():
                raise _checks.ScorerInputError(
                    f"{who}: domain {d!r} has no {level!r} pair with an outcome; expected every "
                    "domain to have hard, normal and easy pairs"
                )
            row[level] = float(o[sel].mean())
        row["average"] = float(np.mean([row[level] for level in RMBENCH_DIFFICULTIES]))
        per_domain[d] = row
        n_pairs[d] = int((in_d & ~np.isnan(o)).sum())
    totals = {
        k: float(np.mean([per_domain[d][k] for d in per_domain]))
        for k in (*RMBENCH_DIFFICULTIES, "average")
    }
    return RMBenchTotals(**totals, domains=per_domain, n_pairs=n_pairs)


# ------------------------------------------------------------------------------- WMT tau-like


@dataclass(frozen=True)
class TauLikeResult:
    """WMT DARR Kendall's tau-like with its counts (metric ties are inside ``discordant``)."""

    value: float
    concordant: int
    discordant: int
    n_ties: int


def tau_like_outcomes(better: Any, worse: Any, *, higher_is_better: bool = True) -> np.ndarray:
    """+1 where the metric ranks the human-preferred translation strictly better, else -1
    (a metric tie counts as discordant, as in WMT DARR)."""
    who = "kendall_tau_like"
    b = _checks.as_float_array(who, "better", better)
    w = _checks.as_float_array(who, "worse", worse)
    _checks.same_length(who, better=b, worse=w)
    agree = b > w if higher_is_better else b < w
    return np.where(agree, 1.0, -1.0)


def kendall_tau_like(better: Any, worse: Any, *, higher_is_better: bool = True) -> TauLikeResult:
    """WMT "Kendall's tau-like" = (concordant - discordant) / (concordant + discordant) over DARR
    pairs, where ``better`` holds the metric scores of the human-preferred translations."""
    out = tau_like_outcomes(better, worse, higher_is_better=higher_is_better)
    _checks.non_empty("kendall_tau_like", out.size, "pairs")
    con = int((out > 0).sum())
    dis = int(out.size - con)
    ties = int((np.asarray(better, dtype=np.float64) == np.asarray(worse, dtype=np.float64)).sum())
    return TauLikeResult(value=(con - dis) / out.size, concordant=con, discordant=dis, n_ties=ties)
