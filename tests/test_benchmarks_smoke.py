"""Smoke run of benchmarks/bench_classic_adapters.py on a few items of the real shared data.

Checks the plumbing (one table row per metric, JSON output, both sides' scores compared and
equal), never timings.
"""

from __future__ import annotations

import importlib.util
import json
import os
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
    for row in results["rows"]:  # float32 sums in another order than bert-score's
        assert row["scores_equal"] is True and row["max_abs_diff"] <= 1e-6


# -- benchmarks/bench_fast_metrics.py --------------------------------------------------------

FAST = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fast_metrics.py"


@pytest.fixture(scope="module")
def fast():
    spec = importlib.util.spec_from_file_location("bench_fast_metrics", FAST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_fast_classic_run_compares_identical_scores(fast, shared_data, tmp_path, capsys):
    out = tmp_path / "fast.json"
    argv = ["classic", "--items", "300", "--repeats", "1", "--ter-repeats", "1", "--distinct"]
    argv += ["--metrics", "chrf,ter", "--shared", str(shared_data), "--output", str(out)]
    results = fast.main(argv)
    table = _table_rows(capsys.readouterr().out)
    assert [row[0] for row in table] == ["chrf", "ter"]
    rows = {row["metric"]: row for row in results["rows"]}
    assert all(row["scores_identical"] and row["items"] == 300 for row in rows.values())
    assert all(row["distinct"] == 300 for row in rows.values())
    # 300 distinct items: below chrF's threshold (one process), above TER's (every core)
    assert rows["chrf"]["processes"] == 1
    assert rows["ter"]["processes"] == min(2, os.cpu_count() or 1)
    assert json.loads(out.read_text(encoding="utf-8"))["rows"][0]["metric"] == "chrf"


def test_fast_darr_items_follow_the_file(fast, shared_data):
    hyps, refs = fast.darr_items(shared_data, 5)
    raw = list(json.loads((shared_data / fast.DARR_FILE).read_text(encoding="utf-8")).values())
    assert hyps == [raw[0]["better"]["sys"], raw[0]["worse"]["sys"], raw[1]["better"]["sys"],
                    raw[1]["worse"]["sys"], raw[2]["better"]["sys"]]  # fmt: skip
    assert refs == [raw[0]["ref"]] * 2 + [raw[1]["ref"]] * 2 + [raw[2]["ref"]]


def test_fast_distinct_darr_items_keep_the_first_copy_of_each(fast, shared_data):
    hyps, refs = fast.darr_items(shared_data, 400)
    distinct, distinct_refs = fast.darr_items(shared_data, 400, distinct=True)
    assert len(distinct) == 400 == len(set(zip(distinct, distinct_refs)))
    first = list(dict.fromkeys(zip(hyps, refs)))  # file order, first copies
    assert list(zip(distinct, distinct_refs))[: len(first)] == first
