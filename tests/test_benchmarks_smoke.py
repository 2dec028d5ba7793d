"""Smoke run of benchmarks/bench_classic_adapters.py on a few items of the real shared data.

Checks the plumbing (one table row per metric, JSON output, both sides' scores compared and
equal), never timings.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_classic_adapters.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_classic_adapters", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_quick_run_has_a_row_per_metric_and_equal_scores(bench, shared_data, tmp_path, capsys):
    out = tmp_path / "results.json"
    shared = ["--shared", str(shared_data)]
    results = bench.main(
        ["--quick", "--items", "20", "--skip-bertscore", *shared, "--output", str(out)]
    )
    table = _table_rows(capsys.readouterr().out)
    expected = [m for m in bench.ALL_METRICS if m != bench.BERTSCORE]
    assert [row[0] for row in table] == expected
    assert all(row[3] == "20" for row in table)

    rows = {row["metric"]: row for row in results["rows"]}
    for metric in expected:
        row = rows[metric]
        assert row["items"] == 20
        if metric in bench.NO_PEER_METRICS:
            assert row["scores_equal"] is None and row["peer_s"] is None
        else:
            assert row["scores_equal"] is True and row["max_abs_diff"] == 0.0
            assert row["peer_s"] > 0 and row["ours_s"] > 0
    assert json.loads(out.read_text(encoding="utf-8"))["rows"] == results["rows"]


def test_darr_items_are_distinct_pairs_of_the_file(bench, shared_data):
    hyps, refs = bench.darr_pairs(shared_data, 50)
    assert len(hyps) == len(refs) == 50
    assert len(set(zip(hyps, refs))) == 50
    raw = json.loads((shared_data / bench.DARR_FILE).read_text(encoding="utf-8"))
    first = next(iter(raw.values()))
    assert (hyps[0], refs[0]) == (first["better"]["sys"], first["ref"])


def test_score_mismatch_stops_the_benchmark(bench):
    ours = np.array([10.0, 20.0, 30.0])
    assert bench._compare("bleu", "sacrebleu", ours, [10.0, 20.0, 30.0]) == 0.0
    with pytest.raises(AssertionError, match="bleu: metricrm and sacrebleu gave different scores"):
        bench._compare("bleu", "sacrebleu", ours, [10.0, 20.0, 30.000001])
    with pytest.raises(AssertionError, match="shapes"):
        bench._compare("bleu", "sacrebleu", ours, [10.0, 20.0])


@pytest.mark.slow
def test_quick_bertscore_rows_compare_equal_scores(bench, shared_data, capsys):
    shared = ["--shared", str(shared_data)]
    results = bench.main(
        ["--quick", "--metrics", "bertscore_f1", "--bertscore-items", "5", *shared]
    )
    table = _table_rows(capsys.readouterr().out)
    # all 5 summaries, then one small batch of 2 (the quick default)
    assert [(row[0], row[3]) for row in table] == [
        (name, items)
        for items in ("5", "2")
        for name in ("bertscore_f1", "bertscore_f1", "bertscore_f1 (new scorer per call)")
    ]
    for row in results["rows"]:
        assert row["scores_equal"] is True and row["max_abs_diff"] == 0.0
