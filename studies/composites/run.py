"""Composite rewards on the shared data: learned weights vs their components, held out by group.

Uses only metricrm's public API. Every component is scored once through the score cache, then
weights are learned and evaluated on k folds grouped by source segment / document / prompt:
held-out agreement with a 95% bootstrap interval over groups and a paired permutation test
against the best single component (chosen on the training folds).

- ``darr``: WMT19 DARR lt-en; BLEU, chrF, BERTScore (MiniLM), SmolLM2 log-prob of the
  translation with the source as prompt, and length; Kendall's tau-like.
- ``darr_lexical``: all of DARR lt-en with BLEU, chrF and length only (no model).
- ``summeval``: SummEval; ROUGE-1/2/L, chrF, length; one composite per expert dimension,
  Kendall's tau-b at item (per document) and system level on held-out documents.
- ``rmbench`` / ``hh``: RM-Bench and HH-RLHF harmless; SmolLM2 log-prob and judge, a
  Bradley-Terry head on MiniLM embeddings (trained on the benchmark's other prompts, never on
  the evaluated ones) and length; RM-Bench hard / normal / easy, and the Pareto front of
  RM-Bench hard vs overall accuracy over a weight grid.

SmolLM2 scores about one item per second on a quiet 2-core CPU (far less on a busy one), so
the model datasets are seeded samples (``--darr-segments``, ``--rmbench-prompts``,
``--hh-pairs``); each sample of a size is part of every larger one. Writes
parts/<dataset>.csv as each dataset finishes, then results.md, results.csv, pareto.csv and
the fitted composite files (composites/) next to this file.

    python studies/composites/run.py --cache-dir DIR [--datasets darr summeval rmbench hh]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

import metricrm as mr
from metricrm.training import train_bt_head
from metricrm.weighting import (
    Component,
    PairObjective,
    WeightMethod,
    compose,
    length_bias_objective,
    pareto_sweep,
)

SMOLLM2 = "smollm2-135m-instruct"  # the offline alias, so written composites stay portable

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"
DATASETS = ("darr", "darr_lexical", "summeval", "rmbench", "hh")
#: besides the learned composite (logistic, L2) and equal weights
PAIR_BASELINES = {
    "equal": "equal",
    "nonneg_l1": WeightMethod("logistic", penalty="l1", nonnegative=True),
}


# ------------------------------------------------------------------------------- samples


def shuffled_prefix(keys: list, n: int, seed_name: str) -> set:
    """The first ``n`` of ``keys`` (sorted, then shuffled with a named seed): a smaller sample
    is part of every larger one."""
    keys = sorted(keys)
    random.Random(seed_name).shuffle(keys)
    return set(keys[:n])


def darr_sample(shared: Path, n_segments: int) -> list:
    pairs = mr.data.load_wmt_darr(shared / "scored" / "wmt19-darr" / "lt-en.json")
    keep = shuffled_prefix(list({p.source for p in pairs}), n_segments, "darr:0")
    return [p for p in pairs if p.source in keep]


def rm_bench_split(shared: Path, per_domain: int) -> tuple[list, list]:
    """``per_domain`` prompts per domain (all nine pairs of each) and the other prompts' pairs."""
    pairs = mr.data.load_rm_bench(shared / "preference" / "rm-bench")
    by_domain: dict[str, set] = defaultdict(set)
    for p in pairs:
        by_domain[p.subset].add(p.meta["prompt_id"])
    chosen = set()
    for domain in sorted(by_domain):
        ids = shuffled_prefix(list(by_domain[domain]), per_domain, f"rmbench:{domain}:0")
        chosen |= {(domain, i) for i in ids}
    inside = [p for p in pairs if (p.subset, p.meta["prompt_id"]) in chosen]
    outside = [p for p in pairs if (p.subset, p.meta["prompt_id"]) not in chosen]
    return inside, outside


def _text(value) -> str:
    return value if isinstance(value, str) else "\n".join(m["content"] for m in value)


def hh_split(shared: Path, n_pairs: int) -> tuple[list, list]:
    """``n_pairs`` pairs (those with two non-empty replies) and the others."""
    pairs = mr.data.load_hh_rlhf(shared / "preference" / "hh-rlhf" / "harmless-base_test.jsonl.gz")
    usable = [
        i for i, p in enumerate(pairs) if _text(p.chosen).strip() and _text(p.rejected).strip()
    ]
    keep = shuffled_prefix(usable, n_pairs, "hh:0")
    return [pairs[i] for i in sorted(keep)], [p for i, p in enumerate(pairs) if i not in keep]


