"""Scorer-by-scorer correlation matrix on the same items: do reward models rank like metrics?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import meta
from ..core.errors import ScorerInputError
from ..core.validation import check_choice
from .base import Display
from .heatmap import draw_matrix
from .style import COLUMN_WIDTH, DIVERGING_CMAP, new_axes, paper_style

METHODS = {"pearson": meta.pearson, "spearman": meta.spearman, "kendall_b": meta.kendall_tau_b}


class ScorerCorrelationDisplay(Display):
    """Correlation between every two scorers' scores on the same items.

    ``matrix_`` is a symmetric DataFrame (scorers x scorers, 1 on the diagonal) and ``n_`` the
    number of items each coefficient used (items where both scores exist). After :meth:`plot`:
    ``figure_``, ``ax_``, ``image_`` and ``texts_``.
    """

    def __init__(self, matrix: Any, n: Any, *, method: str) -> None:
        self.matrix_, self.n_, self.method = matrix, n, method

    @classmethod
    def from_scores(
        cls,
        scores: Any,
        *,
        method: str = "kendall_b",
        higher_is_better: Mapping[str, bool] | None = None,
        ax: Any = None,
    ) -> ScorerCorrelationDisplay:
        """``scores``: a DataFrame with one column per scorer (one row per item), or a mapping
        from scorer name to an array of scores on the same items. For preference pairs pass
        each scorer's margins (chosen minus rejected). ``higher_is_better`` names scorers whose
        scores are negated first (e.g. ``{"ter": False}``), so a positive coefficient always
        means "ranks the items the same way". ``method``: kendall_b, spearman or pearson
        (metricrm.meta's functions, on the items where both scores exist)."""
        import pandas as pd

        who = "ScorerCorrelationDisplay.from_scores"
        check_choice(who, "method", method, tuple(METHODS))
        table = _as_table(who, scores)
        flips = dict(higher_is_better or {})
        unknown = sorted(set(flips) - set(table.columns))
        if unknown:
            raise ScorerInputError(
                f"{who}: `higher_is_better` names {unknown}, which are not among the scorers "
                f"({', '.join(table.columns)})"
            )
        for name, higher in flips.items():
            if not higher:
                table[name] = -table[name]
        names = list(table.columns)
        k = len(names)
        matrix, counts = np.eye(k), np.zeros((k, k), dtype=int)
        data = table.to_numpy(dtype=float)
        fn = METHODS[method]
        for i in range(k):
            counts[i, i] = int(np.isfinite(data[:, i]).sum())
            for j in range(i + 1, k):
                both = np.isfinite(data[:, i]) & np.isfinite(data[:, j])
                if both.sum() < 2:
                    raise ScorerInputError(
                        f"{who}: {names[i]} and {names[j]} share {int(both.sum())} scored "
                        "items; expected at least 2"
                    )
                value = fn(data[both, i], data[both, j]).statistic
                matrix[i, j] = matrix[j, i] = value
                counts[i, j] = counts[j, i] = int(both.sum())
        display = cls(
            pd.DataFrame(matrix, index=names, columns=names),
            pd.DataFrame(counts, index=names, columns=names),
            method=method,
        )
        return display.plot(ax=ax)

    def plot(self, ax: Any = None) -> ScorerCorrelationDisplay:
        """Draw on ``ax`` or a new figure; returns ``self``."""
        values = self.matrix_.to_numpy(dtype=float)
        k = values.shape[0]
        texts = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values]
        with paper_style():
            fig, axes = new_axes(ax, figsize=(max(COLUMN_WIDTH, 0.45 * k + 1.8),) * 2)
            axis = axes[0]
            labels = list(self.matrix_.index)
            self.image_, self.texts_ = draw_matrix(
                axis, values, texts, row_labels=labels, col_labels=labels,
                cmap=DIVERGING_CMAP, vmin=-1.0, vmax=1.0, fontsize=6.5 if k > 8 else 7,
            )  # fmt: skip
            fig.colorbar(self.image_, ax=axis, shrink=0.8, label=self.method.replace("_", " "))
        self.figure_, self.ax_ = fig, axis
        return self


def _as_table(who: str, scores: Any) -> Any:
    import pandas as pd

    if isinstance(scores, pd.DataFrame):
        table = scores.copy()
    elif isinstance(scores, Mapping):
        lengths = {str(k): np.size(v) for k, v in scores.items()}
        if len(set(lengths.values())) > 1:
            raise ScorerInputError(
                f"{who}: expected one score per item for every scorer (got lengths {lengths})"
            )
        table = pd.DataFrame({str(k): np.asarray(v, dtype=float) for k, v in scores.items()})
    else:
        raise ScorerInputError(
            f"{who}: expected a DataFrame or a mapping of scorer -> scores "
            f"(got {type(scores).__name__})"
        )
    if table.shape[1] < 2:
        raise ScorerInputError(f"{who}: expected at least 2 scorers (got {table.shape[1]})")
    bad = [c for c in table.columns if not np.issubdtype(table[c].dtype, np.number)]
    if bad:
        raise ScorerInputError(f"{who}: column(s) {bad} do not hold numbers")
    return table.astype(float)
