"""Reward hacking: every scorer against every probe, and best-of-n over-optimisation.

Public API only. Five parts, each resumable (scores go through the score cache, samples are
stored on disk), each writing its results next to this file (run from the checkout with
``PYTHONPATH=.`` to use its metricrm rather than an installed one):

    python studies/reward_hacking/run.py probes --scorers cheap    # length, BT heads, metrics
    python studies/reward_hacking/run.py probes --scorers smollm2  # LM log-prob, LM judges
    python studies/reward_hacking/run.py best-of-n                 # samples, proxies, gold
    python studies/reward_hacking/run.py mt-best-of-n              # MT systems, human MQM
    python studies/reward_hacking/run.py report                    # results.md and figures

Probes: LLMBar (Natural and Adversarial), HH-RLHF harmless-base test and RM-Bench with every
general probe; WMT19 DARR lt-en (the shared data with references) also with the two
reference-based probes. Seeded samples of pairs: ``--sample`` (default 300; 200 for LLMBar,
so that its Bradley-Terry head keeps pairs to train on) for the cheap scorers and
``--lm-sample`` (default 40, a subset of the former) for the SmolLM2 scorers, which score
about 0.2-4 items a second on the shared 2-core machine. Only the rejected response is
perturbed (``sides="rejected"``).

Bradley-Terry heads (frozen MiniLM embeddings) are trained per benchmark on the pairs whose
prompts are in neither the probe sample nor the best-of-n prompts (held out), seeded. The
learned composites (``composite_scorers``; ``--no-composites`` leaves them out) join the cheap
scorers: head + length per preference benchmark, BLEU + chrF + length on WMT DARR.

Best-of-n: ``--prompts`` (default 100) single-turn HH-RLHF prompts, ``--n-max`` (default 16)
samples each from SmolLM2-135M-Instruct (temperature 1, no top-k/top-p cut, at most
``--max-new-tokens`` tokens); gold is the HH-RLHF Bradley-Terry head (held out); proxies are
the length and the heads trained on LLMBar and on RM-Bench (off-domain reward models), and
with ``--lm-proxy`` SmolLM2's own mean log-probability. ``--stored-only`` runs, without
sampling, on the prompts whose ``--n-max`` samples are all stored (e.g. drawn by several
processes into separate stores and merged: a store is keyed by model and settings, and its
lines by prompt and block; or a pool whose extension was stopped part way); ``--bon-csv``
names the table it writes (the report reads ``results_best_of_n.csv`` and
``results_best_of_n_64.csv``).

MT best-of-n: per WMT MQM TED en-de segment, the pool is the 13 MT systems' translations
(best-of-n over systems, not samples); proxies are reference-based metrics, length and the
DARR composite; gold is the human MQM score.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import metricrm as mr
from metricrm.adapters.offline_models import smollm2_path
from metricrm.core.paths import cache_root

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"
DEFAULT_WORK = cache_root() / "studies" / "reward_hacking"
PROBE_CSV = HERE / "results_probes.csv"
BON_CSV = HERE / "results_best_of_n.csv"
BON_CSVS = (BON_CSV, HERE / "results_best_of_n_64.csv")  # report: every best-of-n table
MT_BON_CSV = HERE / "results_best_of_n_mt.csv"
FIGURES = HERE / "figures"
DATASETS = ("llmbar", "hh-rlhf", "rm-bench", "wmt-darr")
LM_SCORERS = ("lm_logprob", "lm_judge", "lm_pairwise_judge")
SEED = 0


# ------------------------------------------------------------------------------------- data


def load(shared: Path) -> dict[str, list]:
    pref = shared / "preference"
    return {
        "llmbar": mr.data.load_llmbar(pref / "llmbar"),
        "hh-rlhf": mr.data.load_hh_rlhf(pref / "hh-rlhf" / "harmless-base_test.jsonl.gz"),
        "rm-bench": mr.data.load_rm_bench(pref / "rm-bench"),
        "wmt-darr": mr.data.load_wmt_darr(shared / "scored" / "wmt19-darr" / "lt-en.json"),
    }


def prompt_key(pair) -> str:
    if pair.subset and pair.meta.get("prompt_id") is not None:  # RM-Bench: 9 pairs per prompt
        return f"{pair.subset}/{pair.meta['prompt_id']}"
    return json.dumps(pair.prompt if isinstance(pair.prompt, str) else list(pair.prompt))


def order(name: str, n: int) -> list[int]:
    """A seeded permutation of the dataset's indices; samples are its prefixes."""
    idx = list(range(n))
    random.Random(f"{name}:{SEED}").shuffle(idx)
    return idx


