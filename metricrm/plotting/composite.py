"""Composite rewards: component weights with intervals, and the Pareto front of candidate
weightings with the chosen one marked. Both read plain frames, so they draw the output of any
weight search (e.g. :mod:`metricrm.weighting`) without depending on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import DataFormatError, ScorerConfigError
from ..core.validation import check_flag
from .base import Display, require_columns
from .style import COLUMN_WIDTH, NO_CLUSTER, PALETTE, new_axes, paper_style

#: columns of the weights frame: required, then optional
WEIGHT_COLUMNS = ("component", "weight")
WEIGHT_INTERVAL_COLUMNS = ("ci_low", "ci_high")


class CompositeWeightsDisplay(Display):
    """One horizontal bar per component: its weight, and its interval when given.

    ``weights_`` is the frame drawn (``component, weight`` and, when given, ``ci_low,
    ci_high``). After :meth:`plot`: ``figure_``, ``ax_``, ``bars_`` (a BarContainer, one bar per
    component from the top) and ``errorbar_`` (None without intervals).
    """

    def __init__(self, weights: Any, *, title: str = "") -> None:
        self.weights_, self.title = weights, title

    @classmethod
    def from_frame(cls, frame: Any, *, title: str = "", ax: Any = None) -> CompositeWeightsDisplay:
        """``frame``: one row per component with columns ``component`` (name) and ``weight``,
        and optionally ``ci_low`` and ``ci_high`` (e.g. bootstrap percentiles of the weight;
        both or neither). Rows are drawn top to bottom in the frame's order."""
        who = "CompositeWeightsDisplay.from_frame"
        require_columns(who, frame, WEIGHT_COLUMNS)
        has = [c in frame.columns for c in WEIGHT_INTERVAL_COLUMNS]
        if any(has) and not all(has):
            raise DataFormatError(f"{who}: give both ci_low and ci_high, or neither")
        keep = list(WEIGHT_COLUMNS) + (list(WEIGHT_INTERVAL_COLUMNS) if all(has) else [])
        weights = frame[keep].reset_index(drop=True).copy()
        weights["component"] = weights["component"].astype(str)
        values = weights[keep[1:]].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if bad.size:
            raise DataFormatError(
                f"{who}: component {weights['component'][bad[0]]!r} has a missing or infinite "
                "weight or interval"
            )
        if all(has):
            w, lo, hi = values.T
            wrong = np.flatnonzero((lo > w + 1e-12) | (hi < w - 1e-12))
            if wrong.size:
                i = wrong[0]
                raise DataFormatError(
                    f"{who}: component {weights['component'][i]!r}: the interval "
                    f"[{lo[i]:g}, {hi[i]:g}] does not contain the weight {w[i]:g}"
                )
        return cls(weights, title=title).plot(ax=ax)

    def plot(self, ax: Any = None) -> CompositeWeightsDisplay:
        """Draw on ``ax`` or a new figure; returns ``self``."""
        w = self.weights_
        ys = np.arange(len(w))[::-1]
        with paper_style():
            fig, axes = new_axes(ax, figsize=(COLUMN_WIDTH, 0.3 * len(w) + 0.9))
            axis = axes[0]
            colors = [PALETTE[0] if v >= 0 else PALETTE[5] for v in w["weight"]]
            self.bars_ = axis.barh(ys, w["weight"], color=colors, height=0.6)
            self.errorbar_ = None
            if "ci_low" in w.columns:
                self.errorbar_ = axis.errorbar(
                    w["weight"], ys, xerr=[w["weight"] - w["ci_low"], w["ci_high"] - w["weight"]],
                    fmt="none", ecolor="black", elinewidth=1.0, capsize=2.5,
                )  # fmt: skip
            axis.axvline(0, color=NO_CLUSTER, linewidth=0.8)
            axis.set_yticks(ys, list(w["component"]))
            axis.set_xlabel("weight")
            if self.title:
                axis.set_title(self.title)
        self.figure_, self.ax_ = fig, axis
        return self


