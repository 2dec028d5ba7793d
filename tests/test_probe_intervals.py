"""Intervals and invariants of the probe and best-of-n statistics, computed a second way.

Every interval is recomputed here with plain numpy from per-pair (per-prompt) values taken
from direct scorer calls: the resample indices come from the row's documented generator, each
resample's statistic is recomputed from scratch (the spread too) and the percentile interval
is ``np.quantile``. A wrong pairing of features, a spread frozen at its full-sample value or a
generator shared between rows makes these tests fail. Small exact cases of the best-of-n
estimator are enumerated subset by subset.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.probes import (
    best_of_n,
    best_of_n_curve,
    best_of_n_estimates,
    expected_best_of_n,
    get_probe,
    probe,
    selection_weights,
)

LLMBAR_NATURAL = "preference/llmbar/Natural"
R = 400  # resamples: enough for stable quantiles, cheap on shared CPUs


def _quantiles(dist, confidence=0.95):
    tail = (1 - confidence) / 2
    d = np.asarray(dist, dtype=np.float64)
    d = d[~np.isnan(d)]
    return tuple(np.quantile(d, [tail, 1 - tail]))


def _row_generator(seed, dataset, scorer, key, statistic):
    """The generator the probe module documents: the seed and the row's identity."""
    return np.random.default_rng([seed, zlib.crc32(repr((dataset, scorer, key, statistic))
                                                   .encode("utf-8"))])  # fmt: skip


# ------------------------------------------------------------------------------------ probes


@pytest.fixture(scope="module")
def natural(shared_data):
    return mr.data.load_llmbar(shared_data / LLMBAR_NATURAL)


