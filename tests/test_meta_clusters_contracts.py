"""Contracts of metricrm.meta.clusters found by mutation testing: clusters against a brute force
over random p-value matrices (every rule and boundary, NaN, p exactly alpha, ties in the
statistic), the result's fields, ``rank_scorers`` against its two steps run by hand, and every
error message of the module in full."""

from __future__ import annotations

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    MEAN,
    EarlyStopping,
    permutation_pvalue_matrix,
    rank_scorers,
    significance_clusters,
)
from metricrm.meta.clusters import ClusterResult, resolve_rule

from .contract_helpers import raises_exactly as _raises


def _brute_clusters(values, p, alpha, higher, rule, inclusive):
    """Clusters the slow way: sort by (statistic, input position), then walk the list keeping the
    current cluster's members and compare each new scorer with the head or with all of them."""
    k = len(values)
    key = [(-values[i] if higher else values[i], i) for i in range(k)]
    order = [i for _, i in sorted(key)]
    out, members, cluster = {}, [], 0
    for i in order:
        rivals = members[:1] if rule == "head" else members
        worse = any(
            (p[j][i] <= alpha if inclusive else p[j][i] < alpha) for j in rivals
        )  # NaN compares False
        if not members or worse:
            cluster, members = cluster + 1, []
        members.append(i)
        out[i] = cluster
    return order, [out[i] for i in order]


@pytest.mark.parametrize(
    "rule,boundary",
    [("wmt", None), ("any", None), ("any", "inclusive"), ("head", None), ("head", "inclusive")],
)
@pytest.mark.parametrize("higher", [True, False])
def test_clusters_match_a_brute_force_on_random_matrices(rule, boundary, higher):
    rng = np.random.default_rng(3)
    alpha = 0.1
    for _ in range(150):
        k = int(rng.integers(2, 8))
        values = rng.integers(0, 4, size=k).astype(float)  # ties in the statistic
        p = rng.choice([0.01, alpha, 0.5, np.nan], size=(k, k), p=[0.25, 0.25, 0.4, 0.1])
        names = [f"s{i}" for i in range(k)]
        r = significance_clusters(
            names, values, p, alpha=alpha, higher_is_better=higher, rule=rule, boundary=boundary
        )
        inclusive = rule == "wmt" or boundary == "inclusive"
        order, clusters = _brute_clusters(
            values.tolist(), p.tolist(), alpha, higher, rule, inclusive
        )
        assert r.names == [names[i] for i in order]
        assert r.clusters.tolist() == clusters
        np.testing.assert_array_equal(r.values, values[order])
        np.testing.assert_array_equal(r.pvalues, p[np.ix_(order, order)])


def test_result_fields_types_and_defaults():
    p = np.full((3, 3), 0.5)
    r = significance_clusters([3, 1, 2], [0.1, 0.3, 0.2], p, alpha=1)
    assert r.names == ["1", "2", "3"] and all(type(n) is str for n in r.names)
    assert (r.rule, r.boundary, r.alpha) == ("wmt", "inclusive", 1.0) and type(r.alpha) is float
    assert r.values.dtype == np.float64 and r.clusters.dtype.kind == "i"
    assert r.clusters.tolist() == [1, 2, 3]  # alpha 1 with p <= alpha: everyone alone
    d = r.as_dict()
    assert d == {"1": 1, "2": 2, "3": 3} and all(type(c) is int for c in d.values())
    head = significance_clusters(["a", "b"], [1.0, 0.0], p[:2, :2], rule="head", alpha=0.2)
    assert (head.rule, head.boundary, head.alpha) == ("head", "strict", 0.2)
    bare = ClusterResult(["a"], np.zeros(1), np.ones(1, dtype=int), np.full((1, 1), np.nan))
    assert (bare.rule, bare.boundary, bare.alpha) == ("wmt", "inclusive", 0.05)


def test_resolve_rule_defaults():
    assert resolve_rule("f", "wmt", None) == ("wmt", "inclusive")
    assert resolve_rule("f", "wmt", "inclusive") == ("wmt", "inclusive")
    assert resolve_rule("f", "any", None) == ("any", "strict")
    assert resolve_rule("f", "head", "inclusive") == ("head", "inclusive")


