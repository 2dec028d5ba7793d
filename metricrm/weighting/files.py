"""The composite file: YAML (``.yaml``/``.yml``) or JSON (``.json``), written by
:meth:`Composite.save` or by hand, read by :func:`load_composite` (and so by
``get_scorer("composite", path=...)``)::

    format: metricrm.composite/1
    components:                    # label -> scorer, settings, direction, fitted normalizer
      chrf:
        scorer: chrf
        normalizer: {kind: zscore, mean: 48.2, std: 14.9}
      brevity:
        scorer: length_chars
        higher_is_better: false    # shorter is better: a length penalty
        normalizer: {kind: minmax, min: -900, max: -3}
      judge:
        scorer: lm_judge
        settings: {model: /models/smollm2}
        normalizer: {kind: identity}
    weights: {chrf: 1.0, brevity: 0.2, judge: 0.5}
    by_label:                      # optional: weights for items with that label
      code: {chrf: 0.5, brevity: 0.0, judge: 1.0}
    unknown_label: default         # or error
    gates:                         # optional: reward = floor when the component is below
      - {component: judge, below: 0.2, floor: -3.0, on: raw}
    info: {fitted_on: ...}         # free-form provenance, not part of the signature

A normalizer's parameters are its fitted state (see :mod:`.normalizers`): a normalizer written
without them is refused as never fitted. A relative ``path`` setting (a saved head, another
composite) is taken from the file's folder. Directions written in a normalizer must agree with
the component's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, MetricRMError
from ..core.optional import require
from .composite import (
    FORMAT,
    NAME,
    Component,
    Composite,
    check_label,
    named_error,
)

TOP_KEYS = ("format", "components", "weights", "by_label", "unknown_label", "gates", "info")
COMPONENT_KEYS = ("scorer", "settings", "higher_is_better", "normalizer")
SUFFIXES = (".yaml", ".yml", ".json")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataFormatError(
            f"{path}: a composite file is YAML or JSON; expected the suffix .yaml, .yml or "
            f".json (got {suffix or '(none)'!r})"
        )
    return suffix


def read_composite_file(path: str | os.PathLike) -> Any:
    """The parsed content of a composite file."""
    path = Path(path).expanduser()
    suffix = _suffix(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such composite file")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    yaml = require("yaml", who=f"reading the composite file {path}", extra="io")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataFormatError(f"{path}: invalid YAML ({exc})") from exc


def _mapping(where: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise DataFormatError(
            f"{where}: `{key}` must be a mapping with text keys (got {type(value).__name__})"
        )
    return dict(value)


def _check_keys(where: str, data: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    unknown = [k for k in data if k not in valid]
    if unknown:
        raise DataFormatError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}"
        )


def _resolve_paths(settings: dict[str, Any], base: Path | None) -> dict[str, Any]:
    out = dict(settings)
    if base is not None and isinstance(out.get("path"), str):
        p = Path(out["path"]).expanduser()
        out["path"] = str(p if p.is_absolute() else base / p)
    return out


def composite_from_dict(
    data: Any, *, where: str = NAME, base: Path | None = None, cache: Any = None
) -> Composite:
    """A :class:`Composite` from file content; ``where`` names the file in errors, ``base`` is
    the folder relative ``path`` settings are taken from."""
    data = _mapping(where, "the file", data) if data is not None else {}
    _check_keys(where, data, TOP_KEYS)
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise DataFormatError(f"{where}: expected format {FORMAT!r} (got {fmt!r})")
    for key in ("components", "weights"):
        if key not in data:
            raise DataFormatError(f"{where}: missing key `{key}`")
    entries = _mapping(where, "components", data["components"])
    if not entries:
        raise DataFormatError(f"{where}: `components` is empty; expected at least one")
    components = []
    for label, entry in entries.items():
        at = f"{where}: component {label!r}"
        check_label(at, label)
        entry = _mapping(at, "the entry", entry)
        _check_keys(at, entry, COMPONENT_KEYS)
        for key in ("scorer", "normalizer"):
            if key not in entry:
                raise DataFormatError(
                    f"{at}: missing key `{key}`"
                    + (
                        " (its kind and fitted parameters, e.g. {kind: zscore, mean: 0, "
                        "std: 1}, or {kind: identity})"
                        if key == "normalizer"
                        else ""
                    )
                )
        settings = _resolve_paths(_mapping(at, "settings", entry.get("settings") or {}), base)
        try:
            components.append(
                Component.build(
                    label,
                    entry["scorer"],
                    settings=settings,
                    normalizer=entry["normalizer"],
                    higher_is_better=entry.get("higher_is_better"),
                )
            )
        except MetricRMError as exc:
            raise named_error(exc, where) from exc
    by_label = data.get("by_label")
    if by_label is not None:
        by_label = {str(k): v for k, v in _mapping(where, "by_label", by_label).items()}
    gates = data.get("gates") or []
    if not isinstance(gates, list):
        raise DataFormatError(f"{where}: `gates` must be a list (got {type(gates).__name__})")
    try:
        return Composite(
            components,
            data["weights"],
            by_label=by_label,
            unknown_label=data.get("unknown_label", "default"),
            gates=gates,
            cache=cache,
            info=data.get("info"),
        )
    except MetricRMError as exc:
        raise named_error(exc, where) from exc


def load_composite(path: str | os.PathLike, *, cache: Any = None) -> Composite:
    """A composite reward read from a YAML or JSON composite file (``path``): a weighted sum
    of normalised component scores, with optional label-dependent weights and gates."""
    path = Path(path).expanduser()
    return composite_from_dict(
        read_composite_file(path), where=str(path), base=path.parent, cache=cache
    )
