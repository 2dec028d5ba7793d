"""``metricrm score``: score a file of items or preference pairs with one or more scorers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import metricrm as mr

from ..core.batching import score_in_chunks, score_with_cache, use_engine
from ..core.cache import CacheStats, ScoreCache
from ..core.errors import DataFormatError, MetricRMError, ScorerConfigError, ScorerInputError
from ..core.records import POINTWISE_FIELDS, PREFERENCE_FIELDS, is_messages
from ..core.results_io import metadata_path, table_format, write_table
from ..core.versions import version_label
from ..data.tables import Table, read_source
from .common import add_progress_flag, add_set_option, parse_settings


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
    add_set_option(p)
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
        default=None,
        metavar="N",
        help="items per scorer call and per cache write (default: the scorer's own, 16 for "
        "causal LMs, 64 for reward models, 256 otherwise)",
    )
    p.add_argument(
        "--no-inputs",
        action="store_true",
        help="write only identifying columns and the scores, not every input column",
    )
    cache = p.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="score cache folder (default $METRICRM_CACHE or ~/.cache/metricrm)",
    )
    cache.add_argument("--no-cache", action="store_true", help="do not use the score cache")
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where to score: in this process (default) or on a Ray cluster (needs the "
        "`ray` extra); the score cache is consulted first either way",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="Ray cluster to join with --engine ray (e.g. 127.0.0.1:6379 or auto; default: "
        "a running one, else a new local one)",
    )
    p.add_argument(
        "--actors", type=int, default=2, metavar="N", help="scoring actors with --engine ray"
    )
    add_progress_flag(p)
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
    """Checks the loaders leave to the CLI: responses must be text or chat messages (an empty
    one is left to the scorers: some score it, the others refuse it naming the record);
    references non-empty text; a CSV cell may hold a JSON list of references."""
    fields = ("response",) if kind == "pointwise" else ("chosen", "rejected")
    for field in fields:
        value = getattr(record, field)
        if not (is_messages(value) or isinstance(value, str)):
            raise DataFormatError(
                f"{where}: expected `{field}` to be text or a list of chat messages (got {value!r})"
            )
    refs = _expand_json_references(record.references, where) if is_csv else record.references
    for ref in refs:
        if not ref.strip():
            raise DataFormatError(
                f"{where}: expected every reference to be non-empty text (got {ref!r})"
            )
    return replace(record, references=refs) if refs != record.references else record


def read_items(
    path: Path, kind: str, columns: dict[str, str]
) -> tuple[str, list[str], list, Table]:
    """INPUT as pointwise items or preference pairs, through the generic loaders.

    ``kind="auto"`` picks preference pairs when the input has chosen and rejected columns.
    Returns the kind, each record's location (``"<path>: line 3"``, for messages), the
    records and the input table (its columns go to the output). The rows are read once more
    than the loader needs, to name them in messages and keep the input columns.
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
    return kind, where, records, table


def _shared(values: list, where: list[str]) -> tuple[list | None, str | None]:
    """``values`` if every item has one, else ``None`` and the location of the first without."""
    for value, location in zip(values, where):
        if value is None or value == ():
            return None, location
    return values, None


def _id_columns(items: Sequence[Any], fields: Sequence[str]) -> dict[str, list]:
    return {
        f: [getattr(it, f) for it in items]
        for f in fields
        if any(getattr(it, f) is not None for it in items)
    }


def _score_all(
    scorers: list,
    where: list[str],
    responses: list,
    references: list,
    prompts: list,
    sources: list,
    *,
    cache: ScoreCache | None,
    stats: CacheStats,
    chunk_size: int | None,
    progress: bool,
    index_note: str,
) -> list:
    """Score with every scorer, through the score cache when there is one; ``where`` names
    each response's input record."""
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
        if not getattr(scorer, "accepts_empty_responses", False):
            empty = next((i for i, r in enumerate(responses) if _is_empty(r)), None)
            if empty is not None:
                raise ScorerInputError(
                    f"{scorer.name}: {where[empty]}: expected a non-empty response (this scorer "
                    "cannot score an empty one; length or reward scorers can)"
                )
        inputs = dict(references=refs, prompts=prompt_list, sources=source_list)
        options = dict(chunk_size=chunk_size, progress=progress, desc=scorer.name)
        try:
            if cache is None:
                result = score_in_chunks(scorer, responses, **inputs, **options)
                stats.computed += len(responses)
            else:
                result = score_with_cache(
                    scorer, responses, **inputs, cache=cache, stats=stats, **options
                )
        except MetricRMError as exc:
            raise MetricRMError(f"{exc} [{index_note}]") from exc
        results.append(result)
    return results


def _is_empty(response: Any) -> bool:
    if isinstance(response, str):
        return not response.strip()
    return not "".join(str(m.get("content", "")) for m in response).strip()


