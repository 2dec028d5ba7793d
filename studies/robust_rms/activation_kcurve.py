"""Accuracy vs number of labelled examples (k) for the activation reward model on SmolLM2-135M,
against its few-shot baselines, on EvalBiasBench, LLMBar, RM-Bench and HH-RLHF harmless.

Per dataset, a seeded test set (whole prompts) is set aside; the k-shot examples are drawn from
the other prompts only, nested (the 4 examples are the first 4 of the 16, ...), one draw per
seed. Scorers:

- ``activation_rm``: fitted on the k pairs (``fit_activation_rm``), log-odds of Yes; by
  default every k reaches the fit (head selection on all 2k examples, ``max(16, k)`` prompts
  for the mean activations: :func:`fit_budget`);
- ``lm_icl_judge``: the same k pairs as in-context examples (as many as fit its context);
- ``probe``: a linear Bradley-Terry probe (``fit_head``) on the zero-shot judge's final hidden
  state at the answer position, trained on the k pairs;
- ``lm_judge`` (zero-shot) and ``lm_logprob``: no examples (one row, k = 0).

    PYTHONPATH=. nice -n 10 python studies/robust_rms/activation_kcurve.py --work DIR \
        [--datasets ...] [--ks 4 16 64] [--seeds 0 1] [--test llmbar=30 ...] \
        [--max-prompts auto|N] [--max-items auto|N] [--summarise]

Scores go through a score cache, fitted models are saved in ``--work`` and so are the judge's
hidden states (keyed by prompt and response), so an interrupted run resumes and a run with
other k or seeds computes only what is new. Writes ``kcurve_outcomes.csv`` (per-pair
outcomes; earlier runs' rows of every dataset, scorer, k and seed this run does not score
again are kept) and ``kcurve.md`` here: accuracies with intervals, and the activation RM
against the zero-shot judge, the probe and the in-context judge at the same k (paired
permutation tests over test prompts).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from common import (  # type: ignore[import-not-found]
    DEFAULT_SHARED,
    HERE,
    group_id,
    interval,
    load_preference,
    log,
    nested_draw,
    outcomes,
    split_test,
)

import metricrm as mr
from metricrm.adapters.bt_head import apply_head
from metricrm.adapters.causal_lm.fewshot import examples_digest, judged_examples
from metricrm.training import TrainSettings, fit_activation_rm, fit_head

DATASETS = ("evalbiasbench", "llmbar", "rm-bench", "hh-rlhf-harmless")
#: test-set size per dataset: pairs, or for RM-Bench prompts (9 pairs each)
TEST_SIZES = {"llmbar": 30, "hh-rlhf-harmless": 30, "rm-bench": 4, "evalbiasbench": 30}
MODEL = "smollm2-135m-instruct"
OUT_CSV = HERE / "kcurve_outcomes.csv"
OUT_MD = HERE / "kcurve.md"


def parse_sizes(items: list[str]) -> dict[str, int]:
    sizes = dict(TEST_SIZES)
    for item in items:
        name, _, n = item.partition("=")
        if name not in DATASETS or not n.isdigit():
            raise SystemExit(f"--test {item!r}: expected NAME=N with NAME one of {DATASETS}")
        sizes[name] = int(n)
    return sizes


def record(rows: list, base: dict, scorer: str, k: int, seed: int, values, signature: str) -> None:
    """One frame of per-pair outcomes."""
    import pandas as pd

    extra = {"scorer": scorer, "k": k, "seed": seed, "outcome": values, "signature": signature}
    rows.append(pd.DataFrame({**base, **extra}))


def feature_key(prompt, response: str) -> str:
    return hashlib.sha256(f"{prompt}\0{response}".encode()).hexdigest()[:16]


def embed(judge, items: list, store: Path) -> tuple[np.ndarray, np.ndarray]:
    """The judge's scores and final hidden states of the chosen, then the rejected responses.

    They are kept in ``store`` (an ``.npz`` keyed by a digest of prompt and response, one file
    per dataset and judge signature), so a run with other seeds or k embeds only the
    responses no earlier run did; each distinct (prompt, response) is run once."""
    both = [(p.prompt, p.chosen) for p in items] + [(p.prompt, p.rejected) for p in items]
    keys = [feature_key(prompt, response) for prompt, response in both]
    known: dict[str, tuple[float, np.ndarray]] = {}
    if store.is_file():
        saved = np.load(store)
        known = {
            str(k): (float(r), x) for k, r, x in zip(saved["keys"], saved["scores"], saved["x"])
        }
    first: dict = {}
    for j, key in enumerate(keys):
        if key not in known:
            first.setdefault(key, j)
    todo = sorted(first.values())
    if todo:
        result, x = judge.score_with_embeddings(
            [both[j][1] for j in todo], prompts=[both[j][0] for j in todo]
        )
        for i, j in enumerate(todo):
            known[keys[j]] = (float(result.scores[i]), x[i])
        names = sorted(known)
        np.savez(
            store,
            keys=np.array(names),
            scores=np.array([known[k][0] for k in names]),
            x=np.stack([known[k][1] for k in names]),
        )
    return np.array([known[k][0] for k in keys]), np.stack([known[k][1] for k in keys])


def feature_store(work: Path, name: str, judge) -> Path:
    """Where :func:`embed` keeps the judge's scores and hidden states for one dataset: one
    file per dataset and judge signature in the work folder (shared by the k-curve and the
    hack-rate study)."""
    return work / f"features_{name}_{feature_key(judge.signature, '')[:12]}.npz"


AUTO = "auto"


def budget_option(text: str) -> str | int:
    """``--max-prompts`` / ``--max-items``: ``auto`` or a positive integer."""
    if text == AUTO:
        return AUTO
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}")
    return int(text)


def fit_budget(k: int, max_prompts: str | int, max_items: str | int) -> dict[str, int]:
    """The activation RM's fit budget for k labelled pairs (2k judged examples).

    ``auto`` (the default) lets every k reach the fit: head selection reads all 2k examples,
    and the mean activations come from ``max(16, k)`` in-context prompts (all 2k examples up
    to k = 8, then 16, then one prompt per pair from k = 16 on; each prompt's shots are drawn
    from all the other pairs). Up to k = 16 this is exactly the earlier fixed caps of 16
    prompts and 32 examples. An integer is a fixed cap, as before (the fit then sees more
    pairs only through which ones its seeded draw picks)."""
    prompts = max(16, k) if max_prompts == AUTO else int(max_prompts)
    items = 2 * k if max_items == AUTO else int(max_items)
    return {"max_prompts": prompts, "max_items": max(items, 2)}


def fit_or_load(shots: list, seed: int, folder: Path, args, **model) -> mr.Scorer:
    """The activation RM fitted on ``shots`` with the study's settings and
    :func:`fit_budget`, loaded from ``folder`` when a fit with the same examples, settings and
    budget is saved there, else fitted and saved."""
    judged = judged_examples("study", shots)
    budget = fit_budget(len(shots), args.max_prompts, args.max_items)
    wanted = {
        "data": examples_digest(judged),
        "n_heads": args.n_heads,
        "shots": args.shots,
        "seed": seed,
        "prompts": min(budget["max_prompts"], len(judged)),
        "items": min(budget["max_items"], len(judged)),
    }
    if (folder / "activation_rm.json").is_file():
        arm = mr.get_scorer("activation_rm", path=folder)
        if all(arm.fit_settings.get(key) == v for key, v in wanted.items()):
            return arm
    # not saved, or fitted on other examples, settings or budget: fit again
    arm = fit_activation_rm(
        shots, n_heads=args.n_heads, shots=args.shots, seed=seed, **budget, **model
    )
    arm.save(folder)
    return arm


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--ks", nargs="*", type=int, default=[4, 16, 64])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument("--test", nargs="*", default=[], metavar="NAME=N")
    parser.add_argument("--max-length", type=int, default=1536)
    parser.add_argument("--context-tokens", type=int, default=1024)
    parser.add_argument("--n-heads", type=int, default=16)
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument(
        "--max-prompts",
        type=budget_option,
        default=AUTO,
        help="prompts for the mean activations: N, or auto = max(16, k) (default)",
    )
    parser.add_argument(
        "--max-items",
        type=budget_option,
        default=AUTO,
        help="examples for head selection: N, or auto = all 2k of the k pairs (default)",
    )
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument(
        "--summarise", action="store_true", help="only rewrite kcurve.md from kcurve_outcomes.csv"
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    sizes = parse_sizes(args.test)
    if args.summarise:
        import pandas as pd

        write_summary(pd.read_csv(OUT_CSV, keep_default_na=False), sizes, args)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    cache = mr.ScoreCache(args.work / "cache")
    common = {"model": MODEL, "max_length": args.max_length}
    judge = mr.get_scorer("lm_judge", **common)
    logprob = mr.get_scorer("lm_logprob", **common)
    import pandas as pd

    earlier = pd.read_csv(OUT_CSV, keep_default_na=False) if OUT_CSV.is_file() else None
    rows: list = []
    for name in args.datasets:
        pairs = load_preference(args.shared, name)
        unit = "prompts" if name == "rm-bench" else "pairs"
        test, pool = split_test(pairs, sizes[name], seed=0, unit=unit)
        k_max = min(max(args.ks), len(pool))
        ks = sorted({min(k, len(pool)) for k in args.ks})  # a small pool: all of it at most
        draws = {s: nested_draw(pool, k_max, seed=1000 + s) for s in args.seeds}
        log(f"{name}: {len(test)} test pairs, pool {len(pool)} pairs, k {ks}")
        base = {"dataset": name, "pair": np.arange(len(test)), "group": [group_id(p) for p in test]}
        ps = mr.score_pairs(logprob, test, cache=cache, progress=False)
        record(rows, base, logprob.name, 0, -1, outcomes(ps), logprob.signature)
        log(f"{name}: {logprob.name} done")
        # the zero-shot judge, and its final hidden states as probe features
        store = feature_store(args.work, name, judge)
        examples = {id(p): p for d in draws.values() for p in d}
        ex_list = list(examples.values())
        test_r, test_x = embed(judge, test, store)
        ex_x = embed(judge, ex_list, store)[1]
        n_t, n_e = len(test), len(ex_list)
        whole = mr.ScoreResult("lm_judge", test_r, True, judge.signature)
        zero = mr.PairScores(test_r[:n_t], test_r[n_t:], whole)
        record(rows, base, judge.name, 0, -1, outcomes(zero), judge.signature)
        log(f"{name}: lm_judge and probe features done")
        where = {id(p): j for j, p in enumerate(ex_list)}
        for seed in args.seeds:
            for k in ks:
                shots = draws[seed][:k]
                # linear probe on the judge's final hidden state
                idx = [where[id(p)] for p in shots]
                params, _ = fit_head(
                    (ex_x[idx], ex_x[[n_e + i for i in idx]], np.ones(k)),
                    None,
                    TrainSettings(seed=seed),
                )
                result = mr.ScoreResult("probe", np.zeros(2 * n_t), True, "probe")
                probe = mr.PairScores(
                    apply_head(params, test_x[:n_t]), apply_head(params, test_x[n_t:]), result
                )
                signature = f"probe:fit_head(linear,defaults):k={k}:seed={seed}"
                record(rows, base, "probe", k, seed, outcomes(probe), signature)
                # in-context judge
                icl = mr.get_scorer(
                    "lm_icl_judge", examples=shots, context_tokens=args.context_tokens, **common
                )
                ps = mr.score_pairs(icl, test, cache=cache, progress=False)
                record(rows, base, "lm_icl_judge", k, seed, outcomes(ps), icl.signature)
                log(f"{name} seed {seed} k {k}: icl ({len(icl.used)} examples used) done")
                # activation reward model
                folder = args.work / "activation_rm" / name / f"s{seed}-k{k}"
                arm = fit_or_load(shots, seed, folder, args, **common)
                ps = mr.score_pairs(arm, test, cache=cache, progress=False)
                record(rows, base, "activation_rm", k, seed, outcomes(ps), arm.signature)
                log(f"{name} seed {seed} k {k}: activation_rm ({len(arm.heads)} heads) done")
                merge(earlier, rows).to_csv(OUT_CSV, index=False)
        write_summary(merge(earlier, rows), sizes, args)
    merge(earlier, rows).to_csv(OUT_CSV, index=False)
    write_summary(merge(earlier, rows), sizes, args)


KEY = ["dataset", "scorer", "k", "seed"]


def merge(earlier, rows: list):
    """This run's outcomes, plus the earlier runs' rows of every (dataset, scorer, k, seed) this
    run did not score again (other datasets, other k, the voting rows)."""
    import pandas as pd

    new = pd.concat(rows, ignore_index=True)
    if earlier is None:
        return new
    done = pd.MultiIndex.from_frame(new[KEY].drop_duplicates().astype(str))
    kept = earlier[~pd.MultiIndex.from_frame(earlier[KEY].astype(str)).isin(done)]
    return pd.concat([kept, new], ignore_index=True)


SCORERS = (
    "activation_rm", "lm_icl_judge", "probe", "lm_judge", "lm_vote_judge", "lm_vote_judge_s8",
    "lm_logprob",
)  # fmt: skip


def prompt_permutation_test(x, y, group, seed: int, n_resamples: int) -> tuple[float, float]:
    """Mean per-pair difference ``x - y``, and the two-sided p of a paired permutation test that
    swaps whole test prompts (on per-prompt sums, so prompts with several pairs, as in
    RM-Bench, move together; with one pair per prompt it is the pairwise test)."""
    import pandas as pd

    x, y = pd.Series(np.asarray(x, float)), pd.Series(np.asarray(y, float))
    group = np.asarray(group)
    test = mr.meta.paired_permutation_test(
        mr.meta.MEAN,
        x.groupby(group).sum().to_numpy(),
        y.groupby(group).sum().to_numpy(),
        rng=np.random.default_rng(seed),
        n_resamples=n_resamples,
        alternative="two-sided",
    )
    return float((x - y).mean()), float(test.pvalue)


def versus(a, b, seed: int, n_resamples: int) -> tuple[float, float]:
    """:func:`prompt_permutation_test` of two scorers' seed-averaged per-pair outcomes."""
    x = a.pivot(index="pair", columns="seed", values="outcome").mean(axis=1)
    y = b.pivot(index="pair", columns="seed", values="outcome").mean(axis=1).loc[x.index]
    group = a.drop_duplicates("pair").set_index("pair").group.loc[x.index].to_numpy()
    return prompt_permutation_test(x.to_numpy(), y.to_numpy(), group, seed, n_resamples)


