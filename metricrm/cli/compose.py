"""``metricrm compose``: ``fit`` a composite reward on a dataset from a study file (and print its
held-out table), or ``score`` a file of items or pairs with a composite file.

The study file is the one ``meta-eval`` reads (its ``scorers`` are the components, its first
dataset the data) with an optional ``compose`` section::

    compose:
      method: logistic            # or {kind: logistic, penalty: l1, C: 0.5, nonnegative: true}
      normalizer: zscore          # one kind for all, or {label: kind}
      higher_is_better: {length_chars: false}
      k: 5
      group_by: source            # prompt (pairs) / group (items) by default
      statistic: tau_like         # accuracy, tau_like, rmbench; kendall or pearson for items
      output: reward.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.cache import ScoreCache
from ..core.errors import DataFormatError, ScorerInputError
from ..core.results_io import table_format, write_table
from ..core.validation import check_flag, check_integer
from ..study.config import load_dataset, parse_study_config, read_study_file
from .common import add_progress_flag, format_number, format_table

COMPOSE_KEYS = (
    "method",
    "normalizer",
    "higher_is_better",
    "k",
    "seed",
    "group_by",
    "category",
    "by_category",
    "human",
    "statistic",
    "level",
    "n_resamples",
    "output",
    "table",
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("compose", help="fit a composite reward or score with one")
    inner = p.add_subparsers(dest="compose_command", metavar="ACTION")
    fit = inner.add_parser(
        "fit",
        help="learn a composite's weights on a dataset and print the held-out table",
        description="Score every component once (through the score cache), evaluate the "
        "learned weights on held-out folds (grouped by prompt or source segment) against equal "
        "weights, every component and the best single one, fit on all data and write the file.",
    )
    fit.add_argument("config", metavar="STUDY", help="study file (.yaml, .yml or .toml)")
    fit.add_argument("-o", "--output", metavar="FILE", help="composite file (.yaml or .json)")
    fit.add_argument("--method", help="logistic, least_squares, pearson, kendall, equal, ...")
    fit.add_argument("--normalizer", help="zscore, robust, minmax, rank, bt, identity")
    fit.add_argument("--k", type=int, help="folds (default 5)")
    fit.add_argument("--seed", type=int, help="folds and resampling seed (default 0)")
    fit.add_argument("--group-by", help="record field keeping a group in one fold")
    fit.add_argument("--n-resamples", type=int, help="bootstrap and permutation resamples")
    fit.add_argument("--table", metavar="OUT", help="also write the held-out table (.csv, ...)")
    cache = fit.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="score cache folder")
    cache.add_argument("--no-cache", action="store_true", help="do not use the score cache")
    add_progress_flag(fit)
    fit.set_defaults(compose_func=cmd_fit)

    score = inner.add_parser("score", help="score a file of items or pairs with a composite")
    score.add_argument("composite", metavar="COMPOSITE", help="composite file (.yaml/.json)")
    score.add_argument("input", metavar="INPUT", help="items or pairs (.jsonl, .json, .csv, ...)")
    score.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="result table (.csv, .jsonl or .parquet) or - for stdout",
    )
    score.add_argument("--kind", choices=("auto", "pointwise", "preference"), default="auto")
    score.add_argument(
        "--label-field",
        metavar="FIELD",
        help="record field (or meta:KEY) with the label for by_label weights",
    )
    cache = score.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="score cache folder")
    cache.add_argument("--no-cache", action="store_true", help="do not use the score cache")
    add_progress_flag(score)
    score.set_defaults(compose_func=cmd_score)
    p.set_defaults(func=lambda args: _dispatch(p, args))


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    action = getattr(args, "compose_func", None)
    if action is None:
        parser.print_help(sys.stderr)
        return 2
    return action(args)


def _cache(args: argparse.Namespace) -> Any:
    return False if args.no_cache else ScoreCache(args.cache_dir or None)


def _fit_cache(args: argparse.Namespace, configured: Any) -> Any:
    """The command line's cache choice, else the study file's (``cache_dir: false`` = none)."""
    if args.no_cache or (args.cache_dir is None and configured is False):
        return False
    return ScoreCache(args.cache_dir or configured or None)


# ------------------------------------------------------------------------------------- fit


def _section(where: str, data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise DataFormatError(f"{where}: `compose` must be a mapping (got {type(data).__name__})")
    unknown = [k for k in data if k not in COMPOSE_KEYS]
    if unknown:
        raise DataFormatError(
            f"{where}: compose: unknown key {unknown[0]!r}; valid keys: {', '.join(COMPOSE_KEYS)}"
        )
    return dict(data)


def _per_label(where: str, key: str, value: Any, label: str, default: Any) -> Any:
    if isinstance(value, Mapping):
        unknown = [k for k in value if not isinstance(k, str)]
        if unknown:
            raise DataFormatError(f"{where}: compose.{key}: keys must be component labels")
        return value.get(label, default)
    return default if value is None else value


def cmd_fit(args: argparse.Namespace) -> int:
    from ..weighting import Component, compose

    path = Path(args.config)
    raw = read_study_file(path)
    raw = dict(raw) if isinstance(raw, Mapping) else raw
    section = _section(str(path), raw.pop("compose", None) if isinstance(raw, dict) else None)
    cfg = parse_study_config(raw, where=str(path), base=path.parent)
    if not cfg.scorers:
        raise DataFormatError(f"{path}: `scorers` (the components) is missing")
    if not cfg.datasets:
        raise DataFormatError(f"{path}: `datasets` is missing")
    labels = [e.display_name for e in cfg.scorers]
    for lab in section.get("higher_is_better", {}) or {}:
        if lab not in labels:
            raise DataFormatError(
                f"{path}: compose.higher_is_better names {lab!r}, which is not a component "
                f"({', '.join(labels)})"
            )
    normalizer = args.normalizer or section.get("normalizer") or "zscore"
    components = [
        Component.build(
            e.display_name,
            e.name,
            settings=dict(e.settings),
            normalizer=_per_label(str(path), "normalizer", normalizer, e.display_name, "zscore"),
            higher_is_better=_per_label(
                str(path), "higher_is_better", section.get("higher_is_better"), e.display_name, None
            ),
        )
        for e in cfg.scorers
    ]
    dataset = cfg.datasets[0]
    records = load_dataset(dataset)
    output = args.output or section.get("output")
    if output is None:
        raise DataFormatError("compose fit: say where to write the composite: -o FILE")
    if not args.output:
        output = str(path.parent / output)
    table_out = args.table or section.get("table")
    k = check_integer(
        "compose", "k", args.k if args.k is not None else section.get("k", 5), minimum=2
    )
    seed = args.seed if args.seed is not None else section.get("seed", cfg.seed or 0)
    n_res = args.n_resamples or section.get("n_resamples") or cfg.n_resamples or 1000
    result = compose(
        components,
        records,
        method=args.method or section.get("method"),
        k=k,
        seed=check_integer("compose", "seed", seed, minimum=0),
        group_by=args.group_by or section.get("group_by"),
        category=section.get("category"),
        by_category=check_flag("compose", "by_category", section.get("by_category", False)),
        human=section.get("human") or (cfg.human[0] if cfg.human else None),
        statistic=section.get("statistic"),
        level=section.get("level", "item"),
        n_resamples=check_integer("compose", "n_resamples", n_res, minimum=1),
        cache=_fit_cache(args, cfg.cache_dir),
        progress=not args.no_progress,
    )
    frame = result.frame
    grouped = (
        args.group_by
        or section.get("group_by")
        or ("prompt" if result.table.kind == "preference" else "group")
    )
    print(
        f"{dataset.display_name}: {len(records)} records, {k} folds grouped by {grouped}; "
        "held-out agreement:"
    )
    rows = [
        (
            r.method,
            r.subset,
            r.statistic,
            format_number(r.value),
            f"[{format_number(r.ci_low)}, {format_number(r.ci_high)}]",
            r.n,
            "" if r.p_value != r.p_value else f"{r.p_value:.4f}",
        )
        for r in frame.itertuples()
    ]
    header = ("method", "subset", "statistic", "value", "95% CI", "n", "p vs best single")
    print(format_table(header, rows, right=3))
    saved = result.composite.save(output)
    print(f"weights: {', '.join(f'{k_}={v:.4g}' for k_, v in result.composite.weights.items())}")
    print(f"wrote {saved}")
    if table_out:
        write_table(frame, table_out, metadata={"composite": result.composite.signature})
        print(f"wrote {table_out}")
    return 0


# ----------------------------------------------------------------------------------- score


def _labels(records: list, field: str | None) -> list | None:
    if field is None:
        return None
    if field.startswith("meta:"):
        key = field[5:]
        return [r.meta.get(key) for r in records]
    if not all(hasattr(r, field) for r in records):
        raise DataFormatError(f"--label-field: {field!r} is not a field of the records")
    return [getattr(r, field) for r in records]


def _inputs(records: list, attr: str, where: list[str]) -> list | None:
    values = [getattr(r, attr) for r in records]
    present = [v is not None and v != () for v in values]
    if not any(present):
        return None
    if not all(present):
        missing = where[present.index(False)]
        raise ScorerInputError(f"{missing}: has no {attr} while other records do")
    return [list(v) if attr == "references" else v for v in values]


def cmd_score(args: argparse.Namespace) -> int:
    from ..weighting import load_composite
    from .score import read_items

    composite = load_composite(args.composite, cache=_cache(args))
    path = Path(args.input)
    if args.output != "-":
        table_format(args.output, who="--output")
    kind, where, records, _ = read_items(path, args.kind, {})
    labels = _labels(records, args.label_field)
    columns: dict[str, Any] = {}
    if kind == "pointwise":
        result = composite.score(
            [r.response for r in records],
            references=_inputs(records, "references", where),
            prompts=_inputs(records, "prompt", where),
            sources=_inputs(records, "source", where),
            labels=labels,
        )
        columns["id"] = [r.id for r in records]
        columns["composite"] = result.scores
        for key, values in result.details.items():
            columns[f"composite.{key}"] = values
    else:
        n = len(records)
        both = lambda v: None if v is None else v + v  # noqa: E731
        result = composite.score(
            [r.chosen for r in records] + [r.rejected for r in records],
            references=both(_inputs(records, "references", where)),
            prompts=both(_inputs(records, "prompt", where)),
            sources=both(_inputs(records, "source", where)),
            labels=both(labels),
        )
        columns["id"] = [r.id for r in records]
        columns["composite.chosen"] = result.scores[:n]
        columns["composite.rejected"] = result.scores[n:]
        columns["composite.margin"] = result.scores[:n] - result.scores[n:]
        for key, values in result.details.items():
            columns[f"composite.{key}.chosen"] = values[:n]
            columns[f"composite.{key}.rejected"] = values[n:]
    import pandas as pd

    frame = pd.DataFrame(columns)
    what = "pairs" if kind == "preference" else "items"
    if args.output == "-":
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n"))
        report = sys.stderr
    else:
        write_table(
            frame,
            args.output,
            metadata={"composite": composite.signature, "file": str(args.composite)},
        )
        report = sys.stdout
        print(f"wrote {args.output}", file=report)
    print(f"scored {len(records)} {what} from {path} with {args.composite}", file=report)
    print(f"  {composite.signature}", file=report)
    return 0
