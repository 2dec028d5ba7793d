"""What every Display shares: saving, SVG for reports (and, re-exported, the result-frame
helpers of :mod:`metricrm.study.frames`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..core.errors import ScorerConfigError
from ..study.frames import label_of, require_columns, select_rows

__all__ = ["FORMATS", "Display", "label_of", "require_columns", "select_rows"]

#: figure formats ``savefig`` writes (the suffix of the path picks one)
FORMATS = ("png", "svg", "pdf")


class Display:
    """Base of the Displays: ``plot`` sets ``figure_`` and ``ax_``; ``savefig`` and ``to_svg``
    write what was drawn."""

    figure_: Any = None
    ax_: Any = None

    def _drawn(self, who: str) -> Any:
        if self.figure_ is None:
            raise ScorerConfigError(f"{who}: nothing drawn yet; call .plot() first")
        return self.figure_

    def savefig(self, path: str | Path, **kwargs: Any) -> Path:
        """Save the figure as PNG, SVG or PDF (from the suffix of ``path``); ``kwargs`` go to
        ``Figure.savefig`` (300 dpi and a tight bounding box by default)."""
        who = f"{type(self).__name__}.savefig"
        figure = self._drawn(who)
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ScorerConfigError(
                f"{who}: expected a file name ending in {', '.join('.' + f for f in FORMATS)} "
                f"(got {str(path)!r})"
            )
        if not path.parent.is_dir():
            raise FileNotFoundError(f"{who}: the folder {str(path.parent)!r} does not exist")
        options = {"dpi": 300, "bbox_inches": "tight", **kwargs}
        stamp = {"svg": "Date", "pdf": "CreationDate"}.get(fmt)  # reproducible files
        if stamp:
            options["metadata"] = {stamp: None, **options.get("metadata", {})}
        figure.savefig(path, format=fmt, **options)
        return path

    def to_svg(self) -> str:
        """The figure as an SVG document (text kept as text), for inlining in HTML."""
        figure = self._drawn(f"{type(self).__name__}.to_svg")
        import matplotlib as mpl

        buffer = io.StringIO()
        with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "metricrm"}):
            figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        text = buffer.getvalue()
        return text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE

    def close(self) -> None:
        """Release the figure (pyplot keeps figures it created until they are closed)."""
        if self.figure_ is not None:
            import matplotlib.pyplot as plt

            plt.close(self.figure_)
