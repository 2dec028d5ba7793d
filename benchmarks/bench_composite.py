"""Composite rewards: fitting weights on cached scores, and a composite's scoring time against
the sum of its components' times, measured side by side in one run.

1. **Fitting on cached scores.** The components (BLEU, chrF, length, token F1) of 20,000 WMT19
   DARR lt-en pairs are scored once into a fresh score cache; then, timed: reading them back
   from the cache into a table (``score_pair_table``, every item a cache hit), and fitting the
   normalizers and the Bradley-Terry weights on the table (``fit_composite``; also the
   non-negative and L1 variants).
2. **Scoring overhead.** The same responses are scored by each component alone
   (``scorer.score``) and by the composite of those components (cache off on both sides, so
   both compute everything); the ratio composite / sum of components is reported for wall and
   CPU time, the sides taking turns, best of ``--repeats``, with the CPU time of the
   composite's own work (normalising and weighing the component scores, ``combine``).

    python benchmarks/bench_composite.py [--shared ../shared/data] [--output composite.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved_times, machine, package_versions  # noqa: E402

import metricrm as mr  # noqa: E402
from metricrm.weighting import (  # noqa: E402
    Component,
    Composite,
    WeightMethod,
    fit_composite,
    make_normalizer,
    score_pair_table,
)

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LEXICAL = ("bleu", "chrf", "length_chars", "token_f1")


def _parts(names) -> list[Component]:
    return [Component.build(n, n) for n in names]


def bench_fit(pairs: list, repeats: int) -> list[dict]:
    parts = _parts(LEXICAL)
    folder = tempfile.mkdtemp(prefix="metricrm-bench-composite-")
    cache = mr.ScoreCache(folder)
    start = time.perf_counter()
    table = score_pair_table(parts, pairs, cache=cache, progress=False)
    first = time.perf_counter() - start
    methods = {
        "logistic (L2)": WeightMethod("logistic"),
        "logistic, non-negative (scipy)": WeightMethod("logistic", nonnegative=True),
        "logistic (L1)": WeightMethod("logistic", penalty="l1"),
    }
    fit_composite(parts, table, methods["logistic (L2)"])  # imports scikit-learn once
    functions = {
        "read cached scores": lambda: score_pair_table(parts, pairs, cache=cache, progress=False),
        **{f"fit: {k}": (lambda m=m: fit_composite(parts, table, m)) for k, m in methods.items()},
    }
    timings, _ = interleaved_times(functions, repeats)
    rows = [
        {
            "step": "score components (first time)",
            "pairs": len(pairs),
            "wall_s": first,
            "cpu_s": None,
        }
    ]
    rows += [
        {"step": k, "pairs": len(pairs), "wall_s": t.best_wall, "cpu_s": t.best_cpu}
        for k, t in timings.items()
    ]
    return rows


def bench_overhead(hyps: list, refs: list, names, repeats: int) -> dict:
    parts = []
    for name in names:  # z-scores fitted on the first 200 items
        scorer = mr.get_scorer(name)
        calib = scorer.score(hyps[:200], references=refs[:200]).scores
        parts.append(Component.build(name, name, normalizer=make_normalizer("zscore").fit(calib)))
    composite = Composite(parts, {name: 1.0 for name in names}, cache=False)
    scorers = {c.label: c.scorer for c in composite.components}

    def components() -> None:
        for s in scorers.values():
            s.score(hyps, references=refs)

    def whole() -> None:
        composite.score(hyps, references=refs)

    timings, _ = interleaved_times({"components": components, "composite": whole}, repeats)
    c, w = timings["components"], timings["composite"]
    raw = {label: s.score(hyps, references=refs).scores for label, s in scorers.items()}
    own, _ = interleaved_times({"combine": lambda: composite.combine(raw)}, repeats)
    return {
        "components": list(names),
        "items": len(hyps),
        "sum_of_components_wall_s": c.best_wall,
        "composite_wall_s": w.best_wall,
        "ratio_wall": w.best_wall / c.best_wall,
        "sum_of_components_cpu_s": c.best_cpu,
        "composite_cpu_s": w.best_cpu,
        "ratio_cpu": w.best_cpu / c.best_cpu,
        "combine_cpu_s": own["combine"].best_cpu,
    }


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    return (
        head + "\n" + "\n".join("| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows)
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=4000, help="items for the overhead run")
    parser.add_argument("--bertscore-items", type=int, default=400, help="0 to skip")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--skip-fit", action="store_true", help="only the overhead run")
    args = parser.parse_args(argv)

    pairs = mr.data.load_wmt_darr(args.shared / "scored" / "wmt19-darr" / "lt-en.json")
    pairs = pairs[: args.pairs]
    fit_rows = [] if args.skip_fit else bench_fit(pairs, args.repeats)
    if fit_rows:
        print(f"Fitting on cached scores ({len(pairs)} pairs, components {', '.join(LEXICAL)}):")
        print("\n" + _table(fit_rows, ["step", "pairs", "wall_s", "cpu_s"]))

    seen, hyps, refs = set(), [], []
    for p in pairs:
        for h in (p.chosen, p.rejected):
            if (h, p.references[0]) not in seen:
                seen.add((h, p.references[0]))
                hyps.append(h)
                refs.append(p.references[0])
    overhead = [bench_overhead(hyps[: args.items], refs[: args.items], LEXICAL, args.repeats)]
    if args.bertscore_items:
        n = args.bertscore_items
        overhead.append(
            bench_overhead(
                hyps[:n], refs[:n], ("chrf", "length_chars", "bertscore_f1"), args.repeats
            )
        )
    for row in overhead:
        row["components"] = "+".join(row["components"])
    print("\nComposite vs the sum of its components (cache off on both sides):\n")
    print(
        _table(
            overhead,
            [
                "components",
                "items",
                "sum_of_components_wall_s",
                "composite_wall_s",
                "ratio_wall",
                "sum_of_components_cpu_s",
                "composite_cpu_s",
                "ratio_cpu",
                "combine_cpu_s",
            ],
        )
    )
    result = {
        "machine": machine(),
        "versions": package_versions(
            ["metricrm", "numpy", "scipy", "scikit-learn", "sacrebleu", "torch"]
        ),
        "fit": fit_rows,
        "overhead": overhead,
    }
    print("\n" + json.dumps(result["machine"]))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
