"""Does a bfloat16 BERTScore encoder change agreement with human judgments?

BERTScore F1 (all-MiniLM-L6-v2, layer 6) in float32 and with ``dtype="bfloat16"`` side by side
on SummEval (item and system level, four aspects) and WMT19 DARR lt-en (WMT's tau-like), through
``meta_evaluate`` with significance clusters (paired permutation tests: the same cluster means
no significant difference). Also the change of the scores themselves. Uses only the public API.
Writes bertscore_bf16.csv and bertscore_bf16.md next to this file.

    python studies/classic_metrics/bertscore_bf16.py [--cache-dir DIR] [--n-resamples 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import metricrm as mr

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"


def score_change(float32: mr.Scorer, bf16: mr.Scorer, records: list) -> dict[str, float]:
    """Largest and mean absolute F1 change over the distinct (response, references) items."""
    items = {(str(r.response), tuple(r.references)) for r in records}
    responses = [h for h, _ in sorted(items)]
    references = [list(refs) for _, refs in sorted(items)]
    a = float32.score(responses, references=references).scores
    b = bf16.score(responses, references=references).scores
    return {
        "items": len(items),
        "max_abs": float(np.max(np.abs(a - b))),
        "mean_abs": float(np.mean(np.abs(a - b))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--summeval-only", action="store_true", help="skip DARR (faster)")
    args = parser.parse_args()

    float32 = mr.get_scorer("bertscore_f1")
    bf16 = mr.get_scorer("bertscore_f1", dtype="bfloat16")
    scorers = [("bertscore_f1 float32", float32), ("bertscore_f1 bfloat16", bf16)]
    summeval = mr.data.load_summeval(args.shared / "scored" / "summeval" / "summeval.json")
    runs = {
        "summeval": (
            summeval,
            {"statistics": ["pearson", "kendall_b"], "levels": ["item", "system"]},
        )
    }
    if not args.summeval_only:
        darr = mr.data.load_wmt_darr(args.shared / "scored" / "wmt19-darr" / "lt-en.json")
        runs["wmt19-darr-lt-en"] = (darr, {"statistics": ["tau_like"]})
    frames, changes = [], {}
    for name, (records, options) in runs.items():
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
        if name == "summeval":
            changes[name] = score_change(float32, bf16, records)
        print(f"{name}: {len(records)} records, {time.perf_counter() - start:.0f} s", flush=True)

    import pandas as pd

    table = pd.concat(frames, ignore_index=True)
    table.to_csv(HERE / "bertscore_bf16.csv", index=False, float_format="%.6g")
    lines = [
        "| dataset | human | level | statistic | float32 [95% CI] | bfloat16 [95% CI] "
        "| bfloat16 - float32 | same cluster |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = ["dataset", "subset", "human", "level", "statistic"]
    for key, rows in table.groupby(keys, dropna=False, sort=False):
        by = {r.scorer.split()[-1]: r for r in rows.itertuples()}
        a, b = by["float32"], by["bfloat16"]
        human = key[2] if isinstance(key[2], str) else ""
        if pd.isna(a.cluster) or pd.isna(b.cluster):
            same = "-"  # meta_evaluate clusters this statistic's rows with another test
        else:
            same = "yes" if a.cluster == b.cluster else "no"
        lines.append(
            f"| {key[0]} | {human} | {key[3]} | {key[4]} "
            f"| {a.value:.4f} [{a.ci_low:.3f}, {a.ci_high:.3f}] "
            f"| {b.value:.4f} [{b.ci_low:.3f}, {b.ci_high:.3f}] | {b.value - a.value:+.4f} "
            f"| {same} |"
        )
    for name, change in changes.items():
        lines.append(
            f"\n{name}: F1 changes by at most {change['max_abs']:.2e} (mean "
            f"{change['mean_abs']:.2e}) over {change['items']:,} distinct items."
        )
    signatures = sorted(set(table.signature))
    text = "\n".join(lines) + "\n\nSignatures:\n\n" + "\n".join(f"- `{s}`" for s in signatures)
    (HERE / "bertscore_bf16.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