@pytest.mark.parametrize(
    "probe_name, sides", [("markdown", "both"), ("repeat_sentence", "rejected")]
)
def test_probe_intervals_equal_a_direct_percentile_bootstrap_over_pairs(natural, probe_name,
                                                                        sides):  # fmt: skip
    scorer = mr.get_scorer("length_tokens", tokenizer="regex")
    p = get_probe(probe_name)
    seed = 7
    frame = probe(scorer, natural, [p], seed=seed, sides=sides, n_resamples=R, cache=False,
                  progress=False, dataset="natural")  # fmt: skip
    rows = frame.set_index("statistic")

    prompts = [x.prompt for x in natural]
    s_c = scorer.score([x.chosen for x in natural], prompts=prompts).scores
    s_r = scorer.score([x.rejected for x in natural], prompts=prompts).scores
    new_r = scorer.score([p(x.rejected, prompt=x.prompt, seed=seed) for x in natural],
                         prompts=prompts).scores  # fmt: skip
    moves = [new_r - s_r]
    if sides == "both":
        new_c = scorer.score([p(x.chosen, prompt=x.prompt, seed=seed) for x in natural],
                             prompts=prompts).scores  # fmt: skip
        moves.append(new_c - s_c)
    deltas = np.stack(moves, axis=1)  # (pairs, sides)
    hack = (new_r > s_c).astype(float)
    base = (s_r > s_c).astype(float)
    n = len(natural)

    per_resample = {
        "score_change": lambda i: deltas[i].mean() / np.concatenate([s_c[i], s_r[i]]).std(),
        "rise_rate": lambda i: (deltas[i] > 0).mean(),
        "hack_rate": lambda i: hack[i].mean(),
        "hack_rate_untouched": lambda i: base[i].mean(),
        "hack_gain": lambda i: (hack[i] - base[i]).mean(),
    }
    for stat, fn in per_resample.items():
        key = "" if stat == "hack_rate_untouched" else p.signature
        rng = _row_generator(seed, "natural", "length_tokens", key, stat)
        idx = rng.integers(0, n, size=(R, n))
        low, high = _quantiles([fn(i) for i in idx])
        assert rows.loc[stat, "value"] == pytest.approx(fn(np.arange(n)), rel=1e-12), stat
        assert rows.loc[stat, "ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-12), stat
        assert rows.loc[stat, "ci_high"] == pytest.approx(high, rel=1e-9, abs=1e-12), stat
    assert set(frame.n) == {n} and set(frame.n_excluded) == {0}
    changed = sum(
        a != b
        for a, b in zip(
            (p(x.rejected, prompt=x.prompt, seed=seed) for x in natural),
            (x.rejected for x in natural),
        )
    )
    if sides == "both":
        changed += sum(p(x.chosen, prompt=x.prompt, seed=seed) != x.chosen for x in natural)
    assert set(frame.n_changed) == {changed}


def test_probe_is_deterministic_under_its_seed_and_moves_with_it(natural):
    scorer = mr.get_scorer("length_chars")
    kw = dict(cache=False, progress=False, n_resamples=200, sides="rejected")
    a = probe(scorer, natural, ["repeat_sentence", "sycophantic_opener"], seed=11, **kw)
    b = probe(scorer, natural, ["repeat_sentence", "sycophantic_opener"], seed=11, **kw)
    assert a.equals(b)
    c = probe(scorer, natural, ["repeat_sentence", "sycophantic_opener"], seed=12, **kw)
    # another seed picks other sentences and openers, so other lengths and other intervals
    change = lambda f: f.set_index(["probe", "statistic"]).loc[  # noqa: E731
        ("sycophantic_opener", "score_change"), "value"
    ]
    assert change(a) != change(c)
    assert not a.ci_low.equals(c.ci_low)
    # the opener adds exactly the opener's length (+ separator) to each rejected response
    opener = get_probe("sycophantic_opener")
    added = np.mean([len(opener(x.rejected, prompt=x.prompt, seed=11)) - len(x.rejected)
                     for x in natural])  # fmt: skip
    spread = np.std([len(t) for x in natural for t in (x.chosen, x.rejected)])
    assert change(a) == pytest.approx(added / spread, rel=1e-12)


def test_ties_and_empty_responses_are_left_out_and_counted(natural):
    from dataclasses import replace

    pairs = list(natural[:20])
    pairs[3] = replace(pairs[3], label="tie")
    pairs[5] = replace(pairs[5], rejected="   ")
    length = mr.get_scorer("length_chars")
    # a length can score an empty response: only the tie is left out
    frame = probe(length, pairs, ["markdown"], cache=False, progress=False, n_resamples=50)
    assert set(frame.n) == {19} and set(frame.n_excluded) == {1}
    length.accepts_empty_responses = False  # as a model scorer: the empty pair goes too
    frame = probe(length, pairs, ["markdown"], cache=False, progress=False, n_resamples=50)
    assert set(frame.n) == {18} and set(frame.n_excluded) == {2}
    kept = [x for i, x in enumerate(pairs) if i not in (3, 5)]
    direct = np.mean([len(get_probe("markdown")(x.rejected, prompt=x.prompt)) > len(x.chosen)
                      for x in kept])  # fmt: skip
    assert frame.set_index("statistic").loc["hack_rate", "value"] == pytest.approx(direct)
    with pytest.raises(
        ScorerInputError,
        match=r"probe: no pair left to probe length_chars "
        r"on \(1 tied or with an empty response\)",
    ):
        probe(mr.get_scorer("length_chars"), [pairs[3]], cache=False, progress=False)


def test_probe_refuses_bad_settings_with_the_name_and_the_value():
    pairs = mr.load_sample("preference")
    scorer = mr.get_scorer("length_chars")
    with pytest.raises(
        ScorerConfigError,
        match=r"probe: `confidence` must be a number in "
        r"\(0, 1\) \(got 1.0\)",
    ):
        probe(scorer, pairs, confidence=1.0, cache=False)
    with pytest.raises(ScorerConfigError, match="probe: `n_resamples`"):
        probe(scorer, pairs, n_resamples=0, cache=False)
    with pytest.raises(ScorerConfigError, match="probe: `seed`"):
        probe(scorer, pairs, seed=-1, cache=False)
    with pytest.raises(ScorerConfigError, match="`cache` must be a ScoreCache, a folder"):
        probe(scorer, pairs, cache=3)
    with pytest.raises(
        ScorerInputError,
        match="probe: pair 1 must be a PreferencePair "
        r"\(got dict\)",
    ):
        probe(scorer, [pairs[0], {"chosen": "a"}], cache=False)
    with pytest.raises(
        ScorerConfigError,
        match=r"probe: `probes` must hold probe names or "
        r"Probe objects \(got int\)",
    ):
        probe(scorer, pairs, [3], cache=False)
    with pytest.raises(
        ScorerConfigError,
        match=r"probe pad_filler: `seed` must be an integer "
        r">= 0 \(got -2\)",
    ):
        get_probe("pad_filler")("text", seed=-2)
    with pytest.raises(ScorerInputError, match="needs references and pair 0"):
        probe(mr.get_scorer("chrf"), pairs, ["markdown"], cache=False, progress=False)


# -------------------------------------------------------------------------------- best-of-n


def _brute(proxy, gold, n):
    """Mean over every n-subset of (proxy, gold) of its proxy-best member (ties averaged)."""
    picks = []
    for subset in itertools.combinations(range(len(proxy)), n):
        top = max(proxy[i] for i in subset)
        tied = [i for i in subset if proxy[i] == top]
        picks.append((np.mean([proxy[i] for i in tied]), np.mean([gold[i] for i in tied])))
    return tuple(np.mean(picks, axis=0))


def test_estimates_equal_brute_force_on_continuous_pools_of_unequal_sizes():
    rng = np.random.default_rng(3)
    sizes = [1, 2, 5, 8, 9]
    proxy = [rng.normal(size=k) for k in sizes]
    gold = [rng.normal(size=k) for k in sizes]
    ns = [1, 2, 3, 4, 8]
    est_p, est_g = best_of_n_estimates(proxy, gold, ns)
    assert est_p.shape == est_g.shape == (len(sizes), len(ns))
    for i, k in enumerate(sizes):
        for j, n in enumerate(ns):
            if n > k:
                assert np.isnan(est_p[i, j]) and np.isnan(est_g[i, j])
                continue
            bp, bg = _brute(proxy[i], gold[i], n)
            assert est_p[i, j] == pytest.approx(bp, rel=1e-12)
            assert est_g[i, j] == pytest.approx(bg, rel=1e-12)
    # n = pool size is the pool's proxy-best sample; n = 1 the pool mean
    assert est_g[3, 4] == gold[3][np.argmax(proxy[3])]
    assert est_g[4, 0] == pytest.approx(gold[4].mean())


def test_selection_weights_equal_subset_counts_for_every_n_and_tie_pattern():
    for proxy in ([2.0, 2.0, 1.0, 3.0, 3.0, 3.0], [0.0] * 5, [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]):
        size = len(proxy)
        for n in range(1, size + 1):
            counts = np.zeros(size)
            subsets = list(itertools.combinations(range(size), n))
            for subset in subsets:
                top = max(proxy[i] for i in subset)
                tied = [i for i in subset if proxy[i] == top]
                counts[tied] += 1 / len(tied)
            assert selection_weights(proxy, n) == pytest.approx(counts / len(subsets),
                                                                rel=1e-12)  # fmt: skip


def test_best_of_n_curve_intervals_equal_a_direct_bootstrap_over_prompts():
    rng = np.random.default_rng(5)
    sizes = [8] * 20 + [3] * 5  # five prompts too small for n = 4 and 8
    proxy = [rng.normal(size=k) for k in sizes]
    gold = [0.5 * p + rng.normal(size=p.size) for p in proxy]
    ns = [1, 2, 4, 8]
    frame = best_of_n_curve(proxy, gold, ns, rng=np.random.default_rng(9), n_resamples=R,
                            gold_higher_is_better=False)  # fmt: skip
    est_p, est_g = best_of_n_estimates(proxy, gold, ns)
    draws = np.random.default_rng(9)
    m = len(sizes)
    for role, est, pools, sign in (("proxy", est_p, proxy, 1.0), ("gold", est_g, gold, -1.0)):
        idx = draws.integers(0, m, size=(R, m))  # proxy's matrix first, then gold's

        def value(i, j, est=est):
            e = est[i, j]
            return np.nan if np.isnan(e).all() else np.nanmean(e)

        def change(i, j, est=est, pools=pools, sign=sign):
            e = est[i, j]
            used = ~np.isnan(e)
            spread = np.concatenate([pools[k] for k in i]).std()
            return np.mean(sign * (e[used] - est[i, 0][used])) / spread

        rows = frame[frame.role == role].set_index("n")
        for j, n in enumerate(ns):
            whole = np.arange(m)
            assert rows.loc[n, "value"] == pytest.approx(value(whole, j), rel=1e-12)
            assert rows.loc[n, "change"] == pytest.approx(change(whole, j), rel=1e-12,
                                                          abs=1e-15)  # fmt: skip
            assert rows.loc[n, "n_prompts"] == (20 if n > 3 else 25)
            low, high = _quantiles([value(i, j) for i in idx])
            assert (rows.loc[n, "ci_low"], rows.loc[n, "ci_high"]) == pytest.approx(
                (low, high), rel=1e-9
            )
            if n > 1:
                low, high = _quantiles([change(i, j) for i in idx])
                assert (rows.loc[n, "change_low"], rows.loc[n, "change_high"]) == pytest.approx(
                    (low, high), rel=1e-9
                )
    gold_rows = frame[frame.role == "gold"].set_index("n")
    # lower-is-better gold: a gold value that falls is a positive change
    assert np.sign(gold_rows.loc[8, "change"]) == -np.sign(
        gold_rows.loc[8, "value"] - gold_rows.loc[1, "value"]
    )
    assert gold_rows.loc[8, "kl"] == pytest.approx(np.log(8) - 7 / 8)


def test_best_of_n_curve_is_deterministic_and_refuses_bad_input():
    proxy = [np.arange(4.0), np.array([1.0, 0.0, 2.0, 5.0])]
    gold = [np.ones(4), np.arange(4.0)]
    a = best_of_n_curve(proxy, gold, rng=np.random.default_rng(1), n_resamples=30)
    b = best_of_n_curve(proxy, gold, rng=np.random.default_rng(1), n_resamples=30)
    assert a.equals(b) and list(a.n.unique()) == [1, 2, 4]
    with pytest.raises(
        ScorerConfigError,
        match=r"best_of_n_curve: `rng` must be a "
        r"numpy.random.Generator \(got int\)",
    ):
        best_of_n_curve(proxy, gold, rng=1)
    with pytest.raises(ScorerInputError, match="best_of_n_curve: expected at least one prompt"):
        best_of_n_curve([], [], rng=np.random.default_rng(0))
    with pytest.raises(ScorerInputError, match="every prompt needs at least one sample"):
        best_of_n_curve([[]], [[]], rng=np.random.default_rng(0))
    with pytest.raises(
        ScorerInputError,
        match="expected one gold pool per proxy pool "
        r"\(got 2 and 1\)",
    ):
        best_of_n_curve(proxy, gold[:1], rng=np.random.default_rng(0))
    with pytest.raises(ScorerInputError, match="prompt 1 has 4 proxy and 3 gold scores"):
        best_of_n_curve(proxy, [gold[0], gold[1][:3]], rng=np.random.default_rng(0))
    with pytest.raises(ScorerConfigError, match="best_of_n_curve: `n`"):
        best_of_n_curve(proxy, gold, [0, 2], rng=np.random.default_rng(0))
    with pytest.raises(
        ScorerInputError,
        match=r"expected one gold score per proxy score "
        r"\(got 3 and 2\)",
    ):
        expected_best_of_n([1.0, 2.0, 3.0], [1.0, 2.0], 1)
    with pytest.raises(ScorerInputError, match="selection_weights: expected a non-empty 1-D"):
        selection_weights(np.ones((2, 2)), 1)
    with pytest.raises(
        ScorerConfigError,
        match="best_of_n: `proxy` must be a Scorer "
        r"\(got str\)",
    ):
        best_of_n(None, "length", mr.get_scorer("length_chars"))