def samples(name: str, pairs: list, size: int, lm_size: int) -> tuple[list, list]:
    """The cheap-scorer sample and its first ``lm_size`` pairs, both in input order."""
    if name == "llmbar":
        size = min(size, 200)
    perm = order(name, len(pairs))
    big, small = set(perm[:size]), set(perm[:lm_size])
    return ([p for i, p in enumerate(pairs) if i in big],
            [p for i, p in enumerate(pairs) if i in small])  # fmt: skip


def bon_prompts(pairs: list, count: int) -> list:
    """``count`` single-turn HH-RLHF prompts of at most 300 characters, seeded, distinct."""
    seen, out = set(), []
    for i in order("best-of-n", len(pairs)):
        p = pairs[i]
        if len(p.prompt) != 1 or len(p.prompt[0]["content"]) > 300:
            continue
        key = p.prompt[0]["content"]
        if key not in seen:
            seen.add(key)
            out.append(list(p.prompt))
        if len(out) == count:
            break
    return out


# ------------------------------------------------------------------------------------ heads


def head_folder(name: str, train: list, work: Path) -> Path:
    from metricrm.training import pairs_digest

    return work / "heads" / f"{name}-{pairs_digest(train)[:12]}"


def head(name: str, train: list, work: Path, progress: bool):
    """A Bradley-Terry head trained (once; then loaded) on ``train``, saved under ``work``."""
    from metricrm.training import train_bt_head

    folder = head_folder(name, train, work)
    if not (folder / "bt_head.json").is_file():
        start = time.perf_counter()
        trained = train_bt_head(train, validation=0.1, seed=SEED)
        trained.save(folder)
        print(f"head {name}: trained on {len(train)} pairs in {time.perf_counter() - start:.0f} s",
              flush=True)  # fmt: skip
    return mr.get_scorer("bt_head", path=str(folder))


def held_out(pairs: list, excluded: set[str]) -> list:
    return [p for p in pairs if prompt_key(p) not in excluded and p.label != "tie"]


def heads(data: dict, args, work: Path) -> dict[str, object]:
    """Per benchmark, a head trained on the pairs whose prompts are not probed (nor, for
    HH-RLHF, used for best-of-n)."""
    bon = {json.dumps(p) for p in bon_prompts(data["hh-rlhf"], args.prompts)}
    out = {}
    for name in ("llmbar", "hh-rlhf", "rm-bench"):
        big, _ = samples(name, data[name], args.sample, args.lm_sample)
        excluded = {prompt_key(p) for p in big} | (bon if name == "hh-rlhf" else set())
        out[name] = head(f"bt-{name}", held_out(data[name], excluded), work, args.progress)
    return out


# ----------------------------------------------------------------------------------- probes


def lm_scorers(max_length: int) -> list[tuple[str, object]]:
    from metricrm.adapters.causal_lm import PairwiseJudge

    model = str(smollm2_path())
    return [
        ("lm_logprob", mr.get_scorer("lm_logprob", model=model, max_length=max_length)),
        ("lm_judge", mr.get_scorer("lm_judge", model=model, max_length=max_length)),
        ("lm_pairwise_judge", PairwiseJudge(model, max_length=max_length)),
    ]


