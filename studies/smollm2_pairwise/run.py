"""Pairwise accuracy of SmolLM2-135M-Instruct as a reward signal on the shared preference data.

Two scorers from one real causal LM: mean log-probability of the response given the prompt
(``lm_logprob``) and a pointwise Yes/No judge (``lm_judge``). Each dataset goes through
``meta_evaluate`` (accuracy with a 95% bootstrap interval; RM-Bench hard/normal/easy with a
bootstrap over prompts). Uses only the public API; writes results.csv and results.md here.
Scores are cached, so an interrupted run resumes where it stopped.

    python studies/smollm2_pairwise/run.py [--shared ../shared/data] [--max-length 1024]
        [--sample hh-rlhf-harmless=400 rm-bench=40]

``--sample NAME=N`` scores a seeded random sample instead of the whole dataset: N pairs, or for
RM-Bench N prompts per domain with all nine of each prompt's pairs, so its hard / normal / easy
matrix stays whole. The sample is recorded in results.md.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path

import metricrm as mr
from metricrm.adapters.offline_models import smollm2_path

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"


DATASETS = ("evalbiasbench", "llmbar-natural", "llmbar-adversarial", "hh-rlhf-harmless", "rm-bench")


def load(shared: Path) -> dict[str, list]:
    pref = shared / "preference"
    llmbar = mr.data.load_llmbar(pref / "llmbar")
    return {
        "evalbiasbench": mr.data.load_evalbiasbench(pref / "evalbiasbench" / "biasbench.json"),
        "llmbar-natural": [p for p in llmbar if p.subset == "Natural"],
        "llmbar-adversarial": [p for p in llmbar if p.subset != "Natural"],
        "hh-rlhf-harmless": mr.data.load_hh_rlhf(pref / "hh-rlhf" / "harmless-base_test.jsonl.gz"),
        "rm-bench": mr.data.load_rm_bench(pref / "rm-bench"),
    }


def sample(name: str, pairs: list, n: int, seed: int = 0) -> list:
    """Seeded sample: ``n`` pairs, or for RM-Bench ``n`` prompts per domain; input order kept."""
    rng = random.Random(f"{name}:{seed}")
    if name != "rm-bench":
        keep = set(rng.sample(range(len(pairs)), min(n, len(pairs))))
        return [p for i, p in enumerate(pairs) if i in keep]
    prompts: dict[str, list] = defaultdict(list)
    for p in pairs:
        key = (p.subset, p.meta["prompt_id"])
        if key not in prompts[p.subset]:
            prompts[p.subset].append(key)
    chosen = {key for keys in prompts.values() for key in rng.sample(keys, min(n, len(keys)))}
    return [p for p in pairs if (p.subset, p.meta["prompt_id"]) in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument(
        "--max-length",
        type=int,
        default=1024,
        help="tokens; longer inputs are truncated on the left, and counted",
    )
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--datasets", nargs="*", default=None, choices=DATASETS)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--sample",
        nargs="*",
        default=[],
        metavar="NAME=N",
        help="score a seeded sample: N pairs (RM-Bench: N prompts per domain)",
    )
    args = parser.parse_args()
    sizes: dict[str, int] = {}
    for item in args.sample:
        name, _, n = item.partition("=")
        if name not in DATASETS or not n.isdigit() or int(n) < 1:
            parser.error(
                f"--sample {item!r}: expected NAME=N with N >= 1 and NAME one of "
                f"{', '.join(DATASETS)}"
            )
        sizes[name] = int(n)

    model = str(smollm2_path())
    scorers = [
        mr.get_scorer(name, model=model, max_length=args.max_length)
        for name in ("lm_logprob", "lm_judge")
    ]
    import pandas as pd

    frames = []
    notes: list[str] = []
    for name, pairs in load(args.shared).items():
        if args.datasets and name not in args.datasets:
            continue
        full = len(pairs)
        if name in sizes:
            pairs = sample(name, pairs, sizes[name])
            unit = " prompts per domain" if name == "rm-bench" else " pairs"
            notes.append(
                f"- {name}: seeded sample of {sizes[name]}{unit}, {len(pairs)} of {full} "
                f"pairs (`--sample {name}={sizes[name]}`)"
            )
        start = time.perf_counter()
        frames.append(
            mr.meta_evaluate(
                scorers,
                pairs,
                dataset_name=name,
                exclude_empty=True,
                n_resamples=args.n_resamples,
                cache=args.cache_dir,
            )
        )
        print(f"{name}: {len(pairs)} pairs, {time.perf_counter() - start:.0f} s", flush=True)
        table = pd.concat(frames, ignore_index=True)
        table.to_csv(HERE / "results.csv", index=False, float_format="%.6g")
        lines = [
            "| dataset | subset | statistic | scorer | accuracy | 95% CI | n | excluded |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in table.itertuples():
            lines.append(
                f"| {r.dataset} | {r.subset} | {r.statistic} | {r.scorer} | {r.value:.3f} "
                f"| [{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.n} | {r.n_excluded} |"
            )
        sigs = sorted(set(table.signature))
        sampled = ("\n\nSampled datasets:\n\n" + "\n".join(notes)) if notes else ""
        (HERE / "results.md").write_text(
            "\n".join(lines)
            + sampled
            + "\n\nSignatures:\n\n"
            + "\n".join(f"- `{s}`" for s in sigs)
            + "\n"
        )


if __name__ == "__main__":
    main()
