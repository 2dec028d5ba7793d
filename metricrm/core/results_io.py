"""Write and read result tables as CSV, JSON Lines or Parquet.

Floats round-trip exactly in all three formats: CSV and JSONL hold the shortest text that reads
back to the same double, and CSV is read with pandas' round-trip float parser. Writes are atomic:
the table goes to a temporary file in the target folder, which replaces the target only once
complete, so a failure never leaves a partial output file (an existing file stays as it was).
Written files get the permissions a plain ``open(path, "w")`` gives (the umask, or the mode of
the file they replace), although the temporary file is created readable by its owner only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Union

from .errors import DataFormatError
from .optional import require

PathLike = Union[str, "os.PathLike[str]"]
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def table_format(path: PathLike, format: str | None = None, *, who: str = "metricrm.io") -> str:
    """``format`` if given, else the format named by ``path``'s suffix; unknown ones raise."""
    valid = sorted(set(FORMATS.values()))
    if format is not None:
        if format not in valid:
            raise DataFormatError(
                f"{who}: unknown table format {format!r}; expected one of {', '.join(valid)}"
            )
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataFormatError(
            f"{who}: cannot tell the table format of {str(path)!r} from its suffix "
            f"{suffix or '(none)'!r}; expected {', '.join(FORMATS)} (or pass format=...)"
        )
    return FORMATS[suffix]


def _as_frame(frame_or_records: Any):
    import pandas as pd

    if isinstance(frame_or_records, pd.DataFrame):
        return frame_or_records
    if isinstance(frame_or_records, (str, bytes, Mapping)) or not isinstance(
        frame_or_records, Sequence
    ):
        raise DataFormatError(
            "write_table: expected a pandas DataFrame or a list of records (mappings or "
            f"dataclass instances) (got {type(frame_or_records).__name__})"
        )
    rows = []
    for i, rec in enumerate(frame_or_records):
        if dataclasses.is_dataclass(rec) and not isinstance(rec, type):
            rec = dataclasses.asdict(rec)
        if not isinstance(rec, Mapping):
            raise DataFormatError(
                f"write_table: record {i} must be a mapping or a dataclass instance "
                f"(got {type(rec).__name__})"
            )
        rows.append(dict(rec))
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


