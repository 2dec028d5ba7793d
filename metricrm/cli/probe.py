"""``metricrm probe``: reward-hacking probes for scorers on preference data.

Thin: it loads the datasets, builds the scorers (``lm_pairwise_judge`` builds the pairwise LM
judge, which compares instead of scoring), calls :func:`metricrm.probes.probe` and prints the
score change, rise rate and hack rate of every scorer under every probe, with intervals.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, ScorerConfigError
from ..core.records import PreferencePair
from ..core.results_io import table_format, write_table
from ..core.versions import version_label
from ..probes import get_probe, list_probes, probe
from ..probes.perturbations import GENERAL_PROBES, REFERENCE_PROBES
from ..study.config import load_dataset, parse_dataset_spec, parse_scorer_spec
from .common import add_progress_flag, add_set_option, format_table, parse_settings

JUDGE = "lm_pairwise_judge"


def add_parser(sub: Any) -> None:
    """Add the ``probe`` subcommand to the ``metricrm`` subparsers."""
    p = sub.add_parser(
        "probe",
        help="reward-hacking probes: does padding, flattery, markdown ... raise a scorer's value?",
        description="Perturb the responses of preference pairs in ways that should not make "
        "them better and report each scorer's score change (in units of its spread), the "
        "share of responses whose score rises, and the hack rate: how often the perturbed "
        "rejected response beats the untouched chosen one. Bootstrap intervals over pairs.",
    )
    p.add_argument(
        "-s",
        "--scorer",
        action="append",
        metavar="[LABEL=]NAME",
        help=f"scorer to probe (repeat for several; {JUDGE} for the pairwise judge)",
    )
    add_set_option(p)
    p.add_argument(
        "-d",
        "--dataset",
        action="append",
        metavar="[NAME=]FORMAT:PATH",
        help="preference data (repeat for several), e.g. llmbar:data/llmbar",
    )
    p.add_argument(
        "-p",
        "--probe",
        action="append",
        metavar="NAME",
        help="probe to run (repeat; default: every general probe, plus the "
        "reference-based ones on data with sources and references)",
    )
    p.add_argument(
        "--probe-set",
        action="append",
        default=[],
        metavar="PROBE.KEY=VALUE",
        help="a probe setting, e.g. pad_filler.budget_chars=1000",
    )
    p.add_argument("--list", action="store_true", help="list the probes and exit")
    p.add_argument(
        "--sample", type=int, metavar="N", help="probe a seeded sample of N pairs per dataset"
    )
    p.add_argument(
        "--sides",
        choices=("both", "rejected"),
        default="both",
        help="perturb both responses (default) or only the rejected one",
    )
    p.add_argument("--seed", type=int, default=0, help="probe and bootstrap seed (default 0)")
    p.add_argument(
        "--n-resamples",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples (default 1000)",
    )
    p.add_argument(
        "--confidence", type=float, default=0.95, metavar="P", help="interval level (default 0.95)"
    )
    cache = p.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="score cache folder (default $METRICRM_CACHE or ~/.cache/metricrm)",
    )
    cache.add_argument("--no-cache", action="store_true", help="do not use the score cache")
    p.add_argument("-o", "--output", metavar="OUT", help="result table: .csv, .jsonl or .parquet")
    p.add_argument("--chunk-size", type=int, metavar="N", help="items per scorer call")
    add_progress_flag(p)
    p.set_defaults(func=cmd_probe)  # fmt: skip


def sample_pairs(pairs: list, n: int, seed: int) -> list:
    """``n`` pairs drawn without replacement with ``random.Random(seed)``, in input order."""
    if n >= len(pairs):
        return list(pairs)
    keep = set(random.Random(seed).sample(range(len(pairs)), n))
    return [p for i, p in enumerate(pairs) if i in keep]


def _probe_settings(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["pad_filler.budget_chars=1000"]`` -> ``{"pad_filler": {"budget_chars": 1000}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        name, dot, setting = key.rpartition(".")
        if not eq or not dot or not name or not setting:
            raise ScorerConfigError(
                f"--probe-set: expected PROBE.SETTING=VALUE, e.g. pad_filler.factor=2 "
                f"(got {item!r})"
            )
        if name not in list_probes():
            raise ScorerConfigError(
                f"--probe-set {item}: unknown probe {name!r}; valid: {', '.join(list_probes())}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(name, {})[setting] = value
    return out


def _probes_for(names: list[str] | None, settings: dict, pairs: list) -> list:
    if names:
        unknown = [n for n in settings if n not in names]
        if unknown:
            raise ScorerConfigError(
                f"--probe-set: probe(s) {', '.join(unknown)} are not among the --probe names"
            )
        return [get_probe(n, **settings.get(n, {})) for n in names]
    chosen = list(GENERAL_PROBES)
    if all(p.source and p.references for p in pairs):
        chosen += list(REFERENCE_PROBES)
    return [get_probe(n, **settings.get(n, {})) for n in chosen]


def _build(entry: Any) -> Any:
    if entry.name == JUDGE:
        from ..adapters.causal_lm import PairwiseJudge

        return PairwiseJudge(**dict(entry.settings))
    from ..core.registry import get_scorer

    return get_scorer(entry.name, **dict(entry.settings))


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _cell(stats: Any, name: str) -> str:
    row = stats.loc[name]
    return f"{_fmt(row['value'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def format_probe_table(frame: Any) -> str:
    """One line per dataset, scorer and probe: change, rise rate and hack rate with intervals."""
    rows = []
    keys = ["dataset", "scorer", "probe"]
    for (dataset, scorer, name), part in frame.groupby(keys, sort=False):
        stats = part.set_index("statistic")
        change = "score_change" if "score_change" in stats.index else "preference"
        rows.append([dataset, scorer, name, _cell(stats, change),
                     _fmt(stats.loc["rise_rate", "value"]), _cell(stats, "hack_rate"),
                     _fmt(stats.loc["hack_rate_untouched", "value"]),
                     int(stats["n"].iloc[0])])  # fmt: skip
    header = ["dataset", "scorer", "probe", "change (spreads) [95% CI]", "rises",
              "hack rate [95% CI]", "untouched", "n"]  # fmt: skip
    return format_table(header, rows, right=3)


def cmd_probe(args: argparse.Namespace) -> int:
    if args.list:
        for name in list_probes():
            p = get_probe(name)
            print(f"{name}: {p.description}")
        return 0
    if not args.scorer:
        raise ScorerConfigError("probe: no scorer given (use --scorer NAME)")
    if not args.dataset:
        raise DataFormatError("probe: no dataset given (use --dataset FORMAT:PATH)")
    if args.output and args.output != "-":
        table_format(args.output, who="--output")
        if not Path(args.output).parent.is_dir():
            raise DataFormatError(f"--output: the folder {str(Path(args.output).parent)!r} "
                                  "does not exist")  # fmt: skip
    if args.sample is not None and args.sample < 1:
        raise ScorerConfigError(f"--sample must be at least 1 (got {args.sample})")
    entries = [parse_scorer_spec(s) for s in args.scorer]
    extra = parse_settings(args.set, [e.display_name for e in entries])
    entries = [replace(e, settings={**e.settings, **extra.get(e.display_name, {})})
               for e in entries]  # fmt: skip
    probe_settings = _probe_settings(args.probe_set)
    data = {}
    for spec in args.dataset:
        entry = parse_dataset_spec(spec)
        records = load_dataset(entry)
        if not all(isinstance(r, PreferencePair) for r in records):
            raise DataFormatError(
                f"probe: dataset {entry.display_name!r} does not hold preference pairs"
            )
        if args.sample is not None:
            records = sample_pairs(records, args.sample, args.seed)
        data[entry.display_name] = records
    cache = False if args.no_cache else args.cache_dir
    frames = []
    for entry in entries:
        scorer = _build(entry)
        for name, pairs in data.items():
            if getattr(scorer, "requires_references", False) and not all(
                p.references for p in pairs
            ):
                print(f"metricrm: warning: {entry.display_name} needs references and dataset "
                      f"{name!r} has none; skipped", file=sys.stderr)  # fmt: skip
                continue
            frames.append(
                probe(
                    scorer, pairs, _probes_for(args.probe, probe_settings, pairs),
                    seed=args.seed, sides=args.sides, n_resamples=args.n_resamples,
                    confidence=args.confidence, cache=cache, chunk_size=args.chunk_size,
                    progress=not args.no_progress, label=entry.display_name, dataset=name,
                )
            )  # fmt: skip
    if not frames:
        raise ScorerConfigError("probe: no scorer could be run on the given datasets")
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    print(format_probe_table(frame), file=sys.stderr if args.output == "-" else sys.stdout)
    if args.output:
        if args.output == "-":
            print(frame.to_csv(index=False), end="")
        else:
            meta = {"command": "probe", "metricrm": version_label("metricrm"),
                    "sample": args.sample, "datasets": args.dataset}  # fmt: skip
            write_table(frame, args.output, metadata=meta)
    return 0