def _cell(value: Any) -> Any:
    """An input cell as a flat value: lists and dicts (references, chat messages) as JSON."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _input_columns(table: Table, flat: bool) -> dict[str, list]:
    """Every input column, in input order (nested values as JSON text when ``flat``)."""
    return {
        c: [(_cell(row.get(c)) if flat else row.get(c)) for _, row in table.rows]
        for c in table.columns
    }


def _add(columns: dict[str, Any], name: str, values: Any, inputs: set[str]) -> None:
    if name in inputs:
        raise DataFormatError(
            f"--output: the score column {name!r} would overwrite the input column of that "
            "name; rename the input column or pass --no-inputs"
        )
    columns[name] = values


def score_frame(
    scorers: list,
    kind: str,
    where: list[str],
    items: list,
    *,
    table: Table | None = None,
    flat_inputs: bool = False,
    cache: ScoreCache | None = None,
    stats: CacheStats | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
) -> tuple[Any, list]:
    """One row per item: the input columns (``table``; else identifying fields), then each
    scorer's score and details. Preference pairs get the chosen and rejected scores, their
    margin (positive when the scorer prefers chosen) and the details of both sides. Returns the
    frame and the scoring results."""
    import pandas as pd

    stats = stats if stats is not None else CacheStats()
    opts = dict(cache=cache, stats=stats, chunk_size=chunk_size, progress=progress)
    columns: dict[str, Any] = {} if table is None else _input_columns(table, flat_inputs)
    inputs = set(columns)
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
        for field, values in _id_columns(items, ("id", "system", "group")).items():
            columns.setdefault(field, values)
        for r in results:
            _add(columns, r.name, r.scores, inputs)
            for key, values in r.details.items():
                _add(columns, f"{r.name}.{key}", values, inputs)
        return pd.DataFrame(columns), results
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
    for field, values in _id_columns(items, ("id", "subset")).items():
        columns.setdefault(field, values)
    columns.setdefault("label", [p.label for p in items])
    if any(p.meta.get("swapped") for p in items):  # label said the rejected text was better
        _add(columns, "swapped", [bool(p.meta.get("swapped")) for p in items], inputs)
    for r in results:
        chosen, rejected = r.scores[:n], r.scores[n:]
        _add(columns, f"{r.name}.chosen", chosen, inputs)
        _add(columns, f"{r.name}.rejected", rejected, inputs)
        margin = chosen - rejected if r.higher_is_better else rejected - chosen
        _add(columns, f"{r.name}.margin", margin, inputs)
        for key, values in r.details.items():
            _add(columns, f"{r.name}.{key}.chosen", values[:n], inputs)
            _add(columns, f"{r.name}.{key}.rejected", values[n:], inputs)
    return pd.DataFrame(columns), results


def _check_output(output: str, input_path: Path) -> None:
    """A bad suffix, a missing folder or the input file itself fail before any scoring."""
    if output == "-":
        return
    table_format(output, who="--output")
    out = Path(output)
    if not out.parent.is_dir():
        raise DataFormatError(f"--output: the folder {str(out.parent)!r} does not exist")
    if out.exists() and out.resolve() == input_path.resolve():
        raise DataFormatError(f"--output: {output} is the input file; choose another name")


def cmd_score(args: argparse.Namespace) -> int:
    names = list(args.scorer)
    if args.actors < 1:
        raise ScorerConfigError(f"--actors: expected at least 1 (got {args.actors})")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScorerConfigError(f"--scorer: {', '.join(dupes)} given more than once")
    path = Path(args.input)
    _check_output(args.output, path)
    settings = parse_settings(args.set, names)
    scorers = [mr.get_scorer(name, **settings.get(name, {})) for name in names]
    kind, where, items, table = read_items(path, args.kind, parse_columns(args.columns))
    cache = None if args.no_cache else ScoreCache(args.cache_dir or None)
    stats = CacheStats()
    to_stdout = args.output == "-"
    flat = to_stdout or table_format(args.output) == "csv"
    engine = None
    if args.engine == "ray":
        from ..engines import RayEngine

        engine = RayEngine(address=args.address, num_actors=args.actors)
    elif args.address is not None:
        raise ScorerConfigError("--address: only with --engine ray")
    try:
        with use_engine(engine):
            frame, results = score_frame(
                scorers, kind, where, items, table=None if args.no_inputs else table,
                flat_inputs=flat, cache=cache, stats=stats, chunk_size=args.chunk_size,
                progress=not args.no_progress,
            )  # fmt: skip
    except KeyboardInterrupt:
        kept = "no cache was used, nothing is kept" if cache is None else (
            f"{stats.computed} newly scored items are kept in the score cache at {cache.path}; "
            "rerun the same command to score only the rest"
        )  # fmt: skip
        print(f"metricrm: interrupted; {kept}", file=sys.stderr)
        return 130
    metadata = {
        "metricrm": version_label("metricrm"),
        "input": str(path),
        "kind": kind,
        "scorers": {s.name: s.signature for s in scorers},
        "settings": {s.name: {k: str(v) for k, v in s.settings().items()} for s in scorers},
    }
    what = "pairs" if kind == "preference" else "items"
    if to_stdout:  # the table is the output; the report goes to stderr
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n"))
        report = sys.stderr
        print(f"scored {len(items)} {kind} {what} from {path} with {', '.join(names)}", file=report)
    else:
        out = write_table(frame, args.output, metadata=metadata)
        report = sys.stdout
        print(f"scored {len(items)} {kind} {what} from {path} with {', '.join(names)}; wrote {out}")
        if table_format(out) != "parquet":
            print(f"signatures: {metadata_path(out)}")
    for scorer, result in zip(scorers, results):
        corpus = result.corpus_score
        shown = "" if corpus is None else f"  (corpus score {corpus:.4f})"
        print(f"  {scorer.signature}{shown}", file=report)
    note = " (cache off)" if cache is None else ""
    print(f"cache: {stats.computed} newly scored, {stats.hits} from cache{note}", file=report)
    return 0
