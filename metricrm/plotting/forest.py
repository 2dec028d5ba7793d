"""Agreement forest plot: one row per scorer, its value and bootstrap interval, coloured by
significance cluster, one panel per dataset (or per statistic)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..core.validation import check_choice
from ..study.frames import ROW_KEYS, label_of, select_rows
from .base import Display
from .style import COLUMN_WIDTH, NO_CLUSTER, cluster_color, new_axes, paper_style

#: a dashed line where a statistic means "no better than chance"
CHANCE = {"accuracy": 0.5, "rmbench_hard": 0.5, "rmbench_normal": 0.5, "rmbench_easy": 0.5,
          "rmbench_average": 0.5, "acc23": None, "spa": None}  # fmt: skip
ORDERS = ("value", "given")


def chance_level(statistic: str) -> float | None:
    """0.5 for accuracies, 0 for correlations and tau-like, None where no line helps."""
    if statistic in CHANCE:
        return CHANCE[statistic]
    return 0.0


class ForestDisplay(Display):
    """Point and interval per scorer, coloured by cluster (1 = top; grey: no cluster).

    ``panels_`` maps each panel name to a frame with columns ``scorer, value, ci_low,
    ci_high, cluster`` (and ``statistic``, the x label) in drawing order (top row first).
    After :meth:`plot`: ``figure_``, ``ax_`` (one Axes per panel), ``errorbars_`` (panel ->
    one ``ErrorbarContainer`` per row, in the same order) and ``legend_``.
    """

    def __init__(self, panels: dict[str, Any], *, reference: dict[str, Any] | None = None):
        self.panels_ = panels
        self.reference = reference or {}

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        panels: str | Sequence[str] = "dataset",
        statistic: str | None = None,
        dataset: str | None = None,
        subset: str | None = "all",
        human: str | None = None,
        level: str | None = None,
        order: str = "value",
        ax: Any = None,
    ) -> ForestDisplay:
        """Draw a ``meta_evaluate`` result frame. ``panels`` names the column(s) whose values get
        a panel each, among dataset, subset, human, level and statistic: "dataset" (one panel
        per dataset, one statistic), "statistic" (one per statistic, one dataset), or e.g.
        ``["human", "level", "statistic"]``. The other arguments pick rows; several rows per
        (panel, scorer) raise an error that says which column to fix. ``order``: "value" (best
        at the top of each panel) or "given" (the frame's order). Rows without a value
        (skipped scorers) are left out."""
        who = "ForestDisplay.from_frame"
        by = [panels] if isinstance(panels, str) else list(panels)
        for column in by:
            check_choice(who, "panels", column, ROW_KEYS)
        check_choice(who, "order", order, ORDERS)
        filters = {"statistic": statistic, "dataset": dataset, "subset": subset,
                   "human": human, "level": level}  # fmt: skip
        for column in by:
            filters[column] = None
        rows = select_rows(who, frame, [*by, "scorer"], filters)
        for column in ("cluster", "statistic"):
            if column not in rows.columns:
                rows[column] = math.nan if column == "cluster" else ""
        labels = [label_of(r, by) for r in rows.to_dict(orient="records")]
        out: dict[str, Any] = {}
        for name in dict.fromkeys(labels):
            part = rows[[label == name for label in labels]]
            part = part[["scorer", "value", "ci_low", "ci_high", "cluster", "statistic"]]
            if order == "value":
                part = part.sort_values("value", ascending=False, kind="stable")
            out[name] = part.reset_index(drop=True)
        reference = {p: chance_level(str(f["statistic"].iloc[0])) for p, f in out.items()}
        display = cls(out, reference=reference)
        return display.plot(ax=ax)

    def plot(self, ax: Any = None) -> ForestDisplay:
        """Draw on ``ax`` (one Axes per panel) or on a new figure; returns ``self``."""
        n = len(self.panels_)
        ncols = min(n, 3)
        nrows = math.ceil(n / ncols)
        height = max(len(p) for p in self.panels_.values()) * 0.22 + 0.9
        with paper_style():
            fig, axes = new_axes(ax, nrows=nrows if ax is None else 1,
                                 ncols=ncols if ax is None else n,
                                 figsize=(COLUMN_WIDTH * ncols, height * nrows))  # fmt: skip
            self.errorbars_ = {}
            seen: dict[str, Any] = {}
            for axis, (name, part) in zip(axes, self.panels_.items()):
                ys = list(range(len(part)))[::-1]  # first row at the top
                bars = []
                for y, r in zip(ys, part.itertuples(index=False)):
                    color = cluster_color(r.cluster)
                    lo, hi = r.value - r.ci_low, r.ci_high - r.value
                    bar = axis.errorbar(
                        r.value, y, xerr=[[max(lo, 0.0)], [max(hi, 0.0)]], fmt="o",
                        color=color, ecolor=color, elinewidth=1.4, capsize=2.5, markersize=4,
                    )  # fmt: skip
                    bars.append(bar)
                    key = _cluster_label(r.cluster)
                    seen.setdefault(key, bar)
                self.errorbars_[name] = bars
                axis.set_yticks(ys, list(part["scorer"].astype(str)))
                axis.set_ylim(-0.6, len(part) - 0.4)
                axis.set_title(name)
                if "statistic" in part.columns:
                    axis.set_xlabel(" / ".join(dict.fromkeys(part["statistic"].astype(str))))
                ref = self.reference.get(name)
                if ref is not None:
                    axis.axvline(ref, color=NO_CLUSTER, linestyle="--", linewidth=0.8, zorder=0)
                axis.grid(axis="x", color="#dddddd", linewidth=0.5)
                axis.set_axisbelow(True)
            for axis in axes[len(self.panels_) :]:
                axis.set_visible(False)
            labels = sorted(seen, key=_cluster_sort)
            self.legend_ = fig.legend(
                [seen[k] for k in labels], labels, loc="outside lower center",
                ncols=min(len(labels), 4),
            ) if ax is None else axes[-1].legend([seen[k] for k in labels], labels)  # fmt: skip
        self.figure_, self.ax_ = fig, axes
        return self


def _cluster_label(cluster: Any) -> str:
    try:
        k = float(cluster)
    except (TypeError, ValueError):
        return "no cluster"
    if math.isnan(k):
        return "no cluster"
    return "cluster 1 (top)" if k == 1 else f"cluster {int(k)}"


def _cluster_sort(label: str) -> tuple[int, int]:
    if label == "no cluster":
        return (1, 0)
    return (0, int(label.split()[1]))
