"""How well do classic metrics agree with human judgments on the shared data?

Uses only metricrm's public API. Writes results.csv and results.md next to this file.

    python studies/classic_metrics/run.py [--shared ../shared/data] [--n-resamples 1000] [--quick]
    python studies/classic_metrics/run.py --datasets summeval   # rerun one dataset's rows
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import metricrm as mr

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"


DATASETS = ["wmt19-darr-lt-en", "wmt-mqm-ted-en-de", "summeval", "rm-bench"]


def datasets(shared: Path, quick: bool) -> dict[str, tuple[list, list[str], dict]]:
    """name -> (records, scorers, meta_evaluate options)."""
    mqm = shared / "scored" / "wmt-mqm-ted-ende"
    darr = mr.data.load_wmt_darr(shared / "scored" / "wmt19-darr" / "lt-en.json")
    summeval = mr.data.load_summeval(shared / "scored" / "summeval" / "summeval.json")
    items = mr.data.load_wmt_mqm(mqm / "mqm_ted_ende.tsv", mqm / "mqm_ted_ende.avg_seg_scores.tsv")
    rm_bench = mr.data.load_rm_bench(shared / "preference" / "rm-bench")
    if quick:
        darr, summeval, items = darr[:2000], summeval[:320], items[:1400]
        rm_bench = [p for p in rm_bench if p.subset == "chat"]
    translation = ["bleu", "chrf", "chrf++", "ter", "bertscore_f1"]
    # BERTScore encodes each of SummEval's 2,646 distinct texts once for all 17,600 pairs
    summary = ["rouge1", "rouge2", "rougeL", "bertscore_f1", "length_tokens"]
    return {
        "wmt19-darr-lt-en": (darr, translation, {"statistics": ["tau_like"]}),
        "wmt-mqm-ted-en-de": (
            items,
            translation,
            {"human": "mqm", "statistics": ["pearson", "kendall_b", "spa"]},
        ),
        "summeval": (
            summeval,
            summary,
            {"statistics": ["pearson", "kendall_b"], "levels": ["item", "system"]},
        ),
        "rm-bench": (rm_bench, ["length_chars", "length_tokens"], {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="subsets, for a smoke run")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=DATASETS,
        help="run only these; the other datasets' rows are kept from the existing results.csv",
    )
    args = parser.parse_args()

    frames = []
    chosen = args.datasets or DATASETS
    for name, (records, scorers, options) in datasets(args.shared, args.quick).items():
        if name not in chosen:
            continue
        start = time.perf_counter()
        frames.append(
            mr.meta_evaluate(
                scorers,
                records,
                dataset_name=name,
                n_resamples=args.n_resamples,
                cache=args.cache_dir,
                **options,
            )
        )
        print(f"{name}: {len(records)} records, {time.perf_counter() - start:.0f} s", flush=True)

    import pandas as pd

    table = pd.concat(frames, ignore_index=True)
    suffix = "_quick" if args.quick else ""
    previous = HERE / f"results{suffix}.csv"
    if args.datasets and previous.exists():
        kept = pd.read_csv(previous)
        kept = kept[~kept.dataset.isin(chosen)]
        table = pd.concat([kept, table], ignore_index=True)
        order = {name: k for k, name in enumerate(DATASETS)}
        table = table.sort_values("dataset", key=lambda c: c.map(order), kind="stable")
    table.to_csv(HERE / f"results{suffix}.csv", index=False, float_format="%.6g")
    lines = [
        "| dataset | subset | human | level | statistic | scorer | value | 95% CI | n | cluster |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        human = r.human if isinstance(r.human, str) else ""
        cluster = "" if pd.isna(r.cluster) else int(r.cluster)
        lines.append(
            f"| {r.dataset} | {r.subset} | {human} | {r.level} | {r.statistic} | {r.scorer} | "
            f"{r.value:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.n} | {cluster} |"
        )
    signatures = sorted(set(table.signature))
    text = (
        "\n".join(lines) + "\n\nSignatures:\n\n" + "\n".join(f"- `{s}`" for s in signatures) + "\n"
    )
    (HERE / f"results{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
