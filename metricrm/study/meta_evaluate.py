"""``meta_evaluate``: score every scorer on a dataset with human judgments and measure agreement.

Scoring goes through the persistent score cache (so reruns and resumed runs recompute nothing
that finished); the statistics come from :mod:`metricrm.meta`. The result is one tidy pandas
DataFrame with a row per (scorer, dataset, subset, human judgment, level, statistic).
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import meta
from ..core.batching import record_inputs, score_in_chunks, score_pairs, score_with_cache
from ..core.cache import CacheStats, ScoreCache, resolve_cache
from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.records import PointwiseItem, PreferencePair
from ..core.registry import get_scorer
from ..core.types import Scorer
from ..core.validation import check_choice, check_integer, check_number
from ..core.versions import version_label
from ..meta.clusters import BOUNDARIES, RULES, resolve_rule
from .totals import ClusterInput, TotalRow, rmbench_rows, section_rows

PREFERENCE_STATISTICS = ("accuracy", "tau_like", "rmbench")
POINTWISE_STATISTICS = ("pearson", "spearman", "kendall_b", "kendall_c", "acc23", "spa")
LEVELS = ("flat", "item", "system")
COLUMNS = [
    "scorer", "dataset", "subset", "human", "level", "statistic", "value",
    "ci_low", "ci_high", "n", "n_excluded", "cluster", "signature", "run_signature", "note",
]  # fmt: skip

#: statistic name -> correlation function with the scipy contract f(human, metric)
_CORR: dict[str, Callable[..., Any]] = {
    "pearson": meta.pearson,
    "spearman": meta.spearman,
    "kendall_b": meta.kendall_tau_b,
    "kendall_c": meta.kendall_tau_c,
    "acc23": meta.tie_calibrated_accuracy,
}
#: batched forms for the flat-level bootstrap and the permutation tests
_ROW = {"pearson": meta.PEARSON, "spearman": meta.SPEARMAN}
#: system-level statistics with a batched form; the others are looped
_SYSTEM_CORR = {"pearson": "pearson", "spearman": "spearman", "kendall_b": "kendall"}


#: Settings a convention decides. In :func:`meta_evaluate` and :class:`MetaEvalConfig` each
#: defaults to None, "the convention's"; a value given explicitly wins over the convention.
CONVENTION_SETTINGS = (
    "n_resamples", "score_ties", "human_tie_policy", "alpha", "cluster_rule", "cluster_boundary",
)  # fmt: skip


def _check_override(key: str, value: Any) -> Any:
    who = "meta_evaluate"
    if key == "n_resamples":
        return check_integer(who, key, value, minimum=1)
    if key == "alpha":
        return check_number(who, key, value, above=0.0, maximum=1.0)
    valid = {
        "score_ties": ("half", "loss", "drop"),
        "human_tie_policy": ("exclude", "threshold"),
        "cluster_rule": RULES,
        "cluster_boundary": BOUNDARIES,
    }[key]
    return check_choice(who, key, value, valid)


@dataclass
class MetaEvalConfig:
    """Settings shared by every statistic of one ``meta_evaluate`` call.

    ``convention`` (a name from :func:`metricrm.meta.list_conventions` or a
    :class:`~metricrm.meta.Convention`) decides every setting of :data:`CONVENTION_SETTINGS`
    left at None; a setting given explicitly wins. After construction every such field holds
    the value in use, ``convention`` is the effective Convention (its name kept, overrides
    applied) and ``overrides`` lists the settings given that differ from the named convention.
    A ``cluster_rule`` given without ``cluster_boundary`` takes that rule's own boundary
    (inclusive for "wmt", strict for "head" and "any").
    """

    n_resamples: int | None = None
    confidence: float = 0.95
    seed: int = 0
    score_ties: str | None = None
    human_tie_policy: str | None = None
    tie_threshold: float = 0.0
    significance: bool = True
    alpha: float | None = None
    convention: Any = "metricrm"
    cluster_rule: str | None = None
    cluster_boundary: str | None = None
    overrides: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.convention, meta.Convention):
            if not isinstance(self.convention, str) or self.convention not in meta.CONVENTIONS:
                valid = ", ".join(repr(n) for n in meta.CONVENTIONS)
                raise ScorerConfigError(
                    f"meta_evaluate: unknown convention {self.convention!r}; valid names: "
                    f"{valid}, or a metricrm.meta.Convention"
                )
        base = meta.get_convention(self.convention)
        given = {
            k: _check_override(k, getattr(self, k))
            for k in CONVENTION_SETTINGS
            if getattr(self, k) is not None
        }
        if "cluster_rule" in given or "cluster_boundary" in given:
            rule = given.get("cluster_rule", base.cluster_rule)
            bound = given.get("cluster_boundary")
            given["cluster_rule"], given["cluster_boundary"] = resolve_rule(
                "meta_evaluate", rule, bound
            )
        effective = replace(base, **given)
        self.convention = effective
        self.overrides = tuple(k for k in CONVENTION_SETTINGS if k in given
                               and given[k] != getattr(base, k))  # fmt: skip
        for k in CONVENTION_SETTINGS:
            setattr(self, k, getattr(effective, k))

    def rng(self, *key: Any) -> np.random.Generator:
        """A generator for one statistic: depends on the seed and the row's identity only, so
        adding a scorer or a dataset does not change any other row's interval."""
        return np.random.default_rng([self.seed, zlib.crc32(repr(key).encode("utf-8"))])

    def settings(self) -> dict[str, Any]:
        """The settings in use, by name (the convention by its name)."""
        out = {k: getattr(self, k) for k in ("n_resamples", "confidence", "seed", "score_ties",
               "human_tie_policy", "tie_threshold", "significance", "alpha", "cluster_rule",
               "cluster_boundary")}  # fmt: skip
        return {"convention": self.convention.name, **out, "overrides": list(self.overrides)}

    @property
    def signature(self) -> str:
        """Every setting of the run that changes a value, interval or cluster: the convention's
        signature (its name and every choice, overrides applied), the overrides by name, and
        the settings no convention decides."""
        parts = {
            "overrides": ",".join(self.overrides) or "none",
            "confidence": self.confidence,
            "seed": self.seed,
            "tie_threshold": self.tie_threshold,
            "significance": self.significance,
        }
        settings = "|".join(f"{k}:{v}" for k, v in parts.items())
        return (
            f"meta_evaluate|metricrm:{version_label('metricrm')}|{self.convention.signature}|"
            f"{settings}"
        )


