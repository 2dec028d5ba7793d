"""Energy-based reward refinement (EBRM) of a Bradley-Terry head on MiniLM: base vs refined
pairwise accuracy, with k-fold cross-validation by prompt.

For each dataset and fold, on the other folds' pairs:

1. the base reward model is trained: a linear Bradley-Terry head on frozen all-MiniLM-L6-v2
   features (``fit_head``, 10% of the training prompts held out for early stopping);
2. the energy model is trained on the base model's rewards and features of the same pairs
   (``fit_energy_on_pairs``: conflict-aware filtering, then the NCE+ loss);

then the held-out fold's responses are scored by the base head and refined by the
``EnergyRefinedReward`` built from both (the ``ebrm`` scorer's own refinement, fed with the
features already computed). Every pair is scored by models that never saw its prompt.

Reported per dataset (RM-Bench also per difficulty): base and refined accuracy (score ties
count half) with 95% bootstrap intervals over prompts, their difference with a paired
permutation test (two-sided) that swaps whole prompts (on per-prompt mean outcomes), the share
of pairs whose order the refinement flips, and the mean share of training pairs the conflict
filter kept.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python studies/robust_rms/ebrm_cv.py \
        --cache-dir DIR [--datasets ...] [--sample hh-rlhf-harmless=600] [--summarise]

Writes ``ebrm_cv.csv`` (per-pair scores) and ``ebrm_cv.md`` next to this file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_SHARED, HERE, group_id, group_of, load_preference, log  # type: ignore

import metricrm as mr
from metricrm.adapters.bt_head import (
    DEFAULT_FEATURES,
    BradleyTerryHead,
    PairFeaturizer,
    apply_head,
    make_encoder,
)
from metricrm.adapters.ebrm import EnergyRefinedReward
from metricrm.training import (
    EBRMSettings,
    TrainSettings,
    fit_energy_on_pairs,
    fit_head,
    kfold_by_prompt,
    pair_targets,
    split_by_prompt,
)

DATASETS = ("hh-rlhf-harmless", "rm-bench-safety", "rm-bench-chat", "rm-bench-code")
OUT_CSV = HERE / "ebrm_cv.csv"
OUT_MD = HERE / "ebrm_cv.md"


def sample_prompts(pairs: list, n_pairs: int, seed: int) -> list:
    """Whole prompts in a seeded order until ``n_pairs`` pairs are taken (input order kept)."""
    members: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        members.setdefault(group_of(p), []).append(i)
    keys = sorted(members)
    take: list[int] = []
    for j in np.random.default_rng(seed).permutation(len(keys)):
        if len(take) >= n_pairs:
            break
        take.extend(members[keys[j]])
    return [pairs[i] for i in sorted(take)]


def cross_validate(pairs: list, featurizer: PairFeaturizer, args, opts: EBRMSettings) -> dict:
    """Held-out base and refined rewards of every pair, and the training counts per fold."""
    xc, xr, _ = featurizer.pairs(pairs, {})
    targets = pair_targets(pairs, "exclude", who="ebrm_cv")
    n = len(pairs)
    out = {k: np.zeros(n) for k in ("base_c", "base_r", "ref_c", "ref_r")}
    out["fold"] = np.zeros(n, dtype=int)
    out["fold_kept"] = np.zeros(n)  # share of the fold's training pairs the filter kept
    counts = []
    head_opts = TrainSettings(seed=args.seed)
    for f, test in enumerate(kfold_by_prompt(pairs, args.k, seed=args.seed)):
        rest = np.setdiff1d(np.arange(n), test)
        inner = split_by_prompt([pairs[i] for i in rest], validation=0.1, seed=args.seed)
        tr, va = rest[inner.train], rest[inner.validation]
        head, _ = fit_head((xc[tr], xr[tr], targets[tr]), (xc[va], xr[va], targets[va]), head_opts)
        rc, rr = apply_head(head, xc[rest]), apply_head(head, xr[rest])
        energy, history = fit_energy_on_pairs(xc[rest], xr[rest], rc, rr, opts)
        counts.append(history.counts)
        base = BradleyTerryHead(featurizer, head)
        model = EnergyRefinedReward(base, energy, {"training": opts.training()}, opts.refinement())
        for side, x in (("c", xc[test]), ("r", xr[test])):
            r0 = apply_head(head, x)
            out[f"base_{side}"][test] = r0
            out[f"ref_{side}"][test] = model.refine_rewards(x, r0)[0]
        out["fold"][test] = f
        out["fold_kept"][test] = history.counts["kept_pairs"] / history.counts["pairs"]
        log(f"fold {f}: kept {history.counts['kept_pairs']} of {history.counts['pairs']} pairs")
    out["counts"] = counts
    return out


def summarise(name: str, pairs: list, cv: dict, args) -> list[dict]:
    base = mr.meta.pairwise_outcomes(cv["base_c"], cv["base_r"], score_ties="half")
    refined = mr.meta.pairwise_outcomes(cv["ref_c"], cv["ref_r"], score_ties="half")
    groups = np.array([group_of(p) for p in pairs])
    parts = [("all", np.ones(len(pairs), dtype=bool))]
    if name.startswith("rm-bench"):
        level = np.array([p.meta["difficulty"] for p in pairs])
        parts += [(d, level == d) for d in ("hard", "normal", "easy")]
    first = np.unique(cv["fold"], return_index=True)[1]
    kept_share = float(np.mean(cv["fold_kept"][first]))
    rows = []
    for part, mask in parts:
        cis = [
            mr.meta.bootstrap(
                mr.meta.MEAN,
                values[mask],
                rng=np.random.default_rng(args.seed),
                n_resamples=args.n_resamples,
                groups=groups[mask],
            )
            for values in (base, refined)
        ]
        # whole prompts are swapped: the test runs on per-prompt mean outcomes
        keys, inverse = np.unique(groups[mask], return_inverse=True)
        per_prompt = [
            np.bincount(inverse, weights=v[mask]) / np.bincount(inverse) for v in (refined, base)
        ]
        test = mr.meta.paired_permutation_test(
            mr.meta.MEAN,
            *per_prompt,
            rng=np.random.default_rng(args.seed),
            n_resamples=args.n_resamples,
            alternative="two-sided",
        )
        flips = np.sign(cv["ref_c"] - cv["ref_r"]) != np.sign(cv["base_c"] - cv["base_r"])
        rows.append(
            {
                "dataset": name,
                "part": part,
                "pairs": int(mask.sum()),
                "prompts": len(set(groups[mask])),
                "base": cis[0].estimate,
                "base_low": cis[0].low,
                "base_high": cis[0].high,
                "refined": cis[1].estimate,
                "refined_low": cis[1].low,
                "refined_high": cis[1].high,
                "difference": cis[1].estimate - cis[0].estimate,
                "p": test.pvalue,
                "flipped": float(flips[mask].mean()),
                "kept_share": kept_share,
            }
        )
    return rows


def markdown(rows: list[dict], settings: str) -> str:
    lines = [
        "| dataset | part | pairs | prompts | base | 95% CI | refined | 95% CI | refined - base "
        "| p | pairs flipped | train pairs kept |",
        "|---|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['part']} | {r['pairs']} | {r['prompts']} | {r['base']:.3f} "
            f"| [{r['base_low']:.3f}, {r['base_high']:.3f}] | {r['refined']:.3f} "
            f"| [{r['refined_low']:.3f}, {r['refined_high']:.3f}] | {r['difference']:+.3f} "
            f"| {r['p']:.3f} | {r['flipped']:.3f} | {r['kept_share']:.3f} |"
        )
    return "\n".join(lines) + f"\n\nSettings: {settings}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--cache-dir", type=Path, default=None, help="on-disk embedding cache")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--sample", nargs="*", default=[], metavar="NAME=PAIRS")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", nargs="*", type=int, default=[64, 32])
    parser.add_argument("--negatives", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--filter-margin", type=float, default=0.0)
    parser.add_argument("--noise-rate", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument("--summarise", action="store_true", help="only rewrite ebrm_cv.md")
    parser.add_argument("--settings-note", default="see ebrm_cv.py", help="with --summarise")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    samples = {k: int(v) for k, _, v in (s.partition("=") for s in args.sample)}
    opts = EBRMSettings(
        epochs=args.epochs,
        hidden=tuple(args.hidden),
        negatives=args.negatives,
        batch_size=args.batch_size,
        filter_margin=args.filter_margin,
        noise_rate=args.noise_rate,
        steps=args.steps,
        step_size=args.step_size,
        seed=args.seed,
    ).check()
    if args.summarise:  # the tables again from ebrm_cv.csv (e.g. with other resamples)
        import pandas as pd

        frame = pd.read_csv(OUT_CSV)
        rows = []
        for name in [d for d in args.datasets if d in set(frame.dataset)]:
            pairs = load_preference(args.shared, name)
            if name in samples:
                pairs = sample_prompts(pairs, samples[name], seed=args.seed)
            part = frame[frame.dataset == name]
            assert list(part.group) == [group_id(p) for p in pairs], "other pairs than the CSV"
            rows += summarise(name, pairs, {k: part[k].to_numpy() for k in part.columns}, args)
        OUT_MD.write_text(markdown(rows, args.settings_note), encoding="utf-8")
        print(OUT_MD.read_text(encoding="utf-8"))
        return
    encoder = make_encoder(None, cache_dir=args.cache_dir)
    featurizer = PairFeaturizer(encoder, DEFAULT_FEATURES)
    import pandas as pd

    rows, frames = [], []
    for name in args.datasets:
        pairs = load_preference(args.shared, name)
        if name in samples:
            pairs = sample_prompts(pairs, samples[name], seed=args.seed)
        start = time.time()
        log(f"{name}: {len(pairs)} pairs")
        cv = cross_validate(pairs, featurizer, args, opts)
        rows += summarise(name, pairs, cv, args)
        frames.append(
            pd.DataFrame(
                {
                    "dataset": name,
                    "group": [group_id(p) for p in pairs],
                    **{
                        k: cv[k]
                        for k in ("fold", "fold_kept", "base_c", "base_r", "ref_c", "ref_r")
                    },
                }
            )
        )
        log(f"{name}: done in {time.time() - start:.0f} s")
        pd.concat(frames).to_csv(OUT_CSV, index=False, float_format="%.6g")
        settings = (
            f"encoder all-MiniLM-L6-v2 (max_length 256), features {'+'.join(DEFAULT_FEATURES)}, "
            f"linear BT head (defaults, seed {args.seed}); {args.k} folds by prompt; samples "
            f"{samples or 'none'}; EBRM {opts.training()}, refinement "
            f"{opts.refinement()}; bootstrap and permutation resamples {args.n_resamples}"
        )
        OUT_MD.write_text(markdown(rows, settings), encoding="utf-8")
    print(OUT_MD.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