COMPOSITE_SAMPLE = 600  # held-out pairs the preference composites' weights are fitted on
MT_COMPOSITE = HERE.parent / "composites" / "composites" / "darr-lt-en-lexical.yaml"
# Preference composites: label -> (file stem, length normalizer, weight method). The first
# lets the fit choose the length term's sign (a negative weight flips it into a reward); the
# second keeps length a *penalty* with a non-negative L1 weight (the composites study's
# ``nonneg_l1``), so more text can only lower the score; the third caps the length term: a
# rank normalizer maps length to its empirical CDF on the fitting pairs, at most 1 however
# long the response (the sign still free).
COMPOSITE_VARIANTS = {
    "composite[bt_head+length]": ("bt_head+length", "zscore", {"kind": "logistic"}),
    "composite[bt_head+length_penalty,nonneg_l1]": (
        "bt_head+length_penalty-nonneg_l1", "zscore",
        {"kind": "logistic", "penalty": "l1", "nonnegative": True}),
    "composite[bt_head+length_rank]": ("bt_head+length_rank", "rank", {"kind": "logistic"}),
}  # fmt: skip


def composite_scorers(name: str, data: dict, args, work: Path) -> list:
    """The learned composites of one benchmark, as ``(label, scorer)``.

    WMT DARR: the composites study's BLEU + chrF + length composite (logistic weights on
    z-scores, fitted on all 21,862 lt-en pairs, so on the probed pairs too). Preference data:
    the benchmark's Bradley-Terry head + length in characters as a penalty, one composite per
    ``COMPOSITE_VARIANTS`` entry, fitted on a seeded sample of at most ``COMPOSITE_SAMPLE`` of
    the head's own training pairs (never the probed ones), saved under ``work``."""
    from metricrm.weighting import Component, WeightMethod, fit_composite, score_pair_table

    if name == "wmt-darr":
        return [("composite[bleu+chrf+length]",
                 mr.get_scorer("composite", path=str(MT_COMPOSITE)))]  # fmt: skip
    out, table = [], None
    for label, (stem, normalizer, method) in COMPOSITE_VARIANTS.items():
        path = work / "composites" / f"{name}-{stem}.yaml"
        if not path.is_file():
            big, _ = samples(name, data[name], args.sample, args.lm_sample)
            excluded = {prompt_key(p) for p in big}
            if name == "hh-rlhf":
                excluded |= {json.dumps(p) for p in bon_prompts(data["hh-rlhf"], args.prompts)}
            pool = held_out(data[name], excluded)  # the head's training pairs (see heads())
            keep = set(order(f"{name}:composite", len(pool))[:COMPOSITE_SAMPLE])
            fit_pairs = [p for i, p in enumerate(pool) if i in keep]
            folder = head_folder(f"bt-{name}", pool, work)
            parts = [
                Component.build("bt_head", "bt_head", settings={"path": str(folder)}),
                Component.build(
                    "length", "length_chars", higher_is_better=False, normalizer=normalizer
                ),
            ]
            if table is None:  # the same raw scores for every variant
                table = score_pair_table(parts, fit_pairs, cache=args.cache_dir,
                                         progress=args.progress)  # fmt: skip
            composite = fit_composite(
                parts, table, WeightMethod(**method),
                info={"fitted_on": f"{len(fit_pairs)} held-out {name} pairs"},
            )  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            composite.save(path)
            print(f"{label} {name}: weights {composite.weights} (directions "
                  f"{[c.higher_is_better for c in composite.components]}) on "
                  f"{len(fit_pairs)} pairs", flush=True)  # fmt: skip
        out.append((label, mr.get_scorer("composite", path=str(path))))
    return out


