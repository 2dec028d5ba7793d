"""``metricrm meta-eval``: agreement of scorers with human judgments, from flags or a study file.

Thin: it merges a study config (:mod:`metricrm.study.config`) with the command line (the
command line wins), loads the datasets, calls :func:`metricrm.study.meta_evaluate`, prints the
table and writes it as a table file (CSV/JSONL/Parquet) and/or a JSON report.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.cache import CacheStats, ScoreCache, default_cache_dir
from ..core.errors import DataFormatError, ScorerConfigError
from ..core.records import PreferencePair
from ..core.results_io import atomic_write, table_format, write_table
from ..core.versions import package_version
from ..data import DATASET_FORMATS
from ..meta import CONVENTIONS
from ..study.config import (
    DatasetEntry,
    ScorerEntry,
    StudyConfig,
    build_scorers,
    check_dataset_entry,
    load_dataset,
    load_study_config,
    parse_dataset_spec,
    parse_scorer_spec,
)
from ..study.meta_evaluate import (
    LEVELS,
    POINTWISE_STATISTICS,
    PREFERENCE_STATISTICS,
    MetaEvalConfig,
    meta_evaluate,
)
from .common import (
    add_progress_flag,
    add_set_option,
    format_table,
    parse_settings,
    show_warning,
)

# Settings passed to meta_evaluate as they are; their defaults are meta_evaluate's own.
_PASSED = (
    "n_resamples", "confidence", "seed", "score_ties", "human_tie_policy", "tie_threshold",
    "alpha", "significance", "exclude_empty", "strict", "chunk_size", "convention",
)  # fmt: skip


def add_parser(sub: Any) -> None:
    """Add the ``meta-eval`` subcommand to the ``metricrm`` subparsers."""
    p = sub.add_parser(
        "meta-eval",
        help="measure how well scorers agree with human judgments (with bootstrap intervals)",
        description="Score datasets with human judgments and report agreement statistics with "
        "bootstrap confidence intervals and significance clusters. Settings come from "
        "--config and the flags (flags win).",
    )
    p.add_argument("--config", metavar="STUDY", help="study file (.yaml, .yml or .toml)")
    p.add_argument(
        "-s",
        "--scorer",
        action="append",
        metavar="[LABEL=]NAME",
        help="scorer to evaluate (repeat for several; replaces the config's list)",
    )
    add_set_option(p, what="a scorer setting (SCORER is its label or name)")
    p.add_argument(
        "-d",
        "--dataset",
        action="append",
        metavar="[NAME=]FORMAT:PATH",
        help="dataset to evaluate on (repeat for several; replaces the config's "
        f"list); FORMAT: {', '.join(DATASET_FORMATS)}; wmt-mqm takes TSV[,AVG_SCORES]; "
        "sample:preference or sample:reference is the built-in sample",
    )
    p.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="DATASET.KEY=VALUE",
        help="a loader option of a dataset (DATASET is its name), on top of the config's "
        "`options:`; VALUE is parsed as JSON when possible, e.g. mqm.ref_system=refA, "
        'mqm.include_human=true, mqm.avg_system_aliases=\'{"refB": "ref-B"}\'',
    )
    p.add_argument(
        "--statistic",
        action="append",
        metavar="NAME",
        help="statistic (repeat); preference: accuracy, tau_like, rmbench; pointwise: "
        "pearson, spearman, kendall_b, kendall_c, acc23, spa",
    )
    p.add_argument(
        "--level",
        action="append",
        choices=("flat", "item", "system"),
        help="pointwise level (repeat; default: every level the data allows)",
    )
    p.add_argument(
        "--human",
        action="append",
        metavar="KEY",
        help="human judgment of pointwise items to compare with (repeat; default all)",
    )
    p.add_argument(
        "--convention",
        choices=list(CONVENTIONS),
        help="follow a benchmark's own rules for ties, clusters, p-values, averaging and "
        "totals (default metricrm); the flags below win over it",
    )
    p.add_argument(
        "--n-resamples", type=int, metavar="N", help="resamples (default: the convention's, 1000)"
    )
    p.add_argument("--confidence", type=float, metavar="P", help="interval level (default 0.95)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    p.add_argument(
        "--score-ties",
        choices=("half", "loss", "drop"),
        help="credit of a scorer tie in pairwise accuracy (default: the convention's; half)",
    )
    p.add_argument(
        "--human-ties",
        dest="human_tie_policy",
        choices=("exclude", "threshold"),
        help="pairs humans tied: leave out, or count as correct when the scorer ties "
        "them too (default: the convention's; exclude)",
    )
    p.add_argument(
        "--tie-threshold",
        type=float,
        metavar="X",
        help="score difference up to which a pair is a scorer tie (default 0)",
    )
    p.add_argument(
        "--alpha", type=float, metavar="A", help="significance level of the clusters (default 0.05)"
    )
    p.add_argument(
        "--no-significance",
        dest="significance",
        action="store_const",
        const=False,
        help="skip the significance clusters",
    )
    p.add_argument(
        "--exclude-empty",
        action="store_const",
        const=True,
        help="always leave out records with an empty response (default: only when a scorer "
        "cannot score them; counted in n_excluded)",
    )
    p.add_argument(
        "--strict",
        action="store_const",
        const=True,
        help="fail instead of skipping a scorer that needs references on a dataset without "
        "them, or leaving out empty responses a scorer cannot score",
    )
    cache = p.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="score cache folder (default $METRICRM_CACHE or ~/.cache/metricrm)",
    )
    cache.add_argument("--no-cache", action="store_true", help="do not use the score cache")
    p.add_argument("-o", "--output", metavar="OUT", help="result table: .csv, .jsonl or .parquet")
    p.add_argument(
        "--json",
        metavar="OUT.json",
        help="JSON report: settings, versions, signatures and every result row",
    )
    p.add_argument(
        "--report",
        metavar="OUT.html",
        help="also write a self-contained HTML report (as `metricrm report` makes)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        metavar="N",
        help="items per scorer call, and per cache write (default 256)",
    )
    add_progress_flag(p)
    p.set_defaults(func=cmd_meta_eval)


# --------------------------------------------------------------------------- merging


@dataclass
class Study:
    """Everything one run uses, after merging the config file with the command line."""

    scorers: list[ScorerEntry]
    datasets: list[DatasetEntry]
    statistics: list[str] | None
    levels: list[str] | None
    human: list[str] | None
    options: dict[str, Any]  # the _PASSED settings
    cache: str | bool | None  # a folder, False (off) or None (default folder)
    output: str | None
    json: str | None


def _defaults() -> dict[str, Any]:
    params = inspect.signature(meta_evaluate).parameters
    return {k: params[k].default for k in _PASSED}


def merge_study(args: argparse.Namespace, cfg: StudyConfig) -> Study:
    """Command-line values over config values over meta_evaluate's defaults."""
    where = str(cfg.source) if cfg.source else "a --config file"
    scorers = [parse_scorer_spec(s) for s in args.scorer] if args.scorer else cfg.scorers
    if not scorers:
        raise ScorerConfigError(
            f"meta-eval: no scorer given (use --scorer NAME or `scorers:` in {where})"
        )
    labels = [e.display_name for e in scorers]
    extra = parse_settings(args.set, labels)
    scorers = [
        replace(e, settings={**e.settings, **extra.get(e.display_name, {})}) for e in scorers
    ]
    datasets = [parse_dataset_spec(d) for d in args.dataset] if args.dataset else cfg.datasets
    if not datasets:
        raise DataFormatError(
            f"meta-eval: no dataset given (use --dataset FORMAT:PATH or `datasets:` in {where})"
        )
    datasets = _with_dataset_options(datasets, args.dataset_option)
    defaults = _defaults()
    options = {}
    for key in _PASSED:
        value = getattr(args, key)
        options[key] = value if value is not None else (
            getattr(cfg, key) if getattr(cfg, key) is not None else defaults[key]
        )  # fmt: skip
    if options["chunk_size"] is not None and options["chunk_size"] < 1:
        raise ScorerConfigError(
            f"meta-eval: chunk_size must be at least 1 (got {options['chunk_size']})"
        )
    cache = False if args.no_cache else args.cache_dir if args.cache_dir else cfg.cache_dir
    output = args.output or cfg.output
    json_out = args.json or cfg.json
    if not output and not json_out and not getattr(args, "report", None):
        raise DataFormatError(
            f"meta-eval: nowhere to write the results; give -o/--output (.csv, .jsonl, .parquet) "
            f"and/or --json or --report (or `output:`/`json:` in {where})"
        )
    pick = lambda flag, conf: flag if flag else conf  # noqa: E731
    return Study(
        scorers, datasets, pick(args.statistic, cfg.statistics), pick(args.level, cfg.levels),
        pick(args.human, cfg.human), options, cache, output, json_out,
    )  # fmt: skip


