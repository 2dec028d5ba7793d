"""Loaders for generated text with human scores: WMT MQM (Google's release) and SummEval."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError
from ..core.records import PointwiseItem
from ._io import (
    PathLike,
    existing_path,
    expect_text,
    expect_type,
    read_json,
    read_text,
    require_keys,
)

_MQM_COLUMNS = (
    "system",
    "doc",
    "doc_id",
    "seg_id",
    "rater",
    "source",
    "target",
    "category",
    "severity",
)
_MARKERS = re.compile(r"</?v>")
_SEVERITY_WEIGHTS = {"major": 5.0, "minor": 1.0, "neutral": 0.0, "no-error": 0.0}
# Names the published MQM releases give human translations: ref, refA, ref-B, ref.A, ref-C.0,
# Human-A.0, Human-P, human.
_HUMAN_NAME = re.compile(
    r"^(?:ref(?:[-._]?[a-z0-9])?|human(?:[-._ ]?[a-z0-9])?)(?:\.\d+)?$", re.IGNORECASE
)
#: averaged-score file names looked up for error-file names that it lacks (the TED release
#: calls its reference ``ref`` in the error file and ``ref-A`` in the averaged-score file)
DEFAULT_AVG_ALIASES = {"ref": "ref-A"}


def is_human_translation(system: str) -> bool:
    """True for the names MQM releases give human translations: ``ref``, ``refA``, ``refB``,
    ``ref-A``, ``ref.B``, ``ref-C``, ``Human-A.0``, ``Human-P``, ``human`` (case-insensitive)."""
    return bool(_HUMAN_NAME.match(system.strip()))


def _name_key(system: str) -> str:
    """``refB``, ``ref-B`` and ``ref.b`` are one name: lower case without separators."""
    return re.sub(r"[-._ ]", "", system.lower())


def strip_error_markers(text: str) -> str:
    """Remove MQM ``<v>``/``</v>`` error-span markers."""
    return _MARKERS.sub("", text)


def mqm_error_weight(category: str, severity: str) -> float:
    """Penalty of one MQM error row (Freitag et al., 2021): Major 5 (Non-translation 25),
    Minor 1 (Fluency/Punctuation 0.1), Neutral and No-error 0."""
    sev = severity.strip().lower()
    if sev not in _SEVERITY_WEIGHTS:
        raise DataFormatError(
            f"unknown MQM severity {severity!r} (expected Major, Minor, Neutral or No-error)"
        )
    if sev == "major" and category.startswith("Non-translation"):
        return 25.0
    if sev == "minor" and category == "Fluency/Punctuation":
        return 0.1
    return _SEVERITY_WEIGHTS[sev]


def load_wmt_mqm(
    tsv_path: PathLike,
    avg_scores_path: PathLike | None = None,
    *,
    ref_system: str | None = "auto",
    include_ref: bool = False,
    include_human: bool = False,
    human_systems: Sequence[str] | None = None,
    avg_system_aliases: Mapping[str, str] | None = None,
) -> list[PointwiseItem]:
    """Load a WMT MQM error file (google/wmt-mqm-human-evaluation) into one item per
    (system, segment), sorted by segment then system.

    The file has one row per annotated error (a ``No-error`` row when there is none), so a
    segment spans several rows; the target text, with ``<v>`` markers stripped, must agree across
    them (checked, as is the source per segment). ``response`` is that text, ``source`` the
    stripped source, ``group`` the ``seg_id``, ``system`` the system name and ``id``
    ``"{system}/{seg_id}"``.

    Human translations: systems named as the releases name them (``ref``, ``refA``, ``refB``,
    ``ref-A``, ``ref.B``, ``Human-A.0``, ...: :func:`is_human_translation`), or exactly the
    ``human_systems`` given. ``meta["is_reference"]`` is True for each of them.

    - ``ref_system``: the human translation whose output is each segment's reference.
      ``"auto"`` (default) takes the only human translation of the file, and asks for a choice
      when there are several (e.g. ``ref_system="refA"``); ``None`` loads without references.
    - ``include_ref``: also load the reference's own outputs as items (with ``references=()``:
      a reference-based metric cannot score them). Default False.
    - ``include_human``: also load the other human translations (``refB`` when ``refA`` is the
      reference) as systems, scored against the reference. Default False, so system-level
      statistics rank the MT systems only: a human translation is usually far better by MQM
      than every MT system, yet scored against another human translation, so one such point can
      move a system-level correlation a long way. WMT reports both views; pass True for the
      one with human translations.

    ``meta`` also holds ``doc``, ``doc_id`` and ``annotations`` (each row's ``rater``,
    ``category``, ``severity``, ``comment`` and the ``target`` with its markers).

    ``human["mqm"]`` comes from ``avg_scores_path`` (the ``*.avg_seg_scores.tsv`` file, laid out
    ``system<TAB>score seg_id``: higher is better, ``None`` = unscored) when given. A system the
    file lacks is looked up through ``avg_system_aliases`` (on top of ``{"ref": "ref-A"}``, the
    TED naming), then, for a human translation, by the same name without separators (``refB`` is
    ``ref-B``). Rows of that file for segments absent from the TSV must be ``None`` (they have no
    text to load); a score for a TSV item that the file lacks is an error. Without it,
    ``human["mqm"]`` is minus the mean over raters of the summed :func:`mqm_error_weight` of each
    rater's rows.
    """
    file = existing_path(tsv_path, who="load_wmt_mqm")
    rows = _read_mqm_rows(file)
    groups: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    sources: dict[str, tuple[int, str]] = {}
    for line, row in rows:
        groups.setdefault((row["system"], row["seg_id"]), []).append((line, row))
        src = strip_error_markers(row["source"])
        first = sources.setdefault(row["seg_id"], (line, src))
        if first[1] != src:
            raise DataFormatError(
                f"{file}: line {line}: segment {row['seg_id']} has a different source text than "
                f"on line {first[0]} (after removing <v> markers)"
            )
    items = {key: _mqm_item(file, key, members) for key, members in groups.items()}
    systems = sorted({system for system, _ in items})
    humans = _human_systems(file, systems, human_systems)
    ref_system = _choose_reference(file, systems, humans, ref_system)
    if ref_system is not None:
        humans.add(ref_system)
    if avg_scores_path is not None:
        _attach_avg_scores(items, Path(avg_scores_path), avg_system_aliases, humans)
    return _with_references(file, items, ref_system, humans, include_ref, include_human)


def _human_systems(file: Path, systems: list[str], given: Sequence[str] | None) -> set[str]:
    if given is None:
        return {s for s in systems if is_human_translation(s)}
    if isinstance(given, str) or not all(isinstance(s, str) for s in given):
        raise DataFormatError(
            f"load_wmt_mqm: `human_systems` must be a list of system names (got {given!r})"
        )
    unknown = sorted(set(given) - set(systems))
    if unknown:
        raise DataFormatError(
            f"{file}: human_systems names system(s) {', '.join(map(repr, unknown))} that the "
            f"file does not have; its systems are {', '.join(systems)}"
        )
    return set(given)


def _choose_reference(
    file: Path, systems: list[str], humans: set[str], ref_system: str | None
) -> str | None:
    if ref_system is None:
        return None
    if ref_system == "auto":
        if len(humans) == 1:
            return next(iter(humans))
        if not humans:
            raise DataFormatError(
                f"{file}: no system is named like a human translation (ref, refA, ref-B, "
                f"Human-A, ...; systems: {', '.join(systems)}); pass ref_system=NAME for the "
                "system whose outputs are the references, or ref_system=None to load without "
                "references"
            )
        raise DataFormatError(
            f"{file}: {len(humans)} human translations ({', '.join(sorted(humans))}); choose the "
            "one to use as the reference with ref_system=NAME (on the command line: "
            "--dataset-option DATASET.ref_system=NAME), or ref_system=None to load without "
            "references"
        )
    if ref_system not in systems:
        raise DataFormatError(
            f"{file}: ref_system {ref_system!r} is not a system of the file; its systems are "
            f"{', '.join(systems)} (pass ref_system=None to load without references)"
        )
    return ref_system


def _read_mqm_rows(file: Path) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(read_text(file)), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        raise DataFormatError(f"{file}: the file is empty (expected an MQM header line)")
    missing = [c for c in _MQM_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(
            f"{file}: missing column(s) {', '.join(missing)} (columns present: {', '.join(header)})"
        )
    rows = []
    for fields in reader:
        line = reader.line_num
        if len(fields) != len(header):
            raise DataFormatError(
                f"{file}: line {line}: expected {len(header)} tab-separated fields "
                f"(got {len(fields)})"
            )
        rows.append((line, dict(zip(header, fields))))
    if not rows:
        raise DataFormatError(f"{file}: no data rows after the header")
    return rows


def _mqm_item(
    file: Path, key: tuple[str, str], members: list[tuple[int, dict[str, str]]]
) -> PointwiseItem:
    system, seg_id = key
    first_line, first = members[0]
    target = strip_error_markers(first["target"])
    penalties: dict[str, int] = {}
    annotations = []
    for line, row in members:
        if strip_error_markers(row["target"]) != target:
            raise DataFormatError(
                f"{file}: line {line}: system {system!r}, segment {seg_id}: target text differs "
                f"from line {first_line} after removing <v> markers"
            )
        try:
            weight = mqm_error_weight(row["category"], row["severity"])
        except ValueError as exc:
            raise DataFormatError(f"{file}: line {line}: {exc}") from exc
        # Sum in tenths of a point so that e.g. 1 + 0.1 + 0.1 is exactly 1.2.
        penalties[row["rater"]] = penalties.get(row["rater"], 0) + round(weight * 10)
        annotations.append(
            {k: row.get(k, "") for k in ("rater", "category", "severity", "comment")}
        )
        annotations[-1]["target"] = row["target"]
    score = -sum(penalties.values()) / (10 * len(penalties))
    return PointwiseItem(
        response=target,
        source=strip_error_markers(first["source"]),
        human={"mqm": score},
        system=system,
        group=seg_id,
        id=f"{system}/{seg_id}",
        meta={"doc": first["doc"], "doc_id": first["doc_id"], "annotations": tuple(annotations)},
    )


def _read_avg_scores(file: Path) -> dict[tuple[str, str], tuple[int, float | None]]:
    lines = read_text(existing_path(file, who="load_wmt_mqm")).split("\n")
    if lines[0].split() != ["system", "mqm_avg_score", "seg_id"]:
        raise DataFormatError(
            f"{file}: line 1: expected the header 'system mqm_avg_score seg_id' "
            f"(got {lines[0][:80]!r})"
        )
    scores: dict[tuple[str, str], tuple[int, float | None]] = {}
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        fields = text.split()
        if len(fields) != 3:
            raise DataFormatError(
                f"{file}: line {number}: expected 'SYSTEM<TAB>SCORE SEG_ID' (got {text[:80]!r})"
            )
        system, raw, seg_id = fields
        try:
            value = None if raw == "None" else float(raw)
        except ValueError:
            raise DataFormatError(
                f"{file}: line {number}: score {raw!r} is not a number or None"
            ) from None
        if (system, seg_id) in scores:
            raise DataFormatError(
                f"{file}: line {number}: system {system!r}, segment {seg_id} repeats line "
                f"{scores[(system, seg_id)][0]}"
            )
        scores[(system, seg_id)] = (number, value)
    return scores


def _avg_names(
    systems: set[str], avg_systems: set[str], aliases: Mapping[str, str], humans: set[str]
) -> dict[str, str | None]:
    """The averaged-score file's name of each error-file system (None: not found): itself, its
    alias, or for a human translation the one human name equal to it without separators."""
    by_key: dict[str, list[str]] = {}
    for name in avg_systems:
        if is_human_translation(name) or name in aliases.values():
            by_key.setdefault(_name_key(name), []).append(name)
    names: dict[str, str | None] = {}
    for system in systems:
        if system in avg_systems:
            names[system] = system
        elif aliases.get(system) in avg_systems:
            names[system] = aliases[system]
        elif system in humans and len(by_key.get(_name_key(system), ())) == 1:
            names[system] = by_key[_name_key(system)][0]
        else:
            names[system] = None
    return names


def _attach_avg_scores(
    items: dict[tuple[str, str], PointwiseItem],
    file: Path,
    aliases: Mapping[str, str] | None,
    humans: set[str],
) -> None:
    scores = _read_avg_scores(file)
    if aliases is not None and (
        not isinstance(aliases, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())
    ):
        raise DataFormatError(
            "load_wmt_mqm: `avg_system_aliases` must map error-file system names to "
            f"averaged-score file names, e.g. {{'refB': 'ref-B'}} (got {aliases!r})"
        )
    aliases = {**DEFAULT_AVG_ALIASES, **(aliases or {})}
    avg_systems = {system for system, _ in scores}
    names = _avg_names({system for system, _ in items}, avg_systems, aliases, humans)
    used = set()
    for (system, seg_id), item in items.items():
        key = (names[system], seg_id)
        if key not in scores:
            hint = ""
            if names[system] is None:
                hint = (
                    f" (the file has no system {system!r} nor an alias of it; its systems are "
                    f"{', '.join(sorted(avg_systems))}; pass avg_system_aliases="
                    f"{{{system!r}: NAME}})"
                )
            raise DataFormatError(f"{file}: no score for system {system!r}, segment {seg_id}{hint}")
        used.add(key)
        items[(system, seg_id)] = replace(item, human={"mqm": scores[key][1]})
    for key, (number, value) in scores.items():
        if key not in used and value is not None:
            raise DataFormatError(
                f"{file}: line {number}: score {value} for system {key[0]!r}, segment {key[1]} "
                "which has no row in the MQM file"
            )


def _with_references(
    file: Path,
    items: dict[tuple[str, str], PointwiseItem],
    ref_system: str | None,
    humans: set[str],
    include_ref: bool,
    include_human: bool,
) -> list[PointwiseItem]:
    for name, value in (("include_ref", include_ref), ("include_human", include_human)):
        if not isinstance(value, bool):
            raise DataFormatError(f"load_wmt_mqm: `{name}` must be True or False (got {value!r})")
    refs = {seg: item.response for (system, seg), item in items.items() if system == ref_system}
    out = []
    for key in sorted(items, key=lambda k: (_seg_order(k[1]), k[0])):
        item = items[key]
        is_ref, is_human = key[0] == ref_system, key[0] in humans
        if (is_ref and not include_ref) or (is_human and not is_ref and not include_human):
            continue
        if ref_system is not None and not is_ref and key[1] not in refs:
            raise DataFormatError(
                f"{file}: segment {key[1]} has no {ref_system!r} row to use as its reference "
                "(pass ref_system=None to load without references)"
            )
        references = () if is_ref or ref_system is None else (refs[key[1]],)
        meta = {**item.meta, "is_reference": is_human}
        out.append(replace(item, references=references, meta=meta))
    return out


def _seg_order(seg_id: str) -> tuple[int, Any]:
    return (0, int(seg_id)) if seg_id.isdigit() else (1, seg_id)


SUMMEVAL_ASPECTS = ("coherence", "consistency", "fluency", "relevance")


def load_summeval(path: PathLike) -> list[PointwiseItem]:
    """Load SummEval in BARTScore's JSON form: ``{doc_id: {src, ref_summ, ref_summs, sys_summs}}``.

    One item per (document, system), in file order: ``response`` the system summary, ``source``
    the article, ``references`` the ``ref_summs`` in file order (``ref_summ`` is ``ref_summs[0]``
    in the published file; if it were absent it would be put first), ``human`` every entry of
    ``scores`` (coherence, consistency, fluency, relevance: expert means on 1-5), ``system``
    the system name, ``group`` the ``doc_id`` and ``id`` ``"{doc_id}/{system}"``.
    """
    file = existing_path(path, who="load_summeval")
    data = expect_type(read_json(file), dict, str(file), "the top-level value")
    items: list[PointwiseItem] = []
    for doc_id, doc in data.items():
        where = f"{file}: document {doc_id!r}"
        require_keys(doc, ("src", "ref_summs", "sys_summs"), where)
        refs = tuple(expect_type(doc["ref_summs"], list, where, "`ref_summs`"))
        for k, ref in enumerate(refs):
            expect_type(ref, str, where, f"`ref_summs[{k}]`")
        if "ref_summ" in doc and expect_text(doc, "ref_summ", where) not in refs:
            refs = (doc["ref_summ"], *refs)
        src = expect_text(doc, "src", where)
        for system, entry in expect_type(doc["sys_summs"], dict, where, "`sys_summs`").items():
            at = f"{where}, system {system!r}"
            require_keys(entry, ("sys_summ", "scores"), at)
            human = {}
            for name, value in expect_type(entry["scores"], dict, at, "`scores`").items():
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or math.isnan(value)
                ):
                    raise DataFormatError(f"{at}: score {name!r} must be a number (got {value!r})")
                human[name] = float(value)
            items.append(
                PointwiseItem(
                    response=expect_text(entry, "sys_summ", at),
                    source=src,
                    references=refs,
                    human=human,
                    system=system,
                    group=doc_id,
                    id=f"{doc_id}/{system}",
                )
            )
    return items
