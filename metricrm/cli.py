"""The ``metricrm`` command: ``list`` scorers, ``score`` a file, run the built-in ``demo``,
``meta-eval`` scorers against human judgments (in :mod:`metricrm.cli_meta_eval`).

Thin by design: it parses arguments, calls the public API and prints. Errors from metricrm
(bad input, unknown scorer or setting) print ``metricrm: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import metricrm as mr

from .core.errors import DataFormatError, MetricRMError, ScorerConfigError, ScorerInputError
from .core.records import is_messages

DEMO_REFERENCE_SCORERS = (
    "bleu", "chrf", "chrf++", "ter", "rougeL", "token_f1", "length_tokens", "bertscore_f1",
)
DEMO_PREFERENCE_SCORERS = ("length_chars", "length_tokens")


# --------------------------------------------------------------------------- formatting


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, right: int = 1) -> str:
    """Plain-text table; columns from index ``right`` on are right-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if i >= right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _num(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


# --------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in mr.list_scorers():
        try:
            spec = mr.scorer_spec(name)
        except ImportError as exc:  # e.g. a plugin whose module cannot be imported
            rows.append((name, "?", "?", f"(unavailable: {exc})"))
            continue
        preset = ", ".join(f"{k}={v!r}" for k, v in spec.preset.items())
        description = spec.description + (f" [{preset}]" if preset else "")
        yes_no = lambda flag: "yes" if flag else "no"  # noqa: E731
        rows.append(
            (name, yes_no(spec.requires_references), yes_no(spec.requires_model), description)
        )
    header = ("name", "needs references", "needs model", "description")
    print(format_table(header, rows, right=len(header)))
    return 0


# --------------------------------------------------------------------------- score: input


def parse_settings(pairs: Sequence[str], scorers: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["chrf.word_order=2"]`` -> ``{"chrf": {"word_order": 2}}``; values parsed as JSON
    when possible, else kept as strings."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        name, dot, setting = key.rpartition(".")
        if not eq or not dot or not name or not setting:
            raise ScorerConfigError(
                f"--set: expected SCORER.SETTING=VALUE, e.g. chrf.word_order=2 (got {pair!r})"
            )
        if name not in scorers:
            raise ScorerConfigError(
                f"--set {pair}: scorer {name!r} is not among the --scorer names "
                f"({', '.join(scorers)})"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(name, {})[setting] = value
    return out


POINTWISE_FIELDS = ("response", "prompt", "source", "references", "human", "system", "group", "id")
PREFERENCE_FIELDS = (
    "prompt", "chosen", "rejected", "label", "subset", "id", "references", "source",
)


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
    from .data.tables import read_table as read_rows

    if not path.is_file():
        raise DataFormatError(f"{path}: no such input file")
    table = read_rows(path, format=None, split=None, load_kwargs={}, who="metricrm score")
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


# --------------------------------------------------------------------------- score: scoring


def _shared(values: list, where: list[str]) -> tuple[list | None, str | None]:
    """``values`` if every item has one, else ``None`` and the location of the first without."""
    for value, location in zip(values, where):
        if value is None or value == ():
            return None, location
    return values, None


def _score_all(
    scorers: list, where: list[str], responses: list, references: list,
    prompts: list, sources: list, *, chunk_size: int, progress: bool, index_note: str,
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
                    scorer, responses, references=refs, prompts=prompt_list,
                    sources=source_list, chunk_size=chunk_size, progress=progress,
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


def score_frame(scorers: list, kind: str, where: list[str], items: list, *,
                chunk_size: int = 256, progress: bool = True):
    """One row per item: identifying fields, then each scorer's score (preference: the
    chosen and rejected scores and their margin, positive when the scorer prefers chosen)."""
    import pandas as pd

    opts = dict(chunk_size=chunk_size, progress=progress)
    if kind == "pointwise":
        results = _score_all(
            scorers, where, [it.response for it in items], [it.references for it in items],
            [it.prompt for it in items], [it.source for it in items], **opts,
            index_note="item numbers count the input records from 0",
        )
        columns = _id_columns(items, ("id", "system", "group"))
        columns.update({r.name: r.scores for r in results})
        return pd.DataFrame(columns)
    # Chosen and rejected are scored in one call, so both see the same scorer state.
    n = len(items)
    results = _score_all(
        scorers, where + where,
        [p.chosen for p in items] + [p.rejected for p in items],
        [p.references for p in items] * 2, [p.prompt for p in items] * 2,
        [p.source for p in items] * 2, **opts,
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
    from .io import table_format, write_table

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
    print(f"scored {len(items)} {kind} {'pairs' if kind == 'preference' else 'items'} "
          f"from {path} with {', '.join(names)}; wrote {out}")
    for scorer in scorers:
        print(f"  {scorer.signature}")
    return 0


# --------------------------------------------------------------------------- demo


def _try_score(name: str, **kwargs: Any):
    """Score with a fresh scorer, or print why it was skipped (optional dependency missing)."""
    try:
        return mr.score_in_chunks(mr.get_scorer(name), **kwargs)
    except ImportError as exc:  # MissingDependencyError, or an adapter that is not installed
        print(f"note: {name} skipped ({exc})")
        return None


def _needs(name: str, what: str) -> bool:
    """Whether the scorer registered as ``name`` needs ``what`` (references, prompts)."""
    try:
        return bool(getattr(mr.scorer_spec(name).factory, f"requires_{what}", False))
    except ImportError:
        return False  # scored (and reported as skipped) like the other scorers


def _demo_reference(names: Sequence[str], progress: bool, signatures: dict) -> None:
    from scipy import stats

    items = mr.load_sample("reference")
    human = [it.human["da"] for it in items]
    systems = sorted({it.system for it in items})
    by_system = lambda values: [  # noqa: E731
        sum(v for v, it in zip(values, items) if it.system == s)
        / sum(it.system == s for it in items)
        for s in systems
    ]
    rows = [("human (da)", "+", *map(_num, by_system(human)), "", "")]
    for name in names:
        if _needs(name, "prompts"):
            print(f"note: {name} skipped (it needs prompts; the reference set has sources only)")
            continue
        result = _try_score(
            name, responses=[it.response for it in items],
            references=[list(it.references) for it in items],
            sources=[it.source for it in items], progress=progress,
        )
        if result is None:
            continue
        signatures[name] = result.signature
        with warnings.catch_warnings():  # a constant score column has no correlation
            warnings.simplefilter("ignore")
            pearson = stats.pearsonr(result.scores, human).statistic
            kendall = stats.kendalltau(result.scores, human).statistic
        rows.append((name, "+" if result.higher_is_better else "-",
                     *map(_num, by_system(result.scores)), _num(pearson), _num(kendall)))
    print(f"Reference set: {len(items)} outputs = {len({it.group for it in items})} sources x "
          f"{len(systems)} systems (translation, summarization)\n"
          f"human = direct assessment 0-100; pearson and kendall over the {len(items)} outputs; "
          "dir - = lower is better")
    print(format_table(("metric", "dir", *[f"mean {s}" for s in systems],
                        "pearson", "kendall"), rows))


def _demo_preference(
    names: Sequence[str], progress: bool, signatures: dict, models: bool = False
) -> None:
    pairs = mr.load_sample("preference")
    scored = [p for p in pairs if p.label != "tie"]
    subsets = sorted({p.subset for p in scored})
    has_refs = all(p.references for p in scored)
    usable = [n for n in names if has_refs or not _needs(n, "references")]
    print(f"Preference set: {len(pairs)} pairs, {len(scored)} scored "
          f"({len(pairs) - len(scored)} human ties excluded)\n"
          "accuracy = share of pairs where the scorer prefers the chosen response "
          "(scorer ties count half)")
    if not usable:
        print("(no reference-free scorer selected; the sample pairs have no references)")
        return
    n = len(scored)
    rows = []
    for name in usable:
        result = _try_score(
            name, responses=[p.chosen for p in scored] + [p.rejected for p in scored],
            prompts=[p.prompt for p in scored] * 2,
            references=[list(p.references) for p in scored] * 2 if has_refs else None,
            progress=progress,
        )
        if result is None:
            continue
        signatures[name] = result.signature
        sign = 1.0 if result.higher_is_better else -1.0
        rows.append(_accuracy_row(name, sign * result.scores[:n], sign * result.scores[n:],
                                  scored, subsets))
    if models:
        rows += _demo_model_rows(pairs, scored, subsets, progress, signatures)
    counts = {s: sum(p.subset == s for p in scored) for s in subsets}
    header = ("scorer", f"all ({n})", *[f"{s} ({counts[s]})" for s in subsets])
    print(format_table(header, rows))
    if models:
        print("lm_* = SmolLM2-135M-Instruct (offline); bt_head = Bradley-Terry head on MiniLM, "
              "trained on the sample itself with 5-fold cross-validation by prompt (held-out scores)")


def _accuracy_row(label: str, chosen, rejected, scored: Sequence[Any], subsets: Sequence[str]):
    margin = [c - r for c, r in zip(chosen, rejected)]
    credit = [1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margin]
    acc = lambda keep: sum(c for c, k in zip(credit, keep) if k) / sum(keep)  # noqa: E731
    return (label, f"{acc([True] * len(scored)):.3f}",
            *[f"{acc([p.subset == s for p in scored]):.3f}" for s in subsets])


def _demo_model_rows(pairs, scored, subsets, progress: bool, signatures: dict) -> list:
    """A real causal LM (SmolLM2) as judge and log-prob scorer, and a trained reward head."""
    rows: list = []
    try:
        from .offline_models import smollm2_path

        model = str(smollm2_path())
    except (ImportError, MetricRMError) as exc:
        print(f"note: SmolLM2 scorers skipped ({exc})")
    else:
        n = len(scored)
        for name in ("lm_judge", "lm_logprob"):
            result = mr.score_in_chunks(
                mr.get_scorer(name, model=model),
                [p.chosen for p in scored] + [p.rejected for p in scored],
                prompts=[p.prompt for p in scored] * 2, progress=progress,
            )
            signatures[name] = result.signature
            rows.append(_accuracy_row(name, result.scores[:n], result.scores[n:], scored, subsets))
    try:
        from .adapters.bt_head import cross_validate_bt_head

        cv = cross_validate_bt_head(pairs, k=5, seed=0)
    except (ImportError, MetricRMError) as exc:
        print(f"note: bt_head skipped ({exc})")
        return rows
    keep = [p.label != "tie" for p in pairs]
    chosen = [c for c, k in zip(cv.chosen, keep) if k]
    rejected = [r for r, k in zip(cv.rejected, keep) if k]
    rows.append(_accuracy_row("bt_head (held-out)", chosen, rejected, scored, subsets))
    return rows


def cmd_demo(args: argparse.Namespace) -> int:
    chosen = list(args.scorers) if args.scorers else None
    ref_names = chosen or list(DEMO_REFERENCE_SCORERS)
    pref_names = chosen or list(DEMO_PREFERENCE_SCORERS)
    if args.no_bertscore or args.no_models:
        ref_names = [n for n in ref_names if not n.startswith("bertscore")]
        pref_names = [n for n in pref_names if not n.startswith("bertscore")]
    models = not (args.no_models or chosen)
    for name in dict.fromkeys(ref_names + pref_names):
        try:
            mr.scorer_spec(name)  # unknown names fail before any scoring
        except ImportError:
            pass  # reported as skipped when scored
    progress = not args.no_progress
    signatures: dict[str, str] = {}
    print("metricrm demo on the built-in sample (original text written for metricrm)\n")
    _demo_reference(ref_names, progress, signatures)
    print()
    _demo_preference(pref_names, progress, signatures, models=models)
    print("\nSignatures:")
    for signature in signatures.values():
        print(f"  {signature}")
    return 0


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metricrm", description="Evaluation metrics and reward models behind one interface."
    )
    parser.add_argument("--version", action="version", version=f"metricrm {mr.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list every registered scorer")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("score", help="score a file of items or preference pairs")
    p.add_argument("input", metavar="INPUT",
                   help="items or pairs: .jsonl, .json, .csv, .tsv or .parquet")
    p.add_argument("-s", "--scorer", action="append", required=True, metavar="NAME",
                   help="scorer to run (repeat for several)")
    p.add_argument("--set", action="append", default=[], metavar="SCORER.KEY=VALUE",
                   help="a scorer setting; VALUE is parsed as JSON when possible")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="result table: .csv, .jsonl or .parquet")
    p.add_argument("--kind", choices=("auto", "pointwise", "preference"), default="auto",
                   help="input kind (auto: preference when the file has chosen/rejected)")
    p.add_argument("--columns", nargs="+", action="extend", default=[], metavar="FIELD=COLUMN",
                   help="read a field from a differently named column, e.g. response=hyp")
    p.add_argument("--chunk-size", type=int, default=256, metavar="N",
                   help="items per scorer call (default 256)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("demo", help="score the built-in sample and compare with human judgments")
    p.add_argument("--scorers", nargs="+", metavar="NAME",
                   help="scorers to show instead of the defaults")
    p.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (no model load)")
    p.add_argument("--no-models", action="store_true",
                   help="skip every model: BERTScore, the SmolLM2 judge and log-prob, the trained head")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    from .cli_meta_eval import add_parser as add_meta_eval

    add_meta_eval(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``metricrm`` command; returns the exit status (2 on any input error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    chunk_size = getattr(args, "chunk_size", None)  # None: meta-eval takes it from a config
    if chunk_size is not None and chunk_size < 1:
        print(f"metricrm: error: --chunk-size must be at least 1 (got {args.chunk_size})",
              file=sys.stderr)
        return 2
    if getattr(args, "no_progress", False):
        # Model-loading bars (transformers, huggingface_hub) follow this when first imported.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return args.func(args)
    except (MetricRMError, OSError) as exc:  # OSError: unreadable input, missing output folder
        print(f"metricrm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
