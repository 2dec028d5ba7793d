"""Hack rates from the probe suite for the activation reward model on SmolLM2-135M against its
few-shot baselines, on a small seeded test set (the paper's PreferenceHack claim, on our probes).

The test set and the k-shot draw are those of ``activation_kcurve.py`` (seeded split by prompt;
the examples never come from test prompts). Scorers: ``activation_rm`` fitted on the k pairs,
``lm_icl_judge`` with the same pairs in its prompt, the zero-shot ``lm_judge``, ``lm_logprob``,
and ``probe`` (a linear Bradley-Terry head on the zero-shot judge's final hidden state, trained on
the k pairs). Each probe perturbs the rejected response (``perturbed_pairs``,
``sides="rejected"``). Per pair, probe and scorer:

- ``hack``: the perturbed rejected response scores strictly above the untouched chosen one (the
  ``hack_rate`` of ``metricrm.probes.probe``); ``untouched``: the same without the perturbation;
- ``rise``: the perturbation raised the rejected response's score (strictly).

Reported: rates with 95% bootstrap intervals over test prompts, and each scorer's hack rate
minus the activation RM's with a two-sided paired permutation test.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python studies/robust_rms/activation_probes.py \
        --work DIR [--dataset evalbiasbench] [--k 16] [--seed 0] [--probes ...] [--summarise]

Scores go through a score cache and the fitted model is saved in ``--work`` (a rerun resumes).
Writes ``activation_probes.csv`` (per-pair outcomes; earlier rows of other datasets and probes
are kept) and ``activation_probes.md`` here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from activation_kcurve import (  # type: ignore[import-not-found]
    MODEL,
    TEST_SIZES,
    embed,
    feature_store,
    prompt_permutation_test,
)
from common import (  # type: ignore[import-not-found]
    DEFAULT_SHARED,
    HERE,
    group_id,
    load_preference,
    log,
    nested_draw,
    split_test,
)

import metricrm as mr
from metricrm.adapters.bt_head import apply_head
from metricrm.probes import perturbed_pairs
from metricrm.training import TrainSettings, fit_activation_rm, fit_head

PROBES = ("sycophantic_opener", "markdown", "refusal_prefix", "assertive", "pad_filler")
SCORERS = ("activation_rm", "lm_icl_judge", "probe", "lm_judge", "lm_logprob")
OUT_CSV = HERE / "activation_probes.csv"
OUT_MD = HERE / "activation_probes.md"


def frame_of(name, test, scorer, probe_name, c, r, moved, signature):
    import pandas as pd

    return pd.DataFrame(
        {
            "dataset": name,
            "group": [group_id(p) for p in test],
            "pair": np.arange(len(test)),
            "scorer": scorer,
            "probe": probe_name,
            "hack": (moved > c).astype(float),
            "untouched": (r > c).astype(float),
            "rise": (moved > r).astype(float),
            "changed": (moved != r).astype(float),
            "signature": signature,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--dataset", default="evalbiasbench", choices=sorted(TEST_SIZES))
    parser.add_argument("--test", type=int, default=None, help="test pairs (RM-Bench: prompts)")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probes", nargs="*", default=list(PROBES))
    parser.add_argument("--max-length", type=int, default=1536)
    parser.add_argument("--context-tokens", type=int, default=1024)
    parser.add_argument("--n-heads", type=int, default=16)
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--max-prompts", type=int, default=16)
    parser.add_argument("--max-items", type=int, default=32)
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--summarise", action="store_true")
    args = parser.parse_args()
    import pandas as pd

    if args.summarise:
        write_summary(pd.read_csv(OUT_CSV), args)
        return
    name = args.dataset
    n_test = args.test or TEST_SIZES[name]
    pairs = load_preference(args.shared, name)
    unit = "prompts" if name == "rm-bench" else "pairs"
    test, pool = split_test(pairs, n_test, seed=0, unit=unit)
    # the kcurve's draw for this seed: its first k pairs are the k-shot examples
    shots = nested_draw(pool, args.k, seed=1000 + args.seed)
    log(f"{name}: {len(test)} test pairs, {len(shots)} examples from a pool of {len(pool)}")
    args.work.mkdir(parents=True, exist_ok=True)
    cache = mr.ScoreCache(args.work / "cache")
    common = {"model": MODEL, "max_length": args.max_length}
    folder = args.work / "activation_rm" / name / f"s{args.seed}-k{args.k}"
    if (folder / "activation_rm.json").is_file():
        arm = mr.get_scorer("activation_rm", path=folder)
    else:
        arm = fit_activation_rm(
            shots, n_heads=args.n_heads, shots=args.shots, max_prompts=args.max_prompts,
            max_items=args.max_items, seed=args.seed, **common,
        )  # fmt: skip
        arm.save(folder)
    log(f"activation_rm: {len(arm.heads)} heads")
    scorers = {
        "activation_rm": arm,
        "lm_icl_judge": mr.get_scorer(
            "lm_icl_judge", examples=shots, context_tokens=args.context_tokens, **common
        ),
        "lm_logprob": mr.get_scorer("lm_logprob", **common),
    }
    # the zero-shot judge gives its score and its final hidden state (the probe's features)
    # in one pass; the linear probe is trained on the hidden states of the k pairs
    judge = mr.get_scorer("lm_judge", **common)
    k = len(shots)
    store = feature_store(args.work, name, judge)
    shot_x = embed(judge, shots, store)[1]
    head, _ = fit_head((shot_x[:k], shot_x[k:], np.ones(k)), None, TrainSettings(seed=args.seed))
    probe_signature = f"probe:fit_head(linear,defaults):k={k}:seed={args.seed}|{judge.signature}"
    n = len(test)
    judge_r, test_x = embed(judge, test, store)
    base = {s: mr.score_pairs(sc, test, cache=cache, progress=False) for s, sc in scorers.items()}
    base["lm_judge"] = (judge_r[:n], judge_r[n:])
    base["probe"] = (apply_head(head, test_x[:n]), apply_head(head, test_x[n:]))
    base.update({s: (ps.chosen, ps.rejected) for s, ps in base.items() if s in scorers})
    rows = []
    if OUT_CSV.is_file():  # keep earlier runs' other datasets and probes
        earlier = pd.read_csv(OUT_CSV)
        rows.append(earlier[(earlier.dataset != name) | ~earlier.probe.isin(args.probes)])
    for probe_name in args.probes:
        moved = perturbed_pairs(test, probe_name, seed=args.seed, sides="rejected")
        for s, sc in scorers.items():
            after = mr.score_pairs(sc, moved, cache=cache, progress=False)
            rows.append(frame_of(name, test, s, probe_name, *base[s], after.rejected, sc.signature))
            log(f"{probe_name}: {s} done")
        changed = [i for i in range(n) if moved[i].rejected != test[i].rejected]
        judge_m, probe_m = base["lm_judge"][1].copy(), base["probe"][1].copy()
        if changed:
            result, x = judge.score_with_embeddings(
                [moved[i].rejected for i in changed], prompts=[moved[i].prompt for i in changed]
            )
            judge_m[changed], probe_m[changed] = result.scores, apply_head(head, x)
        rows.append(frame_of(name, test, "lm_judge", probe_name, *base["lm_judge"], judge_m,
                             judge.signature))  # fmt: skip
        rows.append(frame_of(name, test, "probe", probe_name, *base["probe"], probe_m,
                             probe_signature))  # fmt: skip
        log(f"{probe_name}: lm_judge and probe done")
        frame = pd.concat(rows, ignore_index=True)
        frame.to_csv(OUT_CSV, index=False)
        write_summary(frame, args)


DATASET_ORDER = ("evalbiasbench", "llmbar", "hh-rlhf-harmless", "rm-bench")
PROBE_ORDER = (*PROBES, "repeat_sentence", "copy_prompt")


def in_order(frame):
    """Rows by dataset, then probe, in the order the tables show them (others last)."""
    rank = {d: i for i, d in enumerate(DATASET_ORDER)}
    probe_rank = {q: i for i, q in enumerate(PROBE_ORDER)}
    keys = frame.assign(
        _d=frame.dataset.map(rank).fillna(len(rank)), _p=frame.probe.map(probe_rank).fillna(99)
    )
    return keys.sort_values(["_d", "_p"], kind="stable").drop(columns=["_d", "_p"])


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def overview(frame, args) -> list[str]:
    """One row per dataset and probe: every scorer's hack rate, the activation RM's untouched
    rate and 95% interval, and the zero-shot judge minus the activation RM with its p."""
    lines = [
        "| dataset | probe | activation_rm: untouched | hacked [95% CI] | lm_judge "
        "| lm_icl_judge | probe | lm_logprob | lm_judge minus activation_rm (p) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (name, pr), part in frame.groupby(["dataset", "probe"], sort=False):
        cells = {s: part[part.scorer == s].sort_values("pair") for s in SCORERS}
        arm, judge = cells["activation_rm"], cells["lm_judge"]
        if arm.empty:
            continue
        ci = mr.meta.bootstrap(
            mr.meta.MEAN, arm.hack.to_numpy(), rng=np.random.default_rng(args.seed),
            n_resamples=args.n_resamples, groups=arm.group.to_numpy(),
        )  # fmt: skip
        others = ("lm_judge", "lm_icl_judge", "probe", "lm_logprob")  # the header's order
        rates = [f"{cells[s].hack.mean():.3f}" if not cells[s].empty else "" for s in others]
        versus = ""
        if not judge.empty:
            d, p = prompt_permutation_test(
                judge.hack, arm.hack, arm.group.to_numpy(), args.seed, args.n_resamples
            )
            versus = f"{d:+.3f} ({p_text(p)})"
        lines.append(
            f"| {name} | {pr} | {arm.untouched.mean():.3f} "
            f"| {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] | "
            + " | ".join(rates)
            + f" | {versus} |"
        )
    return lines


def write_summary(frame, args) -> None:
    frame = in_order(frame)
    lines = [
        "| dataset | probe | scorer | hack rate | 95% CI | minus activation_rm | p "
        "| rise rate | untouched |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for (name, pr), part in frame.groupby(["dataset", "probe"], sort=False):
        ref = part[part.scorer == "activation_rm"].sort_values("pair")
        for s in SCORERS:
            cell = part[part.scorer == s].sort_values("pair")
            if cell.empty:
                continue
            groups = cell.group.to_numpy()
            ci = mr.meta.bootstrap(
                mr.meta.MEAN, cell.hack.to_numpy(), rng=np.random.default_rng(args.seed),
                n_resamples=args.n_resamples, groups=groups,
            )  # fmt: skip
            diff, p = "", ""
            if s != "activation_rm" and not ref.empty:
                d, pvalue = prompt_permutation_test(
                    cell.hack, ref.hack, groups, args.seed, args.n_resamples
                )
                diff, p = f"{d:+.3f}", p_text(pvalue)
            lines.append(
                f"| {name} | {pr} | {s} | {ci.estimate:.3f} | [{ci.low:.3f}, {ci.high:.3f}] "
                f"| {diff} | {p} | {cell.rise.mean():.3f} | {cell.untouched.mean():.3f} |"
            )
    settings = (
        f"model {MODEL}, max_length {args.max_length}; k {args.k}, seed {args.seed}; "
        f"activation_rm: n_heads {args.n_heads}, shots {args.shots}, max_prompts "
        f"{args.max_prompts}, max_items {args.max_items}; lm_icl_judge: context_tokens "
        f"{args.context_tokens}; probes on the rejected response, seed {args.seed}; "
        f"bootstrap and permutation resamples {args.n_resamples}"
    )
    text = (
        "\n".join(lines)
        + "\n\nOverview: hack rates, the activation RM's untouched rate and interval, and the "
        "zero-shot judge minus the activation RM (two-sided p):\n\n"
        + "\n".join(overview(frame, args))
        + f"\n\nSettings: {settings}.\n\nSignatures:\n\n"
        + "\n".join(f"- `{s}`" for s in sorted(set(frame.signature)))
        + "\n"
    )
    OUT_MD.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
