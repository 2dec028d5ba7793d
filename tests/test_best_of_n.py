"""Best-of-n: the estimator equals brute-force expectations on small exact cases; samples are
seeded, stored on disk, reused and resumed after an interrupt."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.probes import (
    best_of_n,
    best_of_n_curve,
    best_of_n_kl,
    expected_best_of_n,
    sample_responses,
    selection_weights,
)


def _brute_subsets(proxy, gold, n):
    """Average over every n-subset of the pool of the gold value of its proxy-best member
    (ties on the proxy: the average over the tied members, i.e. a random tie-break)."""
    values = []
    for subset in itertools.combinations(range(len(proxy)), n):
        top = max(proxy[i] for i in subset)
        tied = [gold[i] for i in subset if proxy[i] == top]
        values.append(sum(tied) / len(tied))
    return sum(values) / len(values)


@pytest.mark.parametrize("seed", range(6))
def test_estimator_equals_the_average_over_every_subset(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(3, 9))
    proxy = rng.integers(0, 4, size).astype(float)  # many ties
    gold = rng.normal(size=size)
    for n in range(1, size + 1):
        got = expected_best_of_n(proxy, gold, n)
        assert got[1] == pytest.approx(_brute_subsets(proxy, gold, n), rel=1e-12, abs=1e-12)
        assert got[0] == pytest.approx(_brute_subsets(proxy, proxy, n), rel=1e-12, abs=1e-12)


def test_estimator_is_unbiased_for_iid_best_of_n():
    """Over every pool of N i.i.d. draws from a three-point distribution (weighted by its
    probability), the estimate's mean is the exact expected gold value of best-of-n under
    i.i.d. sampling, computed by enumerating every n-tuple of draws."""
    atoms = [(0.0, 1.0, 0.5), (1.0, -2.0, 0.3), (1.0, 4.0, 0.2)]  # (proxy, gold, probability)
    pool_size = 5

    def exact(n):
        total = 0.0
        for draw in itertools.product(range(3), repeat=n):
            prob = math.prod(atoms[a][2] for a in draw)
            top = max(atoms[a][0] for a in draw)
            tied = [atoms[a][1] for a in draw if atoms[a][0] == top]
            total += prob * sum(tied) / len(tied)
        return total

    for n in range(1, pool_size + 1):
        mean = 0.0
        for pool in itertools.product(range(3), repeat=pool_size):
            prob = math.prod(atoms[a][2] for a in pool)
            proxy = [atoms[a][0] for a in pool]
            gold = [atoms[a][1] for a in pool]
            mean += prob * expected_best_of_n(proxy, gold, n)[1]
        assert mean == pytest.approx(exact(n), rel=1e-12), n


def test_selection_weights_edge_cases():
    proxy = np.array([3.0, 1.0, 2.0, 5.0])
    assert selection_weights(proxy, 1) == pytest.approx(np.full(4, 0.25))
    assert selection_weights(proxy, 4) == pytest.approx([0, 0, 0, 1])
    # rank i of N is the pick with probability C(i-1, n-1) / C(N, n): N=4, n=2 -> 0, 1, 2, 3 / 6
    assert selection_weights(proxy, 2) == pytest.approx([2 / 6, 0, 1 / 6, 3 / 6])
    tied = selection_weights(np.array([1.0, 1.0, 1.0]), 2)
    assert tied == pytest.approx(np.full(3, 1 / 3))
    for n in range(1, 65):
        assert selection_weights(np.arange(64.0), n).sum() == pytest.approx(1.0)
    with pytest.raises(ScorerConfigError, match=r"`n` must be an integer in \[1, 4\]"):
        selection_weights(proxy, 5)
    with pytest.raises(ScorerInputError, match="proxy score 1 is nan"):
        selection_weights([1.0, np.nan], 1)


def test_kl_formula():
    assert best_of_n_kl(1) == 0.0
    assert best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    assert best_of_n_kl(np.array([4, 64])) == pytest.approx(
        [math.log(4) - 3 / 4, math.log(64) - 63 / 64]
    )
    with pytest.raises(ScorerConfigError):
        best_of_n_kl(0)


def test_curve_averages_prompts_and_brackets_with_intervals():
    rng = np.random.default_rng(0)
    proxy = [rng.normal(size=8) for _ in range(30)]
    gold = [p + rng.normal(size=8) for p in proxy]
    frame = best_of_n_curve(proxy, gold, rng=np.random.default_rng(1), n_resamples=300)
    assert list(frame.n.unique()) == [1, 2, 4, 8]
    for role, pools in (("proxy", proxy), ("gold", gold)):
        rows = frame[frame.role == role].set_index("n")
        for n in (1, 2, 4, 8):
            direct = np.mean([expected_best_of_n(p, g, n)[0 if role == "proxy" else 1]
                              for p, g in zip(proxy, gold)])  # fmt: skip
            assert rows.loc[n, "value"] == pytest.approx(direct)
            assert rows.loc[n, "ci_low"] <= rows.loc[n, "value"] <= rows.loc[n, "ci_high"]
        spread = np.concatenate(pools).std()
        assert rows.loc[8, "change"] == pytest.approx(
            (rows.loc[8, "value"] - rows.loc[1, "value"]) / spread
        )
        assert rows.loc[1, "change"] == 0.0
    assert (frame[frame.role == "proxy"].value.diff().dropna() > 0).all()
    # a lower-is-better proxy picks the smallest value
    low = best_of_n_curve(proxy, gold, [4], rng=np.random.default_rng(1), n_resamples=50,
                          proxy_higher_is_better=False)  # fmt: skip
    direct = np.mean([expected_best_of_n(-p, g, 4)[1] for p, g in zip(proxy, gold)])
    assert low.set_index(["role", "n"]).loc[("gold", 4), "value"] == pytest.approx(direct)


def test_curve_skips_prompts_with_too_few_samples():
    proxy = [np.arange(4.0), np.arange(2.0)]
    gold = [np.arange(4.0), np.arange(2.0) * 10]
    frame = best_of_n_curve(proxy, gold, [1, 2, 4], rng=np.random.default_rng(0), n_resamples=20)
    rows = frame[frame.role == "gold"].set_index("n")
    assert rows.loc[4, "n_prompts"] == 1 and rows.loc[4, "value"] == 3.0
    assert rows.loc[2, "value"] == pytest.approx((expected_best_of_n(proxy[0], gold[0], 2)[1]
                                                  + 10.0) / 2)  # fmt: skip


# ---------------------------------------------------------------------------------- sampling

PROMPTS = ["Say something about cats.", [{"role": "user", "content": "Name a colour."}]]


@pytest.fixture(scope="module")
def tiny_lm():
    pytest.importorskip("torch")
    from .model_fixtures import tiny_causal_lm_path

    return tiny_causal_lm_path()


def test_samples_are_seeded_and_independent_of_the_other_prompts(tiny_lm, tmp_path):
    kw = dict(max_new_tokens=6, block_size=3, progress=False)
    a = sample_responses(tiny_lm, PROMPTS, 5, store=tmp_path / "a", **kw)
    b = sample_responses(tiny_lm, PROMPTS[::-1], 5, store=tmp_path / "b", **kw)
    assert a.texts == b.texts[::-1]
    assert [len(t) for t in a.texts] == [5, 5] and a.generated == 12  # 2 blocks of 3 each
    c = sample_responses(tiny_lm, PROMPTS, 5, store=tmp_path / "c", seed=1, **kw)
    assert c.texts != a.texts
    assert len({t for texts in a.texts for t in texts}) > 6  # samples differ within a prompt
    assert all(0 < k <= 6 for row in a.n_tokens for k in row)


def test_samples_are_reused_and_extended_from_the_store(tiny_lm, tmp_path):
    kw = dict(max_new_tokens=6, block_size=2, progress=False, store=tmp_path)
    first = sample_responses(tiny_lm, PROMPTS[:1], 4, **kw)
    again = sample_responses(tiny_lm, PROMPTS[:1], 4, **kw)
    assert again.generated == 0 and again.texts == first.texts
    more = sample_responses(tiny_lm, PROMPTS[:1], 6, **kw)
    assert more.generated == 2 and more.texts[0][:4] == first.texts[0]


def test_sampling_resumes_after_an_interrupt(tiny_lm, tmp_path, monkeypatch):
    from metricrm.probes import sampling

    kw = dict(max_new_tokens=6, block_size=2, progress=False)
    whole = sample_responses(tiny_lm, PROMPTS, 6, store=tmp_path / "whole", **kw)
    real_block = sampling._Generator.block
    calls = {"n": 0}

    def interrupted(self, ids, seed):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_block(self, ids, seed)

    monkeypatch.setattr(sampling._Generator, "block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample_responses(tiny_lm, PROMPTS, 6, store=tmp_path / "cut", **kw)
    monkeypatch.setattr(sampling._Generator, "block", real_block)
    path = next((tmp_path / "cut").glob("*.jsonl"))
    assert len(path.read_text().splitlines()) == 2  # the two finished blocks were kept
    with open(path, "a") as f:
        f.write('{"prompt": "cut sho')  # a line a kill left half-written
    resumed = sample_responses(tiny_lm, PROMPTS, 6, store=tmp_path / "cut", **kw)
    assert resumed.generated == 8  # 6 blocks in all, 2 on disk
    assert resumed.texts == whole.texts
    assert len(path.read_text().splitlines()) == 6


def test_sampling_shows_a_progress_bar(tiny_lm, tmp_path, capsys):
    sample_responses(tiny_lm, PROMPTS[:1], 2, store=tmp_path, max_new_tokens=4, block_size=1)
    assert "sampling" in capsys.readouterr().err


def test_sampling_settings_are_checked(tiny_lm, tmp_path):
    with pytest.raises(ScorerConfigError, match="sample_responses: unknown setting"):
        sample_responses(tiny_lm, PROMPTS, 2, store=tmp_path, temprature=0.7)
    with pytest.raises(ScorerConfigError, match="`top_p` must be a number"):
        sample_responses(tiny_lm, PROMPTS, 2, store=tmp_path, top_p=1.5)
    with pytest.raises(ScorerInputError, match="non-empty list of prompts"):
        sample_responses(tiny_lm, [], 2, store=tmp_path)


def test_best_of_n_scores_a_pool_through_the_cache(tiny_lm, tmp_path):
    pool = sample_responses(tiny_lm, PROMPTS, 8, store=tmp_path / "s", max_new_tokens=8,
                            block_size=4, progress=False)  # fmt: skip
    proxy, gold = mr.get_scorer("length_chars"), mr.get_scorer("length_tokens")
    cache = mr.ScoreCache(tmp_path / "cache")
    frame = best_of_n(pool, proxy, gold, seed=0, n_resamples=50, cache=cache, progress=False)
    assert list(frame.n.unique()) == [1, 2, 4, 8]
    assert cache.count(proxy.signature) == len({t for ts in pool.texts for t in ts})
    p = [proxy.score(t).scores for t in pool.texts]
    g = [gold.score(t).scores for t in pool.texts]
    rows = frame.set_index(["role", "n"])
    for n in (1, 2, 4, 8):
        want = np.mean([expected_best_of_n(a, b, n)[1] for a, b in zip(p, g)])
        assert rows.loc[("gold", n), "value"] == pytest.approx(want)
    assert set(frame.pair) == {"length_chars -> length_tokens"}
    assert frame.equals(best_of_n(pool, proxy, gold, seed=0, n_resamples=50, cache=cache,
                                  progress=False))  # fmt: skip
