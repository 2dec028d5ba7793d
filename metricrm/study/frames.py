"""Reading ``meta_evaluate`` result frames: choose rows without mixing levels or statistics by
accident, and lay them out as a grid (rows x columns) of values, intervals and clusters. Shared
by the figures (:mod:`metricrm.plotting`) and the tables and reports (:mod:`metricrm.report`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import DataFormatError, ScorerConfigError

#: the columns of a result frame that tell rows apart, besides the scorer
ROW_KEYS = ("dataset", "subset", "human", "level", "statistic")
#: the columns every reader of a result frame needs
REQUIRED = ("scorer", "value", "ci_low", "ci_high")


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


def as_text(column: Any, missing: str = "-") -> Any:
    """A result column as strings with ``missing`` for NaN/None. (``astype(str)`` keeps missing
    values missing under pandas 3, so grouping or counting them would drop them.)"""
    return column.astype(object).where(column.notna(), missing).astype(str)


def select_rows(who: str, frame: Any, keys: Sequence[str], filters: Mapping[str, Any]) -> Any:
    """The rows of a result frame matching ``filters`` (column -> value; None = any), with one
    row per combination of ``keys``. Rows without a value (note rows of skipped scorers) are
    left out. Several rows for one key raise an error naming the columns that tell them apart,
    so a figure or table never silently mixes, say, flat and system level values."""
    import pandas as pd

    require_columns(who, frame, [*REQUIRED, *keys])
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
    dupes = rows.astype({k: str for k in keys}).duplicated(subset=list(keys), keep=False)
    if dupes.any():
        clash = rows[dupes]
        varying = [
            c for c in ROW_KEYS
            if c in clash.columns and c not in keys and as_text(clash[c]).nunique() > 1
        ]  # fmt: skip
        hint = "; ".join(f"{c}: {', '.join(sorted(as_text(clash[c]).unique()))}" for c in varying)
        choose = " or ".join(f"{c}=..." for c in varying) or "a filtered frame"
        raise ScorerConfigError(
            f"{who}: more than one row per ({', '.join(keys)}); they differ in "
            f"{hint or 'nothing'} -- choose with {choose}"
        )
    return pd.DataFrame(rows).reset_index(drop=True)


def label_of(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """``"a / b"`` from the named columns of a row (missing values left out)."""
    parts = []
    for c in columns:
        value = row.get(c)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        parts.append(str(value))
    return " / ".join(parts)


@dataclass
class ResultGrid:
    """Values, interval bounds and clusters of a result frame laid out as DataFrames of the same
    shape (rows x columns; NaN where no row fills a cell)."""

    values: Any
    ci_low: Any
    ci_high: Any
    cluster: Any
    statistics: list[str]


def pivot_results(
    who: str,
    frame: Any,
    *,
    rows: str | Sequence[str] = "scorer",
    columns: str | Sequence[str] = ("dataset", "statistic"),
    filters: Mapping[str, Any] | None = None,
) -> ResultGrid:
    """Rows of ``frame`` (chosen by ``filters``, one per cell) as a grid: ``rows`` and
    ``columns`` each name one or more columns, whose values (joined with " / ") label the
    grid's rows and columns. Rows and columns keep the frame's order."""
    by_row = [rows] if isinstance(rows, str) else list(rows)
    by_col = [columns] if isinstance(columns, str) else list(columns)
    keys = [*by_row, *by_col]
    wanted = {k: v for k, v in (filters or {}).items() if k not in keys}
    picked = select_rows(who, frame, keys, wanted)
    if "cluster" not in picked.columns:
        picked["cluster"] = math.nan
    records = picked.to_dict(orient="records")
    picked["_row"] = [label_of(r, by_row) for r in records]
    picked["_col"] = [label_of(r, by_col) for r in records]
    row_order = list(dict.fromkeys(picked["_row"]))
    col_order = list(dict.fromkeys(picked["_col"]))

    def grid(column: str) -> Any:
        table = picked.pivot(index="_row", columns="_col", values=column)
        table = table.reindex(index=row_order, columns=col_order).astype(float)
        table.index.name = table.columns.name = None
        return table

    stats = list(dict.fromkeys(picked["statistic"].astype(str))) if "statistic" in picked else []
    return ResultGrid(grid("value"), grid("ci_low"), grid("ci_high"), grid("cluster"), stats)
