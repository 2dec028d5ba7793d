"""Read finished meta-evaluation results: a result table (CSV, JSON Lines or Parquet, with the
metadata ``write_table`` keeps beside or inside it) or a JSON report of ``metricrm meta-eval
--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, DataNotFoundError
from ..core.results_io import FORMATS, read_metadata, read_table
from ..study.frames import REQUIRED, require_columns

#: the columns a report needs besides ``REQUIRED`` (``scorer, value, ci_low, ci_high``)
REPORT_COLUMNS = ("dataset", "statistic")


def load_results(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(frame, metadata)`` from a result table or a JSON report; ``metadata`` holds what the
    file recorded (settings, versions, scorers, datasets, command), ``{}`` when nothing."""
    who = "load_results"
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{who}: no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        frame, metadata = _json_report(who, path)
    elif suffix in FORMATS:
        frame, metadata = read_table(path), read_metadata(path) or {}
    else:
        raise DataFormatError(
            f"{who}: cannot read {str(path)!r}: expected a result table "
            f"({', '.join(FORMATS)}) or a JSON report (.json)"
        )
    require_columns(f"{who}: {path}", frame, [*REQUIRED, *REPORT_COLUMNS])
    if frame.empty:
        raise DataFormatError(f"{who}: {path} holds no result rows")
    return frame, metadata


def _json_report(who: str, path: Path) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{who}: {path}: invalid JSON ({exc.msg} at line {exc.lineno})"
        ) from exc
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise DataFormatError(
            f"{who}: {path}: expected a JSON report with a `results` list of rows, as "
            "`metricrm meta-eval --json` writes"
        )
    bad = next((i for i, r in enumerate(report["results"]) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataFormatError(f"{who}: {path}: results[{bad}] is not an object")
    frame = pd.DataFrame.from_records(report["results"])
    for column in ("value", "ci_low", "ci_high", "cluster"):
        if column in frame.columns:  # JSON null -> NaN
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    metadata = {k: v for k, v in report.items() if k != "results"}
    return frame, metadata
