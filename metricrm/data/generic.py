"""Generic loaders: any table (file, DataFrame, ``datasets.Dataset``, hub id) into records.

``columns`` maps our field names to the source's column names; unmapped columns go to ``meta``.
Fields whose default column is absent are left empty, except the required ones (an error).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.errors import DataFormatError, ScorerConfigError
from ..core.records import (
    POINTWISE_FIELDS,
    PREFERENCE_FIELDS,
    PointwiseItem,
    PreferencePair,
    is_messages,
)
from .formats import DATASET_FORMATS
from .tables import FILE_FORMATS, Table, read_source

#: published preference formats a ``format=`` can name, and their loaders
PREFERENCE_FORMATS: dict[str, Callable[..., list[PreferencePair]]] = {
    n: f.loader for n, f in DATASET_FORMATS.items() if f.kind == "preference" and f.loader
}
#: published pointwise formats a ``format=`` can name, and their loaders
POINTWISE_FORMATS: dict[str, Callable[..., list[PointwiseItem]]] = {
    n: f.loader for n, f in DATASET_FORMATS.items() if f.kind == "pointwise" and f.loader
}

DEFAULT_LABELS: Mapping[Any, str] = {
    "chosen": "chosen",
    "rejected": "rejected",
    "tie": "tie",
    1: "chosen",
    0: "rejected",
    0.5: "tie",
}
"""Label values understood by default. A number is the preference for the ``chosen`` column:
1 = it is better, 0 = the ``rejected`` column is better (the two are swapped), 0.5 = tie."""

_MISSING_WORDS = {"", "none", "null", "na", "nan"}


def load_preference_pairs(
    source: Any,
    *,
    columns: Mapping[str, Any] | None = None,
    format: str | None = None,
    split: str | None = None,
    labels: Mapping[Any, str] | None = None,
    **load_kwargs: Any,
) -> list[PreferencePair]:
    """Load preference pairs from a file, DataFrame, ``datasets.Dataset`` or hub dataset id.

    ``source``: a ``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet`` path (``.jsonl.gz`` too), a
    folder saved with ``save_to_disk``, a pandas DataFrame, a ``datasets.Dataset``/``DatasetDict``,
    or a hub id (any string that is not an existing path and looks like ``owner/name``) passed to
    ``datasets.load_dataset(source, split=split, **load_kwargs)``. ``format`` overrides the file
    suffix (``jsonl``, ``json``, ``csv``, ``tsv``, ``parquet``) or names a benchmark loader
    (``rm-bench``, ``llmbar``, ``hh-rlhf``, ``evalbiasbench``, ``wmt-darr``), which then gets
    ``source`` and ``load_kwargs``.

    ``columns`` maps fields (``prompt``, ``chosen``, ``rejected``, ``label``, ``subset``, ``id``,
    ``references``, ``source``) to column names; each defaults to the column of the same name, and
    ``None`` ignores a column. ``prompt``, ``chosen`` and ``rejected`` are required; texts may be
    strings or lists of chat messages (kept as tuples of dicts). ``references`` may name one
    column or a list of columns.
    Without a label column every pair is labelled ``chosen``. Label values are looked up in
    ``labels`` (default :data:`DEFAULT_LABELS`), whose values are ``"chosen"``, ``"tie"`` or
    ``"rejected"`` (the pair is swapped, ``meta["swapped"] = True``); the raw value is kept as
    ``meta["label"]``. A string label not found is also tried as a number (CSV cells are text).
    """
    _check_format(format, PREFERENCE_FORMATS, "load_preference_pairs")
    if format in PREFERENCE_FORMATS:
        _no_columns(columns, format)
        return PREFERENCE_FORMATS[format](source, **load_kwargs)
    who = "load_preference_pairs"
    label_map = _check_labels(DEFAULT_LABELS if labels is None else labels, who)
    table = read_source(source, format=format, split=split, load_kwargs=load_kwargs, who=who)
    mapping = _resolve(table, columns, PREFERENCE_FIELDS, ("prompt", "chosen", "rejected"), who)
    pairs = []
    for where, row in table.rows:
        get = _Row(table.name, where, row)
        chosen, rejected = get.text(mapping["chosen"]), get.text(mapping["rejected"])
        meta = get.meta(mapping)
        label = "chosen"
        if "label" in mapping:
            raw = _plain(get.value(mapping["label"]))
            meta["label"] = raw
            label = _lookup_label(raw, label_map, f"{table.name}: {where}", mapping["label"])
            if label == "rejected":
                chosen, rejected, label = rejected, chosen, "chosen"
                meta["swapped"] = True
        pairs.append(
            PreferencePair(
                prompt=get.text(mapping["prompt"]),
                chosen=chosen,
                rejected=rejected,
                label=label,
                subset=get.ident(mapping.get("subset")),
                id=get.ident(mapping.get("id")),
                references=get.references(mapping.get("references")),
                source=get.optional_str(mapping.get("source")),
                meta=meta,
            )
        )
    return pairs


def load_pointwise_items(
    source: Any,
    *,
    columns: Mapping[str, Any] | None = None,
    format: str | None = None,
    split: str | None = None,
    **load_kwargs: Any,
) -> list[PointwiseItem]:
    """Load pointwise items (one scored response each) from the sources
    :func:`load_preference_pairs` accepts; ``format`` may also name ``wmt-mqm`` or ``summeval``.

    Fields: ``response`` (required), ``prompt``, ``source``, ``references`` (one column or a list),
    ``human``, ``system``, ``group``, ``id``. ``human`` defaults to a ``human`` column (a dict of
    named scores, or a number stored under the column name), else a ``score`` column. It may be
    mapped to a column, a list of columns (each becomes a named score) or a dict
    ``{score name: column}``. Scores must be numbers or numeric text; an empty cell, ``None``,
    ``NaN``, ``"NA"`` or ``"null"`` is an unscored item (``None``).
    """
    _check_format(format, POINTWISE_FORMATS, "load_pointwise_items")
    if format in POINTWISE_FORMATS:
        _no_columns(columns, format)
        return POINTWISE_FORMATS[format](source, **load_kwargs)
    who = "load_pointwise_items"
    table = read_source(source, format=format, split=split, load_kwargs=load_kwargs, who=who)
    mapping = _resolve(table, columns, POINTWISE_FIELDS, ("response",), who)
    items = []
    for where, row in table.rows:
        get = _Row(table.name, where, row)
        prompt = mapping.get("prompt")
        items.append(
            PointwiseItem(
                response=get.text(mapping["response"]),
                prompt=None if prompt is None or get.missing(prompt) else get.text(prompt),
                source=get.optional_str(mapping.get("source")),
                references=get.references(mapping.get("references")),
                human=get.human(mapping.get("human")),
                system=get.ident(mapping.get("system")),
                group=get.ident(mapping.get("group")),
                id=get.ident(mapping.get("id")),
                meta=get.meta(mapping),
            )
        )
    return items


def _check_format(format: str | None, named: Mapping[str, Any], who: str) -> None:
    if format is not None and format not in FILE_FORMATS and format not in named:
        valid = ", ".join([*FILE_FORMATS, *named])
        raise DataFormatError(f"{who}: unknown format {format!r} (valid: {valid})")


def _no_columns(columns: Mapping[str, Any] | None, format: str) -> None:
    if columns is not None:
        raise ScorerConfigError(
            f"format {format!r} has a fixed layout; `columns` cannot be used with it"
        )


def _check_labels(labels: Mapping[Any, str], who: str) -> Mapping[Any, str]:
    bad = {k: v for k, v in labels.items() if v not in ("chosen", "rejected", "tie")}
    if bad:
        raise ScorerConfigError(
            f"{who}: `labels` values must be 'chosen', 'rejected' or 'tie' (got {bad})"
        )
    return labels


def _lookup_label(raw: Any, labels: Mapping[Any, str], where: str, column: str) -> str:
    candidates = [raw]
    if isinstance(raw, str):
        try:
            candidates.append(float(raw))
        except ValueError:
            pass
    for value in candidates:
        try:
            if value in labels and not isinstance(value, bool):
                return labels[value]
        except TypeError:  # unhashable (list, dict)
            break
    valid = ", ".join(repr(k) for k in labels)
    raise DataFormatError(
        f"{where}: column {column!r}: invalid label {raw!r} (expected one of {valid})"
    )


def _names(spec: Any) -> list[str]:
    """Column names a field mapping refers to (a name, a list of names, or {name: column})."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, Mapping):
        return [str(c) for c in spec.values()]
    if isinstance(spec, Sequence):
        return [str(c) for c in spec]
    raise ScorerConfigError(
        f"a column mapping must be a name, a list of names or a dict (got {type(spec).__name__})"
    )


