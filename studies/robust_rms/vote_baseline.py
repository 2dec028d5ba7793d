"""The voting judge as a zero-shot baseline on the k-curve's test sets: SmolLM2-135M asked in
three wordings, hard majority votes (``samples=0``) and sampled votes (``samples=8``).

Uses the test sets of ``activation_kcurve.py`` (same seeded split by prompt). Its rows (k = 0,
no seed) replace earlier ``lm_vote_judge`` rows of those datasets in ``kcurve_outcomes.csv``,
and ``kcurve.md`` is rewritten with them. The log gives each vote's share of tied pairs.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python studies/robust_rms/vote_baseline.py \
        --work DIR [--datasets evalbiasbench llmbar] [--samples 0 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from activation_kcurve import (  # type: ignore[import-not-found]
    MODEL,
    OUT_CSV,
    TEST_SIZES,
    build_parser,
    parse_sizes,
    record,
    write_summary,
)
from common import (  # type: ignore[import-not-found]
    DEFAULT_SHARED,
    group_id,
    load_preference,
    log,
    outcomes,
    split_test,
)

import metricrm as mr


def label(samples: int) -> str:
    return "lm_vote_judge" if samples == 0 else f"lm_vote_judge_s{samples}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--datasets", nargs="*", default=["evalbiasbench", "llmbar"],
                        choices=sorted(TEST_SIZES))  # fmt: skip
    parser.add_argument("--samples", nargs="*", type=int, default=[0, 8])
    parser.add_argument("--test", nargs="*", default=[], metavar="NAME=N")
    parser.add_argument("--max-length", type=int, default=1536)
    parser.add_argument("--n-resamples", type=int, default=2000)
    args = parser.parse_args()
    sizes = parse_sizes(args.test)
    import pandas as pd

    cache = mr.ScoreCache(args.work / "cache")
    frame = pd.read_csv(OUT_CSV, keep_default_na=False)
    names = {label(s) for s in args.samples}
    for name in args.datasets:
        pairs = load_preference(args.shared, name)
        unit = "prompts" if name == "rm-bench" else "pairs"
        test, _ = split_test(pairs, sizes[name], seed=0, unit=unit)
        old = frame[(frame.dataset == name) & (frame.scorer == "lm_judge")]
        base = {"dataset": name, "pair": np.arange(len(test)), "group": list(old.group)}
        if list(old.group) != [group_id(p) for p in test]:
            raise SystemExit(f"{name}: other test pairs than the CSV's")
        rows = []
        for samples in args.samples:
            scorer = mr.get_scorer(
                "lm_vote_judge", model=MODEL, max_length=args.max_length, samples=samples, seed=0
            )
            ps = mr.score_pairs(scorer, test, cache=cache, progress=False)
            record(rows, base, label(samples), 0, -1, outcomes(ps), scorer.signature)
            ties = float(np.mean(ps.chosen == ps.rejected))
            log(f"{name}: {label(samples)} accuracy {outcomes(ps).mean():.3f}, ties {ties:.2f}")
        keep = ~((frame.dataset == name) & frame.scorer.isin(names))
        frame = pd.concat([frame[keep], *rows], ignore_index=True)
        frame.to_csv(OUT_CSV, index=False)
    # the summary's settings line: the k-curve's defaults (its rows were scored with them)
    settings = build_parser().parse_args(["--work", str(args.work)])
    settings.n_resamples, settings.max_length = args.n_resamples, args.max_length
    write_summary(frame, sizes, settings)


if __name__ == "__main__":
    main()
