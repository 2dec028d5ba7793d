"""Read any tabular source into rows that remember where they came from.

Sources: a JSONL / JSON / CSV / TSV / Parquet path, a pandas ``DataFrame``, a ``datasets.Dataset``
or ``DatasetDict``, a folder saved with ``save_to_disk``, or a Hugging Face hub id.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, DataNotFoundError
from ..core.optional import require
from ._io import read_json, read_jsonl, read_text

FILE_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


@dataclass
class Table:
    """Rows of a source: ``name`` for messages, ``rows`` as ``(location, record)`` pairs and the
    ``columns`` seen in any row (in first-seen order)."""

    name: str
    rows: list[tuple[str, Mapping[str, Any]]]
    columns: list[str]


def read_source(
    source: Any, *, format: str | None, split: str | None, load_kwargs: Mapping[str, Any], who: str
) -> Table:
    """Read ``source`` into a :class:`Table`; see the module docstring for what it accepts."""
    module = type(source).__module__.split(".")[0]
    if module == "pandas" and hasattr(source, "columns"):
        return _from_frame(source, "DataFrame")
    if module == "datasets" and hasattr(source, "column_names"):
        return _from_dataset(source, split, "Dataset", who)
    if not isinstance(source, (str, Path)):
        raise DataFormatError(
            f"{who}: expected a path, a hub dataset id, a pandas DataFrame or a datasets.Dataset "
            f"(got {type(source).__name__})"
        )
    path = Path(source)
    if path.is_dir():
        return _from_folder(path, split, load_kwargs, who)
    if path.is_file():
        return _from_file(path, format, who)
    text = str(source)
    if isinstance(source, str) and _HUB_ID.fullmatch(text) and _suffix_format(path) is None:
        datasets = require("datasets", who=who, extra="hf")
        loaded = datasets.load_dataset(text, split=split, **load_kwargs)
        return _from_dataset(loaded, split, f"hub dataset {text!r}", who)
    raise DataNotFoundError(f"{who}: no such file or folder, and not a hub dataset id: {text}")


def _suffix_format(path: Path) -> str | None:
    suffixes = path.suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIXES.get(suffixes[-1].lower()) if suffixes else None


def _from_file(path: Path, format: str | None, who: str) -> Table:
    fmt = format or _suffix_format(path)
    if fmt not in FILE_FORMATS:
        raise DataFormatError(
            f"{who}: cannot tell the format of {path}; "
            f"pass format= one of {', '.join(FILE_FORMATS)}"
            + (f" (got {format!r})" if format else "")
        )
    if fmt == "jsonl":
        return _records(str(path), [(f"line {n}", value) for n, value in read_jsonl(path)])
    if fmt == "json":
        data = read_json(path)
        if not isinstance(data, list):
            raise DataFormatError(
                f"{path}: expected a JSON list of records (got {type(data).__name__}); "
                "use JSON Lines or a format-specific loader"
            )
        if not data:
            raise DataFormatError(f"{path}: the JSON list is empty (no records)")
        return _records(str(path), [(f"item {i}", value) for i, value in enumerate(data)])
    if fmt in ("csv", "tsv"):
        return _from_csv(path, "\t" if fmt == "tsv" else ",")
    pandas = require("pandas", who=who, extra="io")
    try:
        frame = pandas.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataFormatError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from exc
    return _from_frame(frame, str(path))


def _records(name: str, located: list[tuple[str, Any]]) -> Table:
    columns: dict[str, None] = {}
    for where, value in located:
        if not isinstance(value, Mapping):
            raise DataFormatError(
                f"{name}: {where}: expected a JSON object (got {type(value).__name__})"
            )
        columns.update(dict.fromkeys(value))
    return Table(name, located, list(columns))


def _field_count_error(
    path: Path, line: int, raw: str, header: list[str], raw_header: str, got: int, delimiter: str
) -> DataFormatError:
    """The error for a line with another number of fields than the header; for a TSV, what was
    found when the line or the header separates fields by spaces as well as (or instead of)
    tabs, as the WMT MQM averaged-score files do (``system<TAB>score seg_id``)."""
    n = len(header)
    if delimiter != "\t":
        return DataFormatError(
            f"{path}: line {line}: expected {n} fields as in the header (got {got})"
        )
    message = (
        f"{path}: line {line}: expected {n} tab-separated field{'s' if n != 1 else ''} as in "
        f"the header, got {got}"
    )
    names = raw_header.split()
    header_spaced = "\t" not in raw_header and len(names) > 1
    words = len(raw.split())
    # Text fields hold spaces: only call it mixing when the spaces look like separators.
    mixed = "\t" in raw and " " in raw.strip() and (words == n or header_spaced)
    if mixed:
        message += f"; the line mixes tabs and spaces ({words} fields when split at both)"
    if header_spaced:
        message += (
            f"; the header has no tab but {len(names)} space-separated names ({', '.join(names)})"
        )
    if mixed or header_spaced:
        message += (
            ". A TSV separates fields by tabs only (text fields may hold spaces), so the loader "
            "does not guess which spaces separate fields: convert the file to tabs only, or, for "
            "a WMT MQM averaged-score file, load it as the second path of the wmt-mqm format"
        )
    return DataFormatError(message)


def _from_csv(path: Path, delimiter: str) -> Table:
    text = read_text(path)
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path}: the file is empty (expected a header line)")
        if len(set(header)) != len(header):
            raise DataFormatError(f"{path}: line 1: repeated column names in the header {header}")
        rows = []
        previous = reader.line_num
        for fields in reader:
            line, previous = previous + 1, reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                raw = lines[line - 1] if line <= len(lines) else ""
                raise _field_count_error(path, line, raw, header, lines[0], len(fields), delimiter)
            rows.append((f"line {line}", dict(zip(header, fields))))
    except csv.Error as exc:
        raise DataFormatError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from exc
    if not rows:
        raise DataFormatError(f"{path}: no data rows after the header")
    return Table(str(path), rows, list(header))


def _from_frame(frame: Any, name: str) -> Table:
    if len(frame) == 0:
        raise DataFormatError(f"{name}: no rows")
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise DataFormatError(f"{name}: repeated column names {columns}")
    records = frame.to_dict("records")
    rows = [(f"row {i}", dict(zip(columns, r.values()))) for i, r in enumerate(records)]
    return Table(name, rows, columns)


def _from_dataset(data: Any, split: str | None, name: str, who: str) -> Table:
    if isinstance(getattr(data, "column_names", None), dict):  # a DatasetDict: pick the split
        splits = list(data.keys())
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in splits:
            raise DataFormatError(
                f"{who}: {name} has splits {', '.join(splits)}; pass split= one of them"
                + (f" (got {split!r})" if split is not None else "")
            )
        data = data[split]
    if split is not None:
        name = f"{name} [{split}]"
    if len(data) == 0:
        raise DataFormatError(f"{name}: no rows")
    columns = list(data.column_names)
    return Table(name, [(f"row {i}", row) for i, row in enumerate(data)], columns)


def _from_folder(path: Path, split: str | None, load_kwargs: Mapping[str, Any], who: str) -> Table:
    datasets = require("datasets", who=who, extra="hf")
    if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        return _from_dataset(datasets.load_from_disk(str(path)), split, str(path), who)
    loaded = datasets.load_dataset(str(path), split=split, **load_kwargs)
    return _from_dataset(loaded, split, str(path), who)
