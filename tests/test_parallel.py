"""The classic metrics on several processes: scores, statistics, order and corpus scores
bit-identical to one process; no pool for small inputs; errors from workers reach the caller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
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
    with open(shared_data / "scored" / "wmt19-darr" / "lt-en.json", encoding="utf-8") as fh:
        more = list(json.load(fh).values())[:1000]
    short = {e[s]["sys"]: e["ref"] for e in more for s in ("better", "worse")}
    _TER_ITEMS[:] = [(h, [r]) for h, r in short.items() if len(h) < 200][:160]
    return [hyps[i] for i in order], [refs[i] for i in order]


#: TER's input (filled by ``texts``): 160 distinct DARR sentences under 200 characters. TER costs
#: seconds per long summary with 11 references, and repeated items are scored once, so the
#: pool needs distinct short ones.
_TER_ITEMS: list[tuple[str, list[str]]] = []


@pytest.fixture(autouse=True, scope="module")
def _stop_workers():
    yield
    parallel.shutdown_workers()


def _inputs(name: str, texts: tuple[list, list], n: int | None = None) -> tuple[list, list]:
    """The test input for one scorer (TER: ``_TER_ITEMS``)."""
    hyps, refs = texts
    if name == "ter":
        hyps, refs = [h for h, _ in _TER_ITEMS], [r for _, r in _TER_ITEMS]
    return hyps[:n], refs[:n]


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


def test_chunks_from_both_ends_cover_every_item_once_and_shrink_where_they_meet():
    rng = np.random.default_rng(7)
    for n, processes in [(64, 2), (1000, 2), (1001, 3), (20_000, 2), (20_000, 8)]:
        for _ in range(5):
            split = parallel.ChunkSplit(n, processes)
            taken = []
            while (bounds := split.front() if rng.random() < 0.5 else split.back()) is not None:
                taken.append(bounds)
            covered = sorted(i for start, stop in taken for i in range(start, stop))
            assert covered == list(range(n))  # every item once
            sizes = [stop - start for start, stop in taken]
            assert all(size >= parallel.MIN_CHUNK for size in sizes[:-1])
            assert sizes[-1] <= parallel.MIN_CHUNK  # the chunks where the ends meet are small
            assert sizes[0] == max(parallel.MIN_CHUNK, -(-n // (parallel.SHARE * processes)))
            # each chunk a share of what was left: a few dozen chunks, not one per item
            assert len(taken) <= 2 * parallel.SHARE * processes * (1 + np.log(n))


class Recording(parallel.ParallelItems):
    """A per-item function that records the rows it is given (in this process)."""

    parallel_min_items = 10**9

    def __init__(self, n_jobs: int | None = 1) -> None:
        self.n_jobs = n_jobs
        self.seen: list[tuple] = []

    def settings(self) -> dict:
        return {}

    def rows(self, hyps: list[str], refs: list[list[str]]) -> list[tuple]:
        self.seen += [(h, tuple(r)) for h, r in zip(hyps, refs)]
        return [(h.upper(), len(r), r[-1]) for h, r in zip(hyps, refs)]


def test_each_distinct_item_is_scored_once_and_every_item_gets_its_row():
    hyps = ["a", "b", "a", "a", "b", "c", "a"]
    refs = [["x"], ["x"], ["x"], ["x", "y"], ["x"], ["x"], ["y"]]
    stand_in = Recording()
    got = stand_in.map_items("rows", hyps, refs)
    assert got == [(h.upper(), len(r), r[-1]) for h, r in zip(hyps, refs)]
    # the same response with other references is another item; each distinct item once
    assert stand_in.seen == [("a", ("x",)), ("b", ("x",)), ("a", ("x", "y")), ("c", ("x",)),
                             ("a", ("y",))]  # fmt: skip
    assert (parallel.last_run.items, parallel.last_run.distinct) == (7, 5)
    assert parallel.distinct_rows([hyps, refs]) == ([0, 1, 3, 5, 6], [0, 1, 0, 2, 1, 3, 4])
    unhashable = [{"a": 1}, {"a": 1}]
    assert parallel.distinct_rows([unhashable]) == ([0, 1], [0, 1])


@pytest.mark.parametrize("name", ["bleu", "chrf", "chrf++", "ter"])
def test_repeated_items_and_shared_references_equal_sacrebleu_item_by_item(name, texts):
    """Relative-ranking data repeats each translation; WMT systems share each reference. Every
    item, pooled or not, still equals sacrebleu's own ``sentence_score``, including items that
    share a first reference but not the second, and a response repeated with other references."""
    hyps, refs = _inputs(name, texts, 120)
    hyps = hyps + hyps[:40] + hyps[:20] + hyps[:20]
    refs = refs + refs[:40] + [[r[0], hyps[-i - 1]] for i, r in enumerate(refs[:20])]
    refs = refs + [[refs[-1][0]] for _ in range(20)]
    metric = {
        "bleu": sacrebleu.metrics.BLEU(effective_order=True),
        "chrf": sacrebleu.metrics.CHRF(),
        "chrf++": sacrebleu.metrics.CHRF(word_order=2),
        "ter": sacrebleu.metrics.TER(),
    }[name]
    expected = [metric.sentence_score(h, r).score for h, r in zip(hyps, refs)]
    for n_jobs in (1, 2):
        got = mr.get_scorer(name, n_jobs=n_jobs).score(hyps, references=refs).scores
        np.testing.assert_array_equal(got, expected, err_msg=f"{name}, n_jobs={n_jobs}")
        assert parallel.last_run.items == len(hyps) > parallel.last_run.distinct


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
    # costlier items pay off sooner; rouge-score's import makes ROUGE's threshold high, and
    # ROUGE-L's bit-parallel LCS is the cheapest ROUGE per item
    assert floors["ter"] < floors["chrf"] < floors["bleu"] < floors["rougeLsum"]
    assert floors["rougeLsum"] < floors["rouge1"] < floors["rougeL"]
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


# -- against the reference libraries, order and chunking ---------------------------------------


def _library_rows(name: str, hyps: list[str], refs: list[list[str]]) -> tuple[list, float | None]:
    """The reference library in a plain loop (its metric object created once): per-item scores
    (ROUGE: its (fmeasure, precision, recall)), and sacrebleu's corpus score over reference
    streams padded with None."""
    if name.startswith("rouge"):
        from rouge_score.rouge_scorer import RougeScorer

        lib = RougeScorer([name])
        best = [
            (lib.score(r[0], h) if len(r) == 1 else lib.score_multi(r, h))[name]
            for h, r in zip(hyps, refs)
        ]
        return [(s.fmeasure, s.precision, s.recall) for s in best], None
    from sacrebleu.metrics import BLEU, CHRF, TER

    metric = {
        "bleu": BLEU(effective_order=True),
        "corpus_bleu": BLEU(),
        "chrf": CHRF(),
        "chrf++": CHRF(word_order=2),
        "ter": TER(),
    }[name]
    scores = [metric.sentence_score(h, r).score for h, r in zip(hyps, refs)]
    if name == "bleu":
        return scores, None
    streams = [[r[j] if j < len(r) else None for r in refs] for j in range(max(map(len, refs)))]
    return scores, metric.corpus_score(hyps, streams).score


LIBRARY = (
    "bleu",
    "corpus_bleu",
    "chrf",
    "chrf++",
    "ter",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
)


@pytest.mark.parametrize("name", LIBRARY)
def test_pooled_scores_equal_the_library_loop(name, texts):
    """Two processes, items with 1 to 11 references: every score equals the library's own loop
    bit for bit, in input order, and so does the corpus score from the summed statistics."""
    hyps, refs = _inputs(name, texts)
    result = mr.get_scorer(name, n_jobs=2).score(hyps, references=refs)
    assert parallel.last_run.processes == 2
    expected, corpus = _library_rows(name, hyps, refs)
    if name.startswith("rouge"):
        for j, key in enumerate(("fmeasure", "precision", "recall")):
            np.testing.assert_array_equal(result.details[key], [e[j] for e in expected], key)
        np.testing.assert_array_equal(result.scores, result.details["fmeasure"])
    else:
        np.testing.assert_array_equal(result.scores, expected)
    assert result.corpus_score == corpus


@pytest.mark.parametrize("name", POOLED)
def test_pooled_scores_follow_a_permutation_and_ignore_chunking(name, texts):
    """Shuffled input gives the shuffled scores; the score cache's chunks (each large enough to
    pool) give the one-process scores and corpus score, bit for bit."""
    hyps, refs = _inputs(name, texts)
    one = mr.get_scorer(name, n_jobs=1).score(hyps, references=refs)
    scorer = mr.get_scorer(name, n_jobs=2)
    perm = np.random.default_rng(7).permutation(len(hyps))
    shuffled = scorer.score([hyps[i] for i in perm], references=[refs[i] for i in perm])
    assert parallel.last_run.processes == 2
    np.testing.assert_array_equal(shuffled.scores, one.scores[perm])
    for key, values in one.details.items():
        np.testing.assert_array_equal(shuffled.details[key], values[perm], err_msg=key)
    for chunk in (70, 150):
        chunked = mr.score_in_chunks(
            scorer, hyps, references=refs, chunk_size=chunk, progress=False
        )
        np.testing.assert_array_equal(chunked.scores, one.scores)
        assert set(chunked.details) == set(one.details)  # the runner may list them in another order
        for key, values in one.details.items():
            np.testing.assert_array_equal(chunked.details[key], values, err_msg=key)
        assert chunked.corpus_score == one.corpus_score


# -- the pool's life: shutdown, exit, a dead worker --------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_shutdown_stops_every_worker_and_the_next_call_starts_afresh(texts):
    hyps, refs = _inputs("chrf", texts)
    scorer = mr.get_scorer("chrf", n_jobs=2)
    first = scorer.score(hyps, references=refs)
    pool = parallel._POOL
    assert pool is not None
    workers = list(pool._processes)
    assert workers and all(_alive(pid) for pid in workers)
    parallel.shutdown_workers()
    assert parallel._POOL is None
    assert not any(_alive(pid) for pid in workers)
    parallel.shutdown_workers()  # a second call is harmless
    again = scorer.score(hyps, references=refs)
    assert parallel._POOL is not None and not set(parallel._POOL._processes) & set(workers)
    _assert_identical(first, again)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_script_that_leaves_workers_running_exits_cleanly(tmp_path):
    """No shutdown call: the script still exits at once with status 0, prints no warning (no
    leaked semaphores, no traceback), and its workers and forkserver do not outlive it."""
    script = tmp_path / "leave_workers.py"
    script.write_text(
        textwrap.dedent(
            """
            import metricrm as mr
            from metricrm.core import parallel
            from multiprocessing import forkserver
            hyps = [f"sentence number {i} about the cat" for i in range(400)]
            refs = [f"sentence {i} about a cat" for i in range(400)]
            mr.get_scorer("chrf", n_jobs=2).score(hyps, references=refs)
            server = getattr(forkserver._forkserver, "_forkserver_pid", None)
            pids = list(parallel._POOL._processes) + ([server] if server else [])
            print("PIDS", *pids)
            """
        )
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    pids = [int(p) for p in out.stdout.split("PIDS", 1)[1].split()]
    assert len(pids) >= 1
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "worker processes outlived the script"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_end_when_the_calling_process_is_killed(tmp_path):
    """A caller killed by a signal cannot stop its pool: the workers notice and exit, so they
    and the forkserver they keep alive do not wait forever."""
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal
            import metricrm as mr
            from metricrm.core import parallel
            from multiprocessing import forkserver
            hyps = [f"sentence number {i} about the cat" for i in range(400)]
            refs = [f"sentence {i} about a cat" for i in range(400)]
            mr.get_scorer("chrf", n_jobs=2).score(hyps, references=refs)
            server = getattr(forkserver._forkserver, "_forkserver_pid", None)
            pids = list(parallel._POOL._processes) + ([server] if server else [])
            print("PIDS", *pids, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    log = tmp_path / "out.txt"  # a file, not a pipe: orphans holding it must not block the test
    with open(log, "w", encoding="utf-8") as fh:
        code = subprocess.run(
            [sys.executable, str(script)], stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=120
        ).returncode
    text = log.read_text(encoding="utf-8")
    assert code == -9, text
    # the resource tracker may warn about the killed caller's semaphores: read the PIDS line only
    line = next(x for x in text.splitlines() if x.startswith("PIDS "))
    pids = [int(p) for p in line.split()[1:]]
    assert len(pids) >= 1
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for pid in left:  # do not leave them behind if the test fails
        os.kill(pid, 9)
    assert not left, "worker processes outlived the killed caller"


class Dying:
    """A scorer stand-in whose worker copy dies (as if killed) on its first chunk."""

    def __init__(self, n_jobs: int = 1) -> None:
        pass

    def rows(self, values: list[int]) -> list[int]:
        if parallel._IN_WORKER:
            os._exit(3)
        time.sleep(0.05)  # the caller is slower than a warm worker: the worker gets a chunk
        return [v + 1 for v in values]


def test_a_dead_worker_raises_a_clear_error_and_the_pool_is_rebuilt():
    parallel._executor(1).submit(os.getpid).result()  # a warm worker, ready for chunks
    recipe = parallel.Recipe(f"{__name__}:Dying", (), "rows")
    with pytest.raises(
        parallel.WorkerProcessError, match=r"Dying: a worker process died.*n_jobs=1"
    ):
        parallel.run_chunks(Dying().rows, recipe, [list(range(1000))], 2)
    assert parallel._POOL is None  # reset
    recipe = parallel.Recipe(f"{__name__}:Failing", (), "rows")
    assert parallel.run_chunks(Failing().rows, recipe, [list(range(600))], 2) == list(
        range(0, 1200, 2)
    )


class Held:
    """A stand-in whose worker copy holds its chunk until the test releases it, and whose
    caller copy fails once the worker has started."""

    def __init__(self, folder: str, n_jobs: int = 1) -> None:
        self.folder = Path(folder)

    def rows(self, values: list[int]) -> list[int]:
        if parallel._IN_WORKER:
            (self.folder / "worker_started").touch()
            deadline = time.monotonic() + 60
            while not (self.folder / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            (self.folder / "worker_done").touch()
            return values
        while not (self.folder / "worker_started").exists():
            time.sleep(0.02)
        raise ValueError("the caller's chunk is bad")


def test_an_error_in_the_caller_does_not_wait_for_the_workers_chunk(tmp_path):
    """The caller's error is raised while a worker still holds its chunk (Ctrl-C alike): it
    does not wait for work whose result it will drop."""
    recipe = parallel.Recipe(f"{__name__}:Held", (("folder", str(tmp_path)),), "rows")
    with pytest.raises(ValueError, match="the caller's chunk is bad"):
        parallel.run_chunks(Held(str(tmp_path)).rows, recipe, [list(range(1000))], 2)
    assert not (tmp_path / "worker_done").exists()
    (tmp_path / "release").touch()
    deadline = time.monotonic() + 60  # let the worker finish before the next test uses it
    while not (tmp_path / "worker_done").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "worker_done").exists()
