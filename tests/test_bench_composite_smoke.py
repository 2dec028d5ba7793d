"""Smoke run of benchmarks/bench_composite.py on a few real DARR pairs: the plumbing (rows,
JSON output, both sides scored), never timings."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_composite.py"

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_composite", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_quick_run_reports_fit_steps_and_overhead_ratios(bench, shared_data, tmp_path):
    out = tmp_path / "composite.json"
    result = bench.main(
        [
            "--shared",
            str(shared_data),
            "--pairs",
            "300",
            "--items",
            "60",
            "--bertscore-items",
            "0",
            "--repeats",
            "1",
            "--output",
            str(out),
        ]
    )
    steps = [row["step"] for row in result["fit"]]
    assert steps[:2] == ["score components (first time)", "read cached scores"]
    assert all(row["pairs"] == 300 for row in result["fit"])
    (row,) = result["overhead"]
    assert row["items"] == 60 and row["ratio_cpu"] > 0 and row["composite_wall_s"] > 0
    assert json.loads(out.read_text())["overhead"] == result["overhead"]