# ----------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Entry:
    """A scorer and the label its rows carry. The label is presentation only: scores are
    cached, and rows signed, under the scorer's own signature, never under the label."""

    label: str
    scorer: Scorer

    @property
    def name(self) -> str:  # rows, intervals and clusters are keyed by the label
        return self.label

    @property
    def higher_is_better(self) -> bool:
        return bool(self.scorer.higher_is_better)

    @property
    def signature(self) -> str:
        return self.scorer.signature


def _resolve_scorers(scorers: Any) -> list[Entry]:
    """``scorers`` as labelled entries: names, Scorer instances, ``(label, scorer)`` pairs, or a
    mapping from label to a Scorer or to settings (then the label is the registered name)."""
    if isinstance(scorers, (str, Scorer)) or hasattr(scorers, "score"):
        scorers = [scorers]
    if isinstance(scorers, Mapping):
        scorers = [
            (label, get_scorer(label, **s) if isinstance(s, Mapping) else s)
            for label, s in scorers.items()
        ]
    entries = []
    for item in scorers:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            label, scorer = item
        else:
            scorer = get_scorer(item) if isinstance(item, str) else item
            label = scorer.name
        if isinstance(scorer, str):
            scorer = get_scorer(scorer)
        entries.append(Entry(label, scorer))
    if not entries:
        raise ScorerConfigError("meta_evaluate: expected at least one scorer (got none)")
    labels = [e.label for e in entries]
    dupes = sorted({n for n in labels if labels.count(n) > 1})
    if dupes:
        raise ScorerConfigError(
            f"meta_evaluate: scorer names must be unique (got {dupes} more than once); "
            "give differently configured copies their own labels: [(label, scorer), ...]"
        )
    return entries


