"""Scorer x dataset heatmap of one statistic, each cell annotated with its value and interval;
and the shared drawing of annotated matrices (also used by the correlation matrix)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.validation import check_choice
from ..study.frames import pivot_results
from .base import Display
from .style import COLUMN_WIDTH, DIVERGING_CMAP, SEQUENTIAL_CMAP, new_axes, paper_style


def format_interval(value: float, low: float, high: float, digits: int) -> str:
    """``"0.304\\n[0.291, 0.316]"``; ``"n/a"`` for a missing value."""
    if value is None or math.isnan(value):
        return "n/a"
    if low is None or math.isnan(low) or high is None or math.isnan(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f}\n[{low:.{digits}f}, {high:.{digits}f}]"


def draw_matrix(
    axis: Any,
    values: np.ndarray,
    texts: Sequence[Sequence[str]],
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cmap: str,
    vmin: float,
    vmax: float,
    bold: np.ndarray | None = None,
    fontsize: float = 7,
) -> tuple[Any, np.ndarray]:
    """An annotated matrix on ``axis``: ``(image, texts)``, texts an object array of Text (None
    where ``texts`` is empty). Text is white on dark cells, black on light ones."""
    import matplotlib as mpl

    masked = np.ma.masked_invalid(values)
    colormap = mpl.colormaps[cmap].with_extremes(bad="#f2f2f2")
    image = axis.imshow(masked, cmap=colormap, vmin=vmin, vmax=vmax, aspect="auto")
    norm = mpl.colors.Normalize(vmin=vmin, vmax=vmax)
    out = np.empty(values.shape, dtype=object)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not texts[i][j]:
                continue
            v = values[i, j]
            dark = False
            if not math.isnan(v):
                r, g, b, _ = colormap(norm(v))
                dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45
            weight = "bold" if bold is not None and bold[i, j] else "normal"
            out[i, j] = axis.text(
                j, i, texts[i][j], ha="center", va="center", fontsize=fontsize,
                color="white" if dark else "black", fontweight=weight,
            )  # fmt: skip
    axis.set_xticks(range(len(col_labels)), list(col_labels), rotation=30, ha="right")
    axis.set_yticks(range(len(row_labels)), list(row_labels))
    axis.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        axis.spines[side].set_visible(False)
    return image, out


COLOR_BY = ("value", "row", "column")


class HeatmapDisplay(Display):
    """A statistic per (row, column) cell, e.g. scorer x dataset, with intervals as text.

    ``values_``, ``ci_low_``, ``ci_high_`` and ``cluster_`` are DataFrames (rows x columns, NaN
    where no row of the frame fills a cell). After :meth:`plot`: ``figure_``, ``ax_``,
    ``image_`` and ``texts_`` (an object array of the cells' Text, None for empty cells). Cells
    in significance cluster 1 are bold.
    """

    def __init__(self, values: Any, ci_low: Any, ci_high: Any, cluster: Any, *,
                 title: str = "", digits: int = 3, cmap: str | None = None,
                 color_by: str = "value") -> None:  # fmt: skip
        check_choice("HeatmapDisplay", "color_by", color_by, COLOR_BY)
        self.values_, self.ci_low_, self.ci_high_, self.cluster_ = values, ci_low, ci_high, cluster
        self.title, self.digits, self.cmap, self.color_by = title, digits, cmap, color_by

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        rows: str | Sequence[str] = "scorer",
        columns: str | Sequence[str] = "dataset",
        statistic: str | None = None,
        dataset: str | None = None,
        subset: str | None = "all",
        human: str | None = None,
        level: str | None = None,
        digits: int = 3,
        cmap: str | None = None,
        color_by: str = "value",
        ax: Any = None,
    ) -> HeatmapDisplay:
        """Draw a ``meta_evaluate`` frame as a ``rows`` x ``columns`` grid. Each may name
        several columns (``["dataset", "level"]``): their values are joined with " / ". The other
        arguments pick rows (one per cell, or an error saying which column to fix). ``cmap``:
        default diverging (PuOr, centred on 0) when some value is negative, else cividis.
        ``color_by``: "value" (one colour scale, with a colour bar), or "row" / "column" (each
        row or column shaded from its own minimum to maximum: for rows of different
        statistics, such as accuracies and correlations, whose values do not share a scale)."""
        who = "HeatmapDisplay.from_frame"
        check_choice(who, "color_by", color_by, COLOR_BY)
        cols = [columns] if isinstance(columns, str) else list(columns)
        by_row = [rows] if isinstance(rows, str) else list(rows)
        filters = {"statistic": statistic, "dataset": dataset, "subset": subset,
                   "human": human, "level": level}  # fmt: skip
        grid = pivot_results(who, frame, rows=rows, columns=cols, filters=filters)
        display = cls(
            grid.values, grid.ci_low, grid.ci_high, grid.cluster,
            title=" / ".join(s for s in grid.statistics if "statistic" not in [*cols, *by_row]),
            digits=digits, cmap=cmap, color_by=color_by,
        )  # fmt: skip
        return display.plot(ax=ax)

    def plot(self, ax: Any = None) -> HeatmapDisplay:
        """Draw on ``ax`` or a new figure; returns ``self``."""
        values = self.values_.to_numpy(dtype=float)
        low, high = self.ci_low_.to_numpy(dtype=float), self.ci_high_.to_numpy(dtype=float)
        texts = [
            [format_interval(values[i, j], low[i, j], high[i, j], self.digits)
             for j in range(values.shape[1])]
            for i in range(values.shape[0])
        ]  # fmt: skip
        shade = values if self.color_by == "value" else _relative(values, self.color_by)
        finite = shade[np.isfinite(shade)]
        negative = finite.size > 0 and finite.min() < 0
        cmap = self.cmap or (DIVERGING_CMAP if negative else SEQUENTIAL_CMAP)
        if negative:
            bound = float(np.abs(finite).max())
            vmin, vmax = -bound, bound
        else:
            vmin = float(finite.min()) if finite.size else 0.0
            vmax = float(finite.max()) if finite.size else 1.0
            vmax = vmax if vmax > vmin else vmin + 1.0
        bold = self.cluster_.to_numpy(dtype=float) == 1
        n_rows, n_cols = values.shape
        with paper_style():
            fig, axes = new_axes(
                ax, figsize=(max(COLUMN_WIDTH, 1.1 * n_cols + 1.6), 0.45 * n_rows + 1.2)
            )
            axis = axes[0]
            self.image_, self.texts_ = draw_matrix(
                axis, shade, texts, row_labels=list(self.values_.index),
                col_labels=list(self.values_.columns), cmap=cmap, vmin=vmin, vmax=vmax,
                bold=bold,
            )  # fmt: skip
            if self.color_by == "value":
                fig.colorbar(self.image_, ax=axis, shrink=0.8, label=self.title)
            else:
                axis.set_title(f"colour: {self.color_by} minimum (dark) to maximum (light)",
                               fontsize=8)  # fmt: skip
        self.figure_, self.ax_ = fig, axis
        return self


def _relative(values: np.ndarray, by: str) -> np.ndarray:
    """Each row (or column) rescaled to [0, 1] from its own minimum to maximum (0.5 where
    they are equal)."""
    data = values if by == "row" else values.T
    out = np.full(data.shape, np.nan)
    for i, row in enumerate(data):
        finite = row[np.isfinite(row)]
        if finite.size:
            low, high = finite.min(), finite.max()
            out[i] = 0.5 if high == low else (row - low) / (high - low)
            out[i][~np.isfinite(row)] = np.nan
    return out if by == "row" else out.T
