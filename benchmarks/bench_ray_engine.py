"""The Ray Data engine: one actor against two, against in-process scoring, and a cached rerun.

A local Ray instance on loopback with ``--cpus`` CPUs (default 2) runs
``metricrm.score_dataset``; the sides take turns (a, b, c, a, b, c, ...) and each figure is the
median of ``--repeats`` runs. Every side is cold: it builds its scorer (loads the model) inside
the timed call, as a fresh actor pool does. Sides:

- ``in-process``: ``get_scorer(name).score(...)`` in this process (one torch thread);
- ``ray, 1 actor`` / ``ray, 2 actors``: ``score_dataset(name, ..., num_actors=k)``, no cache.

Scaling efficiency is ``t(1 actor) / (2 * t(2 actors))`` (1.0: perfect). Scores are checked
equal to in-process (bit-identical for chrF, 1e-4 for BERTScore). Then the cache: a first run
of chrF with an empty score cache against a rerun of the same items (all found in the cache).

Data: chrF on ``--items`` distinct real pairs (WMT19 DARR lt-en hypotheses with their
reference, then SummEval summaries with one of their references); BERTScore on the first
``--bertscore-items`` SummEval summaries with their first reference.

    python benchmarks/bench_ray_engine.py --items 20000 --bertscore-items 400 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# a loopback-only Ray: without this Ray binds to (and dials) the machine's outward address
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved_times, machine, package_versions  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pairs(n: int, shared: Path) -> tuple[list[str], list[str]]:
    """``n`` distinct (hypothesis, reference) pairs: DARR lt-en first, then SummEval."""
    from metricrm.data import load_summeval

    seen: dict[tuple[str, str], None] = {}
    darr = json.loads((shared / "scored/wmt19-darr/lt-en.json").read_text(encoding="utf-8"))
    for key in sorted(darr):
        entry = darr[key]
        for side in ("better", "worse"):
            seen.setdefault((entry[side]["sys"], entry["ref"]), None)
    summeval = load_summeval(shared / "scored/summeval/summeval.json")
    for k in range(max(len(i.references) for i in summeval)):
        for item in summeval:
            if len(seen) >= n:
                break
            if k < len(item.references):
                seen.setdefault((item.response, item.references[k]), None)
    if len(seen) < n:
        raise SystemExit(f"only {len(seen)} distinct pairs in the shared data (asked for {n})")
    chosen = list(seen)[:n]
    return [h for h, _ in chosen], [r for _, r in chosen]


def sides(name: str, hyps, refs, threads: int) -> dict:
    import metricrm as mr

    def local():
        return mr.get_scorer(name).score(hyps, references=refs).scores

    def on_ray(k: int):
        return lambda: mr.score_dataset(
            name, responses=hyps, references=refs, num_actors=k, threads_per_actor=threads,
            cache=False,
        ).scores  # fmt: skip

    return {"in-process": local, "ray, 1 actor": on_ray(1), "ray, 2 actors": on_ray(2)}


def compare(name: str, hyps, refs, repeats: int, threads: int, exact: bool) -> dict:
    import numpy as np

    import metricrm as mr

    # start Ray's worker processes once (each timed call still starts its own actors)
    mr.score_dataset(name, responses=hyps[:4], references=refs[:4], num_actors=2, cache=False)
    timings, results = interleaved_times(sides(name, hyps, refs, threads), repeats, warmup=False)
    ref = results["in-process"]
    rows = {}
    for label, t in timings.items():
        diff = float(np.abs(results[label] - ref).max())
        if (exact and diff != 0) or diff > 1e-4:
            raise SystemExit(f"{name}: {label} differs from in-process by {diff}")
        rows[label] = {
            "median_s": t.median_wall,
            "items_per_s": len(hyps) / t.median_wall,
            "walls": t.wall,
            "max_abs_diff": diff,
        }
    one, two = rows["ray, 1 actor"]["median_s"], rows["ray, 2 actors"]["median_s"]
    return {
        "items": len(hyps),
        "sides": rows,
        "speedup_2_vs_1_actor": one / two,
        "scaling_efficiency": one / (2 * two),
        "ray_2_vs_in_process": rows["in-process"]["median_s"] / two,
    }


def cached_rerun(hyps, refs, threads: int) -> dict:
    import metricrm as mr

    with tempfile.TemporaryDirectory(prefix="bench-ray-cache-") as folder:
        runs = {}
        for label in ("first run (empty cache)", "rerun (all cached)"):
            stats = mr.CacheStats()
            start = time.perf_counter()
            mr.score_dataset(
                "chrf", responses=hyps, references=refs, num_actors=2, threads_per_actor=threads,
                cache=folder, stats=stats,
            )  # fmt: skip
            runs[label] = {
                "wall_s": time.perf_counter() - start, "computed": stats.computed,
                "hits": stats.hits,
            }  # fmt: skip
    first, again = (r["wall_s"] for r in runs.values())
    return {"items": len(hyps), "runs": runs, "rerun_speedup": first / again}


def table(result: dict) -> str:
    lines = ["| side | median s | items/s | max abs diff vs in-process |", "|---|---|---|---|"]
    for label, r in result["sides"].items():
        lines.append(
            f"| {label} | {r['median_s']:.1f} | {r['items_per_s']:.0f} | {r['max_abs_diff']:.1e} |"
        )
    lines.append(
        f"\n2 actors vs 1: {result['speedup_2_vs_1_actor']:.2f}x (scaling efficiency "
        f"{result['scaling_efficiency']:.2f}); 2 actors vs in-process: "
        f"{result['ray_2_vs_in_process']:.2f}x"
    )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20000, help="chrF items")
    parser.add_argument("--bertscore-items", type=int, default=400, help="0 to skip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per actor/side")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    parser.add_argument("--output", help="JSON file for the figures")
    args = parser.parse_args(argv)
    import ray
    import torch

    import metricrm as mr

    torch.set_num_threads(args.threads)
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    result = {
        "machine": machine(),
        "versions": package_versions(["ray", "torch", "sacrebleu", "bert-score", "numpy"]),
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_average_start": os.getloadavg(),
    }
    try:
        hyps, refs = pairs(args.items, args.shared)
        result["chrf"] = compare("chrf", hyps, refs, args.repeats, args.threads, exact=True)
        print(f"chrF, {len(hyps)} items\n{table(result['chrf'])}\n", flush=True)
        if args.bertscore_items:
            items = mr.data.load_summeval(args.shared / "scored/summeval/summeval.json")
            items = items[: args.bertscore_items]
            h, r = [i.response for i in items], [i.references[0] for i in items]
            result["bertscore"] = compare("bertscore_f1", h, r, args.repeats, args.threads, False)
            print(f"BERTScore, {len(h)} items\n{table(result['bertscore'])}\n", flush=True)
        result["cache"] = cached_rerun(hyps, refs, args.threads)
        print(json.dumps(result["cache"], indent=1))
    finally:
        ray.shutdown()
    result["load_average_end"] = os.getloadavg()
    print(f"load average: start {result['load_average_start']}, end {result['load_average_end']}")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
