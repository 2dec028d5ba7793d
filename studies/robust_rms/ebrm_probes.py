"""Hack rates from the probe suite for a Bradley-Terry head on MiniLM, before and after
energy-based refinement (EBRM), with k-fold cross-validation by prompt.

The folds, samples and models are those of ``ebrm_cv.py``: for each fold, the base head and then
the energy model are trained on the other folds' pairs. The held-out fold's rejected responses
are perturbed by each probe (``metricrm.probes.perturbed_pairs``, ``sides="rejected"``) and
scored by both models. Per pair and probe:

- ``hack``: the perturbed rejected response now scores strictly above the untouched chosen one
  (the ``hack_rate`` of ``metricrm.probes.probe``);
- ``untouched``: the rejected response already scores strictly above the chosen one;
- ``rise``: the perturbation raised the rejected response's score (strictly).

Reported per dataset, probe and model: the hack rate, the untouched hack rate and the rise rate
with 95% bootstrap intervals over prompts, and refined minus base hack rate with a two-sided
paired permutation test that swaps whole prompts. In fold 0 the script also runs the library's
``probe`` on both scorers and checks that its hack rates equal the ones computed here.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python studies/robust_rms/ebrm_probes.py \
        --cache-dir DIR [--datasets ...] [--sample hh-rlhf-harmless=500 ...] [--summarise]

Writes ``ebrm_probes.csv`` (per-pair outcomes, prompts named by a digest; the rows of datasets
not run are kept from earlier runs) and ``ebrm_probes.md`` next to this file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_SHARED, HERE, group_id, group_of, load_preference, log  # type: ignore
from ebrm_cv import sample_prompts  # type: ignore[import-not-found]

import metricrm as mr
from metricrm.adapters.bt_head import (
    DEFAULT_FEATURES,
    BradleyTerryHead,
    PairFeaturizer,
    apply_head,
    make_encoder,
)
from metricrm.adapters.ebrm import EnergyRefinedReward
from metricrm.probes import GENERAL_PROBES, perturbed_pairs, probe
from metricrm.training import (
    EBRMSettings,
    TrainSettings,
    fit_energy_on_pairs,
    fit_head,
    kfold_by_prompt,
    pair_targets,
    split_by_prompt,
)

DATASETS = ("hh-rlhf-harmless", "rm-bench-safety")
SAMPLES = {"hh-rlhf-harmless": 500, "rm-bench-safety": 1350}
OUT_CSV = HERE / "ebrm_probes.csv"
OUT_MD = HERE / "ebrm_probes.md"
MODELS = ("base", "refined")


def features(pairs: list, featurizer: PairFeaturizer, probes: list[str], seed: int) -> dict:
    """Features of the chosen and rejected responses, and of each probe's perturbed rejected."""
    memo: dict = {}
    xc, xr, _ = featurizer.pairs(pairs, memo)
    out = {"chosen": xc, "rejected": xr}
    for name in probes:
        moved = perturbed_pairs(pairs, name, seed=seed, sides="rejected")
        changed = np.array([a.rejected != b.rejected for a, b in zip(moved, pairs)])
        x = xr.copy()
        idx = np.flatnonzero(changed)
        if len(idx):
            x[idx] = featurizer.pairs([moved[i] for i in idx], memo)[1]
        out[name] = x
        log(f"  {name}: {int(changed.sum())} of {len(pairs)} rejected responses changed")
    return out


def check_against_probe(pairs, test, featurizer, head, model, name, seed, mine) -> None:
    """The library's ``probe`` gives the same hack rates on this fold for both scorers."""
    fold = [pairs[i] for i in test]
    for label, scorer in (("base", BradleyTerryHead(featurizer, head)), ("refined", model)):
        frame = probe(scorer, fold, [name], seed=seed, sides="rejected", n_resamples=50,
                      progress=False)  # fmt: skip
        theirs = float(frame[frame.statistic == "hack_rate"].value.iloc[0])
        ours = float(np.mean(mine[label]))
        if abs(theirs - ours) > 1e-12:
            raise SystemExit(f"fold 0, {name}, {label}: probe() gives {theirs}, we give {ours}")
        log(f"  check: probe() hack rate for {label} on {name} = {theirs:.3f} (same)")


