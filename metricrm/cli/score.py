"""``metricrm score``: score a file of items or preference pairs with one or more scorers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import metricrm as mr

from ..core.errors import DataFormatError, MetricRMError, ScorerConfigError, ScorerInputError
from ..core.records import POINTWISE_FIELDS, PREFERENCE_FIELDS, is_messages
from ..core.results_io import table_format, write_table
from ..data.tables import read_source
from .common import parse_settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("score", help="score a file of items or preference pairs")
    p.add_argument(
        "input", metavar="INPUT", help="items or pairs: .jsonl, .json, .csv, .tsv or .parquet"
    )
    p.add_argument(
        "-s",
        "--scorer",
        action="append",
        required=True,
        metavar="NAME",
        help="scorer to run (repeat for several)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SCORER.KEY=VALUE",
        help="a scorer setting; VALUE is parsed as JSON when possible",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="result table: .csv, .jsonl or .parquet",
    )
    p.add_argument(
        "--kind",
        choices=("auto", "pointwise", "preference"),
        default="auto",
        help="input kind (auto: preference when the file has chosen/rejected)",
    )
    p.add_argument(
        "--columns",
        nargs="+",
        action="extend",
        default=[],
        metavar="FIELD=COLUMN",
        help="read a field from a differently named column, e.g. response=hyp",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=256,
        metavar="N",
        help="items per scorer call (default 256)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_score)


def parse_columns(pairs: Sequence[str]) -> dict[str, str]:
    """``["response=hyp"]`` -> ``{"response": "hyp"}`` (record field -> input column)."""
    out = {}
    for pair in pairs:
        field, eq, column = pair.partition("=")
        if not eq or not field or not column:
            raise DataFormatError(
                f"--columns: expected FIELD=COLUMN, e.g. response=hypothesis (got {pair!r})"
            )
        if field not in POINTWISE_FIELDS + PREFERENCE_FIELDS:
            raise DataFormatError(
                f"--columns {pair}: unknown field {field!r}; valid fields: "
                f"{', '.join(dict.fromkeys(POINTWISE_FIELDS + PREFERENCE_FIELDS))}"
            )
        out[field] = column
    return out


def _expand_json_references(refs: tuple[str, ...], where: str) -> tuple[str, ...]:
    """A CSV cell holding a JSON list of strings is that list of references."""
    if len(refs) != 1 or not refs[0].lstrip().startswith("["):
        return refs
    try:
        value = json.loads(refs[0])
    except json.JSONDecodeError:
        return refs  # text that merely starts with "[" is one reference
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise DataFormatError(
            f"{where}: expected `references` to be text or a JSON list of strings (got {refs[0]!r})"
        )
    return tuple(value)


def _check_record(record: Any, kind: str, where: str, is_csv: bool) -> Any:
    """Checks the loaders leave to the CLI: responses and references must be non-empty text
    (scorers refuse empty ones); a CSV cell may hold a JSON list of references."""
    fields = ("response",) if kind == "pointwise" else ("chosen", "rejected")
    for field in fields:
        value = getattr(record, field)
        if not (is_messages(value) or (isinstance(value, str) and value.strip())):
            raise DataFormatError(
                f"{where}: expected `{field}` to be non-empty text or a list of chat messages "
                f"(got {value!r})"
            )
    refs = _expand_json_references(record.references, where) if is_csv else record.references
    for ref in refs:
        if not ref.strip():
            raise DataFormatError(
                f"{where}: expected every reference to be non-empty text (got {ref!r})"
            )
    return replace(record, references=refs) if refs != record.references else record


def read_items(path: Path, kind: str, columns: dict[str, str]) -> tuple[str, list[str], list]:
    """INPUT as pointwise items or preference pairs, through the generic loaders.

    ``kind="auto"`` picks preference pairs when the input has chosen and rejected columns.
    Returns the kind, each record's location (``"<path>: line 3"``, for messages) and the
    records. The rows are read once more than the loader needs, to name them in messages.
    """
    if not path.is_file():
        raise DataFormatError(f"{path}: no such input file")
    table = read_source(path, format=None, split=None, load_kwargs={}, who="metricrm score")
    if kind == "auto":
        has = lambda f: columns.get(f, f) in table.columns  # noqa: E731
        kind = "preference" if has("chosen") and has("rejected") else "pointwise"
    valid = POINTWISE_FIELDS if kind == "pointwise" else PREFERENCE_FIELDS
    wrong = [f for f in columns if f not in valid]
    if wrong:
        raise DataFormatError(
            f"--columns: field(s) {', '.join(wrong)} do not apply to {kind} input "
            f"(valid: {', '.join(valid)})"
        )
    load = mr.load_pointwise_items if kind == "pointwise" else mr.load_preference_pairs
    records = load(path, columns=columns or None)
    where = [f"{path}: {location}" for location, _ in table.rows]
    is_csv = path.name.lower().removesuffix(".gz").endswith((".csv", ".tsv"))
    records = [_check_record(r, kind, w, is_csv) for r, w in zip(records, where)]
    return kind, where, records


def _shared(values: list, where: list[str]) -> tuple[list | None, str | None]:
    """``values`` if every item has one, else ``None`` and the location of the first without."""
    for value, location in zip(values, where):
        if value is None or value == ():
            return None, location
    return values, None


def _score_all(
    scorers: list,
    where: list[str],
    responses: list,
    references: list,
    prompts: list,
    sources: list,
    *,
    chunk_size: int,
    progress: bool,
    index_note: str,
) -> list:
    """Score with every scorer; ``where`` names each response's input record."""
    refs, no_ref = _shared([list(r) or None for r in references], where)
    prompt_list, no_prompt = _shared(prompts, where)
    source_list, _ = _shared(sources, where)
    results = []
    for scorer in scorers:
        if getattr(scorer, "requires_references", False) and refs is None:
            raise ScorerInputError(
                f"{scorer.name}: needs references, but {no_ref} has none "
                "(expected a `references` field: a string or a list of strings)"
            )
        if getattr(scorer, "requires_prompts", False) and prompt_list is None:
            raise ScorerInputError(
                f"{scorer.name}: needs prompts, but {no_prompt} has none "
                "(expected a `prompt` field)"
            )
        try:
            results.append(
                mr.score_in_chunks(
                    scorer,
                    responses,
                    references=refs,
                    prompts=prompt_list,
                    sources=source_list,
                    chunk_size=chunk_size,
                    progress=progress,
                    desc=scorer.name,
                )
            )
        except MetricRMError as exc:
            raise MetricRMError(f"{exc} [{index_note}]") from exc
    return results


