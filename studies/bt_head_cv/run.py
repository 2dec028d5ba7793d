"""5-fold cross-validation of a Bradley-Terry head on frozen MiniLM embeddings.

For each benchmark a head is trained within the benchmark (folds by prompt: no prompt is seen
in training and scoring), and every pair is scored by the head that did not see its prompt.
Reported: pooled held-out pairwise accuracy with a 95% percentile bootstrap interval that
resamples prompts (2000 resamples), the range of per-fold accuracies, and, for context, the
accuracy of "the longer response wins" (``length_chars``). The interval covers test-sample
variation only, not the variation between heads trained on other data.

Usage (from the repository root; the shared data folder sits beside the checkout)::

    python studies/bt_head_cv/run.py [--data ../shared/data] [--cache-dir DIR]

Writes ``results.csv`` and ``results.md`` next to this file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from metricrm import write_table
from metricrm.adapters.bt_head import make_encoder
from metricrm.data import load_evalbiasbench, load_hh_rlhf, load_llmbar, load_rm_bench
from metricrm.meta import MEAN, bootstrap, pairwise_outcomes
from metricrm.training import cross_validate_bt_head

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1].parent / "shared" / "data"
N_RESAMPLES = 2000


def datasets(data: Path) -> list[tuple[str, list, str]]:
    pref = data / "preference"
    return [
        ("LLMBar Natural", load_llmbar(pref / "llmbar" / "Natural"), "100 pairs: small"),
        ("LLMBar Adversarial (4 sets pooled)", load_llmbar(pref / "llmbar" / "Adversarial"), ""),
        (
            "HH-RLHF harmless-base test",
            load_hh_rlhf(pref / "hh-rlhf" / "harmless-base_test.jsonl.gz"),
            "",
        ),
        ("RM-Bench (4 domains)", load_rm_bench(pref / "rm-bench"), "9 pairs per prompt"),
        (
            "EvalBiasBench",
            load_evalbiasbench(pref / "evalbiasbench" / "biasbench.json"),
            "80 pairs: tiny",
        ),
    ]


def length_outcomes(pairs: list) -> np.ndarray:
    """Outcome per pair of "the longer response wins" (characters; equal length counts half)."""
    c = np.array([len(p.chosen) for p in pairs], dtype=float)
    r = np.array([len(p.rejected) for p in pairs], dtype=float)
    return pairwise_outcomes(c, r, human_ties=[p.label == "tie" for p in pairs])


def row(
    name: str, subset: str, cv, mask: np.ndarray, lengths: np.ndarray, note: str, seed: int
) -> dict:
    outcomes = cv.outcomes()[mask]
    groups = cv.groups[mask]
    ci = bootstrap(
        MEAN, outcomes, rng=np.random.default_rng(seed), n_resamples=N_RESAMPLES, groups=groups
    )
    fold_acc = [float(np.nanmean(outcomes[cv.fold[mask] == f])) for f in range(len(cv.folds))]
    return {
        "dataset": name,
        "subset": subset,
        "n_pairs": int(mask.sum()),
        "n_prompts": int(len(np.unique(groups))),
        "accuracy": round(ci.estimate, 4),
        "ci_low": round(ci.low, 4),
        "ci_high": round(ci.high, 4),
        "fold_min": round(min(fold_acc), 4),
        "fold_max": round(max(fold_acc), 4),
        "longer_wins": round(float(np.nanmean(lengths[mask])), 4),
        "note": note,
    }


def markdown(rows: list[dict], settings: dict) -> str:
    head = (
        "| dataset | subset | pairs | prompts | held-out accuracy | 95% CI | fold range | "
        "longer wins | note |\n|---|---|---:|---:|---:|---|---|---:|---|\n"
    )
    lines = [
        f"| {r['dataset']} | {r['subset']} | {r['n_pairs']} | {r['n_prompts']} | "
        f"{r['accuracy']:.3f} | "
        f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['fold_min']:.3f}-{r['fold_max']:.3f} | "
        f"{r['longer_wins']:.3f} | {r['note']} |"
        for r in rows
    ]
    setup = ", ".join(f"{k}={v}" for k, v in settings.items())
    return (
        "# Bradley-Terry head on frozen MiniLM embeddings: 5-fold cross-validation by prompt\n\n"
        f"Settings: {setup}.\n\n" + head + "\n".join(lines) + "\n\n"
        "Held-out accuracy: every pair scored by the head trained on the other folds (human ties "
        "excluded, score ties count half). 95% CI: percentile bootstrap over prompts "
        f"({N_RESAMPLES} resamples); it reflects test-sample variation only. Texts longer than "
        "max_length tokens are cut (prompts on the left, responses on the right). "
        "'longer wins': accuracy of preferring the longer response (characters). "
        "Heads are trained and tested within one benchmark, so they can learn how that benchmark "
        "was built (e.g. its length pattern, compare 'longer wins'); these are not estimates of "
        "how a head transfers to other data. RM-Bench rows pool the four domains (the paper "
        "averages domains); prompts with the same text in two domains share a fold.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--cache-dir", type=Path, default=None, help="on-disk embedding cache")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    encoder = make_encoder(None, max_length=args.max_length, cache_dir=args.cache_dir)
    rows: list[dict] = []
    settings: dict = {}
    for name, pairs, note in datasets(args.data):
        start = time.time()
        cv = cross_validate_bt_head(pairs, k=args.k, seed=args.seed, encoder=encoder)
        settings = {
            "encoder": cv.settings["encoder"],
            "max_length": cv.settings["max_length"],
            "features": "+".join(cv.settings["features"]),
            "head": "linear" if not cv.settings["hidden"] else f"mlp{cv.settings['hidden']}",
            "k": args.k,
            "inner validation": cv.settings["validation"],
            "lr": cv.settings["lr"],
            "weight_decay": cv.settings["weight_decay"],
            "patience": cv.settings["patience"],
            "seed": args.seed,
        }
        lengths = length_outcomes(pairs)
        everything = np.ones(len(pairs), dtype=bool)
        rows.append(row(name, "all", cv, everything, lengths, note, args.seed))
        if name.startswith("RM-Bench"):
            difficulty = np.array([p.meta["difficulty"] for p in pairs])
            for level in ("hard", "normal", "easy"):
                rows.append(row(name, level, cv, difficulty == level, lengths, "", args.seed))
        print(f"{name}: accuracy {cv.accuracy:.4f} ({time.time() - start:.0f} s)", flush=True)

    write_table(rows, HERE / "results.csv")
    (HERE / "results.md").write_text(markdown(rows, settings), encoding="utf-8")
    print((HERE / "results.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
