"""The Bradley-Terry objective and the pieces of a training loop: loss, pairwise accuracy,
early stopping. torch is imported inside :func:`bt_loss` only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.validation import check_choice, check_integer, check_number
from ..meta import pairwise_outcomes


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
    outcomes = pairwise_outcomes(chosen, rejected, human_ties=np.asarray(targets) != 1.0)
    return float(np.nanmean(outcomes)) if np.isfinite(outcomes).any() else math.nan


class EarlyStopping:
    """Tracks a monitored value per epoch and says when it stopped improving for ``patience``
    epochs. ``mode="min"`` for a loss, ``"max"`` for an accuracy; an improvement must beat the
    best value by more than ``min_delta``."""

    def __init__(self, patience: int, *, mode: str = "min", min_delta: float = 0.0) -> None:
        self.patience = check_integer("EarlyStopping", "patience", patience, minimum=0)
        self.mode = check_choice("EarlyStopping", "mode", mode, ("min", "max"))
        self.min_delta = check_number("EarlyStopping", "min_delta", min_delta, minimum=0)
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