def _json_value(value: Any) -> Any:
    """Plain JSON value for one cell; missing values (None, NaN, NA) become null."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        raise DataFormatError(
            f"write_table: JSON Lines cannot hold the infinite value {value!r}; use CSV or Parquet"
        )
    if isinstance(value, (str, int, float, bool)):
        return value
    raise DataFormatError(
        f"write_table: cannot write a {type(value).__name__} value ({value!r}) as JSON"
    )


def _write_jsonl(frame, fh: IO[str]) -> None:
    columns = [str(c) for c in frame.columns]
    for row in frame.itertuples(index=False, name=None):
        record = {c: _json_value(v) for c, v in zip(columns, row)}
        fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")


def _write_csv(frame, fh: IO[str]) -> None:
    for column in frame.columns:
        if frame[column].dtype == object:
            nested = frame[column].map(lambda v: isinstance(v, (list, tuple, dict, Mapping)))
            if nested.any():
                row = int(nested.to_numpy().nonzero()[0][0])
                raise DataFormatError(
                    f"write_table: column {column!r} holds nested values (row {row}: "
                    f"{type(frame[column].iloc[row]).__name__}), which CSV cannot represent; "
                    "write JSON Lines or Parquet instead"
                )
    # pandas writes floats with repr(): the shortest text that reads back to the same double.
    frame.to_csv(fh, index=False, lineterminator="\n")


def current_umask() -> int:
    """The process umask (read without changing it where ``/proc`` allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def set_default_permissions(path: PathLike, *, like: PathLike | None = None) -> None:
    """Give ``path`` the permissions ``open(path, "w")`` would: those of ``like`` (the file it
    replaces) if that exists, else ``0o666`` less the umask. Temporary files (``mkstemp``) and
    some writers (``safetensors``) create files readable by their owner only."""
    if like is not None and os.path.isfile(like):
        mode = stat.S_IMODE(os.stat(like).st_mode)
    else:
        mode = 0o666 & ~current_umask()
    os.chmod(path, mode)


def set_default_permissions_in(folder: PathLike) -> None:
    """:func:`set_default_permissions` for every file directly in ``folder`` (e.g. after
    ``save_pretrained``, whose ``model.safetensors`` is otherwise readable by its owner only)."""
    for entry in Path(folder).iterdir():
        if entry.is_file() and not entry.is_symlink():
            set_default_permissions(entry)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place
    with the permissions a plain ``open(path, "w")`` would give it."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        set_default_permissions(tmp, like=path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


METADATA_KEY = "metricrm"


def metadata_path(path: PathLike) -> Path:
    """The sidecar JSON that holds a CSV or JSONL table's metadata: ``<path>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def write_table(
    frame_or_records: Any,
    path: PathLike,
    format: str | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a DataFrame (or a list of mappings/dataclass records) to ``path`` atomically.

    The format comes from ``format`` (``"csv"``, ``"jsonl"``, ``"parquet"``) or else from the
    suffix of ``path``. ``metadata`` (JSON-able: signatures, settings, versions) goes into the
    Parquet schema's metadata under ``"metricrm"``, or into the sidecar :func:`metadata_path`
    for CSV and JSON Lines; :func:`read_metadata` reads it back. Returns the path written.
    """
    path = Path(path)
    fmt = table_format(path, format, who="write_table")
    frame = _as_frame(frame_or_records)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"write_table: the folder {str(path.parent)!r} does not exist")
    blob = None if metadata is None else json.dumps(_json_value(dict(metadata)), indent=1)

    def write(tmp: str) -> None:
        if fmt == "parquet":
            pa = require("pyarrow", who="write_table (parquet)", extra="io")
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if blob is not None:
                schema_meta = {
                    **(table.schema.metadata or {}),
                    METADATA_KEY.encode(): blob.encode(),
                }
                table = table.replace_schema_metadata(schema_meta)
            pq.write_table(table, tmp)
            return
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            (_write_csv if fmt == "csv" else _write_jsonl)(frame, fh)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(path, write)
    sidecar = metadata_path(path)
    if fmt != "parquet" and blob is not None:
        atomic_write(sidecar, lambda tmp: Path(tmp).write_text(blob + "\n", encoding="utf-8"))
    elif sidecar.exists():  # it described an earlier file of this name
        sidecar.unlink()
    return path


def read_metadata(path: PathLike, format: str | None = None) -> dict[str, Any] | None:
    """The ``metadata`` :func:`write_table` stored with a table, or None when it has none."""
    path = Path(path)
    fmt = table_format(path, format, who="read_metadata")
    if fmt == "parquet":
        require("pyarrow", who="read_metadata (parquet)", extra="io")
        import pyarrow.parquet as pq

        stored = (pq.read_schema(path).metadata or {}).get(METADATA_KEY.encode())
        return None if stored is None else json.loads(stored)
    sidecar = metadata_path(path)
    return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else None


def _read_jsonl(path: Path):
    import pandas as pd

    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(
                    f"{path}: line {number}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from exc
            if not isinstance(record, dict):
                raise DataFormatError(
                    f"{path}: line {number}: expected a JSON object (got {type(record).__name__})"
                )
            rows.append(record)
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


def read_table(path: PathLike, format: str | None = None):
    """Read a table written by ``write_table`` (or any CSV/JSONL/Parquet file) as a DataFrame.

    CSV: only empty fields count as missing (text such as ``"NA"`` stays text), floats are
    parsed exactly, and column types are inferred (a column holding only digits reads back as
    integers); JSONL and Parquet keep types as written.
    """
    import pandas as pd

    path = Path(path)
    fmt = table_format(path, format, who="read_table")
    if not path.is_file():
        raise FileNotFoundError(f"read_table: no such file: {path}")
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt == "parquet":
        require("pyarrow", who="read_table (parquet)", extra="io")
        return pd.read_parquet(path, engine="pyarrow")
    try:
        return pd.read_csv(
            path, float_precision="round_trip", keep_default_na=False, na_values=[""]
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as exc:
        raise DataFormatError(f"{path}: malformed CSV ({exc})") from exc
