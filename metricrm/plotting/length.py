"""Length bias: score against response length (chosen and rejected), and pairwise accuracy by
bin of length difference (chosen minus rejected)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import meta
from ..core.errors import ScorerInputError
from ..core.records import response_text
from ..core.validation import check_choice, check_integer
from .base import Display
from .style import COLUMN_WIDTH, NO_CLUSTER, PALETTE, new_axes, paper_style

LENGTHS = ("chars", "words")


def response_length(response: Any, unit: str = "chars") -> int:
    """Length of a response (text or chat messages) in characters or whitespace words."""
    text = response if isinstance(response, str) else response_text(response)
    return len(text) if unit == "chars" else len(text.split())


class LengthBiasDisplay(Display):
    """Two panels: each response's score against its length (chosen and rejected in two
    colours), and accuracy (chosen scored above rejected; ties half) per bin of the length
    difference, with bootstrap intervals.

    ``points_`` is a frame (``side, length, score``); ``bins_`` one row per bin (``low, high,
    n, accuracy, ci_low, ci_high``; bins are quantiles of the difference, so each holds about
    the same number of pairs). After :meth:`plot`: ``figure_``, ``ax_`` (two Axes),
    ``scatter_`` (side -> PathCollection) and ``errorbar_`` (the accuracy bars).
    """

    def __init__(self, points: Any, bins: Any, *, scorer: str = "score", unit: str = "chars"):
        self.points_, self.bins_, self.scorer, self.unit = points, bins, scorer, unit

    @classmethod
    def from_scores(
        cls,
        chosen: Any,
        rejected: Any,
        chosen_length: Any,
        rejected_length: Any,
        *,
        n_bins: int = 5,
        scorer: str = "score",
        unit: str = "chars",
        n_resamples: int = 1000,
        seed: int = 0,
        ax: Any = None,
    ) -> LengthBiasDisplay:
        """From per-pair scores (higher = better) and lengths, all in the same pair order."""
        import pandas as pd

        who = "LengthBiasDisplay.from_scores"
        check_integer(who, "n_bins", n_bins, minimum=1)
        arrays = [np.asarray(a, dtype=float) for a in (chosen, rejected, chosen_length,
                                                       rejected_length)]  # fmt: skip
        sizes = {a.size for a in arrays}
        if len(sizes) != 1 or any(a.ndim != 1 for a in arrays):
            raise ScorerInputError(
                f"{who}: expected four 1-d arrays of one value per pair (got shapes "
                f"{[a.shape for a in arrays]})"
            )
        c, r, lc, lr = arrays
        bad = np.flatnonzero(~np.isfinite(c) | ~np.isfinite(r))
        if bad.size:
            raise ScorerInputError(f"{who}: pair {bad[0]} has a non-finite score")
        points = pd.DataFrame({
            "side": ["chosen"] * c.size + ["rejected"] * r.size,
            "length": np.concatenate([lc, lr]),
            "score": np.concatenate([c, r]),
        })  # fmt: skip
        diff = lc - lr
        edges = np.unique(np.quantile(diff, np.linspace(0, 1, n_bins + 1)))
        if edges.size < 2:
            edges = np.array([diff.min(), diff.max()])
        which = np.clip(np.searchsorted(edges, diff, side="right") - 1, 0, edges.size - 2)
        outcomes = meta.pairwise_outcomes(c, r, score_ties="half")
        rows = []
        for b in range(edges.size - 1):
            v = outcomes[which == b]
            if v.size == 0:
                continue
            key = zlib.crc32(f"{scorer}/{b}".encode())
            res = meta.bootstrap(meta.MEAN, v, rng=np.random.default_rng([seed, key]),
                                 n_resamples=n_resamples, method="counts")  # fmt: skip
            rows.append(
                {
                    "low": edges[b],
                    "high": edges[b + 1],
                    "n": int(v.size),
                    "accuracy": res.estimate,
                    "ci_low": res.low,
                    "ci_high": res.high,
                }
            )
        return cls(points, pd.DataFrame(rows), scorer=scorer, unit=unit).plot(ax=ax)

    @classmethod
    def from_pairs(
        cls, pairs: Sequence[Any], chosen: Any, rejected: Any, *, unit: str = "chars",
        **kwargs: Any,
    ) -> LengthBiasDisplay:  # fmt: skip
        """From preference pairs and one scorer's chosen and rejected scores; lengths of the
        responses in ``unit`` ("chars" or "words")."""
        check_choice("LengthBiasDisplay.from_pairs", "unit", unit, LENGTHS)
        lc = [response_length(p.chosen, unit) for p in pairs]
        lr = [response_length(p.rejected, unit) for p in pairs]
        return cls.from_scores(chosen, rejected, lc, lr, unit=unit, **kwargs)

    def plot(self, ax: Any = None) -> LengthBiasDisplay:
        """Draw on ``ax`` (two Axes) or a new figure; returns ``self``."""
        with paper_style():
            fig, axes = new_axes(ax, ncols=2, figsize=(2 * COLUMN_WIDTH, 2.6))
            left, right = axes
            self.scatter_ = {}
            for side, color in (("chosen", PALETTE[0]), ("rejected", PALETTE[5])):
                part = self.points_[self.points_["side"] == side]
                self.scatter_[side] = left.scatter(
                    part["length"], part["score"], s=6, alpha=0.5, color=color, label=side,
                    linewidths=0,
                )  # fmt: skip
            left.set_xscale("symlog", linthresh=10)
            left.set_xlabel(f"response length ({self.unit})")
            left.set_ylabel(self.scorer)
            left.legend(markerscale=2)
            b = self.bins_
            mids = np.arange(len(b))
            self.errorbar_ = right.errorbar(
                mids, b["accuracy"],
                yerr=[b["accuracy"] - b["ci_low"], b["ci_high"] - b["accuracy"]],
                fmt="o-", color=PALETTE[0], capsize=2.5, markersize=4,
            )  # fmt: skip
            right.axhline(0.5, color=NO_CLUSTER, linestyle="--", linewidth=0.8, zorder=0)
            right.set_xticks(
                mids, [f"{lo:+.0f} to\n{hi:+.0f}\nn={n}"
                       for lo, hi, n in zip(b["low"], b["high"], b["n"])],
                fontsize=7,
            )  # fmt: skip
            right.set_ylim(-0.02, 1.02)
            right.set_xlabel(f"length difference, chosen - rejected ({self.unit})")
            right.set_ylabel("accuracy")
        self.figure_, self.ax_ = fig, axes
        return self
