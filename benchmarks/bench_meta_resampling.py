"""Vectorised bootstrap and permutation tests against straightforward per-resample Python loops.

Run from the repository root:

    python benchmarks/bench_meta_resampling.py

Data are synthetic, generated with a seeded numpy Generator so every run sees the same input:

- 20,000 preference pairs with chrF-like scores (0-100, one decimal, so some exact ties) for two
  scorers; the statistic is pairwise accuracy (ties earn 0.5).
- 15 systems x 1,000 segments of MQM-like human scores (mostly 0, a tail of penalties) and two
  metrics correlated with them; the statistic is system-level Pearson over resampled segments.

Each case does 1,000 resamples. "vectorised (indices)" is metricrm.meta's default: the
resamples are the rows of one (1,000, n) index / swap-mask matrix and the statistic is evaluated
for blocks of resamples per numpy call. "vectorised (counts)" (accuracy only) draws how often
each distinct outcome is picked (multinomial) or swapped (binomial) instead: the same
distribution with other draws. "loop" draws one resample at a time and computes the statistic
with the function a user would call (pairwise_accuracy / scipy.stats.pearsonr on system means);
"lean loop" is the tightest numpy loop we could write for the same statistic. Times are the best
of 3 runs; peak memory is measured in a separate run under tracemalloc. Multi-threaded BLAS on a
busy machine slows the matrix products a lot: OPENBLAS_NUM_THREADS=1 gives steadier numbers.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy import stats

from metricrm.meta import (
    MEAN,
    bootstrap,
    paired_permutation_test,
    pairwise_accuracy,
    pairwise_outcomes,
    system_level,
)

N_PAIRS = 20_000
N_SYSTEMS, N_SEGMENTS = 15, 1_000
B = 1_000
SEED = 2024


def make_pairs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    quality = rng.normal(0.0, 1.0, N_PAIRS)  # how much better the chosen response really is

    def scorer(noise: float) -> tuple[np.ndarray, np.ndarray]:
        base = rng.normal(55.0, 12.0, N_PAIRS)
        chosen = np.clip(base + 4.0 * quality + rng.normal(0, noise, N_PAIRS), 0, 100).round(1)
        rejected = np.clip(base + rng.normal(0, noise, N_PAIRS), 0, 100).round(1)
        return chosen, rejected

    ca, ra = scorer(6.0)
    cb, rb = scorer(9.0)
    return {"ca": ca, "ra": ra, "cb": cb, "rb": rb}


def make_matrix(rng: np.random.Generator) -> dict[str, np.ndarray]:
    skill = rng.normal(0.0, 0.6, (N_SYSTEMS, 1))
    errors = rng.poisson(np.exp(0.2 - skill) * np.ones((1, N_SEGMENTS)))
    human = -(errors * rng.choice([1.0, 5.0], size=errors.shape, p=[0.8, 0.2]))
    metric_a = 0.02 * human + rng.normal(0.8, 0.08, human.shape)
    metric_b = 0.01 * human + rng.normal(0.8, 0.10, human.shape)
    return {"H": human, "A": metric_a, "B": metric_b}


# ----------------------------------------------------------------------------------- the cases


def vec_boot_pairs(d):
    o = pairwise_outcomes(d["ca"], d["ra"])
    return bootstrap(MEAN, o, rng=np.random.default_rng(SEED), n_resamples=B).distribution


def counts_boot_pairs(d):
    o = pairwise_outcomes(d["ca"], d["ra"])
    return bootstrap(
        MEAN, o, rng=np.random.default_rng(SEED), n_resamples=B, method="counts"
    ).distribution


def loop_boot_pairs(d):
    rng = np.random.default_rng(SEED)
    out = np.empty(B)
    for b in range(B):
        idx = rng.integers(0, N_PAIRS, N_PAIRS)
        out[b] = pairwise_accuracy(d["ca"][idx], d["ra"][idx]).value
    return out


def lean_boot_pairs(d):
    rng = np.random.default_rng(SEED)
    o = pairwise_outcomes(d["ca"], d["ra"])
    return np.array([o[rng.integers(0, N_PAIRS, N_PAIRS)].mean() for _ in range(B)])


def vec_perm_pairs(d):
    oa, ob = pairwise_outcomes(d["ca"], d["ra"]), pairwise_outcomes(d["cb"], d["rb"])
    return paired_permutation_test(
        MEAN, oa, ob, rng=np.random.default_rng(SEED), n_resamples=B
    ).distribution


def counts_perm_pairs(d):
    oa, ob = pairwise_outcomes(d["ca"], d["ra"]), pairwise_outcomes(d["cb"], d["rb"])
    r = paired_permutation_test(
        MEAN, oa, ob, rng=np.random.default_rng(SEED), n_resamples=B, method="counts"
    )
    return r.distribution


def loop_perm_pairs(d):
    rng = np.random.default_rng(SEED)
    out = np.empty(B)
    for b in range(B):
        swap = rng.integers(0, 2, N_PAIRS).astype(bool)
        ca, ra = np.where(swap, d["cb"], d["ca"]), np.where(swap, d["rb"], d["ra"])
        cb, rb = np.where(swap, d["ca"], d["cb"]), np.where(swap, d["ra"], d["rb"])
        out[b] = pairwise_accuracy(ca, ra).value - pairwise_accuracy(cb, rb).value
    return out


def lean_perm_pairs(d):
    rng = np.random.default_rng(SEED)
    oa, ob = pairwise_outcomes(d["ca"], d["ra"]), pairwise_outcomes(d["cb"], d["rb"])
    out = np.empty(B)
    for b in range(B):
        swap = rng.integers(0, 2, N_PAIRS).astype(bool)
        out[b] = np.where(swap, ob, oa).mean() - np.where(swap, oa, ob).mean()
    return out


SYS_PEARSON = system_level("pearson")


def vec_boot_sys(d):
    return bootstrap(
        SYS_PEARSON, d["A"].T, d["H"].T, rng=np.random.default_rng(SEED), n_resamples=B
    ).distribution


def loop_boot_sys(d):
    rng = np.random.default_rng(SEED)
    out = np.empty(B)
    for b in range(B):
        idx = rng.integers(0, N_SEGMENTS, N_SEGMENTS)
        out[b] = stats.pearsonr(d["H"][:, idx].mean(axis=1), d["A"][:, idx].mean(axis=1)).statistic
    return out


def lean_boot_sys(d):
    rng = np.random.default_rng(SEED)
    out = np.empty(B)
    for b in range(B):
        idx = rng.integers(0, N_SEGMENTS, N_SEGMENTS)
        out[b] = np.corrcoef(d["H"][:, idx].mean(axis=1), d["A"][:, idx].mean(axis=1))[0, 1]
    return out


def vec_perm_sys(d):
    r = paired_permutation_test(
        SYS_PEARSON, d["A"].T, d["B"].T, d["H"].T, rng=np.random.default_rng(SEED), n_resamples=B
    )
    return r.distribution


def loop_perm_sys(d):
    rng = np.random.default_rng(SEED)
    sys_h = d["H"].mean(axis=1)
    out = np.empty(B)
    for b in range(B):
        swap = rng.integers(0, 2, N_SEGMENTS).astype(bool)
        a, bb = np.where(swap, d["B"], d["A"]), np.where(swap, d["A"], d["B"])
        out[b] = (
            stats.pearsonr(sys_h, a.mean(axis=1)).statistic
            - stats.pearsonr(sys_h, bb.mean(axis=1)).statistic
        )
    return out


def lean_perm_sys(d):
    rng = np.random.default_rng(SEED)
    sys_h = d["H"].mean(axis=1)
    out = np.empty(B)
    for b in range(B):
        swap = rng.integers(0, 2, N_SEGMENTS).astype(bool)
        a, bb = np.where(swap, d["B"], d["A"]), np.where(swap, d["A"], d["B"])
        out[b] = (
            np.corrcoef(sys_h, a.mean(axis=1))[0, 1] - np.corrcoef(sys_h, bb.mean(axis=1))[0, 1]
        )
    return out


# ------------------------------------------------------------------------------------- harness


def best_time(fn: Callable, data: dict, repeats: int = 3) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn(data)
        best = min(best, time.perf_counter() - t0)
    return best, result


def peak_mib(fn: Callable, data: dict) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    gen = np.random.default_rng(SEED)
    pairs, matrix = make_pairs(gen), make_matrix(gen)
    cases = [
        (
            "bootstrap, accuracy, 20,000 pairs",
            pairs,
            vec_boot_pairs,
            counts_boot_pairs,
            loop_boot_pairs,
            lean_boot_pairs,
        ),
        (
            "permutation, accuracy, 20,000 pairs",
            pairs,
            vec_perm_pairs,
            counts_perm_pairs,
            loop_perm_pairs,
            lean_perm_pairs,
        ),
        (
            "bootstrap, system Pearson, 15 x 1,000",
            matrix,
            vec_boot_sys,
            None,
            loop_boot_sys,
            lean_boot_sys,
        ),
        (
            "permutation, system Pearson, 15 x 1,000",
            matrix,
            vec_perm_sys,
            None,
            loop_perm_sys,
            lean_perm_sys,
        ),
    ]
    print(
        f"{B} resamples per run; numpy {np.__version__}; "
        "time = best of 3; memory = tracemalloc peak"
    )
    head = (
        f"{'case':<40} {'implementation':<22} {'seconds':>8} {'loop / this':>11} "
        f"{'peak MiB':>9} {'sd of results':>13}"
    )
    print(head)
    print("-" * len(head))
    for name, data, vec, counts, loop, lean in cases:
        t_loop, d_loop = best_time(loop, data)
        rows = [
            ("vectorised (indices)", vec),
            ("vectorised (counts)", counts),
            ("loop", loop),
            ("lean loop", lean),
        ]
        for label, fn in rows:
            if fn is None:
                continue
            t, d = (t_loop, d_loop) if fn is loop else best_time(fn, data)
            print(
                f"{name:<40} {label:<22} {t:>8.4f} {t_loop / t:>10.1f}x "
                f"{peak_mib(fn, data):>9.1f} {np.std(d):>13.5f}"
            )
            name = ""


if __name__ == "__main__":
    main()
