"""The persistent score cache: reuse, interruption, concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.batching import PartialScoringError, score_with_cache
from metricrm.core.cache import CacheStats, ScoreCache

RESPONSES = [f"response number {i} with some words" for i in range(50)]
REFERENCES = [[f"reference {i} with words"] for i in range(50)]


class _Counting(mr.BaseScorer):
    """Token F1 that counts how many items it scored and can fail on a marked item."""

    name = "counting"
    requires_references = True

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.scored = 0
        self._inner = mr.get_scorer("token_f1")

    def _score(self, responses, *, references, prompts, sources):
        if self.fail_on in responses:
            raise RuntimeError("backend crashed")
        self.scored += len(responses)
        return mr.ScoreOutput(self._inner.score(responses, references=references).scores)


def test_second_run_computes_nothing_and_is_identical(tmp_path):
    cache = ScoreCache(tmp_path)
    scorer = _Counting()
    first_stats, second_stats = CacheStats(), CacheStats()
    first = score_with_cache(
        scorer,
        RESPONSES,
        references=REFERENCES,
        cache=cache,
        stats=first_stats,
        chunk_size=7,
        progress=False,
    )
    assert (first_stats.hits, first_stats.computed, scorer.scored) == (0, 50, 50)
    second = score_with_cache(
        scorer,
        RESPONSES,
        references=REFERENCES,
        cache=cache,
        stats=second_stats,
        chunk_size=7,
        progress=False,
    )
    assert (second_stats.hits, second_stats.computed, scorer.scored) == (50, 0, 50)
    np.testing.assert_array_equal(first.scores, second.scores)
    direct = mr.get_scorer("token_f1").score(RESPONSES, references=REFERENCES).scores
    np.testing.assert_array_equal(second.scores, direct)


def test_corpus_score_and_details_survive_the_cache(tmp_path):
    pytest.importorskip("sacrebleu")
    cache = ScoreCache(tmp_path)
    scorer = mr.get_scorer("chrf")
    direct = scorer.score(RESPONSES, references=REFERENCES)
    score_with_cache(
        scorer, RESPONSES[:20], references=REFERENCES[:20], cache=cache, progress=False
    )
    cached = score_with_cache(scorer, RESPONSES, references=REFERENCES, cache=cache, progress=False)
    np.testing.assert_array_equal(cached.scores, direct.scores)
    assert cached.corpus_score == pytest.approx(direct.corpus_score, abs=1e-12)


def test_settings_change_the_key(tmp_path):
    pytest.importorskip("sacrebleu")
    cache = ScoreCache(tmp_path)
    a, b = mr.get_scorer("chrf"), mr.get_scorer("chrf", beta=1)
    ra = score_with_cache(a, RESPONSES, references=REFERENCES, cache=cache, progress=False)
    stats = CacheStats()
    rb = score_with_cache(
        b, RESPONSES, references=REFERENCES, cache=cache, stats=stats, progress=False
    )
    assert stats.computed == 50
    assert not np.array_equal(ra.scores, rb.scores)


def test_failure_part_way_keeps_finished_chunks(tmp_path):
    cache = ScoreCache(tmp_path)
    failing = _Counting(fail_on=RESPONSES[23])
    with pytest.raises(PartialScoringError, match=r"counting: scoring failed .*backend crashed"):
        score_with_cache(
            failing, RESPONSES, references=REFERENCES, cache=cache, chunk_size=10, progress=False
        )
    assert cache.count() == 20
    resumed, stats = _Counting(), CacheStats()
    result = score_with_cache(
        resumed,
        RESPONSES,
        references=REFERENCES,
        cache=cache,
        stats=stats,
        chunk_size=10,
        progress=False,
    )
    assert (stats.hits, stats.computed, resumed.scored) == (20, 30, 30)
    direct = mr.get_scorer("token_f1").score(RESPONSES, references=REFERENCES).scores
    np.testing.assert_array_equal(result.scores, direct)


_KILLABLE = textwrap.dedent("""
    import sys, time
    import metricrm as mr
    from metricrm.core.batching import score_with_cache
    from metricrm.core.cache import ScoreCache

    class Slow(mr.BaseScorer):
        name = "slow"
        def _score(self, responses, *, references, prompts, sources):
            time.sleep(0.3)
            return mr.ScoreOutput([len(r) for r in responses])

    responses = [f"item {i}" for i in range(40)]
    score_with_cache(Slow(), responses, cache=ScoreCache(sys.argv[1]), chunk_size=4, progress=False)
