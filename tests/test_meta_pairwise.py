"""Pairwise statistics on hand-worked cases: every tie policy, RewardBench-style sections,
best-of-n, the RM-Bench matrix and WMT tau-like."""

from __future__ import annotations

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    best_of_n_accuracy,
    kendall_tau_like,
    pairwise_accuracy,
    pairwise_outcomes,
    rmbench_matrix,
    section_scores,
    subset_accuracies,
)

# diffs chosen - rejected: +1, 0, -1, -0.5, 0; humans tie the last two pairs.
CHOSEN = [2.0, 1.0, 1.0, 0.0, 3.0]
REJECTED = [1.0, 1.0, 2.0, 0.5, 3.0]
HUMAN_TIES = [False, False, False, True, True]


@pytest.mark.parametrize(
    ("score_ties", "value", "n_used"),
    [
        ("half", (1 + 0.5 + 0 + 0 + 0.5) / 5, 5),  # both score ties earn 0.5
        ("loss", 1 / 5, 5),
        ("drop", 1 / 3, 3),  # pairs 1 and 4 dropped: 1 of the 3 others is right
    ],
)
def test_score_tie_policies_without_human_ties(score_ties, value, n_used):
    r = pairwise_accuracy(CHOSEN, REJECTED, score_ties=score_ties)
    assert r.value == pytest.approx(value)
    assert (r.n_used, r.n_excluded, r.n_score_ties, r.n_human_ties) == (n_used, 5 - n_used, 2, 0)


@pytest.mark.parametrize(
    ("score_ties", "value", "n_used"),
    [("half", (1 + 0.5 + 0) / 3, 3), ("loss", 1 / 3, 3), ("drop", 1 / 2, 2)],
)
def test_human_ties_excluded(score_ties, value, n_used):
    r = pairwise_accuracy(CHOSEN, REJECTED, score_ties=score_ties, human_ties=HUMAN_TIES)
    assert r.value == pytest.approx(value)
    # only pair 1 is a score tie on a pair humans did not tie
    assert (r.n_used, r.n_excluded, r.n_human_ties, r.n_score_ties) == (n_used, 5 - n_used, 2, 1)


@pytest.mark.parametrize(
    ("threshold", "score_ties", "value", "n_used"),
    [
        # threshold 0: human tie 3 (|diff| 0.5) is wrong, human tie 4 (diff 0) is right
        (0.0, "half", (1 + 0.5 + 0 + 0 + 1) / 5, 5),
        # threshold 0.5: both human ties right; pair 1 (diff 0) is a score tie on a non-tie
        (0.5, "half", (1 + 0.5 + 0 + 1 + 1) / 5, 5),
        (0.5, "loss", (1 + 0 + 0 + 1 + 1) / 5, 5),
        (0.5, "drop", (1 + 0 + 1 + 1) / 4, 4),
    ],
)
def test_human_ties_scored_by_threshold(threshold, score_ties, value, n_used):
    r = pairwise_accuracy(
        CHOSEN,
        REJECTED,
        score_ties=score_ties,
        human_ties=HUMAN_TIES,
        human_tie_policy="threshold",
        tie_threshold=threshold,
    )
    assert r.value == pytest.approx(value)
    assert r.n_used == n_used


def test_threshold_makes_near_ties_score_ties():
    # diff 0.25 on a non-tied pair counts as a score tie once the threshold reaches it
    out = pairwise_outcomes([1.25, 2.0], [1.0, 1.0], tie_threshold=0.25, score_ties="loss")
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_all_pairs_excluded_gives_nan_with_counts():
    r = pairwise_accuracy([1.0, 2.0], [1.0, 1.0], human_ties=[False, True], score_ties="drop")
    assert np.isnan(r.value) and (r.n_used, r.n_excluded) == (0, 2)


def test_pairwise_accuracy_rejects_bad_input():
    with pytest.raises(ScorerInputError, match=r"pairwise_accuracy: .*3 chosen, 2 rejected"):
        pairwise_accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ScorerInputError, match=r"`chosen` has nan at index 1"):
        pairwise_accuracy([1, np.nan], [1, 2])
    with pytest.raises(ScorerConfigError, match=r"`score_ties` must be one of"):
        pairwise_accuracy([1], [0], score_ties="coin")
    with pytest.raises(ScorerInputError, match=r"`human_ties` to have shape \(2,\)"):
        pairwise_accuracy([1, 2], [0, 0], human_ties=[True])


