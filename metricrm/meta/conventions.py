"""Named conventions: the choices a benchmark's own code makes, as data.

A published number depends on more than the statistic's name: how a tie counts, how subsets are
weighted into sections, how domains are averaged into a total, which cluster rule ranks the
metrics, how a permutation p-value is formed. A :class:`Convention` records those choices for one
peer so that one argument reproduces its tables; its :attr:`Convention.signature` names every
choice and belongs in the signature of a run. Pure data: the orchestrator reads the fields and
calls the functions of :mod:`metricrm.meta` with them.

================  ==============================================================================
name              reproduces
================  ==============================================================================
``metricrm``      metricrm's own defaults: ties earn half, WMT's cluster rule (``AssignRanks``)
                  on permutation p-values with +1 and no early stopping, pooled totals
``wmt20``         mt-metrics-eval as used up to WMT20: DARR tau-like over pairs >= 25 DA points
                  apart, metric ties discordant; Williams test between two correlations
``wmt23``         mt-metrics-eval (``stats.py``, ``data.AssignRanks``, ``tasks.py``) as used for
                  the WMT23 metrics task: PERM-BOTH tests without +1 and with early stopping
                  (blocks of 100, stop below 0.02 / above 0.5), the pairwise (pair-swapping) test
                  for tie-calibrated accuracy at segment level, clusters by ``AssignRanks``
                  (any member, p <= 0.05), system means over all of a metric's segments, task
                  averages of correlations mapped to [0, 1]
``rewardbench``   allenai/reward-bench v1: ``chosen > rejected`` (a tie is a loss), sections
                  weighted by the published example counts (``calculate_scores_per_section``),
                  absent subsets dropped and the rest renormalised, total = mean of the four
                  sections with the prior sets at half weight when present
``rewardbench2``  allenai/reward-bench v2: best of 4, a tie at the top earns 1 / (number tied);
                  total = plain mean of the subsets (the Ties subset has its own score,
                  :func:`~metricrm.meta.rewardbench.rewardbench2_ties_score`)
``rm-bench``      THU-KEG/RM-Bench: ``chosen > rejected`` (a tie is a loss), hard / normal / easy
                  per domain, the two safety files merged into one domain, total = equal-weight
                  mean over domains
================  ==============================================================================

Fields a peer's code does not decide keep metricrm's defaults (e.g. RewardBench reports no
significance clusters, so its conventions keep metricrm's cluster rule).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from . import _checks
from .resampling import EarlyStopping


@dataclass(frozen=True)
class Convention:
    """One peer's choices. Fields hold names understood by the functions of :mod:`metricrm.meta`:

    - ``score_ties`` / ``best_of_n_ties``: a score tie in pairwise / best-of-n accuracy earns
      "half", "loss" or is dropped ("drop") (:func:`~metricrm.meta.pairwise.pairwise_outcomes`,
      :func:`~metricrm.meta.pairwise.best_of_n_outcomes`); ``human_tie_policy`` "exclude" or
      "threshold".
    - ``section_weighting``: subsets inside a section weigh by "count" (pairs used), "equal" or
      "rewardbench" (its published example counts); ``missing_subsets`` "error" or "skip" (leave
      an absent subset out and renormalise); ``prior_sets_weight``: weight of RewardBench's prior
      sets section relative to the others (None: not part of the total)
      (:func:`~metricrm.meta.pairwise.section_scores`).
    - ``total``: "pooled" (one mean over every pair), "section-mean" (mean of section scores) or
      "domain-mean" (equal-weight mean over domains after ``domain_merge``, RM-Bench,
      :func:`~metricrm.meta.pairwise.rmbench_totals`).
    - ``item_average`` "macro" or "micro" and ``undefined_groups`` "skip" or "zero" for item-level
      correlations; ``system_cells`` "scored" or "all" for system means
      (:func:`~metricrm.meta.levels.correlate`).
    - ``cluster_rule``, ``cluster_boundary``, ``alpha``: significance clusters
      (:func:`~metricrm.meta.clusters.significance_clusters`); ``n_resamples``, ``plus_one``,
      ``early_stopping``: permutation tests; ``segment_test`` "scores" (swap scores) or "pairs"
      (swap pairwise comparisons, :func:`~metricrm.meta.pairwise_perm.pairwise_permutation_test`);
      ``system_test`` "permutation" or "williams".
    - ``darr_threshold``: DA points apart for a relative-ranking pair
      (:func:`~metricrm.meta.darr.relative_ranking_pairs`); ``task_average_rescale``: map each
      task's correlations to [0, 1] before averaging across tasks
      (:func:`~metricrm.meta.tasks.average_across_tasks`).
    """

    name: str
    matches: str
    score_ties: str = "half"
    best_of_n_ties: str = "half"
    human_tie_policy: str = "exclude"
    section_weighting: str = "count"
    missing_subsets: str = "error"
    prior_sets_weight: float | None = None
    total: str = "pooled"
    domain_merge: tuple[tuple[str, str], ...] = ()
    item_average: str = "macro"
    undefined_groups: str = "skip"
    system_cells: str = "scored"
    cluster_rule: str = "wmt"
    cluster_boundary: str = "inclusive"
    alpha: float = 0.05
    n_resamples: int = 1000
    plus_one: bool = True
    early_stopping: EarlyStopping | None = None
    segment_test: str = "scores"
    system_test: str = "permutation"
    darr_threshold: float = 25.0
    task_average_rescale: bool = False

    def __post_init__(self) -> None:
        who = f"Convention({self.name!r})"
        _checks.choice(who, "score_ties", self.score_ties, ("half", "loss", "drop"))
        _checks.choice(who, "best_of_n_ties", self.best_of_n_ties, ("half", "loss", "drop"))
        _checks.choice(who, "human_tie_policy", self.human_tie_policy, ("exclude", "threshold"))
        _checks.choice(
            who, "section_weighting", self.section_weighting, ("count", "equal", "rewardbench")
        )
        _checks.choice(who, "missing_subsets", self.missing_subsets, ("error", "skip"))
        _checks.choice(who, "total", self.total, ("pooled", "section-mean", "domain-mean"))
        _checks.choice(who, "item_average", self.item_average, ("macro", "micro"))
        _checks.choice(who, "undefined_groups", self.undefined_groups, ("skip", "zero"))
        _checks.choice(who, "system_cells", self.system_cells, ("scored", "all"))
        _checks.choice(who, "cluster_rule", self.cluster_rule, ("head", "any", "wmt"))
        _checks.choice(who, "cluster_boundary", self.cluster_boundary, ("strict", "inclusive"))
        _checks.choice(who, "segment_test", self.segment_test, ("scores", "pairs"))
        _checks.choice(who, "system_test", self.system_test, ("permutation", "williams"))
        _checks.probability(who, "alpha", self.alpha, closed_high=True)
        _checks.positive_int(who, "n_resamples", self.n_resamples)
        if self.cluster_rule == "wmt" and self.cluster_boundary != "inclusive":
            raise _checks.ScorerConfigError(
                f"{who}: cluster_rule 'wmt' compares with p <= alpha; expected cluster_boundary "
                f"'inclusive' (got {self.cluster_boundary!r})"
            )

    @property
    def domains(self) -> dict[str, str]:
        """``domain_merge`` as a dict: original domain -> merged domain."""
        return dict(self.domain_merge)

    @property
    def signature(self) -> str:
        """Every choice, ``convention:<name>|field:value|...`` in field order."""
        parts = [f"convention:{self.name}"]
        for f in fields(self):
            if f.name in ("name", "matches"):
                continue
            value = getattr(self, f.name)
            if f.name == "domain_merge":
                text = ",".join(f"{a}>{b}" for a, b in value) or "none"
            elif isinstance(value, EarlyStopping):
                text = f"block{value.block}:{value.low}-{value.high}"
            elif isinstance(value, bool):
                text = "yes" if value else "no"
            else:
                text = "none" if value is None else str(value)
            parts.append(f"{f.name.replace('_', '-')}:{text}")
        return "|".join(parts)


_SAFETY_MERGE = (("safety-refuse", "safety"), ("safety-response", "safety"))

CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            name="metricrm",
            matches="metricrm's own defaults: ties earn half, WMT's cluster rule on permutation "
            "p-values with +1 and no early stopping, pooled totals, macro item averages, system "
            "means over human-scored cells",
        ),
        Convention(
            name="wmt20",
            matches="google-research/mt-metrics-eval (stats.py @544e0fc) as used up to WMT20: "
            "KendallLike (DARR tau-like, pairs >= 25 points apart, metric ties discordant, "
            "pairs pooled over items) and WilliamsSigDiff for two correlations",
            system_cells="all",
            system_test="williams",
            darr_threshold=25.0,
        ),
        Convention(
            name="wmt23",
            matches="google-research/mt-metrics-eval (stats.py @544e0fc, data.py AssignRanks "
            "@6bc577f, tasks.py @6110684) as configured for the WMT23 metrics task",
            score_ties="loss",
            human_tie_policy="threshold",
            system_cells="all",
            cluster_rule="wmt",
            cluster_boundary="inclusive",
            alpha=0.05,
            n_resamples=1000,
            plus_one=False,
            early_stopping=EarlyStopping(block=100, low=0.02, high=0.5),
            segment_test="pairs",
            task_average_rescale=True,
        ),
        Convention(
            name="rewardbench",
            matches="allenai/reward-bench v1 (rewardbench/constants.py @a32e272, "
            "rewardbench/utils.py calculate_scores_per_section @045c7f8, "
            "analysis/get_benchmark_results.py @0972ad3, scripts/run_rm.py)",
            score_ties="loss",
            best_of_n_ties="loss",
            section_weighting="rewardbench",
            missing_subsets="skip",
            prior_sets_weight=0.5,
            total="section-mean",
        ),
        Convention(
            name="rewardbench2",
            matches="allenai/reward-bench v2 (scripts/run_v2.py @0016644, rewardbench/utils.py "
            "reroll_and_score_dataset and process_single_model @a009692)",
            score_ties="half",
            best_of_n_ties="half",
            section_weighting="equal",
            missing_subsets="skip",
            total="section-mean",
        ),
        Convention(
            name="rm-bench",
            matches="THU-KEG/RM-Bench (compute_accuracy in README @2119ec5 and scripts; "
            "safety-refuse and safety-response form one safety domain; total = mean over "
            "domains)",
            score_ties="loss",
            best_of_n_ties="loss",
            total="domain-mean",
            domain_merge=_SAFETY_MERGE,
        ),
    )
}


def list_conventions() -> list[str]:
    """Names accepted by :func:`get_convention`."""
    return list(CONVENTIONS)


def get_convention(name: str | Convention) -> Convention:
    """The :class:`Convention` called ``name`` (a Convention is returned unchanged)."""
    if isinstance(name, Convention):
        return name
    if not isinstance(name, str) or name not in CONVENTIONS:
        valid = ", ".join(repr(n) for n in CONVENTIONS)
        raise _checks.ScorerConfigError(
            f"get_convention: unknown convention {name!r}; valid names: {valid}"
        )
    return CONVENTIONS[name]