def capped(pairs: list, n: int, seed_name: str) -> list:
    keep = shuffled_prefix(list(range(len(pairs))), n, seed_name)
    return [p for i, p in enumerate(pairs) if i in keep]


# --------------------------------------------------------------------------- components


def lm_components(model: str, head: Path) -> list[Component]:
    return [
        Component.build("lm_logprob", "lm_logprob", settings={"model": model, "max_length": 1024}),
        Component.build("lm_judge", "lm_judge", settings={"model": model, "max_length": 1024}),
        Component.build("bt_head", "bt_head", settings={"path": str(head)}),
        Component.build("length", "length_chars"),
    ]


def trained_head(pairs: list, folder: Path, seed_name: str, n_train: int) -> Path:
    """A Bradley-Terry head trained on (a seeded cap of) ``pairs``, saved once in ``folder``."""
    if not (folder / "bt_head.json").is_file():
        train = capped(pairs, n_train, seed_name)
        head = train_bt_head(train, validation=0.1, seed=0)
        head.save(folder)
        print(f"trained a head on {len(train)} pairs -> {folder}", flush=True)
    return folder


# ----------------------------------------------------------------------------- running


def held_out_rows(name: str, result, note: str) -> pd.DataFrame:
    frame = result.frame.copy()
    frame.insert(0, "dataset", name)
    frame["note"] = note
    chosen = result.held_out.selected
    frame["best_single_per_fold"] = ",".join(chosen)
    return frame


def run_darr(args, cache) -> tuple[pd.DataFrame, dict]:
    pairs = darr_sample(args.shared, args.darr_segments)
    model = SMOLLM2
    parts = [
        Component.build("bleu", "bleu"),
        Component.build("chrf", "chrf"),
        Component.build("bertscore", "bertscore_f1"),
        Component.build("lm_logprob", "lm_logprob", settings={"model": model, "max_length": 1024}),
        Component.build("length", "length_chars"),
    ]
    result = compose(
        parts,
        pairs,
        group_by="source",
        baselines=PAIR_BASELINES,
        k=args.k,
        seed=args.seed,
        n_resamples=args.n_resamples,
        cache=cache,
    )
    result.composite.save(HERE / "composites" / "darr-lt-en.yaml")
    note = (
        f"seeded sample of {args.darr_segments} of 974 source segments "
        f"({len(pairs)} of 21,862 pairs)"
    )
    return held_out_rows("wmt19-darr-lt-en", result, note), {"darr": result}


def run_darr_lexical(args, cache) -> tuple[pd.DataFrame, dict]:
    """All of DARR lt-en with the components that need no model: BLEU, chrF and length."""
    pairs = mr.data.load_wmt_darr(args.shared / "scored" / "wmt19-darr" / "lt-en.json")
    parts = [Component.build(n, s) for n, s in (("bleu", "bleu"), ("chrf", "chrf"))]
    parts.append(Component.build("length", "length_chars"))
    result = compose(
        parts,
        pairs,
        group_by="source",
        baselines=PAIR_BASELINES,
        k=args.k,
        seed=args.seed,
        n_resamples=args.n_resamples,
        cache=cache,
        progress=False,
    )
    result.composite.save(HERE / "composites" / "darr-lt-en-lexical.yaml")
    note = f"all 974 source segments ({len(pairs)} pairs); lexical components only"
    return held_out_rows("wmt19-darr-lt-en-lexical", result, note), {"darr_lexical": result}


def run_summeval(args, cache) -> tuple[pd.DataFrame, dict]:
    items = mr.data.load_summeval(args.shared / "scored" / "summeval" / "summeval.json")
    parts = [Component.build(n, n) for n in ("rouge1", "rouge2", "rougeL", "chrf")]
    parts.append(Component.build("length", "length_tokens"))
    frames, results = [], {}
    for dim in ("coherence", "consistency", "fluency", "relevance"):
        for level in ("item", "system"):
            result = compose(
                parts,
                items,
                method="least_squares",
                baselines={"kendall_opt": "kendall", "equal": "equal"},
                human=dim,
                statistic="kendall",
                level=level,
                k=args.k,
                seed=args.seed,
                n_resamples=args.n_resamples,
                cache=cache,
                progress=False,
            )
            frame = held_out_rows("summeval", result, f"human={dim}")
            frame["human"] = dim
            frames.append(frame)
            results[f"summeval-{dim}-{level}"] = result
        result.composite.save(HERE / "composites" / f"summeval-{dim}.yaml")
    return pd.concat(frames, ignore_index=True), results


