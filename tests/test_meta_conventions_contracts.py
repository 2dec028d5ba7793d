"""Contracts of metricrm.meta.conventions found by mutation testing: every named convention's
choices written out as its full signature (the peers' documented choices: mt-metrics-eval for
WMT20 and WMT23, RewardBench v1 and v2, RM-Bench), the provenance each one cites, the signature
format of every field type, and every error message in full."""

from __future__ import annotations

import dataclasses

import pytest

from metricrm.core.errors import ScorerConfigError
from metricrm.meta import EarlyStopping, get_convention, list_conventions
from metricrm.meta.conventions import CONVENTIONS, Convention

from .contract_helpers import raises_exactly as _raises

DEFAULTS = [
    ("score-ties", "half"),
    ("best-of-n-ties", "half"),
    ("human-tie-policy", "exclude"),
    ("section-weighting", "count"),
    ("missing-subsets", "error"),
    ("prior-sets-weight", "none"),
    ("total", "pooled"),
    ("domain-merge", "none"),
    ("item-average", "macro"),
    ("undefined-groups", "skip"),
    ("system-cells", "scored"),
    ("cluster-rule", "wmt"),
    ("cluster-boundary", "inclusive"),
    ("alpha", "0.05"),
    ("n-resamples", "1000"),
    ("plus-one", "yes"),
    ("early-stopping", "none"),
    ("segment-test", "scores"),
    ("system-test", "permutation"),
    ("darr-threshold", "25.0"),
    ("task-average-rescale", "no"),
]

#: each peer's documented choices (module docstring), as signature text
CHOICES = {
    "metricrm": {},
    "wmt20": {"system-cells": "all", "system-test": "williams"},
    "wmt23": {
        "score-ties": "loss",
        "human-tie-policy": "threshold",
        "system-cells": "all",
        "plus-one": "no",
        "early-stopping": "block100:0.02-0.5",
        "segment-test": "pairs",
        "task-average-rescale": "yes",
    },
    "rewardbench": {
        "score-ties": "loss",
        "best-of-n-ties": "loss",
        "section-weighting": "rewardbench",
        "missing-subsets": "skip",
        "prior-sets-weight": "0.5",
        "total": "section-mean",
    },
    "rewardbench2": {
        "section-weighting": "equal",
        "missing-subsets": "skip",
        "total": "section-mean",
    },
    "rm-bench": {
        "score-ties": "loss",
        "best-of-n-ties": "loss",
        "total": "domain-mean",
        "domain-merge": "safety-refuse>safety,safety-response>safety",
    },
}

MATCHES = {
    "metricrm": "metricrm's own defaults: ties earn half, WMT's cluster rule on permutation "
    "p-values with +1 and no early stopping, pooled totals, macro item averages, system means "
    "over human-scored cells",
    "wmt20": "google-research/mt-metrics-eval (stats.py @544e0fc) as used up to WMT20: "
    "KendallLike (DARR tau-like, pairs >= 25 points apart, metric ties discordant, pairs pooled "
    "over items) and WilliamsSigDiff for two correlations",
    "wmt23": "google-research/mt-metrics-eval (stats.py @544e0fc, data.py AssignRanks @6bc577f, "
    "tasks.py @6110684) as configured for the WMT23 metrics task",
    "rewardbench": "allenai/reward-bench v1 (rewardbench/constants.py @a32e272, "
    "rewardbench/utils.py calculate_scores_per_section @045c7f8, "
    "analysis/get_benchmark_results.py @0972ad3, scripts/run_rm.py)",
    "rewardbench2": "allenai/reward-bench v2 (scripts/run_v2.py @0016644, rewardbench/utils.py "
    "reroll_and_score_dataset and process_single_model @a009692)",
    "rm-bench": "THU-KEG/RM-Bench (compute_accuracy in README @2119ec5 and scripts; "
    "safety-refuse and safety-response form one safety domain; total = mean over domains)",
}


@pytest.mark.parametrize("name", list(CHOICES))
def test_every_convention_has_its_documented_choices(name):
    conv = get_convention(name)
    expected = "|".join(
        [f"convention:{name}"] + [f"{k}:{CHOICES[name].get(k, v)}" for k, v in DEFAULTS]
    )
    assert conv.signature == expected
    assert conv.name == name and conv.matches == MATCHES[name]
    assert get_convention(conv) is conv


