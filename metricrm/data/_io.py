"""File-reading helpers shared by the loaders. Every error names the file and the place in it."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Union

from ..core.errors import DataFormatError

PathLike = Union[str, os.PathLike]


def existing_path(path: PathLike, *, who: str) -> Path:
    """``path`` as a ``Path``; ``FileNotFoundError`` naming ``who`` when it does not exist."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{who}: no such file or folder: {p}")
    return p


def read_text(path: Path) -> str:
    """Whole file as UTF-8 text (a leading BOM dropped); ``.gz`` files are decompressed."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as fh:
                return fh.read()
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # truncated gzip raises EOFError
        raise DataFormatError(f"{path}: cannot read the file ({type(exc).__name__}: {exc})") from exc


def read_json(path: Path) -> Any:
    """Parse a JSON file; malformed or truncated JSON names the line and column."""
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(f"{path}: the file is empty (expected a JSON document)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{path}: invalid or truncated JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc


def read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """``(line_number, value)`` for each non-blank line of a JSON Lines file (1-based lines)."""
    records: list[tuple[int, Any]] = []
    # Split on "\n" only: JSON strings may legally hold U+2028 and similar characters.
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"{path}: line {number}: invalid or truncated JSON ({exc.msg} at column {exc.colno})"
            ) from exc
    if not records:
        raise DataFormatError(f"{path}: the file is empty (expected one JSON object per line)")
    return records


def expect_type(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    """``value`` if it is an instance of ``kind``; otherwise a ``DataFormatError``."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataFormatError(f"{where}: expected {what} to be {names} (got {type(value).__name__})")
    return value


def require_keys(item: Any, keys: Iterable[str], where: str) -> Mapping[str, Any]:
    """``item`` if it is a JSON object holding every key in ``keys``."""
    expect_type(item, Mapping, where, "the record")
    missing = [k for k in keys if k not in item]
    if missing:
        raise DataFormatError(
            f"{where}: missing field(s) {', '.join(map(repr, missing))} "
            f"(fields present: {', '.join(map(repr, item))})"
        )
    return item


def expect_text(item: Mapping[str, Any], key: str, where: str) -> str:
    """``item[key]`` checked to be a string."""
    return expect_type(item[key], str, where, f"`{key}`")