def save_probe_rows(frame) -> None:
    """Add ``frame`` to the probe CSV, re-read just before writing (so runs of different
    scorers in parallel processes keep each other's rows); its (dataset, scorer) rows replace
    any older ones."""
    import pandas as pd

    old = pd.read_csv(PROBE_CSV) if PROBE_CSV.is_file() else frame.iloc[:0]
    keys = set(zip(frame.dataset, frame.scorer))
    old = old[[k not in keys for k in zip(old.dataset, old.scorer)]]
    pd.concat([old, frame], ignore_index=True).to_csv(PROBE_CSV, index=False,
                                                      float_format="%.6g")  # fmt: skip


def run_probes(args, data: dict, work: Path) -> None:
    import pandas as pd

    frames = [pd.read_csv(PROBE_CSV)] if PROBE_CSV.is_file() else []
    done = {(r.dataset, r.scorer) for f in frames for r in f[["dataset", "scorer"]].itertuples()}
    trained = heads(data, args, work) if args.scorers == "cheap" else {}
    for name in args.datasets:
        pairs = data[name]
        big, small = samples(name, pairs, args.sample, args.lm_sample)
        if args.scorers == "cheap":
            plan = [("length_chars", mr.get_scorer("length_chars"), big),
                    ("length_tokens", mr.get_scorer("length_tokens"), big)]  # fmt: skip
            if name == "wmt-darr":
                plan += [(s, mr.get_scorer(s), big) for s in ("bleu", "chrf", "bertscore_f1")]
            else:
                plan.append(("bt_head", trained[name], big))
            if args.composites:
                plan += [(label, s, big) for label, s in composite_scorers(name, data, args, work)]
        else:
            if name == "wmt-darr":
                continue
            plan = [(label, s, small) for label, s in lm_scorers(args.max_length)
                    if label in args.lm_scorers]  # fmt: skip
        probes = list(mr.probes.GENERAL_PROBES)
        if name == "wmt-darr":
            probes += list(mr.probes.REFERENCE_PROBES)
        for label, scorer, sample in plan:
            if (name, label) in done:
                continue
            start = time.perf_counter()
            frame = mr.probes.probe(
                scorer, sample, probes, seed=SEED, sides="rejected", n_resamples=args.n_resamples,
                cache=args.cache_dir, progress=args.progress, label=label, dataset=name,
            )  # fmt: skip
            frame["seconds"] = round(time.perf_counter() - start, 1)
            save_probe_rows(frame)
            print(f"{name} / {label}: {len(sample)} pairs, {frame.seconds.iloc[0]:.0f} s",
                  flush=True)  # fmt: skip


# -------------------------------------------------------------------------------- best-of-n