def test_names_values_and_domains():
    assert list_conventions() == list(CHOICES) == list(CONVENTIONS)
    wmt23 = get_convention("wmt23")
    assert wmt23.early_stopping == EarlyStopping(block=100, low=0.02, high=0.5)
    assert (wmt23.alpha, wmt23.n_resamples, wmt23.darr_threshold) == (0.05, 1000, 25.0)
    assert get_convention("wmt20").darr_threshold == 25.0
    assert get_convention("rewardbench").prior_sets_weight == 0.5
    assert get_convention("rm-bench").domains == {
        "safety-refuse": "safety",
        "safety-response": "safety",
    }
    assert get_convention("metricrm").domains == {}
    # a convention of one's own: every field type in the signature
    own = Convention(
        name="own",
        matches="x",
        prior_sets_weight=1,
        plus_one=False,
        early_stopping=EarlyStopping(block=10, low=0.1, high=0.9),
        domain_merge=(("a", "b"), ("c", "d")),
        alpha=1,
        cluster_rule="head",
        cluster_boundary="strict",
    )
    sig = own.signature
    assert sig.startswith("convention:own|score-ties:half|")
    for part in (
        "|prior-sets-weight:1|",
        "|plus-one:no|",
        "|early-stopping:block10:0.1-0.9|",
        "|domain-merge:a>b,c>d|",
        "|alpha:1|",
        "|cluster-rule:head|cluster-boundary:strict|",
    ):
        assert part in sig
    assert "matches" not in sig and "name:" not in sig


CHOICE_FIELDS = [
    ("score_ties", "'half', 'loss', 'drop'"),
    ("best_of_n_ties", "'half', 'loss', 'drop'"),
    ("human_tie_policy", "'exclude', 'threshold'"),
    ("section_weighting", "'count', 'equal', 'rewardbench'"),
    ("missing_subsets", "'error', 'skip'"),
    ("total", "'pooled', 'section-mean', 'domain-mean'"),
    ("item_average", "'macro', 'micro'"),
    ("undefined_groups", "'skip', 'zero'"),
    ("system_cells", "'scored', 'all'"),
    ("cluster_rule", "'head', 'any', 'wmt'"),
    ("cluster_boundary", "'strict', 'inclusive'"),
    ("segment_test", "'scores', 'pairs'"),
    ("system_test", "'permutation', 'williams'"),
]


@pytest.mark.parametrize("field,allowed", CHOICE_FIELDS)
def test_choice_errors_name_the_convention_and_field(field, allowed):
    with _raises(
        ScorerConfigError, f"Convention('mine'): `{field}` must be one of {allowed} (got 'bogus')"
    ):
        Convention(name="mine", matches="", **{field: "bogus"})


def test_other_errors_in_full():
    who = "Convention('mine')"
    for bad in (0, 1.5, "0.05", True):
        with _raises(ScorerConfigError, f"{who}: `alpha` must be a number in (0, 1] (got {bad!r})"):
            Convention(name="mine", matches="", alpha=bad)
    for bad in (0, 2.5, True):
        with _raises(
            ScorerConfigError, f"{who}: `n_resamples` must be an integer >= 1 (got {bad!r})"
        ):
            Convention(name="mine", matches="", n_resamples=bad)
    with _raises(
        ScorerConfigError,
        f"{who}: cluster_rule 'wmt' compares with p <= alpha; "
        "expected cluster_boundary 'inclusive' (got 'strict')",
    ):
        Convention(name="mine", matches="", cluster_boundary="strict")
    # other rules take either boundary
    assert Convention(name="m", matches="", cluster_rule="any", cluster_boundary="strict")
    valid = "'metricrm', 'wmt20', 'wmt23', 'rewardbench', 'rewardbench2', 'rm-bench'"
    for bad in ("WMT23", None, 3):
        with _raises(
            ScorerConfigError, f"get_convention: unknown convention {bad!r}; valid names: {valid}"
        ):
            get_convention(bad)
    assert dataclasses.replace(get_convention("wmt23"), name="x").signature.startswith(
        "convention:x|score-ties:loss|"
    )
