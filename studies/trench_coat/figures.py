"""Figures and tables of the trench-coat study, from the files ``run.py`` wrote (no scoring).

    python studies/trench_coat/figures.py   # writes figures/*.png, *.svg and results.md here

PNG for the docs; SVG of the figures a result table cannot give (correlations, RM-Bench
matrices, length bias, calibration) for ``metricrm report ... --figure``; ``results.md``
holds every table (``metricrm.report.to_markdown``: value [95% CI], top cluster in bold).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import metricrm as mr  # noqa: E402
from metricrm.plotting import (  # noqa: E402
    ForestDisplay,
    HeatmapDisplay,
    LengthBiasDisplay,
    ReliabilityDisplay,
    RMBenchMatrixDisplay,
    ScorerCorrelationDisplay,
    paper_style,
)
from metricrm.report import to_markdown  # noqa: E402

HERE = Path(__file__).resolve().parent
#: scorers in the order the figures show them: reward-model style, metrics, the baseline
ORDER = ["lm_logprob", "lm_judge", "lm_pairwise_judge", "bt_head", "bleu", "chrf", "ter",
         "rougeL", "bertscore_f1", "length_chars"]  # fmt: skip
LOWER_IS_BETTER = {"ter": False}
PREFERENCE = ["llmbar-natural", "llmbar-adversarial", "hh-rlhf-harmless", "rm-bench",
              "evalbiasbench"]  # fmt: skip
#: (dataset, human, level, statistic) of the rows the overview shows, in order
OVERVIEW = [
    ("wmt19-darr-lt-en", None, "pair", "tau_like"),
    ("wmt-mqm-ted-en-de", "mqm", "flat", "kendall_b"),
    ("wmt-mqm-ted-en-de", "mqm", "item", "kendall_b"),
    ("wmt-mqm-ted-en-de", "mqm", "system", "kendall_b"),
    *[("summeval", h, "item", "kendall_b")
      for h in ("coherence", "consistency", "fluency", "relevance")],
    *[("summeval", h, "system", "kendall_b")
      for h in ("coherence", "consistency", "fluency", "relevance")],
    *[(d, None, "pair", "accuracy") for d in PREFERENCE],
    *[("rm-bench", None, "pair", f"rmbench_{k}") for k in ("hard", "normal", "easy")],
]  # fmt: skip


def pick(table: pd.DataFrame, rows: list[tuple]) -> pd.DataFrame:
    """The result rows named by (dataset, human, level, statistic), subset all: grouped in the
    order of ``rows``, scorers in ``ORDER`` within each."""
    rank = {s: i for i, s in enumerate(ORDER)}
    parts = []
    for dataset, human, level, statistic in rows:
        part = table[(table.dataset == dataset) & (table.level == level)
                     & (table.statistic == statistic) & (table.subset == "all")]  # fmt: skip
        part = part[part.human.isna()] if human is None else part[part.human == human]
        parts.append(part.sort_values("scorer", key=lambda c: c.map(rank), kind="stable"))
    return pd.concat(parts, ignore_index=True)


def save(display_or_fig, out: Path, name: str, svg: bool = False) -> None:
    fig = getattr(display_or_fig, "figure_", display_or_fig)
    fig.savefig(out / f"{name}.png", dpi=150, bbox_inches="tight")
    if svg:
        fig.savefig(out / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


def margins(pairs: pd.DataFrame, scorers: list[str]) -> pd.DataFrame:
    out = {}
    for s in scorers:
        m = pairs[f"{s}.chosen"] - pairs[f"{s}.rejected"]
        out[s] = -m if s in LOWER_IS_BETTER else m
    return pd.DataFrame(out)


def human_mqm(shared: Path, ids: pd.Series) -> np.ndarray:
    """The human MQM score of each item id, read from the shared data (not committed here)."""
    folder = shared / "scored" / "wmt-mqm-ted-ende"
    items = mr.data.load_wmt_mqm(
        folder / "mqm_ted_ende.tsv", folder / "mqm_ted_ende.avg_seg_scores.tsv"
    )
    by_id = {it.id: it.human.get("mqm") for it in items}
    return np.array([np.nan if by_id.get(i) is None else by_id[i] for i in ids], dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE)
    parser.add_argument("--out", type=Path, default=HERE / "figures")
    parser.add_argument(
        "--shared",
        type=Path,
        default=HERE.parents[1].parent / "shared" / "data",
        help="the shared data, for the human MQM scores of the sampled items",
    )
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    table = mr.read_table(args.results / "results.csv")
    pairs = mr.read_table(args.results / "pair_scores.parquet")
    items = mr.read_table(args.results / "item_scores.parquet")
    matplotlib.rcParams["svg.hashsalt"] = "trench_coat"

    present = set(zip(table.dataset, table.level, table.statistic))
    overview = pick(table, [r for r in OVERVIEW if (r[0], r[2], r[3]) in present])
    save(HeatmapDisplay.from_frame(overview, rows=["dataset", "human", "level", "statistic"],
                                   columns="scorer", subset=None, color_by="row"),
         args.out, "overview")  # fmt: skip

    mt_rows = [OVERVIEW[0], OVERVIEW[1], ("summeval", "relevance", "item", "kendall_b")]
    mt = pick(table, [r for r in mt_rows if (r[0], r[2], r[3]) in present])
    save(ForestDisplay.from_frame(mt, panels=["dataset", "level", "statistic"], subset=None,
                                  human=None), args.out, "forest_mt")  # fmt: skip
    pref = pick(table, [(d, None, "pair", "accuracy") for d in PREFERENCE
                        if (d, "pair", "accuracy") in present])  # fmt: skip
    save(ForestDisplay.from_frame(pref, panels="dataset", statistic="accuracy"), args.out,
         "forest_preference")  # fmt: skip
    # the metrics-only pass over the whole preference benchmarks
    whole = [(f"{d}-whole", None, "pair", "accuracy") for d in PREFERENCE]
    whole = [r for r in whole if (r[0], r[2], r[3]) in present]
    if whole:
        save(ForestDisplay.from_frame(pick(table, whole), panels="dataset", statistic="accuracy"),
             args.out, "forest_whole")  # fmt: skip

    # Do reward models rank like metrics? Kendall tau-b between scorers on the same items:
    # MQM translations (with the human MQM score as one more "scorer"), and the margins
    # (chosen - rejected) of every preference pair of the study.
    mqm = items[items.dataset == "wmt-mqm-ted-en-de"]
    cols = [s for s in ORDER if s in mqm.columns]
    scores = (
        mqm[cols].assign(human_mqm=human_mqm(args.shared, mqm["id"])).dropna(subset=["human_mqm"])
    )
    save(ScorerCorrelationDisplay.from_scores(scores, higher_is_better=LOWER_IS_BETTER),
         args.out, "correlation_mqm", svg=True)  # fmt: skip
    darr = pairs[pairs.dataset == "wmt19-darr-lt-en"]
    cols = [s for s in ORDER if f"{s}.chosen" in darr.columns]
    save(ScorerCorrelationDisplay.from_scores(margins(darr, cols)), args.out,
         "correlation_darr", svg=True)  # fmt: skip
    prefs = pairs[pairs.dataset.isin(PREFERENCE)]
    cols = [s for s in ORDER if f"{s}.chosen" in prefs.columns]
    save(ScorerCorrelationDisplay.from_scores(margins(prefs, cols)), args.out,
         "correlation_preference", svg=True)  # fmt: skip

    rm = pairs[pairs.dataset == "rm-bench"].rename(columns={"subset": "domain"})
    for s in ("length_chars", "lm_logprob", "lm_judge", "bt_head"):
        if rm.empty:  # the run did not reach RM-Bench
            break
        frame = rm.assign(chosen=rm[f"{s}.chosen"], rejected=rm[f"{s}.rejected"])
        save(RMBenchMatrixDisplay.from_scores(frame, title=s), args.out, f"rmbench_{s}",
             svg=s in ("length_chars", "lm_judge", "bt_head"))  # fmt: skip
    if not rm.empty:  # the pairwise judge gives each pair its own P(chosen better): outcomes
        p = rm["lm_pairwise_judge.chosen"].to_numpy()
        outcome = mr.meta.pairwise_outcomes(p, 1.0 - p, score_ties="loss")  # RM-Bench's rule
        save(RMBenchMatrixDisplay.from_outcomes(rm.assign(outcome=outcome),
                                                title="lm_pairwise_judge"),
             args.out, "rmbench_lm_pairwise_judge")  # fmt: skip

    # the length baseline on the whole of RM-Bench (read from the shared data: length needs no
    # model), next to the one-prompt-per-domain matrices above
    folder = args.shared / "preference" / "rm-bench"
    if folder.is_dir():
        bench = mr.data.load_rm_bench(folder)
        both = mr.score_pairs(mr.get_scorer("length_chars"), bench, cache=False, progress=False)
        title = f"length_chars, whole RM-Bench ({len(bench)} pairs)"
        save(RMBenchMatrixDisplay.from_pairs(bench, both.chosen, both.rejected, title=title),
             args.out, "rmbench_length_chars_whole", svg=True)  # fmt: skip

    for s in ("lm_logprob", "bt_head", "chrf"):
        with paper_style():
            fig, axes = plt.subplots(1, 2, figsize=(6.8, 2.6), layout="constrained")
        LengthBiasDisplay.from_scores(
            prefs[f"{s}.chosen"], prefs[f"{s}.rejected"], prefs["chosen_length"],
            prefs["rejected_length"], scorer=s, n_bins=6, ax=axes,
        )  # fmt: skip
        fig.suptitle(f"{s}: every preference pair of the study")
        save(fig, args.out, f"length_{s}", svg=True)

    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.8, 3.2), layout="constrained")
    for axis, (title, part) in zip(axes, (
        ("HH-RLHF held-out prompts", pairs[pairs.dataset == "hh-rlhf-harmless"]),
        ("other benchmarks", pairs[pairs.dataset.isin(set(PREFERENCE) - {"hh-rlhf-harmless"})]),
    )):  # fmt: skip
        if part.empty:  # a dataset the run did not reach
            axis.set_axis_off()
            continue
        ReliabilityDisplay.from_margins(part["bt_head.chosen"], part["bt_head.rejected"],
                                        name="bt_head", ax=axis)  # fmt: skip
        axis.set_title(f"{title} ({len(part)} pairs)", fontsize=9)
    save(fig, args.out, "reliability_bt_head", svg=True)
    print(f"wrote {len(list(args.out.glob('*.png')))} figures to {args.out}")
    write_tables(table, args.results)


def write_tables(table: pd.DataFrame, folder: Path) -> None:
    """results.md: one Markdown table per dataset (scorers x statistics), and the samples."""
    meta = mr.read_metadata(folder / "results.csv") or {}
    order = {s: i for i, s in enumerate(ORDER)}
    table = table.sort_values("scorer", key=lambda c: c.map(order), kind="stable")
    lines = ["# Trench-coat study: every result", "",
             "Value [95% bootstrap interval]; **bold**: top significance cluster (the pairwise",
             "judge is scored outside `meta_evaluate` and is not in the clusters). Written by",
             "`figures.py` from `results.csv`.", ""]  # fmt: skip
    for dataset in dict.fromkeys(table.dataset):
        part = table[(table.dataset == dataset) & table.value.notna()]
        cols = ["human"] if part.human.notna().any() else []
        cols += ["level"] if cols or part.level.nunique() > 1 else []  # RM-Bench: pair, total
        cols += ["statistic"]
        lines += [f"## {dataset}", "", to_markdown(part, columns=cols, subset="all")]
        subsets = sorted(set(part.subset) - {"all"})
        if subsets and "accuracy" in set(part.statistic):
            lines += [
                "By subset (accuracy):",
                "",
                to_markdown(part, columns="subset", statistic="accuracy", subset=None),
            ]
    lines += ["## Samples", ""]
    for d in meta.get("datasets", []):
        lines.append(f"- {d['name']}: {d['sample']}, {d['records']} of {d['of']} records")
    lines += ["", "## Signatures", ""]
    lines += [f"- {s['label']}: `{s['signature']}`" for s in meta.get("scorers", [])]
    lines += [f"- run: `{r}`" for r in meta.get("run_signature", [])]
    lines += ["", f"Command: `{meta.get('command', '')}`", ""]
    (folder / "results.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
