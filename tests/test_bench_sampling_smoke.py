"""Smoke run of benchmarks/bench_best_of_n_sampling.py with a tiny model: one row per side,
the same number of samples on both, a speed-up relative to the plain loop. Never timings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_best_of_n_sampling.py"


def test_quick_run_compares_both_sides(shared_data, tmp_path, capsys):
    pytest.importorskip("torch")
    from .model_fixtures import tiny_causal_lm_path

    spec = importlib.util.spec_from_file_location("bench_best_of_n_sampling", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        data = shared_data / "preference/hh-rlhf/harmless-base_test.jsonl.gz"
        result = module.main(["--prompts", "2", "--n", "3", "--max-new-tokens", "4",
                              "--model", tiny_causal_lm_path(), "--data", str(data),
                              "--output", str(tmp_path / "r.json")])  # fmt: skip
    finally:
        sys.modules.pop(spec.name, None)
    rows = {r["method"]: r for r in result["rows"]}
    assert set(rows) == {"plain model.generate loop", "metricrm sample_responses"}
    assert all(r["samples"] == 6 and 0 < r["tokens"] <= 24 for r in rows.values())
    assert rows["plain model.generate loop"]["speedup"] == 1.0
    assert "| metricrm sample_responses | 6 |" in capsys.readouterr().out
    assert (tmp_path / "r.json").is_file()