def _outcomes(seed: int = 5):
    rng = np.random.default_rng(seed)
    base = rng.random(300)
    return {
        "a": (base < 0.80).astype(float),
        "b": (base < 0.78).astype(float),
        "c": (rng.random(300) < 0.70).astype(float),
        "d": (rng.random(300) < 0.55).astype(float),
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_resamples": 199, "plus_one": False},
        {"standardize": True, "n_resamples": 150},
        {"higher_is_better": False, "n_resamples": 120},
        {"early_stopping": EarlyStopping(block=20, low=0.05, high=0.4), "n_resamples": 400},
    ],
)
@pytest.mark.parametrize("rule,boundary,alpha", [("wmt", None, 0.05), ("head", "inclusive", 0.3)])
def test_rank_scorers_is_the_pvalue_matrix_then_the_clusters(kwargs, rule, boundary, alpha):
    cands = _outcomes()
    values, p = permutation_pvalue_matrix(
        MEAN, list(cands.values()), rng=np.random.default_rng(8), **kwargs
    )
    expected = significance_clusters(
        list(cands),
        values,
        p,
        alpha=alpha,
        rule=rule,
        boundary=boundary,
        higher_is_better=kwargs.get("higher_is_better", True),
    )
    r = rank_scorers(
        MEAN,
        cands,
        rng=np.random.default_rng(8),
        alpha=alpha,
        rule=rule,
        boundary=boundary,
        **kwargs,
    )
    assert r.names == expected.names and r.clusters.tolist() == expected.clusters.tolist()
    np.testing.assert_array_equal(r.values, expected.values)
    np.testing.assert_array_equal(r.pvalues, expected.pvalues)
    assert (r.rule, r.boundary, r.alpha) == (expected.rule, expected.boundary, alpha)


def test_rank_scorers_passes_shared_arrays_to_the_statistic():
    cands = _outcomes()
    weights = np.linspace(0.0, 1.0, 300)

    def weighted(x, w):
        return float(np.sum(x * w) / np.sum(w))

    r = rank_scorers(weighted, cands, weights, rng=np.random.default_rng(1), n_resamples=50)
    got = dict(zip(r.names, r.values))
    for name, x in cands.items():
        assert got[name] == pytest.approx(weighted(x, weights), rel=1e-12)


def test_error_messages_in_full():
    p = np.full((2, 2), 0.5)
    with _raises(
        ScorerConfigError,
        "significance_clusters: rule='wmt' compares with p <= alpha (boundary='inclusive'); for "
        "p < alpha use rule='any' (got boundary='strict')",
    ):
        significance_clusters(["a", "b"], [1, 0], p, boundary="strict")
    with _raises(
        ScorerConfigError,
        "rank_scorers: rule='wmt' compares with p <= alpha (boundary='inclusive'); for "
        "p < alpha use rule='any' (got boundary='strict')",
    ):
        rank_scorers(MEAN, _outcomes(), rng=np.random.default_rng(0), boundary="strict")
    with _raises(
        ScorerConfigError,
        "significance_clusters: `rule` must be one of 'head', 'any', 'wmt' (got 'best')",
    ):
        significance_clusters(["a", "b"], [1, 0], p, rule="best")
    with _raises(
        ScorerConfigError,
        "rank_scorers: `boundary` must be one of 'strict', 'inclusive' (got 'open')",
    ):
        rank_scorers(MEAN, _outcomes(), rng=np.random.default_rng(0), rule="any", boundary="open")
    with _raises(ScorerConfigError, "rank_scorers: `alpha` must be a number in (0, 1] (got 0)"):
        rank_scorers(MEAN, _outcomes(), rng=np.random.default_rng(0), alpha=0)
    with _raises(
        ScorerConfigError, "significance_clusters: `alpha` must be a number in (0, 1] (got 1.01)"
    ):
        significance_clusters(["a", "b"], [1, 0], p, alpha=1.01)
    with _raises(
        ScorerInputError,
        "significance_clusters: expected 3 values and a (3, 3) p-value matrix "
        "(got 2 values and a (2, 2) matrix)",
    ):
        significance_clusters(["a", "b", "c"], [1, 0], p)
    with _raises(
        ScorerInputError,
        "significance_clusters: expected 2 values and a (2, 2) p-value matrix "
        "(got 2 values and a (2, 3) matrix)",
    ):
        significance_clusters(["a", "b"], [1, 0], np.full((2, 3), 0.5))
    with _raises(
        ScorerInputError, "significance_clusters: scorer names must be unique (got ['a', 'a'])"
    ):
        significance_clusters(["a", "a"], [1, 0], p)
    with _raises(
        ScorerInputError,
        "significance_clusters: `pvalues` has inf at index (0, 1) (1 such "
        "entries); expected a finite number or NaN (missing)",
    ):
        significance_clusters(["a", "b"], [1, 0], [[np.nan, np.inf], [0.5, np.nan]])
    with _raises(
        ScorerInputError,
        "significance_clusters: `values` has nan at index 1 (1 such entries); "
        "expected a finite number",
    ):
        significance_clusters(["a", "b"], [1, np.nan], p)
    cands = _outcomes()
    cands["b"] = np.zeros(300)
    cands["d"] = np.zeros(300)

    def undefined_for_zeros(x):
        return float("nan") if not x.any() else float(x.mean())

    with _raises(ScorerInputError, "rank_scorers: the statistic is undefined (NaN) for ['b', 'd']"):
        rank_scorers(undefined_for_zeros, cands, rng=np.random.default_rng(0), n_resamples=20)
