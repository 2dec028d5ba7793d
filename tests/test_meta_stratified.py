"""Benchmark totals as weighted means of cell means, and the bootstrap within strata: equal to
the benchmark functions (rmbench_totals, rewardbench_section_scores), to the plain bootstrap
for one stratum, and following the exact law of the stratified bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    MEAN,
    bootstrap,
    get_convention,
    pairwise_outcomes,
    rewardbench_section_scores,
    rmbench_totals,
    stratified_bootstrap,
    weighted_cell_means,
)

LEVELS = ("hard", "normal", "easy")


def _rmbench_like(rng: np.random.Generator):
    """Random outcomes with ties for 3 domains x 9 style pairs per prompt."""
    dom, lev, prompt, c, r = [], [], [], [], []
    for d, n in (("chat", 7), ("safety-refuse", 5), ("safety-response", 4)):
        for i in range(n):
            for a in range(3):
                for b in range(3):
                    dom.append(d)
                    lev.append("hard" if a < b else "normal" if a == b else "easy")
                    prompt.append(f"{d}/{i}")
                    c.append(rng.integers(0, 4))
                    r.append(rng.integers(0, 4))
    return np.array(c, float), np.array(r, float), np.array(dom), np.array(lev), np.array(prompt)


def test_weighted_cell_means_equal_rmbench_totals():
    c, r, dom, lev, _ = _rmbench_like(np.random.default_rng(4))
    conv = get_convention("rm-bench")
    out = pairwise_outcomes(c, r, score_ties=conv.score_ties)
    t = rmbench_totals(out, dom, lev, merge=conv.domains)
    merged = np.array([conv.domains.get(d, d) for d in dom])
    names = sorted(set(merged))
    cells = np.array([names.index(m) * 3 + LEVELS.index(x) for m, x in zip(merged, lev)])
    k = len(names)
    for i, level in enumerate(LEVELS):
        w = np.zeros(3 * k)
        w[i::3] = 1 / k
        assert weighted_cell_means(w)(out, cells) == pytest.approx(getattr(t, level), abs=1e-15)
    assert weighted_cell_means(np.full(3 * k, 1 / (3 * k)))(out, cells) == pytest.approx(
        t.average, abs=1e-15
    )


def test_weighted_cell_means_equal_rewardbench_total():
    rng = np.random.default_rng(2)
    subsets = ["alpacaeval-easy"] * 10 + ["mt-bench-easy"] * 6 + ["math-prm"] * 9 + ["hep-go"] * 5
    out = rng.integers(0, 2, size=len(subsets)).astype(float)
    names = sorted(set(subsets))
    means = {s: out[np.array(subsets) == s].mean() for s in names}
    scores = rewardbench_section_scores(means)
    w = np.zeros(len(names))
    for sec, sw in scores.section_weights.items():
        for s, x in scores.weights[sec].items():
            w[names.index(s)] += sw * x
    cells = np.array([names.index(s) for s in subsets])
    assert weighted_cell_means(w)(out, cells) == pytest.approx(scores.overall, abs=1e-15)
    # Chat = (100 a + 28 b) / 128 and Reasoning = (984 m + 164 h) / 1148, equal weight
    chat = (100 * means["alpacaeval-easy"] + 28 * means["mt-bench-easy"]) / 128
    reasoning = (984 * means["math-prm"] + 164 * means["hep-go"]) / 1148
    assert scores.overall == pytest.approx((chat + reasoning) / 2, abs=1e-15)


def test_weighted_cell_means_nan_and_bad_input():
    stat = weighted_cell_means([0.5, 0.5, 0.0])
    # cell 2 has weight 0: its missing outcomes do not matter; NaN outcomes are left out
    assert stat(np.array([1.0, 0.0, np.nan, 1.0]), np.array([0, 1, 2, 1])) == 0.75
    assert np.isnan(stat(np.array([1.0, np.nan]), np.array([0, 1])))  # cell 1 has no outcome
    with pytest.raises(ScorerConfigError, match=r"weights must be >= 0"):
        weighted_cell_means([1.0, -1.0])
    with pytest.raises(ScorerInputError, match=r"integer cell code in \[0, 3\)"):
        stat(np.array([1.0]), np.array([3]))


@pytest.mark.parametrize("grouped", [False, True])
def test_one_stratum_gives_the_plain_bootstrap(grouped):
    rng = np.random.default_rng(0)
    o = rng.integers(0, 2, size=60).astype(float)
    o[[3, 17]] = np.nan
    groups = np.repeat(np.arange(20), 3) if grouped else None
    ours = stratified_bootstrap(
        MEAN, o, strata=np.zeros(60), groups=groups, rng=np.random.default_rng(9), n_resamples=300
    )
    plain = bootstrap(MEAN, o, groups=groups, rng=np.random.default_rng(9), n_resamples=300)
    np.testing.assert_allclose(ours.distribution, plain.distribution, rtol=0, atol=1e-12)
    assert ours.estimate == pytest.approx(plain.estimate) and ours.n_invalid == 0


def test_every_resample_keeps_the_strata_sizes():
    strata = np.array(["a"] * 5 + ["b"] * 2 + ["c"] * 1)
    groups = np.array(["a1", "a1", "a2", "a3", "a3", "b1", "b2", "c1"])
    count_b = weighted_cell_means([0.0, 1.0])  # share of ones among cell-1 items
    ones = (strata == "b").astype(float)  # 1 on b's items, 0 elsewhere
    # a statistic that sees how many items of each stratum a resample holds:
    # with cells a -> 0, b/c -> 1 and outcome = 1 for b, 0 for c, cell 1's mean is always 2/3
    cells = np.where(strata == "a", 0, 1)
    r = stratified_bootstrap(
        count_b, ones, cells, strata=strata, groups=groups, rng=np.random.default_rng(1),
        n_resamples=500,
    )  # fmt: skip
    np.testing.assert_allclose(r.distribution, 2 / 3)
    with pytest.raises(ScorerInputError, match=r"group 'x' spans more than one stratum"):
        stratified_bootstrap(MEAN, np.ones(3), strata=["a", "b", "b"], groups=["x", "x", "y"],
                             rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(ScorerConfigError, match=r"expected a SumStatistic"):
        stratified_bootstrap(np.mean, np.ones(3), strata=["a"] * 3, rng=np.random.default_rng(0))


def test_stratified_bootstrap_follows_its_exact_law():
    # two strata with outcomes [1, 0]: each stratum mean is 0, 0.5 or 1 with probability
    # 1/4, 1/2, 1/4, independently; the equal-weight total then takes 0, .25, .5, .75, 1 with
    # probabilities 1/16, 4/16, 6/16, 4/16, 1/16 (a plain bootstrap over the 4 items differs)
    o = np.array([1.0, 0.0, 1.0, 0.0])
    cells = np.array([0, 0, 1, 1])
    r = stratified_bootstrap(
        weighted_cell_means([0.5, 0.5]), o, cells, strata=cells, rng=np.random.default_rng(3),
        n_resamples=40_000,
    )  # fmt: skip
    values, counts = np.unique(r.distribution, return_counts=True)
    np.testing.assert_allclose(values, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(counts / 40_000, np.array([1, 4, 6, 4, 1]) / 16, atol=0.01)
