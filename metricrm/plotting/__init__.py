"""Figures (layer 4: reads finished result frames; never scores or computes statistics itself).

Contract for what lands here: Display objects in the scikit-learn style. ``XDisplay.from_frame
(frame, ..., ax=None)`` takes a result frame (from ``meta_evaluate``, a probe run, a composite
fit) and computes only what to draw; ``.plot(ax=None)`` draws on the given axes (or a new
figure) and keeps ``ax_``, ``figure_`` and the artists for tests and further styling.
matplotlib is imported inside the functions, so ``import metricrm`` never loads it.

Displays for scores rather than result frames (``from_scores``, ``from_pairs``,
``from_predictions``) take their statistics from :mod:`metricrm.meta`. Every Display has
``savefig(path)`` (PNG, SVG or PDF by suffix) and ``to_svg()``. Defaults suit a paper: the
Okabe-Ito colour-blind-safe palette, 8-10 pt fonts, one-column widths (:mod:`.style`).

>>> from metricrm.plotting import ForestDisplay            # doctest: +SKIP
>>> ForestDisplay.from_frame(table).savefig("forest.pdf")  # doctest: +SKIP
"""

from .base import Display
from .calibration import ReliabilityDisplay
from .composite import CompositeWeightsDisplay, ParetoFrontDisplay, pareto_mask
from .correlation import ScorerCorrelationDisplay
from .forest import ForestDisplay
from .heatmap import HeatmapDisplay
from .length import LengthBiasDisplay, response_length
from .probes import BestOfNDisplay, ProbeDisplay
from .rmbench import RMBenchMatrixDisplay
from .style import PALETTE, cluster_color, paper_style

__all__ = [
    "PALETTE",
    "BestOfNDisplay",
    "CompositeWeightsDisplay",
    "Display",
    "ForestDisplay",
    "HeatmapDisplay",
    "LengthBiasDisplay",
    "ParetoFrontDisplay",
    "ProbeDisplay",
    "RMBenchMatrixDisplay",
    "ReliabilityDisplay",
    "ScorerCorrelationDisplay",
    "cluster_color",
    "paper_style",
    "pareto_mask",
    "response_length",
]
