"""The classic metrics on several processes: scores, statistics, order and corpus scores
bit-identical to one process; no pool for small inputs; errors from workers reach the caller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

import metricrm as mr
from metricrm.core import parallel
from metricrm.core.batching import record_inputs
from metricrm.core.errors import ScorerConfigError

ROOT = Path(__file__).resolve().parents[1]
POOLED = (
    "bleu", "corpus_bleu", "chrf", "chrf++", "ter", "rouge1", "rouge2", "rougeL", "rougeLsum",
    "exact_match", "token_f1",
)  # fmt: skip


@pytest.fixture(scope="module")
def texts(shared_data):
    """400 WMT19 DARR lt-en outputs with their reference, then 64 SummEval summaries with 1 to
    11 references each (so items differ in reference count), shuffled with a fixed seed."""
    with open(shared_data / "scored" / "wmt19-darr" / "lt-en.json", encoding="utf-8") as fh:
        darr = list(json.load(fh).values())[:200]
    with open(shared_data / "scored" / "summeval" / "summeval.json", encoding="utf-8") as fh:
        docs = list(json.load(fh).values())[:4]
    hyps = [entry[side]["sys"] for entry in darr for side in ("better", "worse")]
    refs = [[entry["ref"]] for entry in darr for _ in ("better", "worse")]
    for doc in docs:
        for k, system in enumerate(sorted(doc["sys_summs"])):
            hyps.append(doc["sys_summs"][system]["sys_summ"])
            refs.append(list(doc["ref_summs"][: 1 + (k % 11)]))
    hyps.append(refs[0][0])  # an exact match, so exact_match has a 1 as well as 0s
    refs.append(refs[0])
    order = np.random.default_rng(16).permutation(len(hyps))
    return [hyps[i] for i in order], [refs[i] for i in order]


@pytest.fixture(autouse=True, scope="module")
def _stop_workers():
    yield
    parallel.shutdown_workers()


def _inputs(name: str, texts: tuple[list, list], n: int | None = None) -> tuple[list, list]:
    """The test input for one scorer: TER (seconds per long summary with 11 references) gets
    DARR sentences only."""
    hyps, refs = texts
    keep = range(len(hyps))
    if name == "ter":
        keep = [i for i in keep if len(refs[i]) == 1 and len(hyps[i]) < 200][:160]
    keep = list(keep)[:n]
    return [hyps[i] for i in keep], [refs[i] for i in keep]


def _assert_identical(one: mr.ScoreResult, many: mr.ScoreResult) -> None:
    assert one.scores.dtype == many.scores.dtype
    np.testing.assert_array_equal(many.scores, one.scores)
    assert list(many.details) == list(one.details)
    for key, values in one.details.items():
        assert many.details[key].dtype == values.dtype, key
        np.testing.assert_array_equal(many.details[key], values, err_msg=key)
    assert many.corpus_score == one.corpus_score  # exact: summed from identical statistics
    assert many.signature == one.signature  # n_jobs is score-neutral


@pytest.mark.parametrize("name", POOLED)
def test_pooled_scores_and_statistics_are_bit_identical(name, texts):
    hyps, refs = _inputs(name, texts)
    one = mr.get_scorer(name, n_jobs=1).score(hyps, references=refs)
    assert parallel.last_run.processes == 1
    many = mr.get_scorer(name, n_jobs=2).score(hyps, references=refs)
    run = parallel.last_run
    assert run.processes == 2 and run.chunks > 2  # which process took a chunk is up to timing
    _assert_identical(one, many)
    # varied values, so that a reordering would show
    assert len(set(one.scores.tolist())) > (1 if name == "exact_match" else 10)


@pytest.mark.parametrize("name", POOLED)
def test_a_worker_rebuilds_the_scorer_and_computes_the_same_rows(name, texts):
    """The whole input scored inside a worker process (no timing involved) equals the rows
    the calling process computes."""
    hyps, refs = _inputs(name, texts, 64)
    scorer = mr.get_scorer(name, n_jobs=2)
    method = (
        "_item_scores" if name in ("exact_match", "token_f1", "length_tokens") else "_item_rows"
    )
    columns = (hyps,) if name == "length_tokens" else (hyps, refs)
    cls = type(scorer)
    settings = tuple(sorted({**scorer.worker_settings(), "n_jobs": 1}.items()))
    recipe = parallel.Recipe(f"{cls.__module__}:{cls.__qualname__}", settings, method)
    pool = parallel._executor(1)
    remote = pool.submit(parallel._run_chunk, recipe, columns).result()
    assert remote == getattr(scorer, method)(*columns)
    assert pool.submit(os.getpid).result() != os.getpid()  # it really ran elsewhere


def test_pooled_scores_equal_sacrebleu_in_input_order(texts):
    hyps, refs = texts
    result = mr.get_scorer("chrf", n_jobs=2).score(hyps, references=refs)
    expected = [sacrebleu.sentence_chrf(h, r).score for h, r in zip(hyps, refs)]
    np.testing.assert_array_equal(result.scores, expected)
    streams = [[r[j] if j < len(r) else None for r in refs] for j in range(11)]
    assert result.corpus_score == sacrebleu.corpus_chrf(hyps, streams).score


def test_chunks_keep_input_order_and_cover_every_item():
    for n, processes in [(64, 2), (1000, 2), (1001, 3), (20_000, 2)]:
        bounds = parallel.chunk_bounds(n, processes)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert all(stop - start >= parallel.MIN_CHUNK for start, stop in bounds)
        assert len(bounds) <= processes * parallel.CHUNKS_PER_PROCESS


def test_automatic_n_jobs_uses_every_core_only_above_the_threshold(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 4)
    assert parallel.processes_for(None, 9_999, 10_000) == 1
    assert parallel.processes_for(None, 10_000, 10_000) == 4
    assert parallel.processes_for(1, 50_000, 10_000) == 1
    assert parallel.processes_for(3, 50, 10_000) == 1  # fewer items than two chunks' worth
    assert parallel.processes_for(3, 5_000, 10_000) == 3  # an explicit n_jobs is honoured


def test_no_pool_for_small_inputs(monkeypatch, texts):
    """Below each scorer's measured threshold the default scores in the calling process and
    never touches the pool."""

    def no_pool(workers):
        raise AssertionError("a worker pool was started for a small input")

    monkeypatch.setattr(parallel, "_executor", no_pool)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    for name in POOLED:
        scorer = mr.get_scorer(name)
        assert scorer.n_jobs is None
        hyps, refs = _inputs(name, texts, scorer.parallel_min_items - 1)
        scorer.score(hyps, references=refs)
        assert parallel.last_run.processes == 1, name
    # the demo's scorers on the built-in sample
    sample = mr.load_sample("reference")
    for name in ("bleu", "chrf", "ter", "rougeL", "token_f1"):
        mr.get_scorer(name).score(**record_inputs(sample))
        assert parallel.last_run.processes == 1, name


def test_the_default_pools_from_the_threshold_on(monkeypatch, texts):
    """TER's threshold is small enough to cross in a test: one item below it, one process;
    at it, every core (two here), with the same scores."""
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    scorer = mr.get_scorer("ter")
    hyps, refs = _inputs("ter", texts, scorer.parallel_min_items)
    assert len(hyps) == scorer.parallel_min_items
    below = scorer.score(hyps[:-1], references=refs[:-1])
    assert parallel.last_run.processes == 1
    at = scorer.score(hyps, references=refs)
    assert parallel.last_run.processes == 2
    np.testing.assert_array_equal(at.scores[:-1], below.scores)


def test_thresholds_are_set_per_metric():
    """Every pooled scorer declares its own measured threshold (see docs/benchmarks.md), and
    the runners' chunks are large enough to cross it."""
    from metricrm.core.batching import chunk_size_for

    floors = {name: mr.get_scorer(name).parallel_min_items for name in POOLED}
    assert all(isinstance(v, int) and v >= 100 for v in floors.values()), floors
    # costlier items pay off sooner; rouge-score's import makes ROUGE's threshold high
    assert floors["ter"] < floors["chrf"] < floors["bleu"] < floors["rougeL"] < floors["rouge1"]
    for name in POOLED:
        assert chunk_size_for(mr.get_scorer(name), None) >= floors[name]
        assert chunk_size_for(mr.get_scorer(name, n_jobs=1), None) == 256


