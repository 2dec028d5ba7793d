"""Splits of preference pairs that keep every pair of one prompt on the same side:
train / validation / test (:func:`split_by_prompt`) and k folds (:func:`kfold_by_prompt`).
Which prompts go where depends only on the set of prompts and the seed, not on pair order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
from ..core.records import PreferencePair
from ..core.validation import check_integer
from .pairs import check_pairs, prompt_key


def _shuffled_groups(pairs: Sequence[PreferencePair], seed: int) -> list[np.ndarray]:
    """Pair indices per prompt, groups in a seeded random order that ignores the input order."""
    members: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        members.setdefault(prompt_key(pair.prompt), []).append(i)
    keys = sorted(members)
    order = np.random.default_rng(seed).permutation(len(keys))
    return [np.asarray(members[keys[j]], dtype=np.int64) for j in order]


@dataclass(frozen=True)
class Split:
    """Pair indices (sorted) of each part of a split; prompts never cross parts."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def take(self, pairs: Sequence[Any], part: str) -> list:
        return [pairs[i] for i in getattr(self, part)]


def split_by_prompt(
    pairs: Sequence[PreferencePair],
    *,
    validation: float = 0.1,
    test: float = 0.0,
    seed: int = 0,
) -> Split:
    """Split pairs into train / validation / test so that no prompt appears in two parts.

    Prompts are shuffled with ``seed`` (from their sorted keys, so the input order does not
    matter); whole prompts go to the test part until it holds at least ``round(test * n)``
    pairs, then to validation likewise, and the rest to train. A non-zero fraction always gets
    at least one prompt; train must keep at least one.
    """
    who = "split_by_prompt"
    pairs = check_pairs(who, pairs)
    seed = check_integer(who, "seed", seed, minimum=0)
    for name, frac in (("validation", validation), ("test", test)):
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac < 1:
            raise ScorerConfigError(f"{who}: `{name}` must be a fraction in [0, 1) (got {frac!r})")
    groups = _shuffled_groups(pairs, seed)
    n = len(pairs)
    parts: dict[str, list[int]] = {"test": [], "validation": [], "train": []}
    g = 0
    for part, frac in (("test", test), ("validation", validation)):
        target = max(1, round(frac * n)) if frac > 0 else 0
        while g < len(groups) and len(parts[part]) < target:
            parts[part].extend(groups[g].tolist())
            g += 1
    for rest in groups[g:]:
        parts["train"].extend(rest.tolist())
    if not parts["train"]:
        raise ScorerConfigError(
            f"{who}: no prompt left for training ({n} pairs in {len(groups)} prompts, "
            f"validation={validation}, test={test}); use smaller fractions or more data"
        )
    return Split(**{k: np.asarray(sorted(v), dtype=np.int64) for k, v in parts.items()})


def kfold_by_prompt(
    pairs: Sequence[PreferencePair], k: int = 5, *, seed: int = 0
) -> list[np.ndarray]:
    """``k`` disjoint folds of pair indices (each sorted) covering every pair; all pairs of one
    prompt fall in the same fold.

    Prompts are shuffled with ``seed`` (independently of the input order) and each goes to the
    fold that currently holds the fewest pairs (lowest fold number on ties), so folds are
    balanced in pairs even when prompts have different numbers of pairs.
    """
    who = "kfold_by_prompt"
    pairs = check_pairs(who, pairs)
    k = check_integer(who, "k", k, minimum=2)
    seed = check_integer(who, "seed", seed, minimum=0)
    groups = _shuffled_groups(pairs, seed)
    if len(groups) < k:
        raise ScorerConfigError(
            f"{who}: cannot make {k} folds from {len(groups)} distinct prompts "
            f"({len(pairs)} pairs); use a smaller k"
        )
    folds: list[list[int]] = [[] for _ in range(k)]
    for members in groups:
        smallest = min(range(k), key=lambda f: (len(folds[f]), f))
        folds[smallest].extend(members.tolist())
    return [np.asarray(sorted(f), dtype=np.int64) for f in folds]
