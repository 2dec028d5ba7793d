"""``lm_logprob`` throughput: shared prompt prefixes and lower precision against today's
token-budget batching and a plain transformers loop, on HH-RLHF pairs and RM-Bench prompts.

One process, one SmolLM2-135M-Instruct, the same token ids on every side; the sides take turns
(a, b, c, ...) and each figure is the median of ``--repeats`` runs. Sides:

- ``loop``: one unpadded forward pass per response (full logits), log-softmax, gather;
- ``batched``: metricrm with ``share_prefix=False`` (today's token-budget batching);
- ``shared``: metricrm with the shared-prefix path (float32);
- ``shared+bf16`` / ``shared+int8``: the same with ``dtype="bfloat16"`` / ``quantize="int8"``.

Scores are compared with ``batched`` (max absolute difference of the mean log-probability).
Wall and process CPU seconds are both reported (CPU time is what the side used, whatever else
runs on the machine). Pairwise accuracy (chosen scored above rejected) is measured for each
precision on a larger seeded sample (``--accuracy-pairs``, scored once, shared path), with the
paired bootstrap interval of its change against float32.

    python benchmarks/bench_lm_prefix.py --pairs 48 --prompts 8 --repeats 3 --accuracy-pairs 400
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, package_versions  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "preference"


def hh_items(n: int, seed: int, skip: int = 0):
    """``n`` seeded HH-RLHF pairs (after the first ``skip`` of the shuffled order) as items:
    every chosen response, then every rejected one."""
    import numpy as np

    from metricrm.data import load_hh_rlhf

    pairs = [p for p in load_hh_rlhf(SHARED / "hh-rlhf" / "harmless-base_test.jsonl.gz")]
    pairs = [p for p in pairs if p.chosen.strip() and p.rejected.strip()]
    order = np.random.default_rng(seed).permutation(len(pairs))[skip : skip + n]
    picked = [pairs[i] for i in order]
    prompts = [list(p.prompt) for p in picked] * 2
    return prompts, [p.chosen for p in picked] + [p.rejected for p in picked]


def rm_bench_items(n: int, seed: int):
    """``n`` seeded RM-Bench prompts, each with its six responses (3 chosen, 3 rejected), and
    the 9 (chosen, rejected) index pairs per prompt."""
    import numpy as np

    from metricrm.data import load_rm_bench

    pairs = load_rm_bench(SHARED / "rm-bench")
    by_prompt: dict[str, list] = {}
    for p in pairs:
        by_prompt.setdefault(f"{p.subset}/{p.meta['prompt_id']}", []).append(p)
    keys = sorted(by_prompt)
    picked = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))[:n]]
    prompts, responses, index = [], [], []
    for key in picked:
        group = by_prompt[key]
        texts = list(dict.fromkeys([p.chosen for p in group] + [p.rejected for p in group]))
        base = len(responses)
        responses += texts
        prompts += [group[0].prompt] * len(texts)
        index += [(base + texts.index(p.chosen), base + texts.index(p.rejected)) for p in group]
    return prompts, responses, index


def loop_scores(scorer, prompts, responses):
    """One unpadded forward per response, full logits: the plain transformers way."""
    import numpy as np
    import torch

    model = scorer.lm.model
    out = []
    for item in scorer.encode(responses, prompts):
        with torch.inference_mode():
            logits = model(torch.tensor([item.ids])).logits[0].float()
        logp = torch.log_softmax(logits[item.start - 1 : -1], dim=-1)
        target = torch.tensor(item.ids[item.start :])
        out.append(logp.gather(1, target[:, None])[:, 0].double().mean().item())
    return np.array(out)


def build(model: str):
    import metricrm as mr

    base = mr.get_scorer("lm_logprob", model=model, share_prefix=False)
    same = dict(model=base.lm.model, tokenizer=base.lm.tokenizer)
    return {
        "batched": base,
        "shared": mr.get_scorer("lm_logprob", **same),
        "shared+bf16": mr.get_scorer("lm_logprob", model=model, dtype="bfloat16"),
        "shared+int8": mr.get_scorer("lm_logprob", model=model, quantize="int8"),
    }


def timed(scorers, prompts, responses, repeats: int) -> dict:
    import numpy as np

    def sides_on(p, r):
        sides = {"loop": lambda: loop_scores(scorers["batched"], p, r)}
        for label, scorer in scorers.items():
            sides[label] = lambda s=scorer: s.score(r, prompts=p).scores
        return sides

    for fn in sides_on(prompts[:2], responses[:2]).values():  # warm-up on two items
        fn()
    sides = sides_on(prompts, responses)
    walls: dict[str, list[float]] = {k: [] for k in sides}
    cpus: dict[str, list[float]] = {k: [] for k in sides}
    scores = {}
    tokens = {}
    for _ in range(repeats):
        for label, fn in sides.items():
            engine = scorers[label].engine if label in scorers else None
            before = dict(engine.counters) if engine else None
            start, cpu = time.perf_counter(), time.process_time()
            scores[label] = fn()
            walls[label].append(time.perf_counter() - start)
            cpus[label].append(time.process_time() - cpu)
            if engine:
                tokens[label] = engine.counters["tokens"] - before["tokens"]
    ref = scores["batched"]
    rows = {}
    for label in sides:
        median = statistics.median(walls[label])
        cpu = statistics.median(cpus[label])
        rows[label] = {
            "median_s": median,
            "median_cpu_s": cpu,
            "cpu_vs_batched": statistics.median(cpus["batched"]) / cpu,
            "items_per_s": len(responses) / median,
            "vs_batched": statistics.median(walls["batched"]) / median,
            "vs_loop": statistics.median(walls["loop"]) / median,
            "padded_tokens": tokens.get(label),
            "max_abs_diff_vs_batched": float(np.abs(scores[label] - ref).max()),
        }
    return rows


def accuracy(scorers, n_pairs: int, seed: int, resamples: int = 10_000) -> dict:
    """Pairwise accuracy of each precision on ``n_pairs`` further seeded HH-RLHF pairs, and the
    paired bootstrap 95% interval of its change against float32 (pairs resampled together)."""
    import numpy as np

    from metricrm.meta.resampling import MEAN, bootstrap

    prompts, responses = hh_items(n_pairs, seed + 1)
    wins, walls = {}, {}
    for label in ("shared", "shared+bf16", "shared+int8"):
        start = time.perf_counter()
        s = scorers[label].score(responses, prompts=prompts).scores
        walls[label] = time.perf_counter() - start
        wins[label] = (s[:n_pairs] > s[n_pairs:]).astype(np.float64)
    ref = wins["shared"]
    out: dict = {"n_pairs": n_pairs, "resamples": resamples}
    for label, w in wins.items():
        acc = bootstrap(MEAN, w, rng=np.random.default_rng(seed), n_resamples=resamples)
        change = bootstrap(MEAN, w - ref, rng=np.random.default_rng(seed), n_resamples=resamples)
        out[label] = {
            "accuracy": acc.estimate,
            "accuracy_95": [acc.low, acc.high],
            "change_points": 100 * change.estimate,
            "change_points_95": [100 * change.low, 100 * change.high],
            "pairs_flipped": int((w != ref).sum()),
            "wall_s": walls[label],
        }
    return out


def table(rows: dict, items: int) -> str:
    lines = [
        "| side | median s | items/s | x batched | x loop | CPU s | x batched (CPU) "
        "| padded tokens | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        tokens = "" if r["padded_tokens"] is None else f"{r['padded_tokens']:,}"
        lines.append(
            f"| {label} | {r['median_s']:.1f} | {r['items_per_s']:.2f} | "
            f"{r['vs_batched']:.2f} | {r['vs_loop']:.2f} | {r['median_cpu_s']:.1f} | "
            f"{r['cpu_vs_batched']:.2f} | {tokens} | "
            f"{r['max_abs_diff_vs_batched']:.1e} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=48, help="HH-RLHF pairs timed")
    parser.add_argument("--prompts", type=int, default=8, help="RM-Bench prompts timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--accuracy-pairs", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--accuracy-only", action="store_true", help="skip the timed sides, measure accuracy"
    )
    parser.add_argument("--output", help="JSON file for the figures")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    scorers = build(args.model)
    versions = package_versions(["torch", "transformers", "numpy"])
    result = {"machine": machine(), "versions": versions, "args": vars(args)}
    result["load_average_start"] = os.getloadavg()
    if not args.accuracy_only:
        prompts, responses = hh_items(args.pairs, args.seed)
        result["hh_rlhf"] = timed(scorers, prompts, responses, args.repeats)
        print(f"HH-RLHF: {args.pairs} pairs, {len(responses)} responses")
        print(table(result["hh_rlhf"], len(responses)))
        prompts, responses, _ = rm_bench_items(args.prompts, args.seed)
        result["rm_bench"] = timed(scorers, prompts, responses, args.repeats)
        print(f"RM-Bench: {args.prompts} prompts, {len(responses)} responses")
        print(table(result["rm_bench"], len(responses)))
    if args.accuracy_pairs:
        result["accuracy"] = accuracy(scorers, args.accuracy_pairs, args.seed)
        print(json.dumps(result["accuracy"], indent=1))
    result["load_average_end"] = os.getloadavg()
    print(f"load average: start {result['load_average_start']}, end {result['load_average_end']}")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
