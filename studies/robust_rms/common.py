"""Shared pieces of the robust-reward-model studies: data, seeded splits by prompt, outcomes
and their summaries. Public API only."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import metricrm as mr
from metricrm.training import prompt_key

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def group_of(pair) -> str:
    """What keeps pairs together in splits: the prompt (RM-Bench: domain and prompt id)."""
    if "prompt_id" in pair.meta:
        return f"{pair.subset}/{pair.meta['prompt_id']}"
    return prompt_key(pair.prompt)


def group_id(pair) -> str:
    """A short digest of :func:`group_of`: result files name prompts without copying them."""
    return hashlib.sha256(group_of(pair).encode()).hexdigest()[:12]


def usable(pairs: list) -> list:
    """Pairs with two non-empty responses and (HH-RLHF) one shared prompt."""
    return [
        p
        for p in pairs
        if p.label != "tie"
        and str(p.chosen).strip()
        and str(p.rejected).strip()
        and not p.meta.get("prompt_mismatch", False)
    ]


def load_preference(shared: Path, name: str) -> list:
    pref = shared / "preference"
    if name == "llmbar":
        return usable(mr.data.load_llmbar(pref / "llmbar"))
    if name == "hh-rlhf-harmless":
        return usable(mr.data.load_hh_rlhf(pref / "hh-rlhf" / "harmless-base_test.jsonl.gz"))
    if name == "evalbiasbench":
        return usable(mr.data.load_evalbiasbench(pref / "evalbiasbench" / "biasbench.json"))
    if name.startswith("rm-bench"):
        pairs = usable(mr.data.load_rm_bench(pref / "rm-bench"))
        domains = {
            "rm-bench": None,
            "rm-bench-safety": ("safety-refuse", "safety-response"),
            "rm-bench-chat": ("chat",),
            "rm-bench-code": ("code",),
        }[name]
        return pairs if domains is None else [p for p in pairs if p.subset in domains]
    raise ValueError(f"unknown dataset {name!r}")


def groups(pairs: list) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        out[group_of(p)].append(i)
    return out


def split_test(pairs: list, n_test: int, seed: int, *, unit: str = "pairs") -> tuple[list, list]:
    """Seeded (test, pool) split by prompt: whole prompts go to the test part until it holds
    ``n_test`` pairs (``unit="prompts"``: ``n_test`` prompts); the rest is the pool."""
    members = groups(pairs)
    keys = sorted(members)
    order = np.random.default_rng(seed).permutation(len(keys))
    test: list[int] = []
    taken = 0
    for j in order:
        if (taken if unit == "prompts" else len(test)) >= n_test:
            break
        test.extend(members[keys[j]])
        taken += 1
    chosen = set(test)
    return [pairs[i] for i in sorted(chosen)], [p for i, p in enumerate(pairs) if i not in chosen]


def nested_draw(pool: list, k_max: int, seed: int) -> list:
    """``k_max`` pairs from ``pool`` in a seeded order, one per prompt first (a random pair of
    each prompt), so the first k of the list are the k-shot examples for every k."""
    rng = np.random.default_rng(seed)
    members = groups(pool)
    keys = [sorted(members)[j] for j in rng.permutation(len(members))]
    order: list[int] = []
    rounds = [list(rng.permutation(members[k])) for k in keys]
    depth = 0
    while len(order) < min(k_max, len(pool)):
        for picks in rounds:
            if depth < len(picks):
                order.append(int(picks[depth]))
        depth += 1
    return [pool[i] for i in order[:k_max]]


def outcomes(scores: mr.PairScores) -> np.ndarray:
    return mr.meta.pairwise_outcomes(scores.chosen, scores.rejected, score_ties="half")


def interval(values: np.ndarray, prompts: list[str], seed: int, n_resamples: int):
    """Mean of per-pair values with a 95% bootstrap interval over prompts."""
    rng = np.random.default_rng(seed)
    return mr.meta.bootstrap(
        mr.meta.MEAN, np.asarray(values, float), rng=rng, n_resamples=n_resamples, groups=prompts
    )