""")


def test_killed_run_resumes_with_only_the_rest(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_KILLABLE)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache")])
    cache_path = tmp_path / "cache" / "scores.sqlite"
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline:
        if cache_path.exists():
            done = ScoreCache(tmp_path / "cache").count()
            if done >= 12:
                break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = ScoreCache(tmp_path / "cache").count()
    assert 12 <= done < 40, "the run should have been killed part-way"
    rerun = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLABLE.replace("time.sleep(0.3)", "print(len(responses), flush=True)"),
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    recomputed = sum(int(line) for line in rerun.stdout.split())
    assert recomputed == 40 - done
    assert ScoreCache(tmp_path / "cache").count() == 40


def _writer(args):
    folder, worker = args
    cache = ScoreCache(folder)
    scorer = mr.get_scorer("length_chars")
    responses = [f"shared item {i}" for i in range(200)] + [
        f"own item {worker} {i}" for i in range(50)
    ]
    return score_with_cache(
        scorer, responses, cache=cache, chunk_size=10, progress=False
    ).scores.tolist()


def test_concurrent_writers_do_not_corrupt(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_writer, [(str(tmp_path), w) for w in range(4)])
    for worker, scores in enumerate(results):
        expected = [len(f"shared item {i}") for i in range(200)] + [
            len(f"own item {worker} {i}") for i in range(50)
        ]
        assert scores == expected
    cache = ScoreCache(tmp_path)
    assert cache.count() == 200 + 4 * 50
    con = sqlite3.connect(cache.path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_many_connections_racing_to_create_one_cache(tmp_path):
    """Eight openers on a fresh file at once: the WAL switch can refuse without waiting."""
    import threading

    failures = []
    for attempt in range(150):
        folder = tmp_path / str(attempt)
        barrier = threading.Barrier(8)

        def open_cache():
            barrier.wait()  # noqa: B023 (each thread runs within its own iteration)
            try:
                ScoreCache(folder, timeout=10)  # noqa: B023
            except sqlite3.OperationalError as error:
                failures.append(error)

        threads = [threading.Thread(target=open_cache) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    con = sqlite3.connect(tmp_path / "0" / "scores.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_the_key_holds_only_the_inputs_a_scorer_uses(tmp_path):
    """chrF ignores sources: scoring the same items with another source hits the cache (it used
    to recompute them); a prompt-using scorer keeps one entry per prompt."""
    cache = ScoreCache(tmp_path)
    chrf = mr.get_scorer("chrf")
    stats = CacheStats()
    kwargs = dict(references=[["a cat"], ["a dog"]], cache=cache, progress=False, stats=stats)
    score_with_cache(chrf, ["a cat", "the dog"], sources=["x", "y"], **kwargs)
    score_with_cache(chrf, ["a cat", "the dog"], sources=["other", "sources"], **kwargs)
    assert (stats.hits, stats.computed) == (2, 2)

    class PromptLength(mr.BaseScorer):
        name = "prompt_length"
        uses_inputs = frozenset({"prompts"})

        def _score(self, responses, *, references, prompts, sources):
            return mr.ScoreOutput([len(p) for p in prompts])

    judge, stats = PromptLength(), CacheStats()
    first = score_with_cache(judge, ["same"], prompts=["short"], cache=cache, progress=False)
    second = score_with_cache(
        judge, ["same"], prompts=["a longer prompt"], cache=cache, progress=False, stats=stats
    )
    assert first.scores[0] == 5 and second.scores[0] == len("a longer prompt")
    assert (stats.hits, stats.computed) == (0, 1)


def test_model_scorers_write_small_chunks_and_count_distinct_items(tmp_path):
    """An interrupt keeps every finished chunk, so expensive scorers ask for small ones; the
    count of newly scored items counts each distinct item once."""

    class Slow(mr.BaseScorer):
        name = "slow"
        uses_inputs = frozenset()
        preferred_chunk_size = 2
        calls: list = []

        def _score(self, responses, *, references, prompts, sources):
            type(self).calls.append(len(responses))
            return mr.ScoreOutput([len(r) for r in responses])

    stats = CacheStats()
    score_with_cache(
        Slow(), ["a", "bb", "a", "ccc", "dd"], cache=ScoreCache(tmp_path), progress=False,
        stats=stats,
    )  # fmt: skip
    assert Slow.calls == [2, 2] and stats.computed == 4 and stats.hits == 0


def test_resolve_cache_reads_every_form_of_the_cache_argument(tmp_path):
    from metricrm.core.cache import ScoreCache, resolve_cache
    from metricrm.core.errors import ScorerConfigError

    assert resolve_cache(False, "x") is None
    given = ScoreCache(tmp_path / "given")
    assert resolve_cache(given, "x") is given
    folder = resolve_cache(str(tmp_path / "folder"), "x")
    assert isinstance(folder, ScoreCache) and folder.path.parent == tmp_path / "folder"
    for default in (None, True):
        assert resolve_cache(default, "x").path == ScoreCache().path
    with pytest.raises(ScorerConfigError) as err:
        resolve_cache(3, "probe")
    assert str(err.value) == (
        "probe: `cache` must be a ScoreCache, a folder, None (default folder) or False (got int)"
    )


def test_score_with_cache_and_score_pairs_read_the_cache_argument(tmp_path):
    """False scores without a cache (nothing written), a folder is a cache there, and any
    other value is a clear error naming the function (it was an AttributeError)."""
    from metricrm.core.errors import ScorerConfigError

    folder = tmp_path / "folder"
    scorer = _Counting()
    stats = CacheStats()
    plain = score_with_cache(scorer, RESPONSES, references=REFERENCES, cache=False,
                             progress=False, stats=stats)  # fmt: skip
    assert scorer.scored == 50 and stats.computed == 50 and not folder.exists()
    first = score_with_cache(scorer, RESPONSES, references=REFERENCES, cache=str(folder),
                             progress=False)  # fmt: skip
    again = score_with_cache(scorer, RESPONSES, references=REFERENCES, cache=folder,
                             progress=False)  # fmt: skip
    assert scorer.scored == 100  # the second call with the folder read its scores back
    assert np.array_equal(plain.scores, first.scores) and np.array_equal(first.scores, again.scores)

    pairs = mr.load_sample("preference")
    length = mr.get_scorer("length_chars")
    for cache in (False, None):
        both = mr.score_pairs(length, pairs, cache=cache, progress=False)
        assert np.array_equal(both.chosen, [len(p.chosen) for p in pairs])
    cached = mr.score_pairs(length, pairs, cache=str(tmp_path / "pairs"), progress=False)
    assert np.array_equal(cached.rejected, [len(p.rejected) for p in pairs])
    assert ScoreCache(tmp_path / "pairs").path.is_file()
    for call in (
        lambda: score_with_cache(scorer, RESPONSES, references=REFERENCES, cache=3),
        lambda: mr.score_pairs(length, pairs, cache=3),
    ):
        with pytest.raises(ScorerConfigError, match=r"`cache` must be a ScoreCache.*\(got int\)"):
            call()