def _resolve(
    table: Table,
    columns: Mapping[str, Any] | None,
    fields: Sequence[str],
    required: Sequence[str],
    who: str,
) -> dict[str, Any]:
    columns = dict(columns or {})
    unknown = [f for f in columns if f not in fields]
    if unknown:
        raise ScorerConfigError(
            f"{who}: unknown field(s) {unknown} in `columns` (valid: {', '.join(fields)})"
        )
    present = set(table.columns)
    shown = ", ".join(map(repr, table.columns))
    mapping: dict[str, Any] = {}
    for field in fields:
        if field in columns:
            spec = columns[field]
            if spec is None:
                if field in required:
                    raise ScorerConfigError(
                        f"{who}: the required field {field!r} cannot be mapped to None"
                    )
                continue
            missing = [c for c in _names(spec) if c not in present]
            if missing:
                raise DataFormatError(
                    f"{table.name}: missing column(s) {', '.join(map(repr, missing))} for field "
                    f"{field!r} (columns present: {shown})"
                )
            mapping[field] = spec
            continue
        defaults = ("human", "score") if field == "human" else (field,)
        found = next((c for c in defaults if c in present), None)
        if found is not None:
            mapping[field] = found
        elif field in required:
            raise DataFormatError(
                f"{table.name}: missing column {field!r} (columns present: {shown})"
            )
    return mapping


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (from DataFrames and Parquet) as Python values."""
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ in ("NAType", "NaTType")
    )


class _Row:
    """One row with converters that name the table, the row and the column on error."""

    def __init__(self, name: str, where: str, row: Mapping[str, Any]) -> None:
        self.at = f"{name}: {where}"
        self.row = row

    def value(self, column: str) -> Any:
        try:
            return self.row[column]
        except KeyError:
            present = ", ".join(map(repr, self.row))
            raise DataFormatError(
                f"{self.at}: missing column {column!r} (columns present: {present})"
            ) from None

    def missing(self, column: str) -> bool:
        return _is_missing(_plain(self.value(column)))

    def fail(self, column: str, expected: str, value: Any) -> DataFormatError:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        return DataFormatError(f"{self.at}: column {column!r}: expected {expected} (got {shown})")

    def text(self, column: str) -> Any:
        value = _plain(self.value(column))
        if isinstance(value, str):
            return value
        if is_messages(value):
            return tuple(dict(m) for m in value)
        raise self.fail(column, "text or a list of chat messages", value)

    def optional_str(self, column: str | None) -> str | None:
        if column is None or self.missing(column):
            return None
        value = _plain(self.value(column))
        if not isinstance(value, str):
            raise self.fail(column, "text", value)
        return value

    def ident(self, column: str | None) -> str | None:
        if column is None or self.missing(column):
            return None
        value = _plain(self.value(column))
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return str(value)
        raise self.fail(column, "a string or an integer", value)

    def references(self, spec: Any) -> tuple[str, ...]:
        if spec is None:
            return ()
        refs: list[str] = []
        for column in _names(spec):
            value = _plain(self.value(column))
            if _is_missing(value) or value == "":
                continue
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
                raise self.fail(column, "a reference text or a list of texts", value)
            refs.extend(values)
        return tuple(refs)

    def score(self, column: str, value: Any) -> float | None:
        value = _plain(value)
        if _is_missing(value) or (
            isinstance(value, str) and value.strip().lower() in _MISSING_WORDS
        ):
            return None
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                return None if math.isnan(number) else number
        raise self.fail(column, "a numeric human score", value)

    def human(self, spec: Any) -> dict[str, float | None]:
        if spec is None:
            return {}
        if isinstance(spec, Mapping):
            return {str(name): self.score(col, self.value(col)) for name, col in spec.items()}
        if not isinstance(spec, str):
            return {col: self.score(col, self.value(col)) for col in _names(spec)}
        value = _plain(self.value(spec))
        if isinstance(value, Mapping):
            return {str(k): self.score(f"{spec}.{k}", v) for k, v in value.items()}
        return {spec: self.score(spec, value)}

    def meta(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        used = {c for spec in mapping.values() for c in _names(spec)}
        return {k: _plain(v) for k, v in self.row.items() if k not in used}


def format_loader(fmt: str) -> Callable[..., list]:
    """The loader of a dataset format named in :data:`~metricrm.data.formats.DATASET_FORMATS`
    (the generic loader of its kind for ``preference`` and ``pointwise``)."""
    if fmt not in DATASET_FORMATS:
        raise DataFormatError(
            f"unknown dataset format {fmt!r}; valid formats: {', '.join(DATASET_FORMATS)}"
        )
    info = DATASET_FORMATS[fmt]
    if info.loader is not None:
        return info.loader
    return load_preference_pairs if info.kind == "preference" else load_pointwise_items
