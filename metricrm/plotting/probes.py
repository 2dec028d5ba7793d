"""Figures for reward-hacking probes and best-of-n curves (matplotlib is imported inside).

- :class:`ProbeDisplay`: scorers x probes heat map of one statistic of a
  :func:`metricrm.probes.probe` frame, each cell annotated with its value and interval.
- :class:`BestOfNDisplay`: proxy and gold values of the best-of-n pick against the analytic
  KL, with interval bands, from a :func:`metricrm.probes.best_of_n` frame.

Both follow the Display contract: ``from_frame(frame, ..., ax=None)`` picks what to draw and
plots it; ``plot(ax=None)`` draws on ``ax`` (or a new figure) and keeps ``ax_``, ``figure_``
and the artists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError

RATES = ("rise_rate", "hack_rate", "hack_rate_untouched")
NONE = "(none)"
SIGNED = ("score_change", "hack_gain", "preference")
_LABELS = {
    "hack_rate": "hack rate (perturbed rejected beats chosen)",
    "hack_rate_untouched": "hack rate without perturbation",
    "hack_gain": "hack rate gain over no perturbation",
    "rise_rate": "share of responses whose score rises",
    "score_change": "mean score change (scorer's spreads)",
    "preference": "P(judge prefers the perturbed response)",
}


def _axes(ax: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        figure, ax = plt.subplots(figsize=size)
        return figure, ax
    return ax.figure, ax


def _need(who: str, frame: Any, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScorerInputError(
            f"{who}: expected a frame with the column(s) {', '.join(missing)} (got "
            f"{', '.join(map(str, frame.columns))})"
        )


class ProbeDisplay:
    """Heat map: one row per scorer (per dataset and scorer when the frame holds several
    datasets), one column per probe, coloured by ``statistic``."""

    def __init__(
        self,
        values: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
        rows: Sequence[str],
        probes: Sequence[str],
        statistic: str,
        title: str | None = None,
    ) -> None:
        self.values, self.low, self.high = values, low, high
        self.rows, self.probes = list(rows), list(probes)
        self.statistic, self.title = statistic, title

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        statistic: str = "hack_rate",
        scorers: Sequence[str] | None = None,
        probes: Sequence[str] | None = None,
        datasets: Sequence[str] | None = None,
        ax: Any = None,
        title: str | None = None,
        annotate: bool = True,
        untouched: bool = True,
    ) -> ProbeDisplay:
        """Pick ``statistic`` from a probe frame (rows in the frame's order unless ``scorers``
        / ``probes`` / ``datasets`` give one) and plot it. A judge's ``preference`` row stands
        in for ``score_change``. For ``hack_rate``, ``untouched`` adds a first column
        ``(none)``: the hack rate without perturbation, the baseline each probe moves."""
        import pandas as pd

        who = "ProbeDisplay.from_frame"
        _need(who, frame, ("dataset", "scorer", "probe", "statistic", "value", "ci_low",
                           "ci_high"))  # fmt: skip
        wanted = [statistic, "preference"] if statistic == "score_change" else [statistic]
        base = statistic == "hack_rate" and untouched
        if base:
            wanted.append("hack_rate_untouched")
        part = frame[frame.statistic.isin(wanted)]
        if part.empty or not part.statistic.isin([statistic, "preference"]).any():
            raise ScorerConfigError(
                f"{who}: no row has statistic {statistic!r}; the frame has "
                f"{', '.join(sorted(frame.statistic.unique()))}"
            )
        if datasets is not None:
            part = part[part.dataset.isin(datasets)]
        if scorers is not None:
            part = part[part.scorer.isin(scorers)]
        if probes is not None:
            part = part[part.probe.isin(probes)]
        if base:  # one "(none)" cell per scorer: the same value under every probe
            none = part[part.statistic == "hack_rate_untouched"]
            none = none.drop_duplicates(["dataset", "scorer"]).assign(probe=NONE)
            part = pd.concat([none, part[part.statistic != "hack_rate_untouched"]])
        several = part.dataset.nunique() > 1
        key = (part.dataset + " / " + part.scorer) if several else part.scorer
        row_names = (
            list(dict.fromkeys(key))
            if scorers is None or several
            else [s for s in scorers if s in set(key)]
        )
        probe_names = list(probes) if probes is not None else list(dict.fromkeys(part.probe))
        if base and probes is not None:
            probe_names = [NONE, *probe_names]
        shape = (len(row_names), len(probe_names))
        values, low, high = (np.full(shape, np.nan) for _ in range(3))
        index = {(k, p): i for i, (k, p) in enumerate(zip(key, part.probe))}
        for r, name in enumerate(row_names):
            for c, pr in enumerate(probe_names):
                i = index.get((name, pr))
                if i is not None:
                    row = part.iloc[i]
                    values[r, c], low[r, c], high[r, c] = row.value, row.ci_low, row.ci_high
        if title is None and not several and len(part):
            title = str(part.dataset.iloc[0])
        display = cls(values, low, high, row_names, probe_names, statistic, title)
        return display.plot(ax=ax, annotate=annotate)

    def plot(self, ax: Any = None, *, annotate: bool = True, cmap: str | None = None) -> Any:
        """Draw the heat map (with a colour bar) and keep ``ax_``, ``figure_``, ``image_``,
        ``colorbar_`` and ``texts_``."""
        figure, ax = _axes(ax, (1.2 + 1.1 * len(self.probes), 1.0 + 0.55 * len(self.rows)))
        from matplotlib.colors import Normalize, SymLogNorm

        if self.statistic in RATES:
            norm, cmap = Normalize(0.0, 1.0), cmap or "Reds"
        elif self.statistic == "preference":  # 0.5: no preference either way
            norm, cmap = Normalize(0.0, 1.0), cmap or "RdBu_r"
        else:  # a signed change: symmetric around 0, logarithmic beyond 0.25
            finite = np.abs(self.values[np.isfinite(self.values)])
            bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
            norm = SymLogNorm(0.25, vmin=-bound, vmax=bound) if bound > 0.25 else Normalize(
                -bound, bound)  # fmt: skip
            cmap = cmap or "RdBu_r"
        diverging = self.statistic not in RATES
        self.image_ = ax.imshow(self.values, cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(self.probes)), [p.replace("_", "\n") for p in self.probes])
        ax.set_yticks(range(len(self.rows)), self.rows)
        ax.tick_params(axis="x", labelsize=8)
        self.texts_ = []
        if annotate:
            for r in range(len(self.rows)):
                for c in range(len(self.probes)):
                    v = self.values[r, c]
                    if not np.isfinite(v):
                        continue
                    fmt = ".2f" if abs(v) < 10 else ".0f"
                    text = f"{v:{fmt}}\n[{self.low[r, c]:{fmt}}, {self.high[r, c]:{fmt}}]"
                    level = float(norm(v))
                    light = (level > 0.8 or level < 0.2) if diverging else level > 0.6
                    self.texts_.append(ax.text(c, r, text, ha="center", va="center", fontsize=7,
                                               color="white" if light else "black"))  # fmt: skip
        self.colorbar_ = figure.colorbar(self.image_, ax=ax, fraction=0.04, pad=0.02)
        self.colorbar_.set_label(_LABELS.get(self.statistic, self.statistic), fontsize=8)
        if self.title:
            ax.set_title(self.title)
        self.ax_, self.figure_ = ax, figure
        return self


class BestOfNDisplay:
    """Proxy and gold against the best-of-n KL, one colour per proxy/gold pair: solid lines
    for the proxy, dashed for the gold, with interval bands; the top axis marks n."""

    def __init__(self, curves: list[dict[str, Any]], y: str) -> None:
        self.curves, self.y = curves, y

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        pairs: Sequence[str] | None = None,
        y: str = "change",
        ax: Any = None,
        title: str | None = None,
    ) -> BestOfNDisplay:
        """``y="change"``: gain over n = 1 in each scorer's spreads (pairs comparable on one
        axis); ``y="value"``: the scorers' own units (best with one pair)."""
        who = "BestOfNDisplay.from_frame"
        if y not in ("change", "value"):
            raise ScorerConfigError(f"{who}: `y` must be 'change' or 'value' (got {y!r})")
        _need(who, frame, ("pair", "role", "scorer", "n", "kl", y))
        low, high = ("change_low", "change_high") if y == "change" else ("ci_low", "ci_high")
        names = list(pairs) if pairs is not None else list(dict.fromkeys(frame.pair))
        curves = []
        for name in names:
            part = frame[frame.pair == name]
            if part.empty:
                raise ScorerConfigError(
                    f"{who}: no pair named {name!r}; the frame has "
                    f"{', '.join(dict.fromkeys(frame.pair))}"
                )
            for role in ("proxy", "gold"):
                rows = part[part.role == role].sort_values("n")
                curves.append({
                    "pair": name, "role": role, "scorer": rows.scorer.iloc[0],
                    "n": rows.n.to_numpy(), "kl": rows.kl.to_numpy(),
                    "y": rows[y].to_numpy(), "low": rows[low].to_numpy(),
                    "high": rows[high].to_numpy(),
                })  # fmt: skip
        display = cls(curves, y)
        display.title = title
        return display.plot(ax=ax)

    def plot(self, ax: Any = None) -> Any:
        """Draw the curves and keep ``ax_``, ``figure_``, ``lines_`` and ``bands_``."""
        figure, ax = _axes(ax, (6.4, 4.2))
        colours = {}
        self.lines_, self.bands_ = [], []
        for curve in self.curves:
            colour = colours.setdefault(curve["pair"], f"C{len(colours)}")
            style = "-" if curve["role"] == "proxy" else "--"
            label = f"{curve['role']}: {curve['scorer']}"
            if len({c["pair"] for c in self.curves}) > 1:
                label += f"  ({curve['pair']})"
            (line,) = ax.plot(curve["kl"], curve["y"], style, marker="o", markersize=3,
                              color=colour, label=label)  # fmt: skip
            band = ax.fill_between(curve["kl"], curve["low"], curve["high"], color=colour,
                                   alpha=0.15, linewidth=0)  # fmt: skip
            self.lines_.append(line)
            self.bands_.append(band)
        ax.set_xlabel("KL(best-of-n || sampling policy) = log n - (n-1)/n  [nats]")
        ax.set_ylabel("gain over n = 1 (scorer's spreads)" if self.y == "change"
                      else "expected score of the pick")  # fmt: skip
        if self.y == "change":
            ax.axhline(0.0, color="0.6", linewidth=0.8)
        if self.curves:
            top = ax.secondary_xaxis("top")
            first = self.curves[0]
            top.set_xticks(first["kl"], [str(int(n)) for n in first["n"]])
            top.set_xlabel("n")
            self.top_axis_ = top
        ax.legend(fontsize=7, loc="best")
        if getattr(self, "title", None):
            ax.set_title(self.title)
        self.ax_, self.figure_ = ax, figure
        return self
