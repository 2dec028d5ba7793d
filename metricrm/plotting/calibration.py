"""Reliability diagram: predicted probability against observed frequency, per bin; for
Bradley-Terry calibrated scores, P(a beats b) = sigmoid(scale * (r_a - r_b))."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import ScorerInputError
from ..core.validation import check_choice, check_integer, check_number
from .base import Display
from .style import COLUMN_WIDTH, NO_CLUSTER, PALETTE, new_axes, paper_style

STRATEGIES = ("uniform", "quantile")


class ReliabilityDisplay(Display):
    """Mean predicted probability against the observed frequency of the event, per bin, with
    the diagonal of perfect calibration.

    ``bins_`` has one row per non-empty bin (``low, high, n, mean_predicted, observed``);
    ``ece_`` is the expected calibration error, the n-weighted mean of
    ``|observed - mean_predicted|`` over those bins. After :meth:`plot`: ``figure_``, ``ax_``,
    ``line_`` (the curve) and ``counts_`` (the bars of items per bin, on a second axis).
    """

    def __init__(self, bins: Any, *, name: str = "") -> None:
        self.bins_, self.name = bins, name
        weights = bins["n"] / bins["n"].sum()
        self.ece_ = float((weights * (bins["observed"] - bins["mean_predicted"]).abs()).sum())

    @classmethod
    def from_predictions(
        cls, y_prob: Any, y_true: Any, *, n_bins: int = 10, strategy: str = "uniform",
        name: str = "", ax: Any = None,
    ) -> ReliabilityDisplay:  # fmt: skip
        """``y_prob``: predicted probabilities in [0, 1]; ``y_true``: 0/1 outcomes. Bins are
        equal-width on [0, 1] ("uniform", bin edges closed on the left, the last on both
        sides) or equal-count ("quantile")."""
        import pandas as pd

        who = "ReliabilityDisplay.from_predictions"
        check_integer(who, "n_bins", n_bins, minimum=1)
        check_choice(who, "strategy", strategy, STRATEGIES)
        p, y = np.asarray(y_prob, dtype=float), np.asarray(y_true, dtype=float)
        if p.ndim != 1 or p.shape != y.shape or p.size == 0:
            raise ScorerInputError(
                f"{who}: expected two 1-d arrays of the same non-zero length (got {p.shape} "
                f"and {y.shape})"
            )
        bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
        if bad.size:
            raise ScorerInputError(f"{who}: y_prob[{bad[0]}] = {p[bad[0]]:g} is not in [0, 1]")
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            raise ScorerInputError(f"{who}: y_true[{bad[0]}] = {y[bad[0]]:g} is not 0 or 1")
        if strategy == "uniform":
            edges = np.linspace(0.0, 1.0, n_bins + 1)
        else:
            edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
            edges = edges if edges.size > 1 else np.array([p.min(), p.max()])
        which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
        rows = []
        for b in range(edges.size - 1):
            inside = which == b
            if inside.any():
                rows.append({"low": edges[b], "high": edges[b + 1], "n": int(inside.sum()),
                             "mean_predicted": float(p[inside].mean()),
                             "observed": float(y[inside].mean())})  # fmt: skip
        return cls(pd.DataFrame(rows), name=name).plot(ax=ax)

    @classmethod
    def from_margins(
        cls, chosen: Any, rejected: Any, *, scale: float = 1.0, **kwargs: Any
    ) -> ReliabilityDisplay:
        """Bradley-Terry calibrated scores of preference pairs: P(chosen wins) =
        sigmoid(scale * (chosen - rejected)). Each pair is counted in both orders (p with
        outcome 1, 1 - p with outcome 0), so the diagram does not depend on which side is
        listed first and is symmetric about (0.5, 0.5)."""
        who = "ReliabilityDisplay.from_margins"
        scale = check_number(who, "scale", scale, above=0.0)
        c, r = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
        if c.shape != r.shape or c.ndim != 1:
            raise ScorerInputError(
                f"{who}: expected one chosen and one rejected score per pair (got shapes "
                f"{c.shape} and {r.shape})"
            )
        bad = np.flatnonzero(~np.isfinite(c - r))
        if bad.size:
            raise ScorerInputError(f"{who}: pair {bad[0]} has a non-finite score")
        p = 1.0 / (1.0 + np.exp(-scale * (c - r)))
        probs = np.concatenate([p, 1.0 - p])
        outcomes = np.concatenate([np.ones(c.size), np.zeros(c.size)])
        return cls.from_predictions(probs, outcomes, **kwargs)

    def plot(self, ax: Any = None) -> ReliabilityDisplay:
        """Draw on ``ax`` or a new figure; returns ``self``."""
        b = self.bins_
        with paper_style():
            fig, axes = new_axes(ax, figsize=(COLUMN_WIDTH, COLUMN_WIDTH))
            axis = axes[0]
            twin = axis.twinx()
            self.counts_ = twin.bar(
                (b["low"] + b["high"]) / 2, b["n"], width=(b["high"] - b["low"]) * 0.9,
                color=NO_CLUSTER, alpha=0.3, zorder=0,
            )  # fmt: skip
            twin.set_ylabel("items per bin", color=NO_CLUSTER)
            twin.set_ylim(0, float(b["n"].max()) * 4)  # bars stay in the lower quarter
            twin.spines["right"].set_visible(True)
            axis.set_zorder(twin.get_zorder() + 1)
            axis.patch.set_visible(False)
            axis.plot([0, 1], [0, 1], linestyle="--", color=NO_CLUSTER, linewidth=0.8,
                      label="perfect calibration")  # fmt: skip
            label = f"{self.name + ': ' if self.name else ''}ECE {self.ece_:.3f}"
            (self.line_,) = axis.plot(b["mean_predicted"], b["observed"], "o-",
                                      color=PALETTE[0], markersize=4, label=label)  # fmt: skip
            axis.set_xlim(0, 1)
            axis.set_ylim(0, 1)
            axis.set_xlabel("predicted probability")
            axis.set_ylabel("observed frequency")
            axis.legend(loc="upper left")
        self.figure_, self.ax_ = fig, axis
        return self