def test_workers_are_reused_across_calls(texts):
    hyps, refs = texts
    scorer = mr.get_scorer("bleu", n_jobs=2)
    scorer.score(hyps, references=refs)
    pool = parallel._POOL
    scorer.score(hyps[::-1], references=refs[::-1])
    assert parallel._POOL is pool is not None


@pytest.mark.parametrize("value", [0, -1, 2.0, "2", True])
def test_bad_n_jobs_is_refused_with_the_scorer_name(value):
    for name in ("chrf", "rougeL", "token_f1"):
        with pytest.raises(ScorerConfigError, match=rf"^{name}: `n_jobs` must be an integer"):
            mr.get_scorer(name, n_jobs=value)


class Failing:
    """A scorer stand-in for the worker: fails on one item."""

    def __init__(self, n_jobs: int = 1) -> None:
        pass

    def rows(self, values: list[int]) -> list[int]:
        if 700 in values:
            raise ValueError("item 700 is bad")
        return [v * 2 for v in values]


def test_an_error_in_a_worker_reaches_the_caller():
    recipe = parallel.Recipe(f"{__name__}:Failing", (), "rows")
    local = Failing().rows
    assert parallel.run_chunks(local, recipe, [list(range(600))], 2) == list(range(0, 1200, 2))
    with pytest.raises(ValueError, match="item 700 is bad"):
        parallel.run_chunks(local, recipe, [list(range(1000))], 2)
    # the pool survives a failed chunk
    assert parallel.run_chunks(local, recipe, [list(range(600))], 2) == list(range(0, 1200, 2))


def test_script_without_main_guard_and_torch_imported_runs_once(tmp_path):
    """Workers start from a fresh interpreter (no fork of torch's threads) and never re-run the
    caller's script, so a script without ``if __name__ == "__main__":`` works, once."""
    script = tmp_path / "score_all.py"
    script.write_text(
        textwrap.dedent(
            """
            import torch
            torch.ones(64, 64) @ torch.ones(64, 64)  # torch's threads are running
            import metricrm as mr
            from metricrm.core import parallel
            hyps = [f"sentence number {i} about the cat" for i in range(400)]
            refs = [f"sentence {i} about a cat" for i in range(400)]
            many = mr.get_scorer("chrf", n_jobs=2).score(hyps, references=refs)
            one = mr.get_scorer("chrf", n_jobs=1).score(hyps, references=refs)
            assert parallel.last_run.processes == 1
            print("RUN", (many.scores == one.scores).all(), many.corpus_score == one.corpus_score)
            """
        )
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n").count("RUN True True") == 1, out.stdout
