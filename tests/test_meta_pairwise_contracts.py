"""Contracts of metricrm.meta.pairwise found by mutation testing: every statistic against a
per-pair loop on random inputs with ties (pairwise outcomes and accuracy under every tie policy,
subsets, best-of-n, the RM-Bench matrix and totals, WMT tau-like), section aggregation against
RewardBench's own formula and hand cases (weights of 0, NaN subsets, sections left empty, section
weights), the result fields and every error message of the module in full."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    AccuracyResult,
    best_of_n_accuracy,
    best_of_n_outcomes,
    kendall_tau_like,
    pairwise_accuracy,
    pairwise_outcomes,
    rmbench_matrix,
    rmbench_matrix_from_outcomes,
    rmbench_totals,
    section_scores,
    subset_accuracies,
    tau_like_outcomes,
)
from metricrm.meta.rewardbench_constants import (
    REWARDBENCH_EXAMPLE_COUNTS,
    REWARDBENCH_PRIOR_SETS,
    REWARDBENCH_SECTIONS,
)

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)


# ------------------------------------------------------------------ pairwise outcomes and accuracy


def _brute_outcome(c, r, human_tie, score_ties, policy, threshold):
    tie = abs(c - r) <= threshold
    if human_tie:
        return NAN if policy == "exclude" else float(tie)
    if tie:
        return {"half": 0.5, "loss": 0.0, "drop": NAN}[score_ties]
    return 1.0 if c > r else 0.0


def _random_pairs(rng, n):
    chosen = rng.integers(0, 4, size=n) / 2  # halves: ties and differences of 0.5
    rejected = rng.integers(0, 4, size=n) / 2
    human = rng.random(n) < 0.3
    return chosen, rejected, human


@pytest.mark.parametrize("score_ties", ["half", "loss", "drop"])
@pytest.mark.parametrize("policy", ["exclude", "threshold"])
@pytest.mark.parametrize("threshold", [0.0, 0.5, 1, np.float32(0.5)])
def test_outcomes_and_accuracy_equal_a_per_pair_loop(score_ties, policy, threshold):
    rng = np.random.default_rng(11)
    for trial in range(40):
        n = int(rng.integers(1, 12))
        c, r, h = _random_pairs(rng, n)
        given = None if trial % 4 == 0 else (h.astype(int) if trial % 4 == 1 else h)
        hh = np.zeros(n, bool) if given is None else h
        expected = [
            _brute_outcome(c[k], r[k], hh[k], score_ties, policy, float(threshold))
            for k in range(n)
        ]
        kw = dict(
            score_ties=score_ties,
            human_ties=given,
            human_tie_policy=policy,
            tie_threshold=threshold,
        )
        out = pairwise_outcomes(c, r, **kw)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, expected)
        acc = pairwise_accuracy(c, r, **kw)
        used = [v for v in expected if not math.isnan(v)]
        assert _same(acc.value, sum(used) / len(used) if used else NAN)
        score_tie = [abs(c[k] - r[k]) <= threshold and not hh[k] for k in range(n)]
        assert (acc.n_used, acc.n_excluded) == (len(used), n - len(used))
        assert (acc.n_human_ties, acc.n_score_ties) == (int(hh.sum()), sum(score_tie))
        assert all(type(v) is int for v in (acc.n_used, acc.n_excluded, acc.n_human_ties))
        assert type(acc.n_score_ties) is int and type(acc.value) is float


def test_outcomes_of_lists_and_the_threshold_edge():
    # list input; a difference exactly at the threshold is a tie, just above it is not
    out = pairwise_outcomes([1.5, 1.75, 0.0], [1.0, 1.0, 0.5], tie_threshold=0.5, score_ties="loss")
    np.testing.assert_array_equal(out, [0.0, 1.0, 0.0])
    # a human tie under "threshold" is right only when the scorer ties it too
    out = pairwise_outcomes([1.0, 1.0], [1.0, 2.0], human_ties=[1, 1], human_tie_policy="threshold")
    np.testing.assert_array_equal(out, [1.0, 0.0])
    # defaults: half credit for a score tie, no human ties, exact ties only
    np.testing.assert_array_equal(pairwise_outcomes([1, 1, 2], [1, 1.5, 1]), [0.5, 0.0, 1.0])
    r = pairwise_accuracy([1, 1, 2], [1, 1.5, 1])
    assert (r.value, r.n_used, r.n_excluded, r.n_human_ties, r.n_score_ties) == (0.5, 3, 0, 0, 1)


def test_no_pair_used_gives_nan_with_the_counts():
    r = pairwise_accuracy([1.0, 2.0], [0.0, 0.0], human_ties=[True, True])
    assert math.isnan(r.value)
    assert (r.n_used, r.n_excluded, r.n_human_ties, r.n_score_ties) == (0, 2, 2, 0)
    assert AccuracyResult(0.5, 1, 0) == AccuracyResult(0.5, 1, 0, 0, 0)  # counts default to 0


@pytest.mark.parametrize("policy", ["exclude", "threshold"])
def test_subsets_equal_accuracy_of_each_subset(policy):
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(1, 15))
        c, r, h = _random_pairs(rng, n)
        labels = rng.choice(np.array(["b", "a", "c"]), size=n)
        subs = subset_accuracies(
            c,
            r,
            labels,
            score_ties="drop",
            human_ties=h,
            human_tie_policy=policy,
            tie_threshold=0.5,
        )
        assert list(subs) == sorted(set(labels.tolist()))
        for name, got in subs.items():
            sel = labels == name
            want = pairwise_accuracy(
                c[sel],
                r[sel],
                score_ties="drop",
                human_ties=h[sel],
                human_tie_policy=policy,
                tie_threshold=0.5,
            )
            assert _same(got.value, want.value)
            assert (got.n_used, got.n_excluded, got.n_human_ties, got.n_score_ties) == (
                want.n_used,
                want.n_excluded,
                want.n_human_ties,
                want.n_score_ties,
            )


def test_subset_labels_come_back_as_sorted_strings():
    subs = subset_accuracies([1, 0, 1, 1], [0, 1, 0, 1], [2, 10, 2, 1])
    assert list(subs) == ["1", "2", "10"] and all(type(k) is str for k in subs)
    assert {k: (v.value, v.n_used, v.n_score_ties) for k, v in subs.items()} == {
        "1": (0.5, 1, 1),
        "2": (1.0, 2, 0),
        "10": (0.0, 1, 0),
    }
    # without human ties each subset counts none
    assert all(v.n_human_ties == 0 for v in subs.values())
    subs = subset_accuracies([1, 0, 1], [1, 1, 0], ["x", "x", "y"], score_ties="loss")
    assert (subs["x"].value, subs["x"].n_score_ties) == (0.0, 1)


# ------------------------------------------------------------------------------------ sections


def _rewardbench_section(metrics: dict[str, float], members) -> float:
    """RewardBench's calculate_scores_per_section: example-count weighted mean of the subsets
    present."""
    present = [t for t in members if t in metrics]
    total = sum(REWARDBENCH_EXAMPLE_COUNTS[t] for t in present)
    return sum(metrics[t] * REWARDBENCH_EXAMPLE_COUNTS[t] for t in present) / total


def test_rewardbench_weighting_equals_rewardbench_formula():
    rng = np.random.default_rng(2)
    names = [m for members in REWARDBENCH_SECTIONS.values() for m in members]
    metrics = {m: float(rng.random()) for m in names if rng.random() < 0.8}
    metrics["math-prm"] = 0.25
    sections = {s: list(m) for s, m in REWARDBENCH_SECTIONS.items()}
    sections["Prior Sets"] = list(REWARDBENCH_PRIOR_SETS)
    for p in REWARDBENCH_PRIOR_SETS[:3]:
        metrics[p] = float(rng.random())
    got = section_scores(metrics, sections, weighting="rewardbench", missing="skip")
    for sec, members in REWARDBENCH_SECTIONS.items():
        assert got.sections[sec] == pytest.approx(_rewardbench_section(metrics, members), 1e-12)
        present = [t for t in members if t in metrics]
        total = sum(REWARDBENCH_EXAMPLE_COUNTS[t] for t in present)
        assert got.weights[sec] == pytest.approx(
            {t: REWARDBENCH_EXAMPLE_COUNTS[t] / total for t in present}
        )
        assert got.missing[sec] == [t for t in members if t not in metrics]
    priors = [metrics[p] for p in REWARDBENCH_PRIOR_SETS[:3]]
    assert got.sections["Prior Sets"] == pytest.approx(np.mean(priors), 1e-12)  # weight 1 each
    assert got.missing["Prior Sets"] == [REWARDBENCH_PRIOR_SETS[3]]
    assert got.overall == pytest.approx(np.mean(list(got.sections.values())), 1e-12)


def _acc(value: float, n: int) -> AccuracyResult:
    return AccuracyResult(value, n, 0)


def test_sections_hand_case_with_weights_nan_subsets_and_section_weights():
    results = {"a": _acc(0.5, 4), "b": _acc(1.0, 1), "c": _acc(NAN, 0), "d": _acc(0.25, 3)}
    sections = {"s1": ["a", "b"], "s2": ["d", "c"]}
    # a NaN subset with weight 0 (no pairs used) adds nothing and is not "missing"
    r = section_scores(results, sections)
    assert r.sections == pytest.approx({"s1": (0.5 * 4 + 1) / 5, "s2": 0.25})
    assert r.weights == {"s1": {"a": 0.8, "b": 0.2}, "s2": {"d": 1.0, "c": 0.0}}
    assert r.missing == {"s1": [], "s2": []}
    assert r.section_weights == {"s1": 0.5, "s2": 0.5}
    assert r.overall == pytest.approx(((0.5 * 4 + 1) / 5 + 0.25) / 2)
    # equal weights: the NaN subset now weighs 1 and makes the section NaN under "error" ...
    r = section_scores(results, sections, weighting="equal")
    assert r.sections["s1"] == 0.75 and math.isnan(r.sections["s2"])
    assert math.isnan(r.overall) and r.section_weights == {"s1": 0.5, "s2": 0.5}
    assert r.weights["s2"] == {"d": 0.5, "c": 0.5}
    # ... and is left out under "skip", the section renormalised over the rest
    r = section_scores(results, sections, weighting="equal", missing="skip")
    assert r.sections == {"s1": 0.75, "s2": 0.25}
    assert r.weights["s2"] == {"d": 1.0} and r.missing == {"s1": [], "s2": ["c"]}
    assert r.overall == 0.5
    # section weights 3 : 1, normalised in the result
    r = section_scores(
        results, sections, weighting="equal", missing="skip", section_weights={"s1": 3, "s2": 1.0}
    )
    assert r.overall == pytest.approx((3 * 0.75 + 0.25) / 4)
    assert r.section_weights == {"s1": 0.75, "s2": 0.25}


def test_sections_left_empty_under_skip_and_custom_weights():
    results = {"a": 0.5, "b": NAN, "c": 1.0, "d": 0.0}
    sections = {"s1": ["a", "c"], "s2": ["b", "z"], "s3": ["d"]}
    weights = {"a": 1, "b": 2.0, "c": np.float64(3), "d": np.int64(1)}
    r = section_scores(
        results,
        sections,
        weighting=weights,
        missing="skip",
        section_weights={"s1": 1, "s2": 1, "s3": 2},
    )
    assert r.sections["s1"] == pytest.approx((0.5 + 3 * 1.0) / 4)
    assert math.isnan(r.sections["s2"]) and r.sections["s3"] == 0.0
    assert r.missing == {"s1": [], "s2": ["z", "b"], "s3": []}
    assert r.weights == {"s1": {"a": 0.25, "c": 0.75}, "s2": {}, "s3": {"d": 1.0}}
    # the empty section is left out of overall, its weight given to the others
    assert r.section_weights == {"s1": 1 / 3, "s2": 0.0, "s3": 2 / 3}
    assert r.overall == pytest.approx((0.875 + 2 * 0.0) / 3)
    assert all(type(v) is float for v in (r.overall, *r.sections.values()))
    # every section empty: overall NaN, every section weight 0
    r = section_scores({"b": NAN}, {"s": ["b", "z"]}, weighting="equal", missing="skip")
    assert math.isnan(r.overall) and math.isnan(r.sections["s"])
    assert r.section_weights == {"s": 0.0} and r.weights == {"s": {}}
    # a weight of 0 for a subset with a value: the section is the rest's mean
    r = section_scores({"a": 0.5, "b": 1.0}, {"s": ("a", "b")}, weighting={"a": 0, "b": 1})
    assert r.sections == {"s": 1.0} and r.weights == {"s": {"a": 0.0, "b": 1.0}}
    # every weight 0: NaN, weights 0
    r = section_scores({"a": 0.5}, {"s": ["a"]}, weighting={"a": 0.0})
    assert math.isnan(r.sections["s"]) and r.weights == {"s": {"a": 0.0}}


def test_count_weighting_reads_pairs_used_not_the_value():
    # count is the default and uses n_used only (not n_excluded)
    results = {"a": AccuracyResult(1.0, 1, 9), "b": AccuracyResult(0.0, 3, 0)}
    r = section_scores(results, {"s": ["a", "b"]})
    assert r.sections["s"] == 0.25 and r.weights["s"] == {"a": 0.25, "b": 0.75}
    # plain numbers of every numeric type are accepted under the other weightings
    r = section_scores(
        {"a": 1, "b": np.float32(0.5), "c": np.int64(0)}, {"s": ["a", "b", "c"]}, weighting="equal"
    )
    assert r.sections["s"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------ best of n


def _brute_best_of_n(c, rej, score_ties):
    best = max(rej)
    if c > best:
        return 1.0
    if c < best:
        return 0.0
    t = sum(v == best for v in rej)
    return {"half": 1 / (t + 1), "loss": 0.0, "drop": NAN}[score_ties]


@pytest.mark.parametrize("score_ties", ["half", "loss", "drop"])
def test_best_of_n_equals_a_per_item_loop(score_ties):
    rng = np.random.default_rng(8)
    for _ in range(40):
        n, k = int(rng.integers(1, 10)), int(rng.integers(1, 5))
        c = rng.integers(0, 4, size=n).astype(float)
        rej = rng.integers(0, 4, size=(n, k)).astype(float)
        expected = [_brute_best_of_n(c[i], rej[i].tolist(), score_ties) for i in range(n)]
        out = best_of_n_outcomes(c, rej, score_ties=score_ties)
        np.testing.assert_array_equal(out, expected)
        acc = best_of_n_accuracy(c.tolist(), rej.tolist(), score_ties=score_ties)
        used = [v for v in expected if not math.isnan(v)]
        assert _same(acc.value, sum(used) / len(used) if used else NAN)
        ties = int(sum(c[i] == rej[i].max() for i in range(n)))
        assert (acc.n_used, acc.n_excluded, acc.n_score_ties, acc.n_human_ties) == (
            len(used),
            n - len(used),
            ties,
            0,
        )


def test_best_of_n_default_is_half_credit():
    np.testing.assert_array_equal(best_of_n_outcomes([1, 2], [[1, 1, 0], [3, 2, 2]]), [1 / 3, 0])
    assert best_of_n_accuracy([1], [[1]]).value == 0.5


# ---------------------------------------------------------------------------- RM-Bench matrix


@pytest.mark.parametrize("score_ties", ["half", "loss", "drop"])
def test_rmbench_matrix_equals_a_per_cell_loop(score_ties):
    rng = np.random.default_rng(4)
    credit = {"half": 0.5, "loss": 0.0, "drop": NAN}[score_ties]
    for _ in range(25):
        n, k = int(rng.integers(1, 6)), int(rng.integers(2, 5))
        c = rng.integers(0, 3, size=(n, k)).astype(float)
        r = rng.integers(0, 3, size=(n, k)).astype(float)
        m = np.full((k, k), NAN)
        counts = np.zeros((k, k), int)
        for i in range(k):
            for j in range(k):
                vals = [
                    1.0 if c[p, i] > r[p, j] else (credit if c[p, i] == r[p, j] else 0.0)
                    for p in range(n)
                ]
                vals = [v for v in vals if not math.isnan(v)]
                counts[i, j] = len(vals)
                if vals:
                    m[i, j] = sum(vals) / len(vals)
        got = rmbench_matrix(c, r, score_ties=score_ties)
        np.testing.assert_allclose(got.matrix, m, rtol=1e-12)
        np.testing.assert_array_equal(got.counts, counts)
        hard = [m[i, j] for i in range(k) for j in range(k) if i < j]
        easy = [m[i, j] for i in range(k) for j in range(k) if i > j]
        normal = [m[i, i] for i in range(k)]
        for name, cells in (("hard", hard), ("easy", easy), ("normal", normal)):
            assert _same(getattr(got, name), float(np.mean(cells)))
        assert _same(got.average, float(np.mean([np.mean(hard), np.mean(normal), np.mean(easy)])))
        # the same outcomes given directly
        diff = c[:, :, None] - r[:, None, :]
        outcomes = np.where(diff > 0, 1.0, np.where(diff == 0, credit, 0.0))
        direct = rmbench_matrix_from_outcomes(outcomes)
        np.testing.assert_array_equal(direct.matrix, got.matrix)
        np.testing.assert_array_equal(direct.counts, got.counts)


def test_rmbench_matrix_default_counts_a_tie_as_wrong_and_outcomes_may_be_fractions():
    r = rmbench_matrix([[1, 1]], [[1, 0]])
    np.testing.assert_array_equal(r.matrix, [[0, 1], [0, 1]])
    assert (r.hard, r.normal, r.easy) == (1.0, 0.5, 0.0)
    out = rmbench_matrix_from_outcomes([[[0, 1], [0.5, NAN]], [[1, 0.25], [0.5, NAN]]])
    np.testing.assert_array_equal(out.counts, [[2, 2], [2, 0]])
    np.testing.assert_allclose(out.matrix, [[0.5, 0.625], [0.5, NAN]])
    assert out.hard == 0.625 and out.easy == 0.5 and math.isnan(out.normal)


# ------------------------------------------------------------------------------- RM-Bench totals


def test_rmbench_totals_equal_a_loop_over_domains():
    rng = np.random.default_rng(6)
    levels = ["hard", "normal", "easy"]
    for _ in range(20):
        n = int(rng.integers(12, 40))
        domains = rng.choice(["chat", "safety-refuse", "safety-response", "math"], size=n)
        diff = rng.choice(levels, size=n)
        # every domain (merged and unmerged) gets each level at least once
        base_d = ["chat", "safety-refuse", "safety-response", "math"] * 3
        base_l = [lv for lv in levels for _ in range(4)]
        domains = np.concatenate([base_d, domains])
        diff = np.concatenate([base_l, diff])
        o = rng.choice([0.0, 0.5, 1.0, NAN], size=domains.size, p=[0.4, 0.1, 0.4, 0.1])
        o[:12] = rng.choice([0.0, 1.0], size=12)
        for merge, rename in (
            ("default", {"safety-refuse": "safety", "safety-response": "safety"}),
            (None, {}),
            ({"math": "chat"}, {"math": "chat"}),
        ):
            kw = {} if merge == "default" else {"merge": merge}
            got = rmbench_totals(o, domains.tolist(), diff, **kw)
            merged = [rename.get(d, d) for d in domains]
            want: dict[str, dict[str, float]] = {}
            for d in sorted(set(merged)):
                row = {}
                for lv in levels:
                    vals = [
                        o[p]
                        for p in range(o.size)
                        if merged[p] == d and diff[p] == lv and not math.isnan(o[p])
                    ]
                    row[lv] = sum(vals) / len(vals)
                row["average"] = (row["hard"] + row["normal"] + row["easy"]) / 3
                want[d] = row
            assert list(got.domains) == list(want)
            for d in want:
                assert got.domains[d] == pytest.approx(want[d], rel=1e-12)
                assert got.n_pairs[d] == sum(
                    1 for p in range(o.size) if merged[p] == d and not math.isnan(o[p])
                )
            for key in ("hard", "normal", "easy", "average"):
                assert getattr(got, key) == pytest.approx(
                    np.mean([want[d][key] for d in want]), rel=1e-12
                )


# ------------------------------------------------------------------------------------- tau-like


def test_tau_like_equals_a_per_pair_loop():
    rng = np.random.default_rng(9)
    for _ in range(30):
        n = int(rng.integers(1, 12))
        b = rng.integers(0, 3, size=n).astype(float)
        w = rng.integers(0, 3, size=n).astype(float)
        for higher in (True, False):
            con = sum((b[k] > w[k]) if higher else (b[k] < w[k]) for k in range(n))
            out = tau_like_outcomes(b, w, higher_is_better=higher)
            np.testing.assert_array_equal(
                out,
                [1.0 if ((b[k] > w[k]) if higher else (b[k] < w[k])) else -1.0 for k in range(n)],
            )
            r = kendall_tau_like(b.tolist(), w.tolist(), higher_is_better=higher)
            assert (r.concordant, r.discordant, r.n_ties) == (con, n - con, int((b == w).sum()))
            assert r.value == pytest.approx((con - (n - con)) / n, rel=1e-12)
            assert all(type(v) is int for v in (r.concordant, r.discordant, r.n_ties))
    # default direction: higher is better
    assert kendall_tau_like([2.0], [1.0]).value == 1.0
    np.testing.assert_array_equal(tau_like_outcomes([1.0, 2.0], [2.0, 2.0]), [-1.0, -1.0])


# --------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "who,fn",
    [
        ("pairwise_outcomes", pairwise_outcomes),
        ("pairwise_accuracy", pairwise_accuracy),
        ("subset_accuracies", lambda c, r, **kw: subset_accuracies(c, r, ["s"] * np.size(c), **kw)),
    ],
)
def test_pair_input_errors_name_the_function_argument_and_value(who, fn):
    with _raises(
        ScorerConfigError, f"{who}: `score_ties` must be one of 'half', 'loss', 'drop' (got 'coin')"
    ):
        fn([1], [0], score_ties="coin")
    with _raises(
        ScorerConfigError,
        f"{who}: `human_tie_policy` must be one of 'exclude', 'threshold' (got 'drop')",
    ):
        fn([1], [0], human_tie_policy="drop")
    for bad in (True, "0.5", -0.5, NAN, None):
        with _raises(
            ScorerConfigError, f"{who}: `tie_threshold` must be a number >= 0 (got {bad!r})"
        ):
            fn([1], [0], tie_threshold=bad)
    with _raises(ScorerInputError, f"{who}: expected `chosen` to be 1-dimensional (got shape ())"):
        fn(1.0, [0])
    with _raises(
        ScorerInputError, f"{who}: expected `rejected` to be 1-dimensional (got shape (1, 1))"
    ):
        fn([1.0], [[0.0]])
    with _raises(
        ScorerInputError,
        f"{who}: `chosen` has inf at index 1 (1 such entries); expected a finite number",
    ):
        fn([1, np.inf], [0, 0])
    with _raises(
        ScorerInputError,
        f"{who}: `rejected` has nan at index 0 (2 such entries); expected a finite number",
    ):
        fn([1, 1], [NAN, NAN])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 3 chosen, 2 rejected)",
    ):
        fn([1, 2, 3], [0, 0])
    with _raises(ScorerInputError, f"{who}: expected `human_ties` to have shape (2,) (got (1,))"):
        fn([1, 2], [0, 0], human_ties=[True])
    with _raises(
        ScorerInputError, f"{who}: expected `human_ties` to hold booleans (got dtype float64)"
    ):
        fn([1, 2], [0, 0], human_ties=[1.0, 0.0])


def test_subset_label_errors():
    with _raises(
        ScorerInputError,
        "subset_accuracies: expected `subsets` to have one label per item (2) (got shape (3,))",
    ):
        subset_accuracies([1, 2], [0, 0], ["a", "b", "c"])
    with _raises(
        ScorerInputError,
        "subset_accuracies: `subsets` mixes label types that cannot be ordered; use one type",
    ):
        subset_accuracies([1, 2], [0, 0], np.array(["a", 1], dtype=object))


def test_section_errors_in_full():
    who = "section_scores"
    subs = {"a": _acc(0.5, 2), "b": _acc(1.0, 1)}
    with _raises(
        ScorerConfigError, f"{who}: `missing` must be one of 'error', 'skip' (got 'drop')"
    ):
        section_scores(subs, {"s": ["a"]}, missing="drop")
    with _raises(
        ScorerConfigError,
        f"{who}: `weighting` must be one of 'count', 'equal', 'rewardbench' (got 'size')",
    ):
        section_scores(subs, {"s": ["a"]}, weighting="size")
    with _raises(
        ScorerConfigError,
        f"{who}: `weighting` must be one of 'count', 'equal', "
        "'rewardbench' or a mapping subset -> weight (got list)",
    ):
        section_scores(subs, {"s": ["a"]}, weighting=["a"])
    for bad in (True, "1", None):
        with _raises(
            ScorerConfigError, f"{who}: weight of subset 'a' must be a number (got {bad!r})"
        ):
            section_scores(subs, {"s": ["a"]}, weighting={"b": 1, "a": bad})
    for bad in (-1.0, np.inf, NAN):
        with _raises(
            ScorerConfigError, f"{who}: weight of subset 'a' must be finite and >= 0 (got {bad!r})"
        ):
            section_scores(subs, {"s": ["a"]}, weighting={"a": bad})
    with _raises(ScorerInputError, f"{who}: expected at least one section (got none)"):
        section_scores(subs, {})
    with _raises(
        ScorerConfigError,
        f"{who}: `section_weights` must name exactly the sections ['s', 't'] (got ['s'])",
    ):
        section_scores(subs, {"t": ["b"], "s": ["a"]}, section_weights={"s": 1})
    for bad in (0, -1, True, "1", None):
        with _raises(
            ScorerConfigError, f"{who}: weight of section 's' must be a number > 0 (got {bad!r})"
        ):
            section_scores(subs, {"t": ["b"], "s": ["a"]}, section_weights={"t": 1, "s": bad})
    for bad in ("a", [], ()):
        with _raises(
            ScorerInputError, f"{who}: section 's' must list one or more subset names (got {bad!r})"
        ):
            section_scores(subs, {"t": ["b"], "s": bad})
    with _raises(
        ScorerInputError,
        f"{who}: section 's' names subsets with no results: "
        "['z', 'y'] (available: ['a', 'b']); pass missing='skip' to leave them out",
    ):
        section_scores(subs, {"s": ["a", "z", "y"]})
    for bad, kind in (("0.5", "str"), (True, "bool"), (None, "NoneType")):
        with _raises(
            ScorerInputError,
            f"{who}: subset 'b' must map to an AccuracyResult or a number (got {kind})",
        ):
            section_scores({"a": 0.5, "b": bad}, {"s": ["a", "b"]}, weighting="equal")
    with _raises(
        ScorerInputError,
        f"{who}: weighting='count' needs AccuracyResult values with "
        "pair counts; subset 'b' is a plain number (use another weighting)",
    ):
        section_scores({"a": _acc(0.5, 2), "b": 1.0}, {"s": ["a", "b"]})
    with _raises(
        ScorerConfigError,
        f"{who}: no weight for subset 'b' in the given weighting (weights known for ['a', 'c'])",
    ):
        section_scores(subs, {"s": ["a", "b"]}, weighting={"c": 1, "a": 1})


def test_best_of_n_errors_in_full():
    who = "best_of_n_accuracy"
    for fn in (best_of_n_outcomes, best_of_n_accuracy):
        with _raises(
            ScorerConfigError,
            f"{who}: `score_ties` must be one of 'half', 'loss', 'drop' (got 'coin')",
        ):
            fn([1], [[0]], score_ties="coin")
        with _raises(
            ScorerInputError, f"{who}: expected `chosen` to be 1-dimensional (got shape (1, 1))"
        ):
            fn([[1]], [[0]])
        with _raises(
            ScorerInputError, f"{who}: expected `rejected` to be 2-dimensional (got shape (1,))"
        ):
            fn([1], [0])
        with _raises(
            ScorerInputError,
            f"{who}: `rejected` has nan at index (0, 1) (1 such entries); expected a finite number",
        ):
            fn([1], [[0, NAN]])
        with _raises(
            ScorerInputError,
            f"{who}: expected one entry per item in every input (got 1 chosen, 2 rejected)",
        ):
            fn([1], [[0], [1]])
        with _raises(ScorerInputError, f"{who}: expected at least one rejected response per item"):
            fn([1, 2], np.zeros((2, 0)))


def test_rmbench_errors_in_full():
    who = "rmbench_matrix"
    with _raises(
        ScorerConfigError, f"{who}: `score_ties` must be one of 'half', 'loss', 'drop' (got 'win')"
    ):
        rmbench_matrix([[1, 2]], [[1, 2]], score_ties="win")
    with _raises(
        ScorerInputError, f"{who}: expected `chosen` to be 2-dimensional (got shape (2,))"
    ):
        rmbench_matrix([1, 2], [[1, 2]])
    with _raises(
        ScorerInputError, f"{who}: expected `rejected` to be 2-dimensional (got shape (2,))"
    ):
        rmbench_matrix([[1, 2]], [1, 2])
    with _raises(
        ScorerInputError,
        f"{who}: `chosen` has nan at index (1, 0) (1 such entries); expected a finite number",
    ):
        rmbench_matrix([[1, 2], [NAN, 1]], [[1, 2], [1, 1]])
    for c, r in (([[1, 2, 3]], [[1, 2]]), ([[1]], [[1]]), ([[1, 2]], [[1, 2], [1, 2]])):
        shapes = f"{np.shape(c)} and {np.shape(r)}"
        with _raises(
            ScorerInputError,
            f"{who}: expected `chosen` and `rejected` of the same "
            f"shape (n_prompts, k >= 2) (got {shapes})",
        ):
            rmbench_matrix(c, r)
    with _raises(ScorerInputError, f"{who}: expected at least one of the prompts (got none)"):
        rmbench_matrix(np.zeros((0, 3)), np.zeros((0, 3)))

    who = "rmbench_matrix_from_outcomes"
    with _raises(
        ScorerInputError, f"{who}: expected `outcomes` to be 3-dimensional (got shape (2, 2))"
    ):
        rmbench_matrix_from_outcomes([[1, 0], [0, 1]])
    with _raises(
        ScorerInputError,
        f"{who}: `outcomes` has inf at index (0, 1, 0) "
        "(1 such entries); expected a finite number or NaN (missing)",
    ):
        rmbench_matrix_from_outcomes([[[1, 0], [np.inf, 1]]])
    for shape in ((1, 2, 3), (1, 1, 1), (1, 3, 2)):
        with _raises(
            ScorerInputError,
            f"{who}: expected `outcomes` of shape (n_prompts, k, k), k >= 2 (got {shape})",
        ):
            rmbench_matrix_from_outcomes(np.zeros(shape))
    with _raises(ScorerInputError, f"{who}: expected at least one of the prompts (got none)"):
        rmbench_matrix_from_outcomes(np.zeros((0, 2, 2)))
    bad = np.zeros((2, 3, 3))
    bad[1, 0, 2] = 1.5
    bad[1, 2, 0] = -1.0
    with _raises(
        ScorerInputError,
        f"{who}: expected outcomes between 0 and 1 (got 1.5 at "
        "prompt 1, chosen style 0, rejected style 2)",
    ):
        rmbench_matrix_from_outcomes(bad)
    bad[1, 0, 2] = 1.0
    with _raises(
        ScorerInputError,
        f"{who}: expected outcomes between 0 and 1 (got -1.0 at "
        "prompt 1, chosen style 2, rejected style 0)",
    ):
        rmbench_matrix_from_outcomes(bad)


def test_rmbench_totals_errors_in_full():
    who = "rmbench_totals"
    lv = ["hard", "normal", "easy"]
    with _raises(
        ScorerInputError,
        f"{who}: `outcomes` has inf at index 1 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        rmbench_totals([1, np.inf, 0], ["a"] * 3, lv)
    with _raises(
        ScorerInputError, f"{who}: expected `outcomes` to be 1-dimensional (got shape (1, 3))"
    ):
        rmbench_totals([[1, 0, 0]], ["a"] * 3, lv)
    with _raises(ScorerInputError, f"{who}: expected at least one of the pairs (got none)"):
        rmbench_totals([], [], [])
    with _raises(
        ScorerInputError,
        f"{who}: expected `domains` to have one label per item (3) (got shape (2,))",
    ):
        rmbench_totals([1, 0, 0], ["a"] * 2, lv)
    with _raises(
        ScorerInputError,
        f"{who}: expected `difficulty` to have one label per item (3) (got shape (4,))",
    ):
        rmbench_totals([1, 0, 0], ["a"] * 3, lv + ["hard"])
    with _raises(
        ScorerInputError,
        f"{who}: `difficulty` must be one of ('hard', 'normal', "
        "'easy') (got ['Hard', 'medium']; first at pair 1)",
    ):
        rmbench_totals([1, 0, 0, 1], ["a"] * 4, ["hard", "medium", "easy", "Hard"])
    with _raises(
        ScorerConfigError,
        f"{who}: `merge` must be a mapping domain -> merged domain or None (got list)",
    ):
        rmbench_totals([1, 0, 0], ["a"] * 3, lv, merge=["a"])
    with _raises(
        ScorerInputError,
        f"{who}: domain 'b' has no 'normal' pair with an outcome; "
        "expected every domain to have hard, normal and easy pairs",
    ):
        rmbench_totals([1, 0, 0, 1, NAN, 0], ["a"] * 3 + ["b"] * 3, lv + lv)


def test_tau_like_errors_in_full():
    who = "kendall_tau_like"
    for fn in (kendall_tau_like, tau_like_outcomes):
        with _raises(
            ScorerInputError,
            f"{who}: `better` has nan at index 1 (1 such entries); expected a finite number",
        ):
            fn([1, NAN], [0, 0])
        with _raises(
            ScorerInputError, f"{who}: expected `worse` to be 1-dimensional (got shape (1, 2))"
        ):
            fn([1, 2], [[0, 0]])
        with _raises(
            ScorerInputError,
            f"{who}: expected one entry per item in every input (got 2 better, 1 worse)",
        ):
            fn([1, 2], [0])
    with _raises(ScorerInputError, f"{who}: expected at least one of the pairs (got none)"):
        kendall_tau_like([], [])


# ------------------------------------------------------- found by the mutation run's survivors


def test_numeric_strings_count_ties_as_numbers():
    # the inputs are read as numbers, so "1" and "1.0" tie in every count
    r = kendall_tau_like(["1", "2"], ["1.0", "1"])
    assert (r.concordant, r.discordant, r.n_ties) == (1, 1, 1)
    r = best_of_n_accuracy(["2", "1"], [["1", "2.0"], ["1", "0"]])
    assert (r.value, r.n_used, r.n_score_ties) == (0.5, 2, 2)


def test_no_warning_when_nothing_is_used_or_a_cell_is_empty():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pairwise_accuracy([1.0], [1.0], score_ties="drop").value)
        r = rmbench_matrix([[1, 2], [1, 3]], [[1, 0], [1, 0]], score_ties="drop")
        assert r.counts[0, 0] == 0 and math.isnan(r.matrix[0, 0])
        r = rmbench_matrix_from_outcomes([[[NAN, 1], [0, 1]]])
        assert math.isnan(r.matrix[0, 0]) and math.isnan(r.normal) and r.hard == 1.0


def test_a_subset_without_value_or_weight_is_kept_with_weight_0_under_skip():
    # no pair used: value NaN and count weight 0, so it changes nothing and is not "left out"
    results = {"a": _acc(0.5, 2), "c": _acc(NAN, 0)}
    r = section_scores(results, {"s": ["a", "c"]}, missing="skip")
    assert r.sections == {"s": 0.5} and r.weights == {"s": {"a": 1.0, "c": 0.0}}
    assert r.missing == {"s": []}


def test_difficulty_labels_that_are_not_strings_get_the_difficulty_error():
    with _raises(
        ScorerInputError,
        "rmbench_totals: `difficulty` must be one of ('hard', "
        "'normal', 'easy') (got ['0', '1', '2']; first at pair 0)",
    ):
        rmbench_totals([1, 0, 1], ["a"] * 3, [0, 1, 2])
    with _raises(
        ScorerInputError,
        "rmbench_totals: `difficulty` must be one of ('hard', "
        "'normal', 'easy') (got ['3']; first at pair 3)",
    ):
        rmbench_totals([1, 0, 1, 1], ["a"] * 4, ["hard", "normal", "easy", 3])