def _scores(
    entry: Entry,
    dataset: str,
    kind: str,
    records: list,
    cache: ScoreCache | None,
    chunk_size: int | None,
    progress: bool,
    stats: CacheStats | None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """A scorer's scores on a dataset: ``(chosen, rejected)`` for pairs, one array for items."""
    scorer = entry.scorer
    if getattr(scorer, "requires_references", False) and not all(r.references for r in records):
        raise ScorerInputError(
            f"{entry.label}: needs references, but dataset {dataset!r} has none; "
            "choose reference-free scorers for it"
        )
    who = f"meta_evaluate: dataset {dataset!r}"
    options = dict(chunk_size=chunk_size, progress=progress, desc=f"{entry.label} on {dataset}")
    if kind == "preference":
        both = score_pairs(scorer, records, cache=cache, stats=stats, who=who, **options)
        return both.chosen, both.rejected
    inputs = record_inputs(records, who=who)
    responses = inputs.pop("responses")
    if cache is None:
        if stats is not None:
            stats.computed += len(responses)
        return score_in_chunks(scorer, responses, **inputs, **options).scores
    return score_with_cache(scorer, responses, **inputs, cache=cache, stats=stats, **options).scores


def _empty_mask(texts: Sequence[Any]) -> np.ndarray:
    def empty(t: Any) -> bool:
        if isinstance(t, str):
            return not t.strip()
        if isinstance(t, (list, tuple)):
            return not "".join(str(m.get("content", "")) for m in t).strip()
        return False

    return np.array([empty(t) for t in texts], dtype=bool)


# ---------------------------------------------------------------------------------- rows


def _row(
    scorer: Entry, dataset: str, subset: str, human: str | None, level: str, statistic: str,
    value: float, ci: tuple[float, float], n: int, n_excluded: int,
) -> dict:  # fmt: skip
    return {
        "scorer": scorer.name, "dataset": dataset, "subset": subset, "human": human,
        "level": level, "statistic": statistic, "value": float(value),
        "ci_low": float(ci[0]), "ci_high": float(ci[1]), "n": int(n),
        "n_excluded": int(n_excluded), "cluster": np.nan, "signature": scorer.signature,
        "note": None,
    }  # fmt: skip


#: Weighted mean of (values, weights) arrays: micro-averaged item-level correlations.
_WEIGHTED_MEAN = meta.SumStatistic(
    lambda v, w: np.stack([v * w, w], axis=1),
    lambda sums: sums[..., 0] / sums[..., 1],
    name="weighted_mean",
)


def _mean_ci(
    outcomes: np.ndarray, cfg: MetaEvalConfig, key: tuple, groups: Any = None, weights: Any = None
):
    """Point estimate and bootstrap interval of the mean of per-item outcomes (NaN excluded),
    or of their ``weights``-weighted mean."""
    if outcomes.size == 0 or np.isnan(outcomes).all():
        return float("nan"), (float("nan"), float("nan"))
    boot_kw = dict(rng=cfg.rng(*key), n_resamples=cfg.n_resamples, confidence=cfg.confidence)
    if weights is not None:
        boot = meta.bootstrap(_WEIGHTED_MEAN, outcomes, np.asarray(weights, float), **boot_kw)
        return boot.estimate, (boot.low, boot.high)
    method = "counts" if groups is None else "indices"
    boot = meta.bootstrap(meta.MEAN, outcomes, groups=groups, method=method, **boot_kw)
    return boot.estimate, (boot.low, boot.high)


# --------------------------------------------------------------------------- preference


def _preference_rows(
    scorer: Entry,
    dataset: str,
    pairs: Sequence[PreferencePair],
    chosen: np.ndarray,
    rejected: np.ndarray,
    statistics: Sequence[str],
    cfg: MetaEvalConfig,
    dropped: Sequence[str],
    outcomes_out: dict,
) -> list[dict]:
    sign = 1.0 if scorer.higher_is_better else -1.0
    c, r = sign * chosen, sign * rejected
    human_ties = np.array([p.label == "tie" for p in pairs])
    subsets = np.array([p.subset or "all" for p in pairs], dtype=object)
    names = ["all"] + (sorted(set(subsets)) if len(set(subsets)) > 1 else [])
    rows: list[dict] = []
    everything = np.ones(len(pairs), dtype=bool)
    for stat in statistics:
        groups_all = None
        if stat == "accuracy":
            outcomes = meta.pairwise_outcomes(
                c, r, score_ties=cfg.score_ties, human_ties=human_ties,
                human_tie_policy=cfg.human_tie_policy, tie_threshold=cfg.tie_threshold,
            )  # fmt: skip
            parts = {"accuracy": everything}
        elif stat == "tau_like":
            outcomes = meta.tau_like_outcomes(c, r, higher_is_better=True)
            outcomes[human_ties] = np.nan  # DARR has no ties; any given are excluded, counted
            parts = {"tau_like": everything}
        else:  # "rmbench" (statistics were validated by the caller)
            if any("difficulty" not in p.meta or "prompt_id" not in p.meta for p in pairs):
                raise ScorerConfigError(
                    f"meta_evaluate: statistic 'rmbench' needs RM-Bench style pairs (meta "
                    f"'difficulty' and 'prompt_id', as load_rm_bench gives); dataset {dataset!r} "
                    "has pairs without them"
                )
            outcomes = meta.pairwise_outcomes(c, r, score_ties="loss")  # RM-Bench: tie = wrong
            difficulty = np.array([p.meta["difficulty"] for p in pairs], dtype=object)
            parts = {f"rmbench_{d}": difficulty == d for d in ("hard", "normal", "easy")}
            # Each difficulty holds 3 of the 9 style pairs per prompt, so the mean of the three
            # accuracies is the mean over all pairs.
            parts["rmbench_average"] = everything
            # Resample prompts, not pairs: the 9 pairs of a prompt share its responses.
            groups_all = np.array([f"{p.subset}/{p.meta['prompt_id']}" for p in pairs])
        for subset in names:
            in_subset = everything if subset == "all" else subsets == subset
            for name, relevant in parts.items():
                keep = relevant & in_subset
                v = outcomes[keep]
                groups = None if groups_all is None else groups_all[keep]
                value, ci = _mean_ci(v, cfg, (scorer.name, dataset, subset, name), groups)
                left_out = len(dropped) if subset == "all" else dropped.count(subset)
                n_excluded = int(np.isnan(v).sum()) + left_out
                rows.append(
                    _row(scorer, dataset, subset, None, "pair", name, value, ci,
                         int((~np.isnan(v)).sum()), n_excluded)
                )  # fmt: skip
                outcomes_out[(subset, None, "pair", name)] = v
        totals = _total_rows(stat, outcomes, pairs, subsets, groups_all, dataset, cfg, scorer,
                             dropped)  # fmt: skip
        for t in totals:
            row = _row(scorer, dataset, t.subset, None, t.level, t.statistic, t.value, t.ci,
                       t.n, t.n_excluded)  # fmt: skip
            row["note"] = t.note
            rows.append(row)
            outcomes_out[(t.subset, None, t.level, t.statistic)] = t.test
    return rows


def _total_rows(
    stat: str,
    outcomes: np.ndarray,
    pairs: Sequence[PreferencePair],
    subsets: np.ndarray,
    prompts: np.ndarray | None,
    dataset: str,
    cfg: MetaEvalConfig,
    scorer: Entry,
    dropped: Sequence[str],
) -> list[TotalRow]:
    """The benchmark totals a statistic has under the run's convention: RM-Bench's total for
    "rmbench" (always; its domains too under ``total="domain-mean"``), section scores and a
    total for "accuracy" under ``total="section-mean"``."""
    conv = cfg.convention
    common = dict(convention=conv, n_resamples=cfg.n_resamples, confidence=cfg.confidence,
                  dropped=dropped)  # fmt: skip

    def rng_for(*key: Any) -> np.random.Generator:
        return cfg.rng(scorer.name, dataset, *key)

    if stat == "rmbench":
        difficulty = np.array([p.meta["difficulty"] for p in pairs], dtype=object)
        return rmbench_rows(outcomes, subsets, difficulty, prompts, rng_for=rng_for,
                            with_domains=conv.total == "domain-mean", **common)  # fmt: skip
    if stat == "accuracy" and conv.total == "section-mean":
        return section_rows(outcomes, subsets, dataset=dataset, rng_for=rng_for, **common)
    return []


# ----------------------------------------------------------------------------- pointwise


def _human_keys(dataset: str, items: Sequence[PointwiseItem], human: str | Sequence[str] | None):
    available = sorted({k for it in items for k in it.human})
    if not available:
        raise ScorerInputError(
            f"meta_evaluate: dataset {dataset!r} has no human scores; expected PointwiseItem.human "
            "to hold at least one judgment"
        )
    keys = available if human is None else [human] if isinstance(human, str) else list(human)
    missing = [k for k in keys if k not in available]
    if missing:
        raise ScorerConfigError(
            f"meta_evaluate: dataset {dataset!r} has no human judgment {missing}; "
            f"available: {available}"
        )
    return keys


def _human_array(items: Sequence[PointwiseItem], key: str) -> np.ndarray:
    return np.array([np.nan if it.human.get(key) is None else float(it.human[key]) for it in items])


def _flat_stat(stat: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """statistic(metric, human) -> float, for the loop bootstrap."""
    fn = _CORR[stat]
    return lambda m, h: fn(h, m).statistic


def _pointwise_rows(
    scorer: Entry,
    dataset: str,
    items: Sequence[PointwiseItem],
    scores: np.ndarray,
    keys: Sequence[str],
    statistics: Sequence[str],
    levels: Sequence[str],
    cfg: MetaEvalConfig,
    n_dropped: int,
    arrays_out: dict,
) -> list[dict]:
    """Rows at flat, item and system level. Values come from :func:`metricrm.meta.correlate`;
    intervals from :func:`metricrm.meta.bootstrap` over items (flat; whole segments when
    several systems translated each segment, as WMT resamples), groups (item) or segments
    (system, with :func:`metricrm.meta.system_level`)."""
    m_all = scores if scorer.higher_is_better else -scores
    groups = (
        np.array([str(it.group) for it in items]) if all(it.group is not None for it in items)
        else None
    )  # fmt: skip
    systems = (
        np.array([str(it.system) for it in items]) if all(it.system is not None for it in items)
        else None
    )  # fmt: skip
    rows: list[dict] = []
    boot = dict(n_resamples=cfg.n_resamples, confidence=cfg.confidence)
    # Items of one segment share its source: with several systems they are not independent,
    # so the flat bootstrap resamples whole segments.
    segmented = groups is not None and systems is not None and len(set(systems)) > 1
    for key in keys:
        h_all = _human_array(items, key)
        scored = ~np.isnan(h_all)
        h, m = h_all[scored], m_all[scored]
        n_missing = int((~scored).sum()) + n_dropped  # no human score, or dropped as empty
        for level in levels:
            for stat in statistics:
                if stat == "spa" and level != "system":
                    continue
                rkey = (scorer.name, dataset, key, level, stat)
                where = (scorer, dataset, "all", key, level, stat)
                if level == "flat":
                    if h.size < 2:
                        raise ScorerInputError(
                            f"meta_evaluate: dataset {dataset!r} has {h.size} items with a "
                            f"{key!r} score; expected at least 2"
                        )
                    value = meta.correlate(h_all, m_all, _CORR[stat], level="flat").statistic
                    statistic = _ROW.get(stat, _flat_stat(stat))
                    seg = groups[scored] if segmented else None
                    b = meta.bootstrap(statistic, m, h, rng=cfg.rng(*rkey), groups=seg, **boot)
                    rows.append(_row(*where, value, (b.low, b.high), h.size, n_missing))
                    if stat == "acc23":
                        eps = meta.tie_calibrated_accuracy(h, m).epsilon
                        _flag_all_ties(rows[-1], eps, m, None, dataset, scorer.name)
                        arrays_out[("all", key, level, stat)] = PairTestInput(m, h, None)
                    else:
                        arrays_out[("all", key, level, stat)] = (m, h)
                elif level == "item":
                    kwargs = {}
                    if stat == "acc23":  # one epsilon for every group, as in the paper
                        kwargs["epsilon"] = meta.tie_calibrated_accuracy(
                            h, m, groups=groups[scored]
                        ).epsilon
                    conv = cfg.convention
                    result = meta.correlate(
                        h_all, m_all, _CORR[stat], level="item", groups=groups,
                        average=conv.item_average, undefined=conv.undefined_groups, **kwargs,
                    )  # fmt: skip
                    per_group = result.group_statistics
                    weights = result.group_sizes if conv.item_average == "micro" else None
                    value = result.statistic
                    ci = _mean_ci(per_group, cfg, rkey, weights=weights)[1]
                    # groups without any scored item are not counted as excluded
                    n_unscored = len(set(groups)) - len(set(groups[scored]))
                    excluded = result.n_skipped_small + result.n_skipped_undefined - n_unscored
                    rows.append(_row(*where, value, ci, per_group.size, excluded))
                    if stat == "acc23":
                        _flag_all_ties(rows[-1], kwargs["epsilon"], m, groups[scored], dataset,
                                       scorer.name)  # fmt: skip
                        if conv.item_average == "macro":  # the pairwise test's own statistic
                            arrays_out[("all", key, level, stat)] = PairTestInput(
                                m, h, groups[scored]
                            )
                else:  # system
                    rows.append(
                        _system_row(scorer, dataset, key, stat, m_all, h_all, systems, groups,
                                    cfg, rkey, arrays_out)
                    )  # fmt: skip
    return rows


def _flag_all_ties(
    row: dict,
    epsilon: float,
    metric: np.ndarray,
    groups: np.ndarray | None,
    dataset: str,
    label: str,
) -> None:
    """acc23 whose best epsilon makes the metric tie every pair says nothing about the metric
    (its value is then the share of pairs humans tied): note it in the row, and warn."""
    if groups is None:
        spread = float(np.ptp(metric)) if metric.size else 0.0
    else:
        spread = max(float(np.ptp(metric[groups == g])) for g in np.unique(groups))
    if epsilon < spread:
        return
    row["note"] = (
        f"acc23: the best epsilon ({epsilon:g}) ties every pair of metric scores, so the value "
        "is the share of pairs humans tied and says nothing about the metric"
    )
    warnings.warn(f"meta_evaluate: {label} on {dataset!r}, {row['level']} level: {row['note']}",
                  stacklevel=4)  # fmt: skip


def _system_row(
    scorer: Entry,
    dataset: str,
    key: str,
    stat: str,
    m_all: np.ndarray,
    h_all: np.ndarray,
    systems: np.ndarray,
    groups: np.ndarray,
    cfg: MetaEvalConfig,
    rkey: tuple,
    arrays_out: dict,
) -> dict:
    """One system-level row: system means over human-scored items (or every item, under
    ``system_cells="all"``), segments resampled."""
    boot = dict(n_resamples=cfg.n_resamples, confidence=cfg.confidence)
    m_mat, _, _ = meta.system_segment_matrix(m_all, systems, groups)
    h_mat, _, _ = meta.system_segment_matrix(h_all, systems, groups)
    m_cols, h_cols = m_mat.T, h_mat.T
    has_human = (~np.isnan(h_mat)).any(axis=1)
    if stat == "spa":
        # SPA compares systems on the same segments: a segment some system lacks is left out
        # (as one without a human score for every system).
        h_cols = np.where(np.isnan(m_cols), np.nan, h_cols)
        m_cols = np.nan_to_num(m_cols)
        keep = has_human
        spa_seed = cfg.rng(*rkey).integers(2**32)

        def spa(mc: np.ndarray, hc: np.ndarray, _seed: Any = spa_seed, _keep: Any = keep) -> float:
            return meta.soft_pairwise_accuracy(
                hc.T[_keep], mc.T[_keep], rng=np.random.default_rng(_seed),
                n_resamples=cfg.n_resamples,
            ).value  # fmt: skip

        value = spa(m_cols, h_cols)
        b = meta.bootstrap(spa, m_cols, h_cols, rng=cfg.rng(*rkey, "boot"), **boot)
    else:
        cells = cfg.convention.system_cells
        value = meta.correlate(h_all, m_all, _CORR[stat], level="system", systems=systems,
                               system_cells=cells).statistic  # fmt: skip
        statistic = meta.system_level(_SYSTEM_CORR.get(stat, _CORR[stat]), cells=cells)
        b = meta.bootstrap(statistic, m_cols, h_cols, rng=cfg.rng(*rkey), **boot)
        if stat in _SYSTEM_CORR:
            arrays_out[("all", key, "system", stat)] = (m_cols, h_cols)
    return _row(scorer, dataset, "all", key, "system", stat, value, (b.low, b.high),
                int(has_human.sum()), int((~has_human).sum()))  # fmt: skip


# --------------------------------------------------------------------------- clusters


def _add_clusters(
    rows: list[dict], arrays: dict[str, dict], cfg: MetaEvalConfig, dataset: str
) -> None:
    """WMT-style significance clusters across scorers, where the statistic has a vectorised
    paired permutation test (pairwise statistics, flat Pearson/Spearman, system level)."""
    names = list(arrays)
    if len(names) < 2:
        return
    keys = set.intersection(*(set(arrays[n]) for n in names))
    conv = cfg.convention
    for key in sorted(keys, key=repr):
        subset, human, level, stat = key
        first = arrays[names[0]][key]
        if isinstance(first, PairTestInput):  # acc23: WMT23's pairwise permutation test
            if conv.segment_test != "pairs":
                continue
            result = _pairwise_test_clusters({n: arrays[n][key] for n in names}, cfg,
                                             ("clusters", dataset, *key))  # fmt: skip
            if result is None:
                continue
            _set_clusters(rows, result.as_dict(), dataset, key)
            continue
        if isinstance(first, ClusterInput):  # benchmark totals, sections, domains
            statistic, std, shared = first.statistic, first.standardize, first.shared
            cands = {n: arrays[n][key].candidate for n in names}
        elif level == "pair":
            statistic, cands, shared, std = meta.MEAN, {n: arrays[n][key] for n in names}, (), False
        elif level == "flat" and stat in _ROW:
            statistic, std = _ROW[stat], True
            cands, shared = {n: arrays[n][key][0] for n in names}, (first[1],)
        elif level == "system":
            statistic, std = meta.system_level(_SYSTEM_CORR[stat], cells=conv.system_cells), True
            cands, shared = {n: arrays[n][key][0] for n in names}, (first[1],)
        else:
            continue
        try:
            if level == "system" and stat == "pearson" and conv.system_test == "williams":
                result = _williams_clusters(cands, first[1], cfg)
            else:
                result = meta.rank_scorers(
                    statistic, cands, *shared, rng=cfg.rng("clusters", dataset, *key),
                    n_resamples=cfg.n_resamples, alpha=cfg.alpha, standardize=std,
                    rule=conv.cluster_rule, boundary=conv.cluster_boundary,
                    plus_one=conv.plus_one, early_stopping=conv.early_stopping,
                )  # fmt: skip
        except ScorerInputError:  # e.g. a statistic undefined for some scorer: no ranking
            continue
        _set_clusters(rows, result.as_dict(), dataset, key)


def _set_clusters(rows: list[dict], clusters: Mapping[str, int], dataset: str, key: tuple) -> None:
    """Write each scorer's cluster into its row of ``dataset`` and ``key`` (subset, human,
    level, statistic)."""
    for row in rows:
        if (row["dataset"], row["subset"], row["human"], row["level"], row["statistic"]) == (
            dataset,
            *key,
        ):
            row["cluster"] = clusters.get(row["scorer"], np.nan)


@dataclass(frozen=True)
class PairTestInput:
    """What the pairwise permutation test needs for one scorer's acc23 row: its oriented
    scores, the human scores of the same items and their groups (None: one group)."""

    metric: np.ndarray
    human: np.ndarray
    groups: np.ndarray | None


def _pairwise_test_clusters(
    inputs: Mapping[str, PairTestInput], cfg: MetaEvalConfig, key: tuple
) -> meta.ClusterResult | None:
    """Clusters of acc23 rows from WMT23's pairwise permutation test (each metric keeps its own
    tie threshold, calibrated on the data): p[i, j] is the one-sided p-value of "i is more
    accurate than j". None when the scorers were not measured on the same items."""
    conv = cfg.convention
    names = list(inputs)
    first = inputs[names[0]]
    for n in names[1:]:
        other = inputs[n]
        same_groups = (first.groups is None) == (other.groups is None) and (
            first.groups is None or np.array_equal(first.groups, other.groups)
        )
        if not (same_groups and np.array_equal(first.human, other.human, equal_nan=True)):
            return None
    values = np.array([
        meta.tie_calibrated_accuracy(first.human, inputs[n].metric, groups=first.groups).accuracy
        for n in names
    ])  # fmt: skip
    k = len(names)
    p = np.full((k, k), np.nan)  # only a better-ranked scorer against a worse one is read
    for i in range(k):
        for j in range(i + 1, k):
            lead, lag = (i, j) if values[i] >= values[j] else (j, i)
            test = meta.pairwise_permutation_test(
                first.human, inputs[names[lead]].metric, inputs[names[lag]].metric,
                rng=cfg.rng(*key, names[lead], names[lag]), groups=first.groups,
                epsilon_a=None, epsilon_b=None, n_resamples=cfg.n_resamples,
                plus_one=conv.plus_one, early_stopping=conv.early_stopping,
            )  # fmt: skip
            p[lead, lag] = test.pvalue
    return meta.significance_clusters(
        names, values, p, alpha=conv.alpha, rule=conv.cluster_rule, boundary=conv.cluster_boundary
    )


def _system_means(cols: np.ndarray, human_cols: np.ndarray, cells: str) -> np.ndarray:
    """Per-system means of (n_segments, n_systems) columns: over human-scored cells, or over
    every cell the system has ("all")."""
    keep = ~np.isnan(human_cols) if cells == "scored" else ~np.isnan(cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep, cols, 0.0).sum(axis=0) / keep.sum(axis=0)


def _williams_clusters(
    cands: Mapping[str, np.ndarray], human_cols: np.ndarray, cfg: MetaEvalConfig
) -> meta.ClusterResult:
    """Clusters from Williams tests between system-level Pearson correlations (WMT up to 2020):
    p[i, j] is the one-sided p-value of "i correlates better than j", over the systems with a
    human score."""
    conv = cfg.convention
    h = _system_means(human_cols, human_cols, "scored")
    ok = ~np.isnan(h)
    if ok.sum() < 4:
        raise ScorerInputError("meta_evaluate: the Williams test needs at least 4 systems")
    names = list(cands)
    means = {n: _system_means(c, human_cols, conv.system_cells)[ok] for n, c in cands.items()}
    r = np.array([meta.pearson(h[ok], means[n]).statistic for n in names])
    k = len(names)
    p = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i + 1, k):
            r_ab = meta.pearson(means[names[i]], means[names[j]]).statistic
            if np.isnan(r[[i, j]]).any() or np.isnan(r_ab):
                raise ScorerInputError("meta_evaluate: Williams test: a correlation is undefined")
            one = meta.williams_test(r[i], r[j], r_ab, int(ok.sum())).pvalue
            lead, lag = (i, j) if r[i] >= r[j] else (j, i)
            p[lead, lag], p[lag, lead] = one, 1.0 - one
    return meta.significance_clusters(names, r, p, alpha=conv.alpha, rule=conv.cluster_rule,
                                      boundary=conv.cluster_boundary)  # fmt: skip


# ------------------------------------------------------------------------------- main


def _kind(dataset: str, records: Sequence[Any]) -> str:
    if not records:
        raise ScorerInputError(f"meta_evaluate: dataset {dataset!r} is empty")
    if all(isinstance(r, PreferencePair) for r in records):
        return "preference"
    if all(isinstance(r, PointwiseItem) for r in records):
        return "pointwise"
    kinds = (PreferencePair, PointwiseItem)
    bad = next(i for i, r in enumerate(records) if not isinstance(r, kinds))
    raise ScorerInputError(
        f"meta_evaluate: dataset {dataset!r} must hold only PreferencePair or only PointwiseItem "
        f"records (record {bad} is {type(records[bad]).__name__}, or the kinds are mixed)"
    )


def meta_evaluate(
    scorers: Any,
    dataset: Sequence[Any] | Mapping[str, Sequence[Any]],
    *,
    dataset_name: str = "dataset",
    statistics: Sequence[str] | None = None,
    levels: Sequence[str] | None = None,
    human: str | Sequence[str] | None = None,
    convention: str | meta.Convention = "metricrm",
    n_resamples: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    score_ties: str | None = None,
    human_tie_policy: str | None = None,
    tie_threshold: float = 0.0,
    significance: bool = True,
    alpha: float | None = None,
    cluster_rule: str | None = None,
    cluster_boundary: str | None = None,
    exclude_empty: bool | None = None,
    strict: bool = False,
    cache: Any = None,
    chunk_size: int | None = None,
    progress: bool = True,
    cache_stats: CacheStats | None = None,
) -> Any:
    """Score every scorer on every record and measure agreement with the human judgments.

    ``scorers``: names, Scorer instances, ``(label, scorer)`` pairs, or ``{name: settings}``;
    a label names a scorer's rows only (two copies of one scorer with other settings need
    two labels), while its scores are cached and signed under its own signature.
    ``dataset``: a list of ``PreferencePair`` or ``PointwiseItem`` records, or
    ``{name: records}`` for several.
    Preference statistics: "accuracy" (default; per subset and overall, with ``score_ties`` /
    ``human_tie_policy``), "tau_like" (WMT DARR; the default for pairs from
    ``load_wmt_darr``), "rmbench" (hard / normal / easy / average, default for RM-Bench
    pairs). Pointwise statistics: "pearson", "spearman", "kendall_b" (defaults), "kendall_c",
    "acc23", "spa" (system level only), at ``levels`` flat / item (needs ``group``) / system
    (needs ``system`` and ``group``). Lower-is-better scorers are
    negated first, so a larger value always means closer agreement.

    ``convention`` names the benchmark whose rules the run follows
    (:func:`metricrm.meta.list_conventions`: "metricrm" (default), "wmt20", "wmt23",
    "rewardbench", "rewardbench2", "rm-bench"; or a :class:`~metricrm.meta.Convention`): tie
    policies, cluster rule and boundary, permutation p-values (+1, early stopping), item-level
    averaging, system means, and totals. ``n_resamples``, ``score_ties``, ``human_tie_policy``,
    ``alpha``, ``cluster_rule`` and ``cluster_boundary`` default to None, "the convention's":
    a value passed explicitly wins (and is named in ``run_signature``, which names the
    convention and every choice). Totals: RM-Bench pairs ("rmbench") always get RM-Bench's own
    total (level "total": domains averaged with equal weight, its two safety files merged), next
    to the pooled rows (level "pair", subset "all"); under "rm-bench" also a row per merged
    domain (level "domain"). Under "rewardbench", a dataset whose subsets are RewardBench subsets
    gets RewardBench's section scores (level "section") and leaderboard total (level "total");
    under "rewardbench2" the total is the plain mean of the subsets. Totals resample within
    their domains or subsets. ``segment_test="pairs"`` (wmt23) clusters acc23 rows with the
    pairwise permutation test; other conventions give acc23 no cluster. Conventions' fields
    meta_evaluate does not use: ``best_of_n_ties`` (pairs only), ``darr_threshold`` (DARR pairs
    come built) and ``task_average_rescale`` (no averages across datasets).

    Every value has a bootstrap percentile interval (items resampled; groups at item level,
    prompts for RM-Bench, segments at system level) with a generator seeded by ``seed`` and the
    row's identity. With ``significance``, ``cluster`` ranks scorers with paired permutation
    tests and WMT's cluster rule (1 = top; Williams tests at system level under "wmt20").
    Scores go through the score cache (``cache``: a ScoreCache, a folder, None for the default
    folder, False for none); ``cache_stats`` counts cached and computed items. ``chunk_size``
    defaults to each scorer's preferred chunk (small for model scorers, so an interrupt keeps
    almost everything that finished).

    Mixed studies: a scorer that needs references is skipped on a dataset without them (one
    row with a ``note`` says so, and a warning); records with an empty response are kept for
    scorers that can score them and, when some scorer cannot, left out for every scorer (so
    all scorers are compared on the same records; counted in ``n_excluded``, per subset too).
    ``exclude_empty=True`` always leaves them out, ``False`` never. ``strict=True`` raises
    instead of skipping or leaving out. Returns a DataFrame with columns ``COLUMNS``.
    """
    import pandas as pd

    cfg = MetaEvalConfig(
        n_resamples=n_resamples, confidence=confidence, seed=seed, score_ties=score_ties,
        human_tie_policy=human_tie_policy, tie_threshold=tie_threshold, significance=significance,
        alpha=alpha, convention=convention, cluster_rule=cluster_rule,
        cluster_boundary=cluster_boundary,
    )  # fmt: skip
    datasets = dict(dataset) if isinstance(dataset, Mapping) else {dataset_name: dataset}
    datasets = {k: list(v) for k, v in datasets.items()}  # generators are read once
    entries = _resolve_scorers(scorers)
    store = resolve_cache(cache, "meta_evaluate")
    # Check every dataset against every scorer before scoring anything.
    usable: dict[str, list[Entry]] = {}
    skipped: dict[str, list[Entry]] = {}
    for name, records in datasets.items():
        _kind(name, records)
        lacks = not all(getattr(r, "references", None) for r in records)
        needs = [e for e in entries if getattr(e.scorer, "requires_references", False)]
        if lacks and needs and strict:
            raise ScorerInputError(
                f"{needs[0].name}: needs references, but dataset {name!r} has none "
                "(on some or all records); choose reference-free scorers for it"
            )
        skipped[name] = needs if lacks else []
        usable[name] = [e for e in entries if e not in skipped[name]]
        for e in skipped[name]:
            warnings.warn(
                f"meta_evaluate: skipped {e.name} on dataset {name!r}: it needs references and "
                "the dataset has none (on some or all records)",
                stacklevel=2,
            )
    rows: list[dict] = []
    for name, records in datasets.items():
        records = list(records)
        kind = _kind(name, records)
        stats = _statistics_for(name, kind, records, statistics)
        for e in skipped[name]:
            rows.append(_skip_row(e, name, "skipped: needs references; the dataset has none"))
        if not usable[name]:
            continue
        records, dropped = _drop_empty(name, kind, records, usable[name], exclude_empty, strict)
        if kind == "pointwise":
            keys = _human_keys(name, records, human)
            lv = _levels_for(name, records, levels, stats)
        arrays: dict[str, dict] = {}
        for entry in usable[name]:
            out: dict = {}
            scores = _scores(entry, name, kind, records, store, chunk_size, progress, cache_stats)
            if kind == "preference":
                rows += _preference_rows(entry, name, records, *scores, stats, cfg, dropped,
                                         out)  # fmt: skip
            else:
                rows += _pointwise_rows(entry, name, records, scores, keys, stats, lv, cfg,
                                        len(dropped), out)  # fmt: skip
            arrays[entry.name] = out
        if cfg.significance:
            _add_clusters(rows, arrays, cfg, name)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["run_signature"] = cfg.signature
    return frame


def _statistics_for(
    name: str, kind: str, records: Sequence[Any], statistics: Sequence[str] | None
) -> list[str]:
    """The statistics that apply to a dataset: the defaults of its kind, or those asked for."""
    allowed = PREFERENCE_STATISTICS if kind == "preference" else POINTWISE_STATISTICS
    if statistics is None:
        if kind == "pointwise":
            return ["pearson", "spearman", "kendall_b"]
        if all(r.meta.get("statistic") == "tau_like" for r in records):  # WMT DARR pairs
            return ["tau_like"]
        rmbench = all("difficulty" in r.meta and "prompt_id" in r.meta for r in records)
        return ["accuracy", "rmbench"] if rmbench else ["accuracy"]
    known = PREFERENCE_STATISTICS + POINTWISE_STATISTICS
    unknown = [s for s in statistics if s not in known]
    if unknown:
        raise ScorerConfigError(
            f"meta_evaluate: unknown statistic(s) {unknown}; valid for preference pairs: "
            f"{list(PREFERENCE_STATISTICS)}, for pointwise items: {list(POINTWISE_STATISTICS)}"
        )
    stats = [s for s in statistics if s in allowed]
    if not stats:
        raise ScorerConfigError(
            f"meta_evaluate: none of {list(statistics)} applies to {kind} dataset "
            f"{name!r}; valid: {list(allowed)}"
        )
    return stats


def _levels_for(
    name: str, items: Sequence[PointwiseItem], levels: Sequence[str] | None, stats: Sequence[str]
) -> list[str]:
    """The levels of a pointwise dataset: every level its fields allow, or those asked for."""
    have_groups = all(it.group is not None for it in items)
    have_systems = all(it.system is not None for it in items)
    if levels is None:
        lv = ["flat"] + (["item"] if have_groups else [])
        lv += ["system"] if have_groups and have_systems else []
    else:
        lv = list(levels)
        bad = [x for x in lv if x not in LEVELS]
        if bad:
            raise ScorerConfigError(f"meta_evaluate: unknown level(s) {bad}; valid: {list(LEVELS)}")
        if ("item" in lv or "system" in lv) and not have_groups:
            raise ScorerConfigError(
                "meta_evaluate: levels item/system need a group (source segment) on "
                f"every item of dataset {name!r}"
            )
        if "system" in lv and not have_systems:
            raise ScorerConfigError(
                f"meta_evaluate: level system needs a system on every item of {name!r}"
            )
    if "spa" in stats and "system" not in lv:
        raise ScorerConfigError("meta_evaluate: statistic 'spa' needs level 'system'")
    return lv


def _drop_empty(
    name: str,
    kind: str,
    records: list,
    entries: Sequence[Entry],
    exclude_empty: bool | None,
    strict: bool,
) -> tuple[list, list]:
    """Records to score, and those left out for an empty response (their subset labels, or
    for pointwise items just their count). With ``exclude_empty=None`` records with an empty
    response are left out only when some scorer cannot score them (and ``strict`` refuses
    instead); ``True`` always leaves them out, ``False`` never does."""
    if kind == "preference":
        empty = _empty_mask([p.chosen for p in records])
        empty |= _empty_mask([p.rejected for p in records])
    else:
        empty = _empty_mask([it.response for it in records])
    if not empty.any() or exclude_empty is False:
        return records, []
    where = np.flatnonzero(empty)
    refusing = [e.name for e in entries if not getattr(e.scorer, "accepts_empty_responses", False)]
    if exclude_empty is None:
        if not refusing:
            return records, []
        if strict:
            raise ScorerInputError(
                f"meta_evaluate: dataset {name!r} has {where.size} record(s) with an empty "
                f"response (first: record {where[0]}), which {', '.join(refusing)} cannot "
                "score; pass exclude_empty=True to leave them out (counted in n_excluded)"
            )
    why = f" ({', '.join(refusing)} cannot score them)" if refusing else ""
    warnings.warn(
        f"meta_evaluate: dataset {name!r}: excluded {where.size} record(s) with an empty "
        f"response{why}: {where[:10].tolist()}{' ...' if where.size > 10 else ''}",
        stacklevel=3,
    )
    kept = [r for r, e in zip(records, empty) if not e]
    dropped = [getattr(r, "subset", None) or "all" for r, e in zip(records, empty) if e]
    return kept, dropped


def _skip_row(entry: Entry, dataset: str, note: str) -> dict:
    row = _row(entry, dataset, "all", None, None, None, np.nan, (np.nan, np.nan), 0, 0)
    row["note"] = note
    return row