def run_rmbench(args, cache) -> tuple[pd.DataFrame, dict]:
    inside, outside = rm_bench_split(args.shared, args.rmbench_prompts)
    if args.head_exclude_prompts:  # train the head outside a larger sample that holds this one
        larger = max(args.head_exclude_prompts, args.rmbench_prompts)
        _, outside = rm_bench_split(args.shared, larger)
    head = trained_head(outside, args.work / "head-rmbench", "rmbench-head:0", args.head_pairs)
    parts = lm_components(SMOLLM2, head)
    result = compose(
        parts,
        inside,
        baselines=PAIR_BASELINES,
        k=args.k,
        seed=args.seed,
        n_resamples=args.n_resamples,
        cache=cache,
    )
    result.composite.save(HERE / "composites" / "rm-bench.yaml")
    n_prompts = len({(p.subset, p.meta["prompt_id"]) for p in inside})
    note = (
        f"seeded sample of {args.rmbench_prompts} prompts per domain ({n_prompts} prompts, "
        f"{len(inside)} of 7,182 pairs); BT head trained on {args.head_pairs} pairs of the "
        "other prompts"
    )
    return held_out_rows("rm-bench", result, note), {"rmbench": result}


def run_hh(args, cache) -> tuple[pd.DataFrame, dict]:
    inside, outside = hh_split(args.shared, args.hh_pairs)
    head = trained_head(outside, args.work / "head-hh", "hh-head:0", args.head_pairs)
    parts = lm_components(SMOLLM2, head)
    result = compose(
        parts,
        inside,
        baselines=PAIR_BASELINES,
        k=args.k,
        seed=args.seed,
        n_resamples=args.n_resamples,
        cache=cache,
    )
    result.composite.save(HERE / "composites" / "hh-rlhf-harmless.yaml")
    note = (
        f"seeded sample of {len(inside)} of 2,312 pairs (both replies non-empty); BT head "
        f"trained on {args.head_pairs} of the other pairs"
    )
    return held_out_rows("hh-rlhf-harmless", result, note), {"hh": result}


def rmbench_pareto(result, step: float, seed: int) -> pd.DataFrame:
    table = result.table
    hard = table.meta["difficulty"] == "hard"
    lengths_c = table.chosen[:, table.labels.index("length")]
    lengths_r = table.rejected[:, table.labels.index("length")]
    objectives = [
        PairObjective("hard", hard, "loss"),
        PairObjective("overall", None, "loss"),
        length_bias_objective(lengths_c, lengths_r, name="rejected_longer"),
    ]
    frame = pareto_sweep(table, objectives[:2], step=step, seed=seed)
    third = pareto_sweep(table, objectives, step=step, seed=seed)
    frame["test_rejected_longer"] = third["test_rejected_longer"]
    return frame


# ------------------------------------------------------------------------------ output


def _fmt(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}"


