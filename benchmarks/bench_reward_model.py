"""Reward-model throughput and peak memory: metricrm's token-budget batching against
``transformers.pipeline("text-classification")`` with fixed batch sizes.

Same model (the offline all-MiniLM-L6-v2 encoder with a random one-output head, saved to a
temporary folder), same 1,000 HH-RLHF (conversation, chosen reply) items rendered to the same
text, same truncation (512 tokens, from the left), same machine, one run. Each measurement runs
in its own fresh process so that its peak resident memory is its own. The pipeline returns raw
logits (``function_to_apply="none"``), so the two sides' scores are compared too.

    python benchmarks/bench_reward_model.py            # 1,000 items
    python benchmarks/bench_reward_model.py --n 200    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import current_rss_mb, machine, max_rss_mb, package_versions  # noqa: E402

DATA = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "preference"
    / "hh-rlhf"
    / "harmless-base_test.jsonl.gz"
)
MAX_LENGTH = 512


def load_items(n: int) -> tuple[list, list[str]]:
    from metricrm.data import load_hh_rlhf

    pairs = [p for p in load_hh_rlhf(DATA) if p.chosen.strip()][:n]
    if len(pairs) < n:
        raise SystemExit(f"bench_reward_model: only {len(pairs)} usable items in {DATA}")
    return [list(p.prompt) for p in pairs], [p.chosen for p in pairs]


def child(method: str, model: str, n: int, batch: int) -> dict:
    """One measurement in this (fresh) process: load, warm up, score all items once."""
    import numpy as np
    import torch

    from metricrm.adapters.chat_format import PlainFormat

    prompts, responses = load_items(n)
    if method == "metricrm":
        import metricrm as mr

        scorer = mr.get_scorer(
            "reward_model",
            model=model,
            max_length=MAX_LENGTH,
            truncation_side="left",
            max_tokens_per_batch=batch,
        )
        run = lambda p, r: scorer.score(r, prompts=p).scores  # noqa: E731
    else:
        from transformers import pipeline

        pipe = pipeline("text-classification", model=model, device="cpu", dtype=torch.float32)
        pipe.tokenizer.truncation_side = "left"
        fmt = PlainFormat()

        def run(p, r):
            texts = [
                fmt.render(list(pp) + [{"role": "assistant", "content": rr}])
                for pp, rr in zip(p, r)
            ]
            out = pipe(
                texts,
                batch_size=batch,
                truncation=True,
                max_length=MAX_LENGTH,
                function_to_apply="none",
            )
            return np.array([o["score"] for o in out])

    import warnings

    warnings.simplefilter("ignore")
    run(prompts[:16], responses[:16])  # warm-up (thread pools, allocator)
    base = current_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    scores = run(prompts, responses)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "method": method,
        "batch": batch,
        "n": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "items_per_s": n / wall,
        "peak_rss_mb": max_rss_mb(),
        "rss_before_mb": base,
        "scores": [float(x) for x in scores],
    }


def measure(method: str, model: str, n: int, batch: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--model",
        model,
        "--n",
        str(n),
        "--batch",
        str(batch),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=1000, help="number of HH-RLHF items (default 1000)"
    )
    parser.add_argument("--pipeline-batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--budget", type=int, default=4096, help="metricrm max_tokens_per_batch")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per method, taking turns; the fastest is shown"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.n, args.batch)))
        return

    import numpy as np

    from metricrm.adapters.model_location import default_encoder_path
    from metricrm.adapters.offline_models import build_classifier_on

    with tempfile.TemporaryDirectory(prefix="bench-rm-") as tmp:
        model = str(build_classifier_on(default_encoder_path(), Path(tmp) / "minilm-rm", seed=0))
        from transformers import AutoTokenizer

        prompts, responses = load_items(args.n)
        from metricrm.adapters.chat_format import PlainFormat

        tok = AutoTokenizer.from_pretrained(model)
        fmt = PlainFormat()
        lengths = np.array(
            [
                min(
                    len(tok(fmt.render(p + [{"role": "assistant", "content": r}]))["input_ids"]),
                    MAX_LENGTH,
                )
                for p, r in zip(prompts, responses)
            ]
        )
        runs = [("metricrm", args.budget)] + [("pipeline", b) for b in args.pipeline_batch_sizes]
        rounds = [[measure(m, model, args.n, b) for m, b in runs] for _ in range(args.repeats)]
        results = [min(group, key=lambda r: r["wall_s"]) for group in zip(*rounds)]

    ours = results[0]
    print(
        f"# reward model: all-MiniLM-L6-v2 + random head, float32, CPU; {args.n} HH-RLHF items, "
        f"tokens per item (after truncation to {MAX_LENGTH}): median {int(np.median(lengths))}, "
        f"min {lengths.min()}, max {lengths.max()}"
    )
    print(f"# machine: {json.dumps(machine())}")
    print(f"# versions: {json.dumps(package_versions(['torch', 'transformers', 'metricrm']))}")
    header = (
        f"{'method':<36}{'items/s':>9}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}"
        f"{'RSS growth MB':>15}{'speed-up':>10}{'max |diff|':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        label = (
            f"metricrm token budget {r['batch']}"
            if r["method"] == "metricrm"
            else f"pipeline batch_size={r['batch']}"
        )
        diff = float(np.max(np.abs(np.array(r["scores"]) - np.array(ours["scores"]))))
        speed = ours["wall_s"] / r["wall_s"]
        print(
            f"{label:<36}{r['items_per_s']:>9.1f}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}"
            f"{r['peak_rss_mb']:>13.0f}{r['peak_rss_mb'] - r['rss_before_mb']:>15.0f}"
            f"{1 / speed:>9.2f}x{diff:>12.1e}"
        )
    print(
        f"# best of {args.repeats} run(s) per method, each in a fresh process; speed-up: metricrm "
        "items/s divided by that row's items/s; max |diff|: largest score difference from "
        "metricrm's scores (raw head logits)"
    )


if __name__ == "__main__":
    main()