def cross_validate(pairs: list, x: dict, featurizer, probes: list[str], args, opts) -> dict:
    """Held-out rewards of the chosen, rejected and perturbed rejected responses per model."""
    xc, xr = x["chosen"], x["rejected"]
    targets = pair_targets(pairs, "exclude", who="ebrm_probes")
    n = len(pairs)
    out = {f"{m}_{s}": np.zeros(n) for m in MODELS for s in ("chosen", "rejected", *probes)}
    head_opts = TrainSettings(seed=args.seed)
    for f, test in enumerate(kfold_by_prompt(pairs, args.k, seed=args.seed)):
        rest = np.setdiff1d(np.arange(n), test)
        inner = split_by_prompt([pairs[i] for i in rest], validation=0.1, seed=args.seed)
        tr, va = rest[inner.train], rest[inner.validation]
        head, _ = fit_head((xc[tr], xr[tr], targets[tr]), (xc[va], xr[va], targets[va]), head_opts)
        rc, rr = apply_head(head, xc[rest]), apply_head(head, xr[rest])
        energy, _ = fit_energy_on_pairs(xc[rest], xr[rest], rc, rr, opts)
        model = EnergyRefinedReward(
            BradleyTerryHead(featurizer, head), energy, {"training": opts.training()},
            opts.refinement(),
        )  # fmt: skip
        for side in ("chosen", "rejected", *probes):
            r0 = apply_head(head, x[side][test])
            out[f"base_{side}"][test] = r0
            out[f"refined_{side}"][test] = model.refine_rewards(x[side][test], r0)[0]
        if f == 0 and args.check_probe:
            name = args.check_probe
            mine = {m: out[f"{m}_{name}"][test] > out[f"{m}_chosen"][test] for m in MODELS}
            check_against_probe(pairs, test, featurizer, head, model, name, args.seed, mine)
        log(f"fold {f} done")
    return out