def _with_dataset_options(datasets: list[DatasetEntry], pairs: Sequence[str]) -> list[DatasetEntry]:
    """``--dataset-option NAME.KEY=VALUE`` over each dataset's options, checked before loading."""
    names = [d.display_name for d in datasets]
    extra = parse_settings(
        pairs, names, flag="--dataset-option", kind="dataset", example="mqm.ref_system=refA"
    )
    out = []
    for entry in datasets:
        if entry.display_name in extra:
            entry = replace(entry, options={**entry.options, **extra[entry.display_name]})
            check_dataset_entry(entry, f"--dataset-option {entry.display_name}")
        out.append(entry)
    return out


# --------------------------------------------------------------------------- checks


def _check_outputs(study: Study) -> None:
    """Fail on a bad suffix or a missing folder before any scoring."""
    for flag, path in (("--output", study.output), ("--json", study.json)):
        if not path or (flag == "--output" and path == "-"):
            continue
        if flag == "--output":
            table_format(path, who="--output")
        folder = Path(path).parent
        if not folder.is_dir():
            raise DataFormatError(f"{flag}: the folder {str(folder)!r} does not exist")
    if study.output and study.json and Path(study.output).resolve() == Path(study.json).resolve():
        raise DataFormatError(f"--output and --json name the same file ({study.output})")


