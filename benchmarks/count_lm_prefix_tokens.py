"""Padded tokens each causal-LM scorer runs through the model, with and without shared prompt
prefixes, on seeded HH-RLHF pairs: exact counts that do not depend on the machine's load.

The model's forward pass is replaced by one that returns zeros of the right shapes (and counts
tokens as the engine does), so the batching, grouping and padding are the real ones while no
arithmetic is done: seconds instead of minutes. Timed figures: ``bench_lm_prefix.py``.

    python benchmarks/count_lm_prefix_tokens.py --pairs 48
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lm_prefix import hh_items  # noqa: E402


def count_only(engine) -> None:
    """Swap ``engine.forward`` for a shape-only stand-in that updates the same counters. Its
    cache has one layer holding as many bytes per token as the model's whole cache, so the
    prefix-cache windows (``PREFIX_CACHE_BYTES``) close where they do for the real model."""
    import torch
    from transformers import DynamicCache

    from metricrm.core.token_batching import pad_right

    vocab = len(engine.lm.tokenizer)
    config = engine.lm.model.config
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    size = next(engine.lm.model.parameters()).element_size()
    depth = config.num_hidden_layers * config.num_key_value_heads * head * size // 4

    def forward(seqs, *, keep, mask=None, cache=None, position_ids=None, use_cache=False,
                states_out=None):  # fmt: skip
        ids, _ = pad_right(seqs, engine.lm.pad_id)
        width = len(ids[0])
        engine.counters["tokens"] += width * len(ids)
        engine.counters["calls"] += 1
        past = 0 if cache is None else cache.get_seq_length()
        new = None
        if use_cache:
            new = DynamicCache()
            shape = (len(ids), 1, past + width, depth)
            new.update(torch.zeros(shape), torch.zeros(shape), 0)
        return torch.zeros(len(ids), len(keep), vocab), new

    engine.forward = forward


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--budget", type=int, default=2048, help="max_tokens_per_batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-padding",
        default="0.1",
        help="shared path's padding bound per row; 'none' for the batching before issue 13's fix",
    )
    parser.add_argument("--output", help="JSON file for the counts")
    args = parser.parse_args(argv)
    import metricrm as mr
    from metricrm.adapters.causal_lm import PairwiseJudge, prefix

    prefix.MAX_PADDING = None if args.max_padding == "none" else float(args.max_padding)

    prompts, responses = hh_items(args.pairs, args.seed)
    n = args.pairs
    base = mr.get_scorer("lm_logprob", model=args.model)
    same = dict(model=base.lm.model, tokenizer=base.lm.tokenizer)
    rows = {}
    for name in ("lm_logprob", "lm_judge", "pairwise_judge"):
        counts = {}
        for share in (False, True):
            if name == "pairwise_judge":
                judge = PairwiseJudge(**same, share_prefix=share)
                judge.engine.max_tokens_per_batch = args.budget
                count_only(judge.engine)
                judge.compare_details(prompts[:n], responses[:n], responses[n:])
                engine = judge.engine
            else:
                scorer = mr.get_scorer(name, **same, share_prefix=share)
                scorer.max_tokens_per_batch = args.budget
                count_only(scorer.engine)
                scorer.score(responses, prompts=prompts)
                engine = scorer.engine
            counts["shared" if share else "plain"] = dict(engine.counters)
        plain, shared = counts["plain"]["tokens"], counts["shared"]["tokens"]
        rows[name] = counts | {"ratio": plain / shared}
        calls = counts["plain"]["calls"], counts["shared"]["calls"]
        print(f"{name}: plain {plain:,} padded tokens ({calls[0]} calls), "
              f"shared {shared:,} ({calls[1]} calls): {plain / shared:.2f}x")  # fmt: skip
    result = {"pairs": n, "budget": args.budget, "seed": args.seed,
              "max_padding": prefix.MAX_PADDING, "counts": rows}  # fmt: skip
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
