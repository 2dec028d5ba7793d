"""The built-in sample: a few dozen records written for metricrm, for demos and quick checks.

``preference.jsonl`` holds 36 preference pairs (helpfulness, safety, correctness, conciseness;
some prompts are chat transcripts, two pairs are human ties). ``reference.jsonl`` holds 36
system outputs (12 sources x 3 systems: German/French -> English and English -> German
translations, and short news-style summaries) with 1-2 references each and a 0-100 direct
assessment score (``human["da"]``) given by quality. The text is original, not from any dataset.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Literal, overload

from ..core.errors import DataFormatError
from ..core.records import PointwiseItem, PreferencePair, is_messages
from ..core.validation import check_choice

_FILES = {"preference": "preference.jsonl", "reference": "reference.jsonl"}


def _text(where: str, record: dict, key: str, *, optional: bool = False) -> Any:
    """A non-empty string or a list of chat messages (kept as a tuple of dicts)."""
    value = record.get(key)
    if value is None and optional:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if is_messages(value):
        return tuple(dict(m) for m in value)
    raise DataFormatError(
        f"{where}: expected `{key}` to be non-empty text or a list of chat messages (got {value!r})"
    )


def _references(where: str, record: dict) -> tuple[str, ...]:
    refs = record.get("references")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r for r in refs):
        raise DataFormatError(
            f"{where}: expected `references` to be a non-empty list of strings (got {refs!r})"
        )
    return tuple(refs)


def _preference(where: str, rec: dict) -> PreferencePair:
    label = rec.get("label")
    if label not in ("chosen", "tie"):
        raise DataFormatError(f"{where}: expected `label` 'chosen' or 'tie' (got {label!r})")
    return PreferencePair(
        prompt=_text(where, rec, "prompt"),
        chosen=_text(where, rec, "chosen"),
        rejected=_text(where, rec, "rejected"),
        label=label,
        subset=rec["subset"],
        id=rec["id"],
    )


def _pointwise(where: str, rec: dict) -> PointwiseItem:
    human = rec.get("human")
    if not isinstance(human, dict) or not isinstance(human.get("da"), (int, float)):
        raise DataFormatError(f"{where}: expected `human` to be {{'da': number}} (got {human!r})")
    return PointwiseItem(
        response=_text(where, rec, "response"),
        source=_text(where, rec, "source"),
        references=_references(where, rec),
        human={"da": float(human["da"])},
        system=rec["system"],
        group=rec["group"],
        id=rec["id"],
        meta={"task": rec["task"], "lang": rec["lang"]},
    )


@overload
def load_sample(kind: Literal["preference"]) -> list[PreferencePair]: ...
@overload
def load_sample(kind: Literal["reference"]) -> list[PointwiseItem]: ...


def load_sample(kind: str) -> list[PreferencePair] | list[PointwiseItem]:
    """The built-in sample: ``"preference"`` pairs or ``"reference"`` (pointwise) items."""
    check_choice("load_sample", "kind", kind, tuple(_FILES))
    name = _FILES[kind]
    build = _preference if kind == "preference" else _pointwise
    text = resources.files("metricrm.data").joinpath("sample", name).read_text(encoding="utf-8")
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"sample/{name}, line {lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{where}: expected a JSON object ({exc})") from exc
        try:
            records.append(build(where, rec))
        except KeyError as exc:
            raise DataFormatError(f"{where}: expected a field {exc}") from exc
    return records