def write_summary(frame, sizes: dict[str, int], args) -> None:
    """Mean accuracy over seeds with a 95% bootstrap interval over test prompts (per-pair
    outcomes averaged over seeds first), the seeds' range, and a paired permutation test of
    the activation RM against the zero-shot judge."""
    lines = [
        "| dataset | k | scorer | accuracy | 95% CI | seeds: min-max (how many) | test pairs |",
        "|---|---:|---|---:|---|---|---:|",
    ]
    tests = []
    for name in [d for d in DATASETS if d in set(frame.dataset)]:
        part = frame[frame.dataset == name]
        for k in sorted(set(part.k)):
            for scorer in SCORERS:
                cell = part[(part.k == k) & (part.scorer == scorer)]
                if cell.empty:
                    continue
                wide = cell.pivot(index="pair", columns="seed", values="outcome")
                mean = wide.mean(axis=1).to_numpy()
                groups = cell.drop_duplicates("pair").set_index("pair").group.loc[wide.index]
                ci = interval(mean, list(groups), seed=k, n_resamples=args.n_resamples)
                per_seed = wide.mean(axis=0)
                spread = (
                    f"{per_seed.min():.3f}-{per_seed.max():.3f} ({len(per_seed)})"
                    if len(per_seed) > 1
                    else "-"
                )
                if len(per_seed) == 1 and k:
                    spread = f"seed {per_seed.index[0]} only"
                lines.append(
                    f"| {name} | {k} | {scorer} | {ci.estimate:.3f} "
                    f"| [{ci.low:.3f}, {ci.high:.3f}] | {spread} | {len(mean)} |"
                )
            arm = part[(part.k == k) & (part.scorer == "activation_rm")]
            if not k or arm.empty:
                continue
            others = [("lm_judge (k = 0)", part[part.scorer == "lm_judge"])] + [
                (s, part[(part.k == k) & (part.scorer == s)]) for s in ("probe", "lm_icl_judge")
            ]
            for label, other in others:
                if not other.empty:
                    diff, p = versus(arm, other, seed=k, n_resamples=args.n_resamples)
                    tests.append(f"| {name} | {k} | {label} | {diff:+.3f} | {p:.3f} |")
    units = {
        k: f"{v} {'prompts' if k == 'rm-bench' else 'pairs'}"
        for k, v in sizes.items()
        if k in set(frame.dataset)
    }
    used_seeds = sorted(int(s) for s in set(frame.seed) - {-1})
    prompts = "max(16, k)" if args.max_prompts == AUTO else args.max_prompts
    items = "2k (every example)" if args.max_items == AUTO else args.max_items
    settings = (
        f"model {MODEL}, max_length {args.max_length}, seeds {used_seeds}; "
        "activation_rm: "
        f"n_heads {args.n_heads}, shots {args.shots}, max_prompts {prompts}, "
        f"max_items {items}; lm_icl_judge: context_tokens {args.context_tokens}; "
        "test sets: " + ", ".join(f"{k} {v}" for k, v in units.items())
    )
    text = (
        "\n".join(lines)
        + "\n\nActivation RM minus another scorer (seed-averaged per-pair outcomes; paired "
        "permutation test, two-sided, swapping whole test prompts):\n\n"
        "| dataset | k | minus | difference | p |\n|---|---:|---|---:|---:|\n"
        + "\n".join(tests)
        + f"\n\nSettings: {settings}.\n\nSignatures:\n\n"
        + "\n".join(f"- `{s}`" for s in sorted(set(frame.signature)))
        + "\n"
    )
    OUT_MD.write_text(text)


if __name__ == "__main__":
    main()
