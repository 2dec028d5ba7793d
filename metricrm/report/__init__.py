"""Reports (layer 4: assembles finished result frames and figures into documents).

Contract for what lands here: a report takes result frames and figures that already exist and
writes a self-contained document (HTML with embedded figures, or Markdown), with every
signature, setting and version that produced the numbers. It scores nothing and computes no
statistics; matplotlib and templating libraries are imported inside functions.

- :func:`load_results`: a result table (CSV/JSONL/Parquet) or a ``meta-eval --json`` report,
  with what it recorded.
- :func:`to_markdown`, :func:`to_latex`: tables for papers (value and interval per cell, the
  top significance cluster in bold).
- :func:`html_report`, :func:`write_html_report`: one HTML file with a summary, sortable
  tables, inline SVG figures (:class:`ReportFigure`, e.g. from a plotting Display's
  ``to_svg()``) and a reproducibility section. ``metricrm report`` builds the figures and calls
  these.
"""

from .html import ReportFigure, html_report, write_html_report
from .results import load_results
from .tables import latex_escape, to_latex, to_markdown

__all__ = [
    "ReportFigure",
    "html_report",
    "latex_escape",
    "load_results",
    "to_latex",
    "to_markdown",
    "write_html_report",
]