def stored_counts(folder: Path) -> dict[str, int]:
    """Prompt key -> number of samples in finished blocks, over every sample file under
    ``folder`` (read only: a file being written is not touched)."""
    counts: dict[str, int] = {}
    for path in folder.glob("samples-*.jsonl"):
        for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
            try:
                row = json.loads(line)
                counts[row["prompt"]] = counts.get(row["prompt"], 0) + len(row["texts"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return counts


def run_best_of_n(args, data: dict, work: Path) -> None:
    import pandas as pd

    from metricrm.probes.sampling import prompt_key as sample_key

    prompts = bon_prompts(data["hh-rlhf"], args.prompts)
    if args.stored_only:  # the prompts whose n_max samples are all on disk, in the same order
        stored = stored_counts(work / "samples")
        prompts = [p for p in prompts if stored.get(sample_key(p), 0) >= args.n_max]
    start = time.perf_counter()
    pool = mr.probes.sample_responses(
        str(smollm2_path()), prompts, args.n_max, store=work / "samples",
        max_new_tokens=args.max_new_tokens, block_size=args.block_size, seed=SEED,
        progress=args.progress,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    tokens = sum(sum(t) for t in pool.n_tokens)
    print(
        f"samples: {len(prompts)} prompts x {args.n_max}, {pool.generated} drawn now in "
        f"{seconds:.0f} s; {tokens} tokens in the pool; stored in {pool.path}",
        flush=True,
    )
    trained = heads(data, args, work)
    # off-domain proxy reward models: heads trained on LLMBar or on RM-Bench, never HH-RLHF
    proxies = [
        ("length_chars", mr.get_scorer("length_chars")),
        ("bt_head[llmbar]", trained["llmbar"]),
        ("bt_head[rm-bench]", trained["rm-bench"]),
    ]
    if args.lm_proxy:  # SmolLM2 scoring its own samples: about 1.5 CPU-seconds a sample
        proxies.append(("lm_logprob[smollm2]", mr.get_scorer(
            "lm_logprob", model=str(smollm2_path()), max_length=args.max_length)))  # fmt: skip
    frames = []
    for label, proxy in proxies:
        t0 = time.perf_counter()
        frame = mr.probes.best_of_n(
            pool, proxy, trained["hh-rlhf"], seed=SEED, n_resamples=args.n_resamples,
            cache=args.cache_dir, progress=args.progress, proxy_label=label,
            gold_label="bt_head[hh-rlhf, held out]",
        )  # fmt: skip
        frames.append(frame)
        print(f"best-of-n with proxy {label}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.concat(frames, ignore_index=True)
    table["prompts"] = len(prompts)
    table["pool_size"] = args.n_max
    table["max_new_tokens"] = args.max_new_tokens
    table["mean_tokens"] = tokens / (len(prompts) * args.n_max)
    table["finished_share"] = sum(sum(f) for f in pool.finished) / (len(prompts) * args.n_max)
    table.to_csv(args.bon_csv, index=False, float_format="%.6g")


# ---------------------------------------------------------------------------- MT best-of-n

MT_PROXIES = ("length_chars", "bleu", "chrf", "bertscore_f1", "composite")


def mt_proxy(name: str):
    """A proxy for MT best-of-n: a registered metric, or the DARR BLEU + chrF + length
    composite of the composites study."""
    if name == "composite":
        return mr.get_scorer("composite", path=str(MT_COMPOSITE))
    return mr.get_scorer(name)


def run_mt_best_of_n(args) -> None:
    """Best-of-n over the MT systems of WMT MQM TED en-de: per source segment, the pool is
    the systems' translations with a human MQM score (the reference excluded); the pick of n
    systems drawn at random is the one the proxy scores highest against the reference; gold
    is its MQM score. Every n-subset of the pool is averaged in closed form."""
    import pandas as pd

    folder = args.shared / "scored" / "wmt-mqm-ted-ende"
    items = mr.data.load_wmt_mqm(folder / "mqm_ted_ende.tsv",
                                 folder / "mqm_ted_ende.avg_seg_scores.tsv")  # fmt: skip
    scored = [it for it in items if it.human.get("mqm") is not None]
    sizes = {g: sum(it.group == g for it in scored) for g in {it.group for it in scored}}
    items = [it for it in scored if sizes[it.group] >= args.mt_min_pool]
    ns = sorted({n for n in (1, 2, 4, 8) if n <= args.mt_min_pool} | {args.mt_min_pool})
    frames = []
    for name in args.mt_proxies:
        start = time.perf_counter()
        label = "composite[bleu+chrf+length]" if name == "composite" else name
        frame = mr.probes.best_of_n_items(
            items, mt_proxy(name), "mqm", ns, seed=SEED, n_resamples=args.n_resamples,
            cache=args.cache_dir, progress=args.progress, proxy_label=label,
            gold_label="MQM (human)",
        )  # fmt: skip
        frames.append(frame)
        print(f"MT best-of-n with proxy {label}: {time.perf_counter() - start:.0f} s", flush=True)
    table = pd.concat(frames, ignore_index=True)
    table["segments"] = len({it.group for it in items})
    table["pool_sizes"] = "-".join(str(k) for k in sorted(set(sizes.values())))
    table["systems"] = len({it.system for it in items})
    table.to_csv(MT_BON_CSV, index=False, float_format="%.6g")


# ----------------------------------------------------------------------------------- report


def _ci(row) -> str:
    return f"{row['value']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def report(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from metricrm.plotting.probes import BestOfNDisplay, ProbeDisplay

    FIGURES.mkdir(exist_ok=True)
    lines = ["# Reward hacking: results", ""]
    if PROBE_CSV.is_file():
        frame = pd.read_csv(PROBE_CSV)
        for name in dict.fromkeys(frame.dataset):
            part = frame[frame.dataset == name]
            fig, axes = plt.subplots(2, 1, figsize=(11, 2.2 + 1.3 * part.scorer.nunique()))
            ProbeDisplay.from_frame(part, statistic="hack_rate", ax=axes[0],
                                    title=f"{name}: hack rate")  # fmt: skip
            ProbeDisplay.from_frame(
                part,
                statistic="score_change",
                ax=axes[1],
                title=f"{name}: score change (spreads; judge: P(preferred))",
            )
            fig.tight_layout()
            fig.savefig(FIGURES / f"probes_{name}.png", dpi=110)
            plt.close(fig)
            probes = list(dict.fromkeys(part.probe))
            lines += [f"## {name}", "", f"![probes]({FIGURES.name}/probes_{name}.png)", "",
                      "Hack rate (perturbed rejected beats the untouched chosen), 95% CI; "
                      "`none` = without perturbation.", "",
                      "| scorer | n | none | " + " | ".join(probes) + " |",
                      "|---|---:|---:|" + "---|" * len(probes)]  # fmt: skip
            for scorer in dict.fromkeys(part.scorer):
                rows = part[part.scorer == scorer].set_index(["probe", "statistic"])
                base = rows.loc[(probes[0], "hack_rate_untouched"), "value"]
                cells = [_ci(rows.loc[(p, "hack_rate")]) for p in probes]
                n = int(rows["n"].iloc[0])
                lines.append(f"| {scorer} | {n} | {base:.2f} | " + " | ".join(cells) + " |")
            lines += ["", "Score change in units of the scorer's spread (the pairwise judge: "
                      "P(perturbed preferred over the original)), 95% CI.", "",
                      "| scorer | " + " | ".join(probes) + " |",
                      "|---|" + "---|" * len(probes)]  # fmt: skip
            for scorer in dict.fromkeys(part.scorer):
                rows = part[part.scorer == scorer].set_index(["probe", "statistic"])
                stat = "preference" if (probes[0], "preference") in rows.index else "score_change"
                lines.append(f"| {scorer} | " + " | ".join(_ci(rows.loc[(p, stat)])
                                                          for p in probes) + " |")  # fmt: skip
            lines.append("")
    for bon_csv in BON_CSVS:
        if not bon_csv.is_file():
            continue
        figure = bon_csv.stem.removeprefix("results_") + ".png"
        bon = pd.read_csv(bon_csv)
        first = bon.iloc[0]
        title = (f"Best-of-n on {int(first.prompts)} HH-RLHF prompts (SmolLM2-135M, pool of "
                 f"{int(first.pool_size)})")  # fmt: skip
        fig, ax = plt.subplots(figsize=(11, 4.6))
        display = BestOfNDisplay.from_frame(bon, y="change", ax=ax, title=title)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # off the curves
        display.figure_.tight_layout()
        display.figure_.savefig(FIGURES / figure, dpi=110)
        plt.close(display.figure_)
        lines += [f"## Best-of-n, pool of {int(first.pool_size)}", "",
                  f"![best-of-n]({FIGURES.name}/{figure})", "",
                  f"{int(first.prompts)} prompts, pool of {int(first.pool_size)} samples each "
                  f"(at most {int(first.max_new_tokens)} new tokens; mean "
                  f"{first.mean_tokens:.1f}; {first.finished_share:.0%} ended before the cap).",
                  "", "| proxy -> gold | role | n | KL | value [95% CI] | change (spreads) "
                  "[95% CI] |", "|---|---|---:|---:|---|---|"]  # fmt: skip
        for r in bon.itertuples():
            lines.append(f"| {r.pair} | {r.role} | {r.n} | {r.kl:.2f} | {r.value:.3f} "
                         f"[{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.change:.2f} "
                         f"[{r.change_low:.2f}, {r.change_high:.2f}] |")  # fmt: skip
        lines.append("")
    if MT_BON_CSV.is_file():
        mt = pd.read_csv(MT_BON_CSV)
        fig, ax = plt.subplots(figsize=(10.5, 4.6))
        display = BestOfNDisplay.from_frame(
            mt, y="change", ax=ax, title="Best-of-n over WMT MQM TED en-de systems (gold: MQM)"
        )
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        display.figure_.tight_layout()
        display.figure_.savefig(FIGURES / "best_of_n_mt.png", dpi=110)
        plt.close(display.figure_)
        first = mt.iloc[0]
        lines += ["## Best-of-n over MT systems", "",
                  f"![MT best-of-n]({FIGURES.name}/best_of_n_mt.png)", "",
                  f"{int(first.segments)} WMT MQM TED en-de segments, pools of "
                  f"{first.pool_sizes} systems' translations (not samples of one policy); "
                  "gold: the human MQM score (higher is better).",
                  "", "| proxy -> gold | role | n | value [95% CI] | change (spreads) "
                  "[95% CI] |", "|---|---|---:|---|---|"]  # fmt: skip
        for r in mt.itertuples():
            lines.append(f"| {r.pair} | {r.role} | {r.n} | {r.value:.3f} "
                         f"[{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.change:.2f} "
                         f"[{r.change_low:.2f}, {r.change_high:.2f}] |")  # fmt: skip
        lines.append("")
    if PROBE_CSV.is_file():
        sigs = sorted(set(pd.read_csv(PROBE_CSV).signature))
        lines += ["## Signatures", ""] + [f"- `{s}`" for s in sigs] + [""]
    (HERE / "results.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("probes", "best-of-n", "mt-best-of-n", "report"))
    parser.add_argument("--scorers", choices=("cheap", "smollm2"), default="cheap")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help="trained heads and stored samples")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=None, help="score cache folder")
    parser.add_argument(
        "--no-composites",
        dest="composites",
        action="store_false",
        help="probes, cheap scorers: leave out the learned composites",
    )
    parser.add_argument("--lm-scorers", nargs="*", default=list(LM_SCORERS), choices=LM_SCORERS,
                        help="with --scorers smollm2: which of them")  # fmt: skip
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--lm-sample", type=int, default=40)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--n-max", type=int, default=16)
    parser.add_argument("--block-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--stored-only", action="store_true",
                        help="best-of-n on the prompts whose n-max samples are all on disk "
                             "(no sampling)")  # fmt: skip
    parser.add_argument("--bon-csv", type=Path, default=BON_CSV,
                        help="best-of-n: the table to write")  # fmt: skip
    parser.add_argument(
        "--lm-proxy",
        action="store_true",
        help="best-of-n: SmolLM2's mean log-probability as a further proxy",
    )
    parser.add_argument("--mt-proxies", nargs="*", default=list(MT_PROXIES), choices=MT_PROXIES)
    parser.add_argument(
        "--mt-min-pool",
        type=int,
        default=13,
        help="MT best-of-n: segments with at least this many scored systems",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args()
    if args.threads and args.part != "report":
        import torch

        torch.set_num_threads(args.threads)
    if args.part == "report":
        report(args)
        return
    if args.part == "mt-best-of-n":
        run_mt_best_of_n(args)
        return
    data = load(args.shared)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                            capture_output=True).stdout.strip()  # fmt: skip
    print(f"metricrm {mr.__version__} at {commit}, torch threads {args.threads}", flush=True)
    if args.part == "probes":
        run_probes(args, data, args.work_dir)
    else:
        run_best_of_n(args, data, args.work_dir)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