def markdown(table: pd.DataFrame, pareto: pd.DataFrame | None, timings: dict) -> str:
    lines = [
        "# Composite rewards: held-out agreement (k folds grouped by segment / document / prompt)",
        "",
    ]
    for (dataset, human, level), rows in table.groupby(
        ["dataset", "human", "level"], sort=False, dropna=False
    ):
        title = f"## {dataset}" + ("" if human != human else f", {human}") + f" ({level})"
        lines += [
            title,
            "",
            f"{rows['note'].iloc[0]}. Best single component per fold: "
            f"{rows['best_single_per_fold'].iloc[0]}.",
            "",
        ]
        lines += [
            "| method | subset | statistic | value | 95% CI | n | delta vs best single "
            "| p (one-sided) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows.itertuples():
            lines.append(
                f"| {r.method} | {r.subset} | {r.statistic} | {_fmt(r.value)} | "
                f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] | {r.n} | {_fmt(r.delta)} | "
                f"{'' if r.p_value != r.p_value else f'{r.p_value:.4f}'} |"
            )
        lines.append("")
    if pareto is not None:
        front = pareto[pareto.pareto].sort_values("train_hard")
        weights = [c for c in pareto.columns if not c.startswith(("train_", "test_", "pareto"))]
        lines += [
            "## RM-Bench: Pareto front, hard vs overall accuracy",
            "",
            f"{len(pareto)} weightings (grid step {pareto.attrs.get('step')}), normalizers "
            f"fitted on the training part ({pareto.attrs.get('n_train')} pairs); front "
            f"chosen on it, values also on the held-out part "
            f"({pareto.attrs.get('n_test')} pairs, whole prompts).",
            "",
            "| " + " | ".join(weights) + " | train hard | train overall | test hard | "
            "test overall | test rejected-longer |",
            "|" + "---|" * (len(weights) + 5),
        ]
        for r in front.itertuples():
            w = " | ".join(f"{getattr(r, c):.1f}" for c in weights)
            lines.append(
                f"| {w} | {r.train_hard:.3f} | {r.train_overall:.3f} | "
                f"{r.test_hard:.3f} | {r.test_overall:.3f} | "
                f"{r.test_rejected_longer:.3f} |"
            )
        lines.append("")
    lines += ["Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), ""]
    return "\n".join(lines)


def report() -> None:
    """results.csv / results.md from every dataset's part written so far (runs may be split)."""
    parts = sorted(HERE.glob("parts/*.csv"))
    if not parts:
        return
    table = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    if "human" not in table:
        table["human"] = np.nan
    names = ("wmt19-darr-lt-en", "wmt19-darr-lt-en-lexical", "summeval", "rm-bench")
    order = {name: i for i, name in enumerate(names)}
    table = table.sort_values("dataset", key=lambda c: c.map(order).fillna(9), kind="stable")
    timings = {}
    for p in sorted(HERE.glob("parts/*.time")):
        timings[p.stem] = float(p.read_text())
    pareto = None
    if (HERE / "pareto.csv").is_file():
        pareto = pd.read_csv(HERE / "pareto.csv")
        pareto.attrs.update(json.loads((HERE / "parts" / "pareto.json").read_text()))
    table.to_csv(HERE / "results.csv", index=False, float_format="%.6g")
    (HERE / "results.md").write_text(markdown(table, pareto, timings), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the trained heads (default: <cache-dir>/composites)",
    )
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--darr-segments", type=int, default=50)
    parser.add_argument("--rmbench-prompts", type=int, default=10)
    parser.add_argument("--hh-pairs", type=int, default=150)
    parser.add_argument("--head-pairs", type=int, default=1500)
    parser.add_argument(
        "--head-exclude-prompts",
        type=int,
        default=0,
        help="RM-Bench: train the head outside the sample of this many prompts per domain",
    )
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--pareto-step", type=float, default=0.1)
    args = parser.parse_args()
    cache = mr.ScoreCache(args.cache_dir)
    args.work = args.work or cache.folder / "composites"
    args.work.mkdir(parents=True, exist_ok=True)
    (HERE / "composites").mkdir(exist_ok=True)
    (HERE / "parts").mkdir(exist_ok=True)
    runners = {
        "darr": run_darr,
        "darr_lexical": run_darr_lexical,
        "summeval": run_summeval,
        "rmbench": run_rmbench,
        "hh": run_hh,
    }
    for name in args.datasets:
        start = time.perf_counter()
        frame, res = runners[name](args, cache)
        elapsed = time.perf_counter() - start
        if "rmbench" in res:
            pareto = rmbench_pareto(res["rmbench"], args.pareto_step, args.seed)
            pareto.to_csv(HERE / "pareto.csv", index=False, float_format="%.6g")
            attrs = {k: pareto.attrs.get(k) for k in ("step", "n_train", "n_test")}
            (HERE / "parts" / "pareto.json").write_text(json.dumps(attrs, default=float))
        frame.to_csv(HERE / "parts" / f"{name}.csv", index=False, float_format="%.6g")
        (HERE / "parts" / f"{name}.time").write_text(f"{elapsed:.1f}")
        print(f"{name}: {elapsed:.0f} s", flush=True)
        report()
    print((HERE / "results.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