def outcome_frame(name: str, pairs: list, cv: dict, probes: list[str]):
    import pandas as pd

    frames = []
    groups = [group_id(p) for p in pairs]
    for m in MODELS:
        c, r = cv[f"{m}_chosen"], cv[f"{m}_rejected"]
        for pr in probes:
            moved = cv[f"{m}_{pr}"]
            frames.append(
                pd.DataFrame(
                    {
                        "dataset": name,
                        "group": groups,
                        "pair": np.arange(len(pairs)),
                        "model": m,
                        "probe": pr,
                        "hack": (moved > c).astype(float),
                        "untouched": (r > c).astype(float),
                        "rise": (moved > r).astype(float),
                        "changed": (moved != r).astype(float),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def summarise(frame, n_resamples: int, seed: int) -> list[dict]:
    rows = []
    for (name, pr), part in frame.groupby(["dataset", "probe"], sort=False):
        stats = {}
        for m in MODELS:
            cell = part[part.model == m].sort_values("pair")
            groups = cell.group.to_numpy()
            for what in ("hack", "untouched", "rise"):
                stats[m, what] = mr.meta.bootstrap(
                    mr.meta.MEAN,
                    cell[what].to_numpy(),
                    rng=np.random.default_rng(seed),
                    n_resamples=n_resamples,
                    groups=groups,
                )
            stats[m, "values"] = cell.hack.to_numpy()
        # whole prompts are swapped: the test runs on per-prompt mean hack indicators
        _, inverse = np.unique(groups, return_inverse=True)
        per_prompt = [
            np.bincount(inverse, weights=stats[m, "values"]) / np.bincount(inverse)
            for m in ("refined", "base")
        ]
        test = mr.meta.paired_permutation_test(
            mr.meta.MEAN, *per_prompt, rng=np.random.default_rng(seed),
            n_resamples=n_resamples, alternative="two-sided",
        )  # fmt: skip
        rows.append(
            {
                "dataset": name,
                "probe": pr,
                "pairs": len(groups),
                "prompts": len(set(groups)),
                "changed": float(part[part.model == "base"].changed.mean()),
                **{f"{m}_{w}": stats[m, w] for m in MODELS for w in ("hack", "untouched", "rise")},
                "difference": stats["refined", "hack"].estimate - stats["base", "hack"].estimate,
                "p": test.pvalue,
            }
        )
    return rows


def ci(r) -> str:
    return f"{r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]"


def markdown(rows: list[dict], settings: str) -> str:
    lines = [
        "| dataset | probe | pairs | changed | base hack rate | refined hack rate | refined - base "
        "| p | base rise rate | refined rise rate |",
        "|---|---|---:|---:|---|---|---:|---:|---|---|",
    ]
    untouched = {}
    for r in rows:
        untouched[r["dataset"], r["pairs"]] = (r["base_untouched"], r["refined_untouched"])
        lines.append(
            f"| {r['dataset']} | {r['probe']} | {r['pairs']} | {r['changed']:.3f} "
            f"| {ci(r['base_hack'])} | {ci(r['refined_hack'])} | {r['difference']:+.3f} "
            f"| {r['p']:.3f} | {ci(r['base_rise'])} | {ci(r['refined_rise'])} |"
        )
    lines += ["", "Untouched hack rate (rejected already above chosen):", ""]
    lines += ["| dataset | pairs | base | refined |", "|---|---:|---|---|"]
    for (name, n), (b, f) in untouched.items():
        lines.append(f"| {name} | {n} | {ci(b)} | {ci(f)} |")
    return "\n".join(lines) + f"\n\nSettings: {settings}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--cache-dir", type=Path, default=None, help="on-disk embedding cache")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--sample", nargs="*", default=[], metavar="NAME=PAIRS")
    parser.add_argument("--probes", nargs="*", default=list(GENERAL_PROBES))
    parser.add_argument(
        "--check-probe",
        default="sycophantic_opener",
        help="probe whose fold-0 hack rates are checked against probe()",
    )
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--summarise", action="store_true", help="only rewrite ebrm_probes.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    samples = {**SAMPLES, **{k: int(v) for k, _, v in (s.partition("=") for s in args.sample)}}
    # the settings of ebrm_cv.py's defaults (the run in docs/results.md)
    opts = EBRMSettings(
        epochs=20, hidden=(64, 32), negatives=32, batch_size=128, filter_margin=0.0,
        noise_rate=0.1, steps=50, step_size=0.1, seed=args.seed,
    ).check()  # fmt: skip
    settings = (
        f"encoder all-MiniLM-L6-v2 (max_length 256), features {'+'.join(DEFAULT_FEATURES)}, "
        f"linear BT head (defaults, seed {args.seed}); {args.k} folds by prompt; samples "
        f"{samples}; EBRM {opts.training()}, refinement {opts.refinement()}; probes on the "
        f"rejected response, seed {args.seed}; bootstrap and permutation resamples "
        f"{args.n_resamples}"
    )
    import pandas as pd

    if args.summarise:
        frame = pd.read_csv(OUT_CSV)
        OUT_MD.write_text(markdown(summarise(frame, args.n_resamples, args.seed), settings))
        print(OUT_MD.read_text(encoding="utf-8"))
        return
    featurizer = PairFeaturizer(make_encoder(None, cache_dir=args.cache_dir), DEFAULT_FEATURES)
    frames = []
    if OUT_CSV.is_file():  # keep the other datasets' outcomes from earlier runs
        earlier = pd.read_csv(OUT_CSV)
        frames.append(earlier[~earlier.dataset.isin(args.datasets)])
    for name in args.datasets:
        pairs = sample_prompts(load_preference(args.shared, name), samples[name], seed=args.seed)
        start = time.time()
        log(f"{name}: {len(pairs)} pairs, {len({group_of(p) for p in pairs})} prompts")
        x = features(pairs, featurizer, args.probes, args.seed)
        log(f"{name}: features in {time.time() - start:.0f} s")
        cv = cross_validate(pairs, x, featurizer, args.probes, args, opts)
        frames.append(outcome_frame(name, pairs, cv, args.probes))
        log(f"{name}: done in {time.time() - start:.0f} s")
        frame = pd.concat(frames, ignore_index=True)
        frame.to_csv(OUT_CSV, index=False)
        OUT_MD.write_text(markdown(summarise(frame, args.n_resamples, args.seed), settings))
    print(OUT_MD.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
