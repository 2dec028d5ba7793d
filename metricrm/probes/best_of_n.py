"""Best-of-n over-optimisation: pick the best of n samples by a proxy, measure a gold scorer.

The policy's samples for one prompt are i.i.d.; best-of-n draws n of them and keeps the one
the proxy scores highest. From one pool of N >= n samples per prompt, the expected proxy and
gold values of that pick are estimated without bias by averaging over every n-subset of the
pool (a U-statistic), in closed form through order statistics: sort the pool by proxy; the
sample at rank i (1 = lowest) is the pick of a uniformly drawn n-subset with probability
C(i-1, n-1) / C(N, n). Samples that tie on the proxy share their block's probability
C(b, n) - C(a-1, n) over C(N, n) (ranks a..b) equally, which is a tie broken at random. The
same pool serves every n, instead of a fresh draw per n.

The x axis is the analytic KL divergence of the best-of-n policy from the sampling policy,
``log n - (n - 1) / n`` nats. Intervals are percentile bootstraps over prompts through
:mod:`metricrm.meta` (one set of prompt resamples per curve, so a curve's band is coherent).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.batching import score_in_chunks, score_with_cache
from ..core.cache import resolve_cache
from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.validation import check_integer, check_number
from ..core.versions import version_label
from ..meta.resampling import bootstrap_distribution, bootstrap_indices, percentile_interval
from ._statistics import RATIO, STANDARDISED

COLUMNS = (
    "pair", "role", "scorer", "n", "kl", "value", "ci_low", "ci_high", "change", "change_low",
    "change_high", "n_prompts", "signature", "run_signature",
)  # fmt: skip


def best_of_n_kl(n: Any) -> Any:
    """KL divergence (nats) of best-of-n sampling from the base policy: log n - (n - 1) / n."""
    arr = np.asarray(n, dtype=np.float64)
    if np.any(arr < 1) or np.any(arr != np.floor(arr)):
        raise ScorerConfigError(f"best_of_n_kl: `n` must be integers >= 1 (got {n!r})")
    out = np.log(arr) - (arr - 1.0) / arr
    return float(out) if out.ndim == 0 else out


def selection_weights(proxy: Any, n: int) -> np.ndarray:
    """Probability that each pool member is the best-of-n pick, for n members drawn without
    replacement from the pool and ties on the proxy broken at random. Sums to 1."""
    who = "selection_weights"
    values = np.asarray(proxy, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ScorerInputError(f"{who}: expected a non-empty 1-D pool of proxy scores")
    if not np.isfinite(values).all():
        i = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ScorerInputError(f"{who}: proxy score {i} is {values[i]}; expected a finite number")
    size = values.size
    check_integer(who, "n", n, minimum=1, maximum=size)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    weights = np.empty(size)
    total = math.comb(size, n)
    start = 0  # 0-based first index of the current tie block
    while start < size:
        stop = start
        while stop + 1 < size and ranked[stop + 1] == ranked[start]:
            stop += 1
        # ranks start+1 .. stop+1 (1-based): P(the subset's maximum lies in this block)
        mass = (math.comb(stop + 1, n) - math.comb(start, n)) / total
        weights[order[start : stop + 1]] = mass / (stop - start + 1)
        start = stop + 1
    return weights


def expected_best_of_n(proxy: Any, gold: Any, n: int) -> tuple[float, float]:
    """Unbiased estimates of the expected proxy and gold values of the best-of-n pick, from
    one pool (``proxy[i]``, ``gold[i]`` for sample i)."""
    g = np.asarray(gold, dtype=np.float64)
    p = np.asarray(proxy, dtype=np.float64)
    if g.shape != p.shape:
        raise ScorerInputError(
            f"expected_best_of_n: expected one gold score per proxy score "
            f"(got {p.shape[0] if p.ndim else 0} and {g.shape[0] if g.ndim else 0})"
        )
    w = selection_weights(p, n)
    return float(w @ p), float(w @ g)


def default_ns(max_n: int) -> list[int]:
    """1, 2, 4, ... up to ``max_n``."""
    return [2**k for k in range(int(math.log2(max_n)) + 1)]


def best_of_n_estimates(
    proxy_pools: Sequence[Any], gold_pools: Sequence[Any], ns: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt estimates ``(proxy, gold)``, each (n_prompts, len(ns)); NaN where a pool has
    fewer than n samples. Selection is by larger proxy (negate a lower-is-better proxy)."""
    if len(proxy_pools) != len(gold_pools):
        raise ScorerInputError(
            f"best_of_n_estimates: expected one gold pool per proxy pool "
            f"(got {len(proxy_pools)} and {len(gold_pools)})"
        )
    est_p = np.full((len(proxy_pools), len(ns)), np.nan)
    est_g = np.full_like(est_p, np.nan)
    for i, (p, g) in enumerate(zip(proxy_pools, gold_pools)):
        p, g = np.asarray(p, dtype=np.float64), np.asarray(g, dtype=np.float64)
        if p.shape != g.shape:
            raise ScorerInputError(
                f"best_of_n_estimates: prompt {i} has {p.size} proxy and {g.size} gold scores"
            )
        for j, n in enumerate(ns):
            if n <= p.size:
                w = selection_weights(p, n)
                est_p[i, j], est_g[i, j] = w @ p, w @ g
    return est_p, est_g


