"""Contracts of metricrm.meta.rewardbench found by mutation testing: the v1 leaderboard total
against RewardBench's own formula (calculate_scores_per_section, then sections weighted 2 : 1
with the prior sets) on random subset results, and the v2 Ties score against a per-prompt loop of
RewardBench's process_single_model formula (accuracies, spreads, gaps, tanh margins with NaN set
to 0), with every error message in full."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import AccuracyResult, rewardbench2_ties_score, rewardbench_section_scores
from metricrm.meta.rewardbench_constants import (
    REWARDBENCH_EXAMPLE_COUNTS,
    REWARDBENCH_PRIOR_SETS,
    REWARDBENCH_SECTIONS,
)

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _leaderboard(metrics, prior_weight):
    """RewardBench v1: per section the example-count weighted mean of the subsets present,
    then the mean of the sections present, the prior sets (plain mean) at prior_weight."""
    scores, weights = [], []
    for members in REWARDBENCH_SECTIONS.values():
        present = [t for t in members if t in metrics]
        if present:
            total = sum(REWARDBENCH_EXAMPLE_COUNTS[t] for t in present)
            scores.append(sum(metrics[t] * REWARDBENCH_EXAMPLE_COUNTS[t] for t in present) / total)
            weights.append(1.0)
    prior = [metrics[p] for p in REWARDBENCH_PRIOR_SETS if p in metrics]
    if prior and prior_weight is not None:
        scores.append(sum(prior) / len(prior))
        weights.append(prior_weight)
    return sum(s * w for s, w in zip(scores, weights)) / sum(weights)


def test_v1_total_equals_rewardbench_formula():
    rng = np.random.default_rng(0)
    names = [t for members in REWARDBENCH_SECTIONS.values() for t in members]
    for trial in range(30):
        metrics = {t: float(rng.random()) for t in names if rng.random() < 0.9}
        metrics |= {p: float(rng.random()) for p in REWARDBENCH_PRIOR_SETS if rng.random() < 0.6}
        results = {k: (AccuracyResult(v, 10, 0) if trial % 2 else v) for k, v in metrics.items()}
        weight = [0.5, 1, 2.0][trial % 3]
        got = rewardbench_section_scores(results, prior_sets_weight=weight)
        assert got.overall == pytest.approx(_leaderboard(metrics, weight), rel=1e-12)
        assert list(got.sections) == [*REWARDBENCH_SECTIONS, "Prior Sets"]
        off = rewardbench_section_scores(results, prior_sets=False, prior_sets_weight=-1)
        assert off.overall == pytest.approx(_leaderboard(metrics, None), rel=1e-12)
        assert list(off.sections) == list(REWARDBENCH_SECTIONS)
        default = rewardbench_section_scores(results)
        assert default.overall == pytest.approx(_leaderboard(metrics, 0.5), rel=1e-12)


def _stats(row, c):
    good, bad = row[:c], row[c:]
    spread = max(good) - min(good) if len(good) > 1 else None
    gap = min(good) - max(bad)
    return gap > 0, spread, gap


def _ties_loop(rows, n_correct, kinds, ids):
    ref, tied = {}, {}
    for row, c, k, pid in zip(rows, n_correct, kinds, ids):
        (ref if k == "ref" else tied)[pid] = _stats(row, c)
    ref_acc = sum(s[0] for s in ref.values()) / len(ref) if ref else 0.0
    tied_acc = sum(s[0] for s in tied.values()) / len(tied) if tied else 0.0
    shared = [p for p in tied if p in ref]
    if not shared:
        return ref_acc, tied_acc, NAN, NAN, NAN, NAN
    pref, hard, margins = [], [], []
    for p in shared:
        spread, gap_t, gap_r = tied[p][1], tied[p][2], ref[p][2]
        low = min(gap_r, gap_t)
        pref.append(spread is not None and gap_t > spread)
        hard.append(spread is not None and low > spread)
        if spread is None or (spread == 0 and low == 0):
            margins.append(0.0)  # NaN set to 0
        elif spread == 0:
            margins.append(math.copysign(1.0, low))  # tanh(+-inf)
        else:
            margins.append(math.tanh(low / spread - 1))
    p, h, m = (sum(v) / len(v) for v in (pref, hard, margins))
    value = 0.3 * tied_acc + 0.3 * ref_acc + 0.2 * p + 0.2 * h + 0.01 * m
    return ref_acc, tied_acc, p, h, m, value


def test_ties_score_equals_a_per_prompt_loop():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n_prompts = int(rng.integers(1, 6))
        rows, nc, kinds, ids = [], [], [], []
        for pid in range(n_prompts):
            for kind in ("ref", "tied"):
                if rng.random() < 0.25:
                    continue
                size = int(rng.integers(2, 6))
                c = 1 if kind == "ref" else int(rng.integers(1, size))
                rows.append(rng.integers(0, 4, size=size).astype(float).tolist())
                nc.append(c if rng.random() < 0.5 else np.int64(c))
                kinds.append(kind)
                ids.append(f"p{pid}")
        if not rows:
            continue
        r = rewardbench2_ties_score(rows, nc, kinds, ids)
        ref_acc, tied_acc, p, h, m, value = _ties_loop(rows, nc, kinds, ids)
        assert (r.ref_accuracy, r.tied_accuracy) == pytest.approx((ref_acc, tied_acc))
        for got, want in (
            (r.correctness_preferred, p),
            (r.correctness_preferred_hard, h),
            (r.margin_score, m),
        ):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)
        if math.isnan(p):
            assert math.isnan(r.value)
        else:
            assert r.value == pytest.approx(value, rel=1e-12)
        assert r.n_prompts == len(rows) and type(r.value) is float


def test_ties_score_hand_cases():
    # no shared prompt: accuracies only, margins NaN (the value too)
    r = rewardbench2_ties_score([[2.0, 1.0]], [1], ["ref"], [7])
    assert (r.ref_accuracy, r.tied_accuracy, r.n_prompts) == (1.0, 0.0, 1)
    assert math.isnan(r.margin_score) and math.isnan(r.value)
    # equal correct answers (spread 0) and a positive gap: margin tanh(inf) = 1
    r = rewardbench2_ties_score([[3.0, 1.0], [3.0, 3.0, 1.0]], [1, 2], ["ref", "tied"], [1, 1])
    assert (r.correctness_preferred, r.correctness_preferred_hard, r.margin_score) == (1, 1, 1)
    assert r.value == pytest.approx(0.3 + 0.3 + 0.2 + 0.2 + 0.01)
    # kinds given as numpy strings, ids of any hashable type
    r = rewardbench2_ties_score(
        [[1.0, 2.0], [1.0, 0.0, 2.0]], [1, 2], np.array(["ref", "tied"]), [(1, "a"), (1, "a")]
    )
    assert (r.ref_accuracy, r.tied_accuracy) == (0.0, 0.0)
    assert r.correctness_preferred == 0.0 and r.margin_score == pytest.approx(math.tanh(-3))


def test_errors_in_full():
    who = "rewardbench_section_scores"
    for bad in (0, -0.5, True, "0.5", None):
        with _raises(
            ScorerConfigError, f"{who}: `prior_sets_weight` must be a number > 0 (got {bad!r})"
        ):
            rewardbench_section_scores({"hep-go": 0.5}, prior_sets_weight=bad)
    known = sorted({*REWARDBENCH_EXAMPLE_COUNTS, *REWARDBENCH_PRIOR_SETS})
    with _raises(
        ScorerInputError,
        f"{who}: subsets ['Chat', 'zz'] are not RewardBench subsets (known: {known})",
    ):
        rewardbench_section_scores({"zz": 0.5, "hep-go": 0.5, "Chat": 1.0})

    who = "rewardbench2_ties_score"
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input "
        "(got 2 scores, 1 n_correct, 2 kinds, 2 prompt_ids)",
    ):
        rewardbench2_ties_score([[1, 0], [1, 0]], [1], ["ref", "ref"], [1, 2])
    with _raises(ScorerInputError, f"{who}: expected at least one of the prompts (got none)"):
        rewardbench2_ties_score([], [], [], [])
    with _raises(
        ScorerInputError,
        f"{who}: `scores[1]` has nan at index 0 (1 such entries); expected a finite number",
    ):
        rewardbench2_ties_score([[1, 0], [NAN, 0]], [1, 1], ["ref", "tied"], [1, 1])
    for c in (0, 2, True, 1.0):
        with _raises(
            ScorerInputError, f"{who}: prompt 0: expected 1 <= n_correct < 2 responses (got {c!r})"
        ):
            rewardbench2_ties_score([[1, 0]], [c], ["ref"], [1])
    with _raises(ScorerConfigError, f"{who}: `kinds[0]` must be one of 'ref', 'tied' (got 'Ref')"):
        rewardbench2_ties_score([[1, 0]], [1], ["Ref"], [1])
    with _raises(ScorerInputError, f"{who}: prompt id 'a' occurs twice as 'tied' (again at row 2)"):
        rewardbench2_ties_score(
            [[1, 0], [1, 0], [2, 1]], [1, 1, 1], ["tied", "ref", "tied"], ["a", "a", "a"]
        )


def test_ties_score_margins_at_zero_spread_raise_no_warning():
    # spread 0 with a positive gap (x / 0) and with a zero gap (0 / 0): tanh(inf) = 1 and NaN -> 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = rewardbench2_ties_score(
            [[3.0, 1.0], [3.0, 3.0, 1.0], [2.0, 2.0], [2.0, 2.0, 2.0]],
            [1, 2, 1, 2],
            ["ref", "tied", "ref", "tied"],
            [1, 1, 2, 2],
        )
    assert r.margin_score == pytest.approx((1.0 + 0.0) / 2)
    assert (r.correctness_preferred, r.correctness_preferred_hard) == (0.5, 0.5)
