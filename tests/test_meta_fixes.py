"""The five differences to WMT, RewardBench and RM-Bench found by running their own code on the same
inputs (issue 15). Each test failed on the code before its fix."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError
from metricrm.meta import (
    MEAN,
    AccuracyResult,
    get_convention,
    pairwise_accuracy,
    pairwise_system_pvalues,
    permutation_signs,
    rank_scorers,
    rmbench_totals,
    section_scores,
    significance_clusters,
    soft_pairwise_accuracy,
    system_segment_matrix,
)

MQM = Path("scored") / "wmt-mqm-ted-ende" / "mqm_ted_ende.avg_seg_scores.tsv"


def _exact_pvalues(tenths: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """p[i, j] in integer arithmetic: scores given as integers (tenths of a point)."""
    s = tenths.astype(np.int64)
    sg = signs.astype(np.int64)
    partial = sg @ s.T
    totals = s.sum(axis=1)
    null = partial[:, :, None] - partial[:, None, :]
    p = (null >= (totals[:, None] - totals[None, :])[None]).mean(axis=0)
    np.fill_diagonal(p, np.nan)
    return p


# ------------------------------------------------------------------ 1. SPA p-values and exact ties


def test_spa_pvalue_counts_an_exact_tie_from_the_issue():
    # Segment deltas (-0.5, 0, 0.2, 0.3): of the 16 sign patterns, 6 give a permuted delta above the
    # observed 0 and 4 tie it exactly (-0.5 + 0.2 + 0.3 and 0.5 - 0.2 - 0.3, each twice through the
    # zero segment): p = 10 / 16 = 0.625. Rounding makes 0.3 + 0.6 + 0.9 + 0.6 differ from
    # 0.8 + 0.6 + 0.7 + 0.3 in the last bit, which the old `>=` turned into 0.4375.
    scores = [[0.3, 0.6, 0.9, 0.6], [0.8, 0.6, 0.7, 0.3]]
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=4)))
    p = pairwise_system_pvalues(scores, signs)
    assert p[0, 1] == 0.625 and p[1, 0] == 0.625


def test_spa_pvalues_equal_integer_arithmetic_on_random_tenths():
    rng = np.random.default_rng(11)
    tenths = rng.choice([0, -1, -10, -50, -51, -100, -2], size=(6, 40))
    signs = np.where(rng.integers(0, 2, size=(500, 40)) == 1, -1.0, 1.0)
    got = pairwise_system_pvalues(tenths / 10.0, signs)
    np.testing.assert_array_equal(got, _exact_pvalues(tenths, signs))


@pytest.mark.shared_data
def test_spa_pvalues_equal_integer_arithmetic_on_real_mqm(shared_data):
    # MQM averages are multiples of 0.1: integers in tenths give the exact p-values. Before the fix
    # 18 of the 156 p-values differed from them.
    systems, segments, human = [], [], []
    for line in (shared_data / MQM).read_text(encoding="utf-8").splitlines()[1:]:
        system, rest = line.split("\t")
        score, seg = rest.split(" ")
        systems.append(system)
        segments.append(int(seg))
        human.append(np.nan if score == "None" else float(score))
    H, _, _ = system_segment_matrix(human, systems, segments)
    H = H[:, ~np.isnan(H).any(axis=0)]
    tenths = np.round(H * 10).astype(np.int64)
    np.testing.assert_array_equal(tenths / 10.0, H)  # really multiples of 0.1
    signs = permutation_signs(H.shape[1], 1000, np.random.default_rng(0))
    np.testing.assert_array_equal(pairwise_system_pvalues(H, signs), _exact_pvalues(tenths, signs))
    # the same p-values inside SPA: a metric equal to the humans scores 1 exactly
    r = soft_pairwise_accuracy(H, H, rng=np.random.default_rng(0), n_resamples=1000)
    np.testing.assert_array_equal(r.human_pvalues, _exact_pvalues(tenths, signs))


# ------------------------------------------------------- 2. significance clusters: WMT's rule


def _issue_matrix() -> np.ndarray:
    # scorers A > B > C by statistic; p(A>B) = 0.2, p(A>C) = 0.2, p(B>C) = 0.01
    p = np.full((3, 3), np.nan)
    p[0, 1], p[0, 2], p[1, 2] = 0.2, 0.2, 0.01
    return p


def test_wmt_rule_opens_a_cluster_when_any_member_beats_the_scorer():
    names, values = ["A", "B", "C"], [0.9, 0.8, 0.7]
    wmt = significance_clusters(names, values, _issue_matrix(), rule="wmt")
    assert wmt.clusters.tolist() == [1, 1, 2]
    assert (wmt.rule, wmt.boundary, wmt.alpha) == ("wmt", "inclusive", 0.05)
    head = significance_clusters(names, values, _issue_matrix(), rule="head")
    assert head.clusters.tolist() == [1, 1, 1]  # the default before 0.2, kept under its name
    assert significance_clusters(names, values, _issue_matrix()).clusters.tolist() == [1, 1, 2]


def test_wmt_rule_starts_a_cluster_at_p_equal_alpha():
    p = _issue_matrix()
    p[1, 2] = 0.05  # exactly alpha
    names, values = ["A", "B", "C"], [0.9, 0.8, 0.7]
    assert significance_clusters(names, values, p, rule="wmt").clusters.tolist() == [1, 1, 2]
    assert significance_clusters(names, values, p, rule="any").clusters.tolist() == [1, 1, 1]
    inclusive_any = significance_clusters(names, values, p, rule="any", boundary="inclusive")
    assert inclusive_any.clusters.tolist() == [1, 1, 2]
    with pytest.raises(ScorerConfigError, match=r"rule='wmt' compares with p <= alpha"):
        significance_clusters(names, values, p, rule="wmt", boundary="strict")


def test_alpha_one_is_accepted_and_separates_every_scorer():
    p = _issue_matrix()
    r = significance_clusters(["A", "B", "C"], [0.9, 0.8, 0.7], p, rule="wmt", alpha=1.0)
    assert r.clusters.tolist() == [1, 2, 3]
    with pytest.raises(ScorerConfigError, match=r"`alpha` must be a number in \(0, 1\]"):
        significance_clusters(["A", "B", "C"], [0.9, 0.8, 0.7], p, alpha=1.5)


def test_rank_scorers_passes_the_wmt_rule_through():
    n = 400
    a = np.r_[np.ones(360), np.zeros(40)]
    c = np.r_[np.ones(240), np.zeros(160)]
    r = rank_scorers(MEAN, {"a": a, "c": c}, rng=np.random.default_rng(0), rule="wmt", alpha=1.0)
    assert r.clusters.tolist() == [1, 2] and r.rule == "wmt" and r.values[0] == 360 / n


# ------------------------------------------- 3. RewardBench sections: see test_meta_peers_rewardbench


def test_rewardbench_weighting_uses_published_counts_not_observed_ones():
    # math-prm has 447 pairs but RewardBench counts it as 984, as much as its six code subsets
    results = {"math-prm": AccuracyResult(1.0, 447, 0), "hep-go": AccuracyResult(0.0, 164, 0)}
    sections = {"Reasoning": ["math-prm", "hep-go"]}
    published = section_scores(results, sections, weighting="rewardbench")
    assert published.sections["Reasoning"] == pytest.approx(984 / (984 + 164))
    observed = section_scores(results, sections, weighting="count")
    assert observed.sections["Reasoning"] == pytest.approx(447 / (447 + 164))


# ----------------------------------------------- 4. RM-Bench total: equal weight per domain


def test_rmbench_total_weighs_domains_equally_after_merging_safety():
    # chat: 1 prompt, all 9 pairs right; the two safety files: 3 prompts, all wrong.
    levels = ["hard", "normal", "easy", "hard", "hard", "normal", "easy", "easy", "normal"]
    out = np.r_[np.ones(9), np.zeros(27)]
    dom = ["chat"] * 9 + ["safety-refuse"] * 18 + ["safety-response"] * 9
    t = rmbench_totals(out, dom, levels * 4, merge=get_convention("rm-bench").domains)
    assert (t.hard, t.normal, t.easy, t.average) == (0.5, 0.5, 0.5, 0.5)
    assert t.n_pairs == {"chat": 9, "safety": 27}
    unmerged = rmbench_totals(out, dom, levels * 4, merge=None)
    assert unmerged.average == pytest.approx(1 / 3)
    assert out.mean() == 0.25  # pooling (metricrm's "all" row) weighs domains by size


# -------------------------------------------- 5. RewardBench's tie rule has a convention name


@pytest.mark.parametrize(
    ("name", "expected"), [("rewardbench", 0.5), ("rm-bench", 0.5), ("metricrm", 0.75)]
)
def test_tie_rule_comes_with_the_convention(name, expected):
    conv = get_convention(name)
    assert pairwise_accuracy([2.0, 1.0], [1.0, 1.0], score_ties=conv.score_ties).value == expected