def _curve_rows(
    estimates: np.ndarray,
    pools: Sequence[np.ndarray],
    ns: Sequence[int],
    sign: float,
    idx: np.ndarray,
    confidence: float,
) -> list[dict[str, Any]]:
    """Value and change-from-n=1 (in spread units) per n, with intervals from ``idx``."""
    sums = np.array([np.sum(p) for p in pools])
    squares = np.array([np.sum(np.square(p)) for p in pools])
    sizes = np.array([p.size for p in pools], dtype=np.float64)
    rows = []
    for j, n in enumerate(ns):
        e = estimates[:, j]
        used = ~np.isnan(e)
        value_feats = np.stack([np.where(used, e, 0.0), used.astype(np.float64)], axis=1)
        delta = np.where(used, sign * (e - estimates[:, 0]), 0.0)
        change_feats = np.stack([delta, used, sums, squares, sizes], axis=1).astype(np.float64)
        out: dict[str, Any] = {"n": n, "kl": best_of_n_kl(n), "n_prompts": int(used.sum())}
        for key, stat, feats in (("value", RATIO, value_feats), ("change", STANDARDISED,
                                                                  change_feats)):  # fmt: skip
            dist = bootstrap_distribution(stat, [feats], idx)
            low, high = percentile_interval(dist, confidence)
            out[key] = float(stat(feats))
            out[f"{key}_low" if key == "change" else "ci_low"] = low
            out[f"{key}_high" if key == "change" else "ci_high"] = high
        rows.append(out)
    return rows