def _id_columns(items: Sequence[Any], fields: Sequence[str]) -> dict[str, list]:
    return {
        f: [getattr(it, f) for it in items]
        for f in fields
        if any(getattr(it, f) is not None for it in items)
    }


def score_frame(
    scorers: list,
    kind: str,
    where: list[str],
    items: list,
    *,
    chunk_size: int = 256,
    progress: bool = True,
):
    """One row per item: identifying fields, then each scorer's score (preference: the
    chosen and rejected scores and their margin, positive when the scorer prefers chosen)."""
    import pandas as pd

    opts = dict(chunk_size=chunk_size, progress=progress)
    if kind == "pointwise":
        results = _score_all(
            scorers,
            where,
            [it.response for it in items],
            [it.references for it in items],
            [it.prompt for it in items],
            [it.source for it in items],
            **opts,
            index_note="item numbers count the input records from 0",
        )
        columns = _id_columns(items, ("id", "system", "group"))
        columns.update({r.name: r.scores for r in results})
        return pd.DataFrame(columns)
    # Chosen and rejected are scored in one call, so both see the same scorer state.
    n = len(items)
    results = _score_all(
        scorers,
        where + where,
        [p.chosen for p in items] + [p.rejected for p in items],
        [p.references for p in items] * 2,
        [p.prompt for p in items] * 2,
        [p.source for p in items] * 2,
        **opts,
        index_note=f"items 0-{n - 1} are the chosen responses and {n}-{2 * n - 1} the rejected "
        "ones, in input order",
    )
    columns = _id_columns(items, ("id", "subset"))
    columns["label"] = [p.label for p in items]
    if any(p.meta.get("swapped") for p in items):  # label said the rejected text was better
        columns["swapped"] = [bool(p.meta.get("swapped")) for p in items]
    for r in results:
        chosen, rejected = r.scores[:n], r.scores[n:]
        columns[f"{r.name}.chosen"] = chosen
        columns[f"{r.name}.rejected"] = rejected
        columns[f"{r.name}.margin"] = chosen - rejected if r.higher_is_better else rejected - chosen
    return pd.DataFrame(columns)


def cmd_score(args: argparse.Namespace) -> int:
    names = list(args.scorer)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScorerConfigError(f"--scorer: {', '.join(dupes)} given more than once")
    table_format(args.output, who="--output")  # fail on a bad suffix before any work
    settings = parse_settings(args.set, names)
    scorers = [mr.get_scorer(name, **settings.get(name, {})) for name in names]
    path = Path(args.input)
    kind, where, items = read_items(path, args.kind, parse_columns(args.columns))
    frame = score_frame(
        scorers, kind, where, items, chunk_size=args.chunk_size, progress=not args.no_progress
    )
    out = write_table(frame, args.output)
    print(
        f"scored {len(items)} {kind} {'pairs' if kind == 'preference' else 'items'} "
        f"from {path} with {', '.join(names)}; wrote {out}"
    )
    for scorer in scorers:
        print(f"  {scorer.signature}")
    return 0
