"""The five differences to WMT, RewardBench and RM-Bench found by running their own code on the same
inputs (issue 15). Each test failed on the code before its fix."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from metricrm.meta import (
    pairwise_system_pvalues,
    permutation_signs,
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