def _check_names(study: Study, kinds: dict[str, str], data: dict[str, list]) -> None:
    """Statistics, levels and human keys that would fail (or be ignored) only after scoring."""
    present = set(kinds.values())
    for stat in study.statistics or ():
        if stat not in PREFERENCE_STATISTICS + POINTWISE_STATISTICS:
            raise ScorerConfigError(
                f"meta-eval: unknown statistic {stat!r}; preference: "
                f"{', '.join(PREFERENCE_STATISTICS)}; pointwise: {', '.join(POINTWISE_STATISTICS)}"
            )
        kind = "preference" if stat in PREFERENCE_STATISTICS else "pointwise"
        if kind not in present:
            raise ScorerConfigError(
                f"meta-eval: statistic {stat!r} is for {kind} data, and no dataset holds "
                f"{kind} records ({', '.join(f'{n}: {k}' for n, k in kinds.items())})"
            )
    pointwise = [n for n, k in kinds.items() if k == "pointwise"]
    for key, values in (("level", study.levels), ("human", study.human)):
        if values and not pointwise:
            raise ScorerConfigError(
                f"meta-eval: --{key} applies to pointwise datasets, and none is given"
            )
    for level in study.levels or ():
        if level not in LEVELS:
            raise ScorerConfigError(
                f"meta-eval: unknown level {level!r}; valid: {', '.join(LEVELS)}"
            )
    for name in pointwise:
        available = sorted({k for it in data[name] for k in it.human})
        missing = [h for h in study.human or () if h not in available]
        if missing:
            raise ScorerConfigError(
                f"meta-eval: dataset {name!r} has no human judgment {', '.join(missing)}; "
                f"available: {', '.join(available) or '(none)'}"
            )


