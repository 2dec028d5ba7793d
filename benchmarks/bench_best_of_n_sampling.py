"""Best-of-n sampling throughput: ``metricrm.probes.sample_responses`` (blocks of samples per
``generate`` call, stored on disk) against plain ``model.generate`` in a loop, one sample per
call.

Same model object (SmolLM2-135M-Instruct, float32, CPU), same prompts (single-turn HH-RLHF
questions rendered with the chat template), same sampling settings (temperature 1, no top-k or
top-p cut, ``--max-new-tokens``), same machine, one process. The two sides take turns prompt by
prompt, so that drift in the machine's load is shared. Ours writes to a fresh store each time
(nothing is reused). Reported: samples and generated tokens per second of wall time, CPU
seconds, and our speed-up in samples per second.

    python benchmarks/bench_best_of_n_sampling.py                 # 4 prompts x 16 samples
    python benchmarks/bench_best_of_n_sampling.py --prompts 2 --n 8 --max-new-tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, package_versions  # noqa: E402

DATA = (
    Path(__file__).resolve().parents[1].parent
    / "shared" / "data" / "preference" / "hh-rlhf" / "harmless-base_test.jsonl.gz"
)  # fmt: skip


def prompts(n: int, data: Path = DATA) -> list[list[dict[str, str]]]:
    """The first ``n`` distinct single-turn HH-RLHF prompts of at most 200 characters."""
    from metricrm.data import load_hh_rlhf

    out: list[list[dict[str, str]]] = []
    for p in load_hh_rlhf(data):
        if len(p.prompt) == 1 and len(p.prompt[0]["content"]) <= 200 and list(p.prompt) not in out:
            out.append(list(p.prompt))
        if len(out) == n:
            return out
    raise SystemExit(f"bench_best_of_n_sampling: fewer than {n} short prompts in {data}")


def plain_loop(model, tokenizer, prompt, n: int, max_new_tokens: int, seed: int) -> tuple[int, int]:
    """``n`` samples, one ``model.generate`` call each; returns (samples, generated tokens)."""
    import torch

    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    eos = tokenizer.eos_token_id
    tokens = 0
    for k in range(n):
        torch.manual_seed(seed + k)
        with torch.inference_mode():
            out = model.generate(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"],
                                 do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                 max_new_tokens=max_new_tokens, min_new_tokens=1,
                                 pad_token_id=eos)  # fmt: skip
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        tokens += new.index(eos) if eos in new else len(new)
    return n, tokens


def ours(model, tokenizer, prompt, n: int, max_new_tokens: int, seed: int) -> tuple[int, int]:
    from metricrm.probes import sample_responses

    with tempfile.TemporaryDirectory() as store:
        pool = sample_responses(model, [prompt], n, tokenizer=tokenizer, store=store,
                                max_new_tokens=max_new_tokens, block_size=n, seed=seed,
                                progress=False)  # fmt: skip
    return pool.generated, sum(pool.n_tokens[0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--n", type=int, default=16, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--model", default=None, help="model folder (default: SmolLM2)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--output", type=Path, default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is None:
        from metricrm.adapters.offline_models import smollm2_path

        args.model = str(smollm2_path())
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    sides = {"plain model.generate loop": plain_loop, "metricrm sample_responses": ours}
    totals = {name: {"wall": 0.0, "cpu": 0.0, "samples": 0, "tokens": 0} for name in sides}
    load_start = os.getloadavg()[0]
    for i, prompt in enumerate(prompts(args.prompts, args.data)):
        for name, fn in sides.items():
            cpu, wall = time.process_time(), time.perf_counter()
            samples, tokens = fn(model, tokenizer, prompt, args.n, args.max_new_tokens, 1000 * i)
            totals[name]["wall"] += time.perf_counter() - wall
            totals[name]["cpu"] += time.process_time() - cpu
            totals[name]["samples"] += samples
            totals[name]["tokens"] += tokens
    base = totals["plain model.generate loop"]
    rows = []
    for name, t in totals.items():
        rows.append(
            {
                "method": name,
                "samples": t["samples"],
                "tokens": t["tokens"],
                "wall_s": round(t["wall"], 1),
                "cpu_s": round(t["cpu"], 1),
                "samples_per_s": t["samples"] / t["wall"],
                "tokens_per_s": t["tokens"] / t["wall"],
                "speedup": (t["samples"] / t["wall"]) / (base["samples"] / base["wall"]),
            }
        )
    result = {"settings": vars(args) | {"data": str(args.data), "output": str(args.output)},
              "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
              "machine": machine(), "versions": package_versions(["torch", "transformers"]),
              "rows": rows}  # fmt: skip
    print(
        f"{args.prompts} prompts x {args.n} samples, at most {args.max_new_tokens} new "
        f"tokens, torch threads {args.threads or torch.get_num_threads()}; load average "
        f"{load_start:.1f} -> {result['load_average_end']:.1f}\n"
    )
    print(
        "| method | samples | generated tokens | wall s | CPU s | samples/s | tokens/s | "
        "speed-up |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        print(
            f"| {r['method']} | {r['samples']} | {r['tokens']} | {r['wall_s']} | {r['cpu_s']} "
            f"| {r['samples_per_s']:.2f} | {r['tokens_per_s']:.1f} | {r['speedup']:.2f}x |"
        )
    if args.output:
        args.output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return result


if __name__ == "__main__":
    main()
