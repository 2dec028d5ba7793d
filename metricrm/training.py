"""Shared pieces for training reward models on preference pairs.

- Splits that keep every pair of one prompt on the same side: :func:`split_by_prompt`
  (train / validation / test) and :func:`kfold_by_prompt` (k folds). Which prompts go where
  depends only on the set of prompts and the seed, not on the order of the pairs.
- The Bradley-Terry loss :func:`bt_loss` (``-log sigmoid(r_chosen - r_rejected)``; a human tie
  has target 0.5) and :func:`pair_targets`.
- :class:`EarlyStopping` and :class:`TrainingHistory` for the training loops.
- :func:`pairs_digest`: a hash of the training data, saved with a trained model.
- :func:`check_pairs`: the one input check every trainer runs on its pairs.

torch is imported inside :func:`bt_loss` only.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from .core.errors import ScorerConfigError
from .core.records import PreferencePair, Text, response_text

TIE_POLICIES = ("half", "exclude")


def prompt_key(prompt: Text | None) -> str:
    """A canonical string for a prompt: the text itself, or the chat messages as JSON."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    return json.dumps([[str(m["role"]), str(m["content"])] for m in prompt], ensure_ascii=False)


def prompt_groups(pairs: Sequence[PreferencePair]) -> np.ndarray:
    """Group id per pair: pairs with the same prompt share an id (ids in first-seen order)."""
    ids: dict[str, int] = {}
    return np.asarray(
        [ids.setdefault(prompt_key(p.prompt), len(ids)) for p in pairs], dtype=np.int64
    )


def _check_int(who: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ScorerConfigError(f"{who}: `{name}` must be an integer >= {low} (got {value!r})")
    return int(value)


def check_pairs(
    who: str, pairs: Any, what: str = "pairs", *, allow_empty: bool = True
) -> list[PreferencePair]:
    """``pairs`` as a list, refusing anything that is not a sequence of PreferencePair records."""
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__len__"):
        raise ScorerConfigError(
            f"{who}: expected `{what}` to be a list of PreferencePair (got {type(pairs).__name__})"
        )
    pairs = list(pairs)
    for i, pair in enumerate(pairs):
        if not isinstance(pair, PreferencePair):
            raise ScorerConfigError(
                f"{who}: {what} item {i} is a {type(pair).__name__}; expected a PreferencePair"
            )
    if not pairs and not allow_empty:
        raise ScorerConfigError(f"{who}: expected at least one pair in `{what}` (got none)")
    return pairs


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
    seed = _check_int(who, "seed", seed, 0)
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
    k = _check_int(who, "k", k, 2)
    seed = _check_int(who, "seed", seed, 0)
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


def pair_targets(
    pairs: Sequence[PreferencePair], ties: str = "half", *, who: str = "bt"
) -> np.ndarray:
    """Bradley-Terry target per pair: 1.0 (chosen is better), 0.5 (human tie, ``ties="half"``)
    or NaN (human tie, ``ties="exclude"``; the caller drops those pairs and reports how many)."""
    if ties not in TIE_POLICIES:
        raise ScorerConfigError(
            f"{who}: ties must be one of {', '.join(TIE_POLICIES)} (got {ties!r})"
        )
    tie = 0.5 if ties == "half" else math.nan
    return np.asarray([tie if p.label == "tie" else 1.0 for p in pairs], dtype=np.float64)


def bt_loss(chosen: Any, rejected: Any, targets: Any = None) -> Any:
    """Mean Bradley-Terry loss of torch reward tensors.

    With target ``t`` per pair (1 when chosen is better, 0.5 for a tie) the loss is
    ``t * softplus(-d) + (1 - t) * softplus(d)`` with ``d = r_chosen - r_rejected``, i.e. the
    binary cross-entropy of ``sigmoid(d)`` against ``t``; ``t = 1`` gives ``-log sigmoid(d)``.
    """
    import torch.nn.functional as F

    diff = chosen - rejected
    if targets is None:
        return F.softplus(-diff).mean()
    return (targets * F.softplus(-diff) + (1.0 - targets) * F.softplus(diff)).mean()


def pair_accuracy(chosen: np.ndarray, rejected: np.ndarray, targets: np.ndarray) -> float:
    """Share of non-tie pairs (target 1) where chosen scores higher; an exact score tie counts
    half. NaN when every pair is a tie."""
    from .meta import pairwise_outcomes

    outcomes = pairwise_outcomes(chosen, rejected, human_ties=np.asarray(targets) != 1.0)
    return float(np.nanmean(outcomes)) if np.isfinite(outcomes).any() else math.nan


class EarlyStopping:
    """Tracks a monitored value per epoch and says when it stopped improving for ``patience``
    epochs. ``mode="min"`` for a loss, ``"max"`` for an accuracy; an improvement must beat the
    best value by more than ``min_delta``."""

    def __init__(self, patience: int, *, mode: str = "min", min_delta: float = 0.0) -> None:
        self.patience = _check_int("EarlyStopping", "patience", patience, 0)
        if mode not in ("min", "max"):
            raise ScorerConfigError(f"EarlyStopping: mode must be 'min' or 'max' (got {mode!r})")
        self.mode, self.min_delta = mode, float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` for ``epoch``; True when it is the new best."""
        if self.best is None:
            better = True
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs > self.patience


@dataclass
class TrainingHistory:
    """Per-epoch (or per-evaluation) record of a training run; epochs are numbered from 1.

    ``best_epoch`` is the epoch whose weights were kept (the best validation value, or the last
    epoch without validation). ``counts`` holds how many pairs were used, excluded, truncated.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    monitor: str = "validation_loss"
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingHistory":
        return cls(**data)


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)


def pairs_digest(pairs: Sequence[PreferencePair]) -> str:
    """SHA-256 (hex, 16 characters) of the pairs' prompts, responses and labels, in order."""
    digest = hashlib.sha256()
    for pair in pairs:
        for part in (
            prompt_key(pair.prompt),
            _text_of(pair.chosen),
            _text_of(pair.rejected),
            pair.label,
        ):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
        digest.update(b"\1")
    return digest.hexdigest()[:16]
