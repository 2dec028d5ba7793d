"""The reward server under load: concurrent clients against calling the scorer in-process.

``--clients`` threads (default 32) each send ``--requests`` requests (default 50) of
``--items-per-request`` items (default 4) to ``POST /score`` over keep-alive connections; every
request holds distinct items, and every answer is checked against in-process scores of that
request alone, so a lost, duplicated or swapped answer shows. The run stops by itself (a
timeout on every request). Sides:

- ``in-process, per request``: ``scorer.score(request)`` for every request, one after another
  in this process (what a trainer pays with the scorer in its own process);
- ``in-process, one call``: all items in one ``score`` call (the scorer's own ceiling);
- ``ray serve``: ``metricrm.serve_scorer`` on a local Ray (``--cpus``), ``--replicas``
  replicas, dynamic batching (``--max-batch-size`` requests, ``--batch-wait-ms``);
- ``thread server``: ``serve_in_thread`` (no Ray, one request at a time).

Throughput is items per second of wall time for the whole load; latency is per request
(p50, p99). Data: distinct WMT19 DARR lt-en hypotheses with their references when the shared
data is beside the checkout, else generated sentences.

    python benchmarks/bench_serve.py --clients 32 --requests 50 --output serve.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, package_versions  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def items(n: int, shared: Path) -> tuple[list[str], list[str]]:
    """``n`` distinct (hypothesis, reference) pairs."""
    seen: dict[tuple[str, str], None] = {}
    path = shared / "scored/wmt19-darr/lt-en.json"
    if path.is_file():
        darr = json.loads(path.read_text(encoding="utf-8"))
        for key in sorted(darr):
            for side in ("better", "worse"):
                seen.setdefault((darr[key][side]["sys"], darr[key]["ref"]), None)
    words = "the cat sat on a mat while dog ran far away under blue sky near old house".split()
    k = 0
    while len(seen) < n:
        text = " ".join(words[(k * 7 + j * 3) % len(words)] for j in range(4 + k % 9))
        seen.setdefault((f"{text} {k}", " ".join(reversed(text.split()))), None)
        k += 1
    chosen = list(seen)[:n]
    return [h for h, _ in chosen], [r for _, r in chosen]


def percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values) * 1000
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99))}


def in_process(scorer, batches, expected) -> dict:
    latencies = []
    start = time.perf_counter()
    for (hyps, refs), want in zip(batches, expected):
        t = time.perf_counter()
        got = scorer.score(hyps, references=refs).scores.tolist()
        latencies.append(time.perf_counter() - t)
        assert got == want
    wall = time.perf_counter() - start
    n = sum(len(h) for h, _ in batches)
    return {
        "wall_s": wall, "items_per_s": n / wall, "requests": len(batches),
        **percentiles(latencies),
    }  # fmt: skip


def load(url: str, batches, expected, clients: int, timeout: float) -> dict:
    """Every client sends its share of the requests in order; returns throughput, latency and
    the count of answers that were missing, duplicated, failed or not the request's own."""
    import requests

    per = len(batches) // clients

    def client(c: int) -> list[tuple[int, int, list | None, float]]:
        out = []
        with requests.Session() as session:
            for k in range(c * per, (c + 1) * per):
                hyps, refs = batches[k]
                t = time.perf_counter()
                try:
                    answer = session.post(url + "/score", timeout=timeout,
                                          json={"responses": hyps, "references": refs})  # fmt: skip
                    status, scores = answer.status_code, answer.json().get("scores")
                except requests.RequestException:
                    status, scores = -1, None
                out.append((k, status, scores, time.perf_counter() - t))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        rows = [row for rs in pool.map(client, range(clients)) for row in rs]
    wall = time.perf_counter() - start
    seen = [k for k, _, _, _ in rows]
    sent = clients * per
    failed = sum(1 for _, status, _, _ in rows if status != 200)
    mismatched = sum(1 for k, status, scores, _ in rows if status == 200 and scores != expected[k])
    n = sum(len(batches[k][0]) for k in range(sent))
    return {
        "wall_s": wall, "items_per_s": n / wall, "requests": sent,
        "lost": sent - len(set(seen)), "duplicated": len(seen) - len(set(seen)),
        "failed": failed, "mismatched": mismatched,
        **percentiles([t for _, _, _, t in rows]),
    }  # fmt: skip


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scorer", default="chrf")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--items-per-request", type=int, default=4)
    parser.add_argument("--engines", default="ray,thread", help="comma list: ray, thread")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=18140)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--output", help="JSON file for the figures")
    args = parser.parse_args(argv)

    import metricrm as mr
    from metricrm.engines import serve_in_thread

    total = args.clients * args.requests
    hyps, refs = items(total * args.items_per_request, args.shared)
    m = args.items_per_request
    batches = [(hyps[k * m : (k + 1) * m], refs[k * m : (k + 1) * m]) for k in range(total)]
    scorer = mr.get_scorer(args.scorer)
    expected = [scorer.score(h, references=r).scores.tolist() for h, r in batches]
    result = {
        "machine": machine(), "versions": package_versions(["ray", "sacrebleu", "numpy"]),
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_average_start": os.getloadavg(), "sides": {},
    }  # fmt: skip
    sides = result["sides"]
    sides["in-process, per request"] = in_process(scorer, batches, expected)
    start = time.perf_counter()
    scorer.score(hyps, references=refs)
    wall = time.perf_counter() - start
    sides["in-process, one call"] = {"wall_s": wall, "items_per_s": len(hyps) / wall}
    engines = args.engines.split(",")
    if "thread" in engines:
        running = serve_in_thread(scorer)
        try:
            sides["thread server"] = load(running.url, batches, expected, args.clients,
                                          args.timeout)  # fmt: skip
        finally:
            running.stop()
    if "ray" in engines:
        import ray

        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
                 log_to_driver=False, _node_ip_address="127.0.0.1")  # fmt: skip
        try:
            started = time.perf_counter()
            running = mr.serve_scorer(
                args.scorer, port=args.port, replicas=args.replicas,
                max_batch_size=args.max_batch_size, batch_wait_timeout_s=args.batch_wait_ms / 1000,
            )  # fmt: skip
            result["ray_start_s"] = time.perf_counter() - started
            label = f"ray serve, {args.replicas} replica(s)"
            sides[label] = load(running.url, batches, expected, args.clients, args.timeout)
            running.stop()
        finally:
            from ray import serve

            serve.shutdown()
            ray.shutdown()
    result["load_average_end"] = os.getloadavg()
    print(table(result))
    print(f"load average: start {result['load_average_start']}, end {result['load_average_end']}")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
    return result


def table(result: dict) -> str:
    lines = ["| side | requests | items/s | p50 ms | p99 ms | lost | dup | failed | mismatched |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, r in result["sides"].items():

        def cell(k: str, f: str = "{:.1f}", r: dict = r) -> str:
            return f.format(r[k]) if k in r else "-"

        lines.append(
            f"| {label} | {r.get('requests', '-')} | {r['items_per_s']:.0f} | {cell('p50_ms')} | "
            f"{cell('p99_ms')} | {cell('lost', '{}')} | {cell('duplicated', '{}')} | "
            f"{cell('failed', '{}')} | {cell('mismatched', '{}')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
