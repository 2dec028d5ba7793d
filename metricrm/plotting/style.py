"""Defaults readable in a paper: a colour-blind-safe palette, font sizes, figure sizes.

The palette is Okabe and Ito's (2008) eight colours, safe for the common colour-vision
deficiencies; significance cluster ``k`` (1 = top) gets ``PALETTE[k - 1]`` and rows without a
cluster are grey. Sequential maps default to ``cividis`` (designed for colour-vision
deficiencies), diverging ones to ``PuOr`` (ColorBrewer, colour-blind safe).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..core.errors import ScorerConfigError

#: Okabe-Ito: blue, orange, bluish green, reddish purple, sky blue, vermillion, yellow, black
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
)  # fmt: skip
#: rows without a cluster (no significance test, or a note row)
NO_CLUSTER = "#999999"
SEQUENTIAL_CMAP = "cividis"
DIVERGING_CMAP = "PuOr"
#: one column of a two-column paper is about 3.3 inches wide; a full width about 7
COLUMN_WIDTH = 3.4
FULL_WIDTH = 7.0

#: matplotlib settings applied while a Display creates its figure and artists
PAPER_RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",  # text stays text in SVG: smaller files, selectable, searchable
    "pdf.fonttype": 42,  # TrueType in PDF: editable by journals' tools
    "ps.fonttype": 42,
}


def cluster_color(cluster: Any) -> str:
    """The colour of significance cluster ``cluster`` (1 = top); grey for none or NaN."""
    try:
        k = float(cluster)
    except (TypeError, ValueError):
        return NO_CLUSTER
    if math.isnan(k) or k < 1 or k != int(k):
        return NO_CLUSTER
    return PALETTE[(int(k) - 1) % len(PALETTE)]


@contextmanager
def paper_style() -> Iterator[None]:
    """matplotlib rc settings for paper figures (and the palette as the colour cycle), for the
    duration of the block."""
    import matplotlib as mpl
    from cycler import cycler

    rc = {**PAPER_RC, "axes.prop_cycle": cycler(color=list(PALETTE))}
    with mpl.rc_context(rc):
        yield


def new_axes(ax: Any, *, nrows: int = 1, ncols: int = 1, figsize: tuple[float, float]) -> tuple:
    """``(figure, axes array)``: the given axes (one, or a sequence of ``nrows * ncols``) or a
    new figure of ``figsize`` inches. Call inside :func:`paper_style`."""
    import numpy as np

    n = nrows * ncols
    if ax is None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
        return fig, np.asarray(axes).ravel()
    axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
    if axes.size != n:
        raise ScorerConfigError(
            f"plot: expected `ax` to be {n} matplotlib Axes, one per panel (got {axes.size})"
        )
    return axes[0].figure, axes