class ParetoFrontDisplay(Display):
    """Candidate weightings in the plane of two objectives; the non-dominated ones joined as
    the Pareto front; the chosen one marked with a star.

    ``candidates_`` is the frame drawn (its ``x`` and ``y`` columns, ``label``, ``pareto``:
    on the front, ``chosen``); ``front_`` the front's rows sorted by ``x``. After
    :meth:`plot`: ``figure_``, ``ax_``, ``others_``, ``front_line_`` and ``chosen_marker_``.
    """

    def __init__(self, candidates: Any, *, x: str, y: str) -> None:
        self.candidates_, self.x, self.y = candidates, x, y
        self.front_ = candidates[candidates["pareto"]].sort_values(x, kind="stable")

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        x: str,
        y: str,
        *,
        maximize: Sequence[bool] = (True, True),
        chosen: Any = None,
        label: str | None = None,
        ax: Any = None,
    ) -> ParetoFrontDisplay:
        """``frame``: one row per candidate weighting; ``x`` and ``y`` name two objective
        columns (e.g. accuracy on two datasets, or agreement and a length-bias penalty);
        ``maximize`` says, per objective, whether higher is better. The chosen candidate is the
        row whose index is ``chosen``, or else the one row with True in a boolean ``chosen``
        column (none: nothing marked). ``label`` names a column of candidate names (e.g. the
        weights as text), shown next to the chosen point. The front is computed here: a
        candidate is on it when no other is at least as good on both objectives and better on
        one."""
        who = "ParetoFrontDisplay.from_frame"
        require_columns(who, frame, [x, y] + ([label] if label else []))
        if len(maximize) != 2:
            raise ScorerConfigError(f"{who}: `maximize` must hold two flags (got {maximize!r})")
        flags = [check_flag(who, "maximize", m) for m in maximize]
        points = frame[[x, y]].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
        if bad.size:
            raise DataFormatError(f"{who}: candidate {frame.index[bad[0]]!r} has a missing {x}/{y}")
        table = frame.copy()
        table["label"] = table[label].astype(str) if label else [str(i) for i in table.index]
        table["pareto"] = pareto_mask(points, flags)
        if chosen is not None:
            if chosen not in table.index:
                raise ScorerConfigError(f"{who}: `chosen` {chosen!r} is not a row of the frame")
            table["chosen"] = table.index == chosen
        elif "chosen" in table.columns:
            marked = table["chosen"].astype(bool)
            if marked.sum() > 1:
                raise DataFormatError(
                    f"{who}: the `chosen` column marks {int(marked.sum())} rows; expected one"
                )
            table["chosen"] = marked
        else:
            table["chosen"] = False
        return cls(table, x=x, y=y).plot(ax=ax)

    def plot(self, ax: Any = None) -> ParetoFrontDisplay:
        """Draw on ``ax`` or a new figure; returns ``self``."""
        t, x, y = self.candidates_, self.x, self.y
        with paper_style():
            fig, axes = new_axes(ax, figsize=(COLUMN_WIDTH, 2.8))
            axis = axes[0]
            rest = t[~t["pareto"]]
            self.others_ = axis.scatter(rest[x], rest[y], s=10, color=NO_CLUSTER,
                                        label="candidate", linewidths=0)  # fmt: skip
            (self.front_line_,) = axis.plot(
                self.front_[x], self.front_[y], "o-", color=PALETTE[0], markersize=4,
                label="Pareto front",
            )  # fmt: skip
            self.chosen_marker_ = None
            pick = t[t["chosen"]]
            if len(pick):
                self.chosen_marker_ = axis.scatter(
                    pick[x], pick[y], marker="*", s=140, color=PALETTE[1], edgecolors="black",
                    linewidths=0.6, zorder=3, label="chosen",
                )  # fmt: skip
                axis.annotate(
                    pick["label"].iloc[0],
                    (pick[x].iloc[0], pick[y].iloc[0]),
                    xytext=(6, -10),
                    textcoords="offset points",
                    fontsize=7,
                )
            axis.set_xlabel(x)
            axis.set_ylabel(y)
            axis.legend()
        self.figure_, self.ax_ = fig, axis
        return self


def pareto_mask(points: np.ndarray, maximize: Sequence[bool] = (True, True)) -> np.ndarray:
    """True for the rows of ``points`` (n, k) that no other row dominates (at least as good on
    every objective and strictly better on one); ``maximize`` per objective."""
    p = np.asarray(points, dtype=float) * np.where(np.asarray(maximize), 1.0, -1.0)
    ge = (p[:, None, :] >= p[None, :, :]).all(axis=2)  # ge[j, i]: j at least as good as i
    gt = (p[:, None, :] > p[None, :, :]).any(axis=2)
    dominated = (ge & gt).any(axis=0)
    return ~dominated
