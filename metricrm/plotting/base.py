"""What every Display shares: choosing rows of a result frame, saving, and SVG for reports."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, ScorerConfigError

#: figure formats ``savefig`` writes (the suffix of the path picks one)
FORMATS = ("png", "svg", "pdf")
#: the columns of a ``meta_evaluate`` frame that tell rows apart (besides the scorer)
ROW_KEYS = ("dataset", "subset", "human", "level", "statistic")


def require_columns(who: str, frame: Any, columns: Sequence[str]) -> None:
    """A clear error when ``frame`` is not a DataFrame or lacks one of ``columns``."""
    if not hasattr(frame, "columns") or not hasattr(frame, "loc"):
        raise DataFormatError(f"{who}: expected a pandas DataFrame (got {type(frame).__name__})")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{who}: the frame lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(map(str, frame.columns))})"
        )


def select_rows(who: str, frame: Any, keys: Sequence[str], filters: Mapping[str, Any]) -> Any:
    """The rows of a result frame matching ``filters`` (column -> value; None = any), with one
    row per combination of ``keys``. Rows without a value (note rows of skipped scorers) are
    left out. Several rows for one key raise an error naming the columns that tell them apart,
    so a figure never silently mixes, say, flat and system level values."""
    import pandas as pd

    require_columns(who, frame, ["scorer", "value", "ci_low", "ci_high", *keys])
    rows = frame[frame["value"].notna()]
    for column, wanted in filters.items():
        if wanted is None or column not in rows.columns:
            continue
        values = set(rows[column].dropna().astype(str))
        if str(wanted) not in values:
            raise ScorerConfigError(
                f"{who}: no row has {column} = {wanted!r}; available: "
                f"{', '.join(sorted(values)) or '(none)'}"
            )
        rows = rows[rows[column].astype(str) == str(wanted)]
    if rows.empty:
        raise DataFormatError(f"{who}: no row with a value to draw")
    dupes = rows.duplicated(subset=list(keys), keep=False)
    if dupes.any():
        clash = rows[dupes]
        varying = [
            c for c in ROW_KEYS
            if c in clash.columns and c not in keys and clash[c].astype(str).nunique() > 1
        ]  # fmt: skip
        hint = "; ".join(
            f"{c}: {', '.join(sorted(clash[c].astype(str).unique()))}" for c in varying
        )
        raise ScorerConfigError(
            f"{who}: more than one row per ({', '.join(keys)}); they differ in {hint or 'nothing'}"
            f" -- choose with {' or '.join(f'{c}=...' for c in varying) or 'a filtered frame'}"
        )
    return pd.DataFrame(rows).reset_index(drop=True)


def label_of(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """``"a / b"`` from the named columns of a row (missing values left out)."""
    parts = [str(row[c]) for c in columns if row.get(c) is not None and str(row[c]) != "nan"]
    return " / ".join(parts)


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