# --------------------------------------------------------------------------- output


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _cluster(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(int(value))


def format_results(frame) -> str:
    """The result rows as a compact table: value with its interval, n and cluster."""
    with_human = frame["human"].notna().any()
    header = ["scorer", "dataset", "subset"] + (["human"] if with_human else []) + [
        "level", "statistic", "value [ci_low, ci_high]", "n", "cluster"]  # fmt: skip
    rows = []
    for r in frame.itertuples(index=False):
        human = [r.human if isinstance(r.human, str) else "-"] if with_human else []
        ci = f"{_fmt(r.value)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
        rows.append([r.scorer, r.dataset, r.subset, *human, r.level, r.statistic, ci, r.n,
                     _cluster(r.cluster)])  # fmt: skip
    return format_table(header, rows, right=len(header) - 3)


def _versions(scorers: Sequence[Any]) -> dict[str, str]:
    names = ["metricrm", "numpy", "scipy", "pandas"]
    names += [b for s in scorers for b in getattr(s, "backends", ()) if b not in names]
    out = {"python": platform.python_version()}
    for name in dict.fromkeys(names):
        out[name] = package_version(name) or "not installed"
    return out


def _plain(value: Any) -> Any:
    """A JSON value: NaN becomes null, numpy scalars plain numbers, other objects text."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def json_report(
    frame, study: Study, scorers: Sequence[tuple[str, Any]], sizes: dict[str, int]
) -> dict:
    """Settings, versions, scorer signatures, datasets and every result row."""
    used = MetaEvalConfig(
        **{
            k: v
            for k, v in study.options.items()
            if k in MetaEvalConfig.__dataclass_fields__ and k != "overrides"
        }
    )
    settings = {
        "statistics": study.statistics, "levels": study.levels, "human": study.human,
        **study.options, **used.settings(), "run_signature": used.signature,
        "cache": None if study.cache is False else str(study.cache or default_cache_dir()),
    }  # fmt: skip
    return {
        "settings": _plain(settings),
        "versions": _versions([s for _, s in scorers]),
        "scorers": [
            {
                "label": label,
                "name": e.name,
                "settings": _plain(dict(s.settings())),
                "signature": s.signature,
            }
            for e, (label, s) in zip(study.scorers, scorers)
        ],  # fmt: skip
        "datasets": [
            {
                "name": d.display_name,
                "format": d.format,
                "paths": list(d.paths),
                "options": _plain(dict(d.options)),
                "records": sizes[d.display_name],
            }
            for d in study.datasets
        ],  # fmt: skip
        "results": [
            {k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
        ],
    }


def _write_json(report: dict, path: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(report, fh, ensure_ascii=False, indent=1, allow_nan=False)
            fh.write("\n")

    atomic_write(Path(path), write)


# --------------------------------------------------------------------------- command


def cmd_meta_eval(args: argparse.Namespace) -> int:
    cfg = load_study_config(args.config) if args.config else StudyConfig()
    study = merge_study(args, cfg)
    _check_outputs(study)
    if getattr(args, "report", None):
        from .report import check_output

        check_output(args.report, "--report")
    scorers = build_scorers(study.scorers)  # unknown scorers and settings fail before loading
    names = [d.display_name for d in study.datasets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataFormatError(
            f"meta-eval: dataset name(s) {', '.join(dupes)} used more than once; name each "
            "(--dataset NAME=FORMAT:PATH or `name:` in the config)"
        )
    with warnings.catch_warnings():  # e.g. pairs a loader skipped
        warnings.showwarning = show_warning
        data = {d.display_name: load_dataset(d) for d in study.datasets}
    kinds = {
        n: "preference" if isinstance(r[0], PreferencePair) else "pointwise"
        for n, r in data.items()
    }
    _check_names(study, kinds, data)
    cache = False if study.cache is False else ScoreCache(study.cache or None)
    stats = CacheStats()
    try:
        with warnings.catch_warnings():  # e.g. excluded empty responses: one plain line each
            warnings.showwarning = show_warning
            frame = meta_evaluate(
                scorers, data, statistics=study.statistics, levels=study.levels,
                human=study.human, cache=cache, progress=not args.no_progress,
                cache_stats=stats, **study.options,
            )  # fmt: skip
    except KeyboardInterrupt:
        kept = "no cache was used, nothing is kept" if cache is False else (
            f"{stats.computed} newly scored items are kept in the score cache at {cache.path}; "
            "rerun the same command to score only the rest")  # fmt: skip
        print(f"metricrm: interrupted; {kept}", file=sys.stderr)
        return 130

    print(format_results(frame))
    print("\nSignatures:")
    for label, scorer in scorers:
        shown = "" if label == scorer.name else f"{label} = "
        print(f"  {shown}{scorer.signature}")
    note = " (cache off)" if cache is False else ""
    print(f"\nscored {stats.computed} new items, {stats.hits} from cache{note}")
    written = []
    if study.output == "-":
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n"))
        written.append("the table to stdout (CSV)")
    elif study.output:
        written.append(str(write_table(frame, study.output)))
    sizes = {n: len(r) for n, r in data.items()}
    if study.json:
        _write_json(json_report(frame, study, scorers, sizes), study.json)
        written.append(study.json)
    if getattr(args, "report", None):
        from .report import command_line, write_report

        meta = json_report(frame, study, scorers, sizes)
        meta.pop("results")
        written.append(str(write_report(frame, meta, args.report, title="metricrm meta-eval",
                                        command=command_line(args.argv))))  # fmt: skip
    print(f"wrote {', '.join(written)}")
    return 0