def test_subsets_and_sections_by_count_and_equal():
    # subset a: 3 of 4 right, b: 1 of 2, c: 1 of 1 (every pair strict, no ties)
    chosen = [1, 1, 0, 1, 0, 1, 1]
    rejected = [0, 0, 1, 0, 1, 0, 0]
    subsets = ["a", "a", "a", "a", "b", "b", "c"]
    subs = subset_accuracies(chosen, rejected, subsets)
    assert {k: (v.value, v.n_used) for k, v in subs.items()} == {
        "a": (0.75, 4),
        "b": (0.5, 2),
        "c": (1.0, 1),
    }
    sections = {"s1": ["a", "b"], "s2": ["c"]}
    by_count = section_scores(subs, sections, weighting="count")
    assert by_count.sections["s1"] == pytest.approx((0.75 * 4 + 0.5 * 2) / 6)
    assert by_count.sections["s2"] == 1.0
    assert by_count.overall == pytest.approx(((0.75 * 4 + 0.5 * 2) / 6 + 1.0) / 2)
    assert by_count.weights["s1"] == pytest.approx({"a": 4 / 6, "b": 2 / 6})
    equal = section_scores(subs, sections, weighting="equal")
    assert equal.sections["s1"] == pytest.approx(0.625)
    assert equal.overall == pytest.approx((0.625 + 1.0) / 2)
    with pytest.raises(
        ScorerInputError, match=r"section 's3' names subsets with no results: \['z'\]"
    ):
        section_scores(subs, {"s3": ["z"]})


@pytest.mark.parametrize(
    ("score_ties", "value", "n_used"),
    [
        # item 1 ties the best rejected once (1/2), item 2 ties it twice (1/3)
        ("half", (1 + 1 / 2 + 1 / 3 + 0) / 4, 4),
        ("loss", 1 / 4, 4),
        ("drop", 1 / 2, 2),
    ],
)
def test_best_of_n(score_ties, value, n_used):
    chosen = [5, 3, 2, 4]
    rejected = [[1, 2, 3], [3, 1, 0], [2, 2, 1], [4, 4, 5]]
    r = best_of_n_accuracy(chosen, rejected, score_ties=score_ties)
    assert r.value == pytest.approx(value)
    assert r.n_used == n_used and r.n_score_ties == 2


def test_rmbench_matrix_hand_case():
    # prompt 0: chosen [1, 2, 3] vs rejected [0, 2.5, 2.5]
    #   row 0: [1, 0, 0], row 1: [1, 0, 0], row 2: [1, 1, 1]
    # prompt 1: chosen all 5 vs rejected [4, 5, 6]: [1, tie, 0] in every row
    chosen = [[1, 2, 3], [5, 5, 5]]
    rejected = [[0, 2.5, 2.5], [4, 5, 6]]
    loss = rmbench_matrix(chosen, rejected)  # RM-Bench counts chosen > rejected: a tie is wrong
    np.testing.assert_allclose(loss.matrix, [[1, 0, 0], [1, 0, 0], [1, 0.5, 0.5]])
    assert loss.hard == 0.0  # upper triangle: chosen plainer than rejected
    assert loss.normal == pytest.approx((1 + 0 + 0.5) / 3)
    assert loss.easy == pytest.approx((1 + 1 + 0.5) / 3)
    assert loss.average == pytest.approx((loss.hard + loss.normal + loss.easy) / 3)
    half = rmbench_matrix(chosen, rejected, score_ties="half")  # the tie adds 0.5 / 2 to column 1
    np.testing.assert_allclose(half.matrix, [[1, 0.25, 0], [1, 0.25, 0], [1, 0.75, 0.5]])
    assert half.hard == pytest.approx(0.25 / 3)
    drop = rmbench_matrix(chosen, rejected, score_ties="drop")
    np.testing.assert_array_equal(drop.counts, [[2, 1, 2]] * 3)
    np.testing.assert_allclose(drop.matrix[:, 1], [0, 0, 1])


def test_tau_like_hand_case_and_direction():
    better = [3, 2, 1, 5]
    worse = [1, 2, 4, 0]
    # concordant: 3>1 and 5>0; discordant: the tie 2=2 and 1<4
    r = kendall_tau_like(better, worse)
    assert (r.value, r.concordant, r.discordant, r.n_ties) == (0.0, 2, 2, 1)
    # lower is better: only 1<4 is concordant; the tie stays discordant
    low = kendall_tau_like(better, worse, higher_is_better=False)
    assert (low.value, low.concordant, low.discordant) == (-0.5, 1, 3)