def best_of_n_curve(
    proxy_pools: Sequence[Any],
    gold_pools: Sequence[Any],
    ns: Sequence[int] | None = None,
    *,
    rng: np.random.Generator,
    proxy_higher_is_better: bool = True,
    gold_higher_is_better: bool = True,
    proxy_name: str = "proxy",
    gold_name: str = "gold",
    proxy_signature: str = "",
    gold_signature: str = "",
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> Any:
    """Expected proxy and gold values of the best-of-n pick for each n, averaged over prompts.

    ``proxy_pools[i]`` / ``gold_pools[i]``: the two scorers' values of prompt i's samples (same
    order). ``ns`` defaults to 1, 2, 4, ... up to the smallest pool. Returns a tidy frame
    (:data:`COLUMNS`): for each role (``proxy``, ``gold``) and n, the mean over prompts
    (``value``, in the scorer's units) and ``change``: the gain over n = 1 in units of the
    scorer's spread over all samples (positive = better by that scorer's own direction),
    each with a bootstrap interval over prompts. One (n_resamples, n_prompts) index matrix is
    drawn per role from ``rng``.
    """
    who = "best_of_n_curve"
    if not isinstance(rng, np.random.Generator):
        raise ScorerConfigError(
            f"{who}: `rng` must be a numpy.random.Generator (got {type(rng).__name__})"
        )
    check_integer(who, "n_resamples", n_resamples, minimum=1)
    check_number(who, "confidence", confidence, above=0.0, maximum=1.0)
    pools_p = [np.asarray(p, dtype=np.float64) for p in proxy_pools]
    pools_g = [np.asarray(g, dtype=np.float64) for g in gold_pools]
    if not pools_p:
        raise ScorerInputError(f"{who}: expected at least one prompt's pool (got none)")
    smallest = min(p.size for p in pools_p)
    if smallest == 0:
        raise ScorerInputError(f"{who}: every prompt needs at least one sample")
    ns = default_ns(smallest) if ns is None else [check_integer(who, "n", n, minimum=1) for n in ns]
    if 1 not in ns:
        ns = [1, *ns]
    ns = sorted(set(ns))
    sign_p = 1.0 if proxy_higher_is_better else -1.0
    est_p, est_g = best_of_n_estimates([sign_p * p for p in pools_p], pools_g, ns)
    est_p = sign_p * est_p  # back to the proxy's own units
    run_signature = (
        f"best_of_n|metricrm:{version_label('metricrm')}|n_resamples:{n_resamples}"
        f"|confidence:{confidence}"
    )
    rows = []
    for role, name, est, pools, sign, signature in (
        ("proxy", proxy_name, est_p, pools_p, sign_p, proxy_signature),
        ("gold", gold_name, est_g, pools_g, 1.0 if gold_higher_is_better else -1.0,
         gold_signature),
    ):  # fmt: skip
        idx = bootstrap_indices(len(pools), n_resamples, rng)
        for row in _curve_rows(est, pools, ns, sign, idx, confidence):
            rows.append(
                {"pair": f"{proxy_name} -> {gold_name}", "role": role, "scorer": name, **row,
                 "signature": signature, "run_signature": run_signature}
            )  # fmt: skip
    import pandas as pd

    return pd.DataFrame(rows, columns=list(COLUMNS))


def curve_rng(seed: int, proxy: str, gold: str) -> np.random.Generator:
    """The generator :func:`best_of_n` uses for one proxy/gold pair: from the seed and the two
    scorers' identities only."""
    return np.random.default_rng([seed, zlib.crc32(repr((proxy, gold)).encode("utf-8"))])


def _scores(scorer: Any, cache: Any, **inputs: Any) -> Any:
    """``scorer``'s scores of ``inputs`` (responses, prompts, ...; chunk and progress options)
    through the score cache, or without one when ``cache`` is None."""
    if cache is None:
        return score_in_chunks(scorer, **inputs).scores
    return score_with_cache(scorer, cache=cache, **inputs).scores


def best_of_n(
    pool: Any,
    proxy: Any,
    gold: Any,
    ns: Sequence[int] | None = None,
    *,
    seed: int = 0,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    cache: Any = None,
    chunk_size: int | None = None,
    progress: bool = True,
    proxy_label: str | None = None,
    gold_label: str | None = None,
) -> Any:
    """Best-of-n curves of ``proxy`` and ``gold`` (Scorers; given the prompts) on the samples
    of ``pool`` (a :class:`~metricrm.probes.sampling.SamplePool`).

    Every sample is scored by both scorers through the score cache (``cache``: a ScoreCache,
    a folder, None for the default folder, False for none). Empty samples are left out of
    the pools when either scorer cannot score an empty response. Returns the frame of
    :func:`best_of_n_curve`, with intervals from a generator seeded by ``seed`` and the two
    scorers' signatures.
    """
    who = "best_of_n"
    check_integer(who, "seed", seed, minimum=0)
    for role, scorer in (("proxy", proxy), ("gold", gold)):
        if not callable(getattr(scorer, "score", None)):
            raise ScorerConfigError(
                f"{who}: `{role}` must be a Scorer (got {type(scorer).__name__})"
            )
    prompts, responses, index = pool.flat()
    keep_empty = all(getattr(s, "accepts_empty_responses", False) for s in (proxy, gold))
    total = len(responses)
    keep = [i for i, r in enumerate(responses) if keep_empty or r.strip()]
    if not keep:
        raise ScorerInputError(f"{who}: every sample in the pool is empty")
    prompts = [prompts[i] for i in keep]
    responses = [responses[i] for i in keep]
    index = np.asarray([index[i] for i in keep])
    store = resolve_cache(cache, who)
    options = {"chunk_size": chunk_size, "progress": progress}
    values = {}
    for role, scorer in (("proxy", proxy), ("gold", gold)):
        values[role] = _scores(
            scorer, store, responses=responses, prompts=prompts, desc=role, **options
        )
    groups = [np.flatnonzero(index == i) for i in range(len(pool.prompts))]
    groups = [g for g in groups if g.size]
    names = {
        "proxy": proxy_label or getattr(proxy, "name", "proxy"),
        "gold": gold_label or getattr(gold, "name", "gold"),
    }
    frame = best_of_n_curve(
        [values["proxy"][g] for g in groups],
        [values["gold"][g] for g in groups],
        ns,
        rng=curve_rng(seed, proxy.signature, gold.signature),
        proxy_higher_is_better=bool(proxy.higher_is_better),
        gold_higher_is_better=bool(gold.higher_is_better),
        proxy_name=names["proxy"],
        gold_name=names["gold"],
        proxy_signature=proxy.signature,
        gold_signature=gold.signature,
        n_resamples=n_resamples,
        confidence=confidence,
    )
    frame["n_empty_dropped"] = total - len(keep)
    frame["sampler"] = pool.model
    return frame


def best_of_n_items(
    items: Sequence[Any],
    proxy: Any,
    gold: Any,
    ns: Sequence[int] | None = None,
    *,
    gold_higher_is_better: bool = True,
    seed: int = 0,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    cache: Any = None,
    chunk_size: int | None = None,
    progress: bool = True,
    proxy_label: str | None = None,
    gold_label: str | None = None,
) -> Any:
    """Best-of-n curves over pools of existing outputs: pointwise items grouped by ``group``
    (e.g. the translations of one source segment by many MT systems), each pool one group.

    Unlike :func:`best_of_n`, the scorers see every input of the items (references, sources,
    prompts), so a reference-based metric can be the proxy. ``gold`` is a Scorer or the name
    of a human judgment in ``item.human`` (``gold_higher_is_better`` gives its direction);
    items whose judgment is None are left out. The pool members are the items as given, not
    i.i.d. samples of one policy: the estimate is the expected value of the proxy's pick
    among n members drawn at random from the group. Returns the frame of
    :func:`best_of_n_curve`, with ``n_unscored_dropped``.
    """
    from ..core.batching import record_inputs
    from ..core.records import PointwiseItem

    who = "best_of_n_items"
    check_integer(who, "seed", seed, minimum=0)
    items = list(items)
    if not items:
        raise ScorerInputError(f"{who}: expected a non-empty list of PointwiseItem records")
    for i, it in enumerate(items):
        if not isinstance(it, PointwiseItem):
            raise ScorerInputError(
                f"{who}: item {i}: expected a PointwiseItem (got {type(it).__name__})"
            )
        if it.group is None:
            raise ScorerInputError(
                f"{who}: item {i} ({it.id or 'no id'}) has no `group`; the pools are the groups"
            )
    if not callable(getattr(proxy, "score", None)):
        raise ScorerConfigError(f"{who}: `proxy` must be a Scorer (got {type(proxy).__name__})")
    human = isinstance(gold, str)
    if not human and not callable(getattr(gold, "score", None)):
        raise ScorerConfigError(
            f"{who}: `gold` must be a Scorer or the name of a human judgment "
            f"(got {type(gold).__name__})"
        )
    total = len(items)
    if human:
        for i, it in enumerate(items):
            if gold not in it.human:
                raise ScorerInputError(
                    f"{who}: item {i} ({it.id or 'no id'}) has no human judgment {gold!r} "
                    f"(it has: {', '.join(it.human) or 'none'})"
                )
        items = [it for it in items if it.human[gold] is not None]
        if not items:
            raise ScorerInputError(f"{who}: no item has a human {gold!r} score")
    store = resolve_cache(cache, who)
    inputs = record_inputs(items, who=who)
    options = {"chunk_size": chunk_size, "progress": progress, **inputs}
    values = {}
    scorers = (("proxy", proxy),) if human else (("proxy", proxy), ("gold", gold))
    for role, scorer in scorers:
        values[role] = _scores(scorer, store, desc=role, **options)
    if human:
        values["gold"] = np.array([it.human[gold] for it in items], dtype=np.float64)
        gold_signature, gold_name = f"human:{gold}", gold
    else:
        gold_higher_is_better = bool(gold.higher_is_better)
        gold_signature, gold_name = gold.signature, getattr(gold, "name", "gold")
    groups: dict[Any, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.group, []).append(i)
    frame = best_of_n_curve(
        [np.asarray(values["proxy"])[g] for g in groups.values()],
        [np.asarray(values["gold"])[g] for g in groups.values()],
        ns,
        rng=curve_rng(seed, proxy.signature, gold_signature),
        proxy_higher_is_better=bool(proxy.higher_is_better),
        gold_higher_is_better=gold_higher_is_better,
        proxy_name=proxy_label or getattr(proxy, "name", "proxy"),
        gold_name=gold_label or gold_name,
        proxy_signature=proxy.signature,
        gold_signature=gold_signature,
        n_resamples=n_resamples,
        confidence=confidence,
    )
    frame["n_unscored_dropped"] = total - len(items)
    return frame
