"""Exact contracts of the score cache, the scorer base class and the input checks.

Written while reviewing mutation-testing survivors (docs/testing.md): each test pins a
documented behaviour (a value, a key, an error message naming scorer, item and what was
expected) that no other test stated.
"""

from __future__ import annotations

import json
import re
import sqlite3
from importlib import metadata

import numpy as np
import pytest

import metricrm as mr
from metricrm.core import cache as cache_module
from metricrm.core.batching import score_with_cache
from metricrm.core.cache import CacheStats, ScoreCache, default_cache_dir, item_key
from metricrm.core.errors import ScorerInputError, ScorerOutputError
from metricrm.core.types import BaseScorer, ScoreOutput, ScoreResult
from metricrm.core.validation import (
    check_not_empty,
    check_references,
    check_responses,
    check_scores,
    check_sequence,
    check_texts,
)

# ------------------------------------------------------------------------------- the cache


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("METRICRM_CACHE", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("METRICRM_CACHE", "~/elsewhere")
    assert default_cache_dir() == tmp_path / "home" / "elsewhere"
    monkeypatch.setenv("METRICRM_CACHE", "")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "metricrm"
    monkeypatch.delenv("METRICRM_CACHE")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "metricrm"


def test_item_key_is_the_sha256_of_the_json_inputs():
    import hashlib

    payload = json.dumps(["r é", [["a", "b"]], "p", "s"], ensure_ascii=False, sort_keys=True)
    assert item_key("r é", [["a", "b"]], "p", "s") == hashlib.sha256(payload.encode()).hexdigest()
    assert item_key("r") == item_key("r", None, None, None)
    # dict keys in any order (chat messages) give one key; values without a JSON form are
    # hashed through str() rather than refused
    assert item_key([{"role": "u", "content": "x"}]) == item_key([{"content": "x", "role": "u"}])
    assert item_key("r", None, None, np.int64(3)) == item_key("r", None, None, "3")


def test_cache_folder_file_and_default_folder(tmp_path, monkeypatch):
    cache = ScoreCache(tmp_path / "a" / "b")
    assert cache.folder == tmp_path / "a" / "b" and cache.path == cache.folder / "scores.sqlite"
    assert cache.path.is_file()
    con = sqlite3.connect(cache.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == [
        ("scores",)
    ]
    con.close()
    monkeypatch.setenv("METRICRM_CACHE", str(tmp_path / "default"))
    assert ScoreCache().path == tmp_path / "default" / "scores.sqlite"


def test_put_get_count_and_clear(tmp_path):
    cache = ScoreCache(tmp_path)
    rows = [
        (f"k{i}", i / 2, {"n": np.int64(i), "v": np.arange(2) + i, "f": np.float32(0.5)})
        for i in range(1200)
    ]
    cache.put_many("sig-a", rows)
    cache.put_many("sig-b", rows[:3])
    assert (cache.count(), cache.count("sig-a"), cache.count("sig-b")) == (1203, 1200, 3)
    # more keys than one SQL chunk (500), repeated and unknown keys
    keys = [f"k{i}" for i in range(1200)] + ["k5", "missing"]
    found = cache.get_many("sig-a", keys)
    assert len(found) == 1200 and "missing" not in found
    assert found["k7"] == (3.5, {"n": 7, "v": [7, 8], "f": 0.5})
    assert type(found["k7"][1]["n"]) is int
    assert cache.get_many("sig-b", ["k7"]) == {}
    cache.put_many("sig-b", [("k0", 9.0, {})])  # replaces, does not duplicate
    assert cache.get_many("sig-b", ["k0"]) == {"k0": (9.0, {})} and cache.count("sig-b") == 3
    cache.clear("sig-b")
    assert (cache.count(), cache.count("sig-b")) == (1200, 0)
    cache.clear()
    assert cache.count() == 0


def test_a_locked_cache_reports_the_file_and_the_wait(tmp_path, monkeypatch):
    ScoreCache(tmp_path)
    calls = []

    class Refusing:
        """A connection whose every statement fails with ``message``."""

        def __init__(self, message):
            self.message = message

        def execute(self, *args):
            calls.append(args)
            raise sqlite3.OperationalError(self.message)

        def close(self):
            pass

    monkeypatch.setattr(ScoreCache, "_connect", lambda self: Refusing("database is locked"))
    with pytest.raises(
        sqlite3.OperationalError,
        match=r"score cache .*scores\.sqlite: still locked by another process after 0\.2 s "
        r"\(database is locked\)",
    ):
        ScoreCache(tmp_path, timeout=0.2)
    assert len(calls) > 2  # retried

    calls.clear()
    monkeypatch.setattr(ScoreCache, "_connect", lambda self: Refusing("database is busy"))
    with pytest.raises(sqlite3.OperationalError, match=r"after 0\.1 s \(database is busy\)"):
        ScoreCache(tmp_path, timeout=0.1)
    assert len(calls) > 1
    calls.clear()
    monkeypatch.setattr(ScoreCache, "_connect", lambda self: Refusing("disk I/O error"))
    with pytest.raises(sqlite3.OperationalError, match="^disk I/O error$"):
        ScoreCache(tmp_path, timeout=5)
    assert len(calls) == 1  # not retried


def test_connections_wait_for_the_timeout(tmp_path):
    for cache, millis in ((ScoreCache(tmp_path, timeout=2.5), 2500), (ScoreCache(tmp_path), 60000)):
        con = cache._connect()
        try:
            assert con.execute("PRAGMA busy_timeout").fetchone()[0] == millis
        finally:
            con.close()


def test_to_jsonable_converts_numpy_values():
    assert (
        cache_module._to_jsonable(np.int32(3)) == 3
        and type(cache_module._to_jsonable(np.int32(3))) is int
    )
    assert cache_module._to_jsonable(np.array([[1, 2]])) == [[1, 2]]
    assert cache_module._to_jsonable("x") == "x"


def test_cached_result_equals_the_direct_result(tmp_path):
    """Scores, details (each key, in order), corpus score, name, signature and direction."""
    pytest.importorskip("sacrebleu")
    scorer = mr.get_scorer("ter")
    responses = ["the cat sat", "a dog", "the cat sat", "on the mat"]
    refs = [["the cat sat down", "a cat"], ["the dog"], ["the cat sat down", "a cat"], ["mat"]]
    direct = scorer.score(responses, references=refs)
    stats = CacheStats()
    first = score_with_cache(
        scorer, responses, references=refs, cache=ScoreCache(tmp_path), stats=stats,
        progress=False, chunk_size=1,
    )  # fmt: skip
    assert (stats.hits, stats.computed) == (0, 3)  # the repeated item is scored once
    again = score_with_cache(
        scorer, responses, references=refs, cache=ScoreCache(tmp_path), stats=stats,
        progress=False,
    )  # fmt: skip
    assert (stats.hits, stats.computed) == (4, 3)
    for result in (first, again):
        np.testing.assert_array_equal(result.scores, direct.scores)
        assert list(result.details) == list(direct.details)
        for key in direct.details:
            np.testing.assert_array_equal(result.details[key], direct.details[key])
        assert result.corpus_score == direct.corpus_score
        assert (result.name, result.signature) == (direct.name, direct.signature)
        assert result.higher_is_better is False


# ---------------------------------------------------------------------- the scorer base class


class _Echo(BaseScorer):
    """Scores the response length; details and failures on request."""

    name = "test_echo"
    backends = ("numpy",)

    def __init__(self, scale: float = 1.0, extra: str = "b", details=None, scores=None) -> None:
        self.scale, self.extra = scale, extra
        self._details, self._scores = details, scores
        self.seen: dict = {}

    def settings(self):
        return {"scale": self.scale, "extra": self.extra}

    def _score(self, responses, *, references, prompts, sources):
        self.seen = {"references": references, "prompts": prompts, "sources": sources}
        scores = [self.scale * len(r) for r in responses] if self._scores is None else self._scores
        return ScoreOutput(scores, self._details or {})


def test_signature_and_repr():
    scorer = _Echo(scale=2.0)
    version = metadata.version("metricrm")
    numpy_version = metadata.version("numpy")
    assert scorer.signature == (
        f"test_echo|metricrm:{version}|numpy:{numpy_version}|extra:b|scale:2.0"
    )
    assert repr(scorer) == "_Echo(name='test_echo', extra='b', scale=2.0)"

    class Bare(BaseScorer):
        name = "bare"

        def _score(self, responses, *, references, prompts, sources):
            return ScoreOutput([0.0] * len(responses))

    assert repr(Bare()) == "Bare(name='bare')"
    assert Bare().signature == f"bare|metricrm:{version}"
    assert Bare().corpus_from_details({}) is None
    result = Bare().score(["x"])
    assert result.corpus_score is None and result.details == {}
    assert result.higher_is_better is True and result.name == "bare"


def test_score_passes_clean_inputs_and_builds_the_result():
    scorer = _Echo(details={"double": [2, 4], "word": ["a", "b"]})
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    result = scorer.score(
        ["ab", [{"role": "assistant", "content": "abcd"}]],
        references=["r", ("s", "t")],
        prompts=["p", messages],
        sources=["src", "s2"],
    )
    assert scorer.seen == {
        "references": [["r"], ["s", "t"]],
        "prompts": ["p", "user: hi\n\nassistant: yo"],
        "sources": ["src", "s2"],
    }
    np.testing.assert_array_equal(result.scores, [2.0, 4.0])
    assert result.scores.dtype == np.float64
    assert list(result.details) == ["double", "word"]
    assert result.details["word"].tolist() == ["a", "b"]
    assert len(result) == 2 and result.mean() == 3.0
    assert result.signature == scorer.signature and result.name == "test_echo"

    class Keep(_Echo):
        keep_prompt_messages = True

    keep = Keep()
    keep.score(["ab", "cd"], prompts=["p", messages])
    assert keep.seen["prompts"] == ["p", messages]
    assert keep.seen["references"] is None and keep.seen["sources"] is None


def test_required_inputs_and_output_checks():
    class NeedsRefs(_Echo):
        requires_references = True

    class NeedsPrompts(_Echo):
        requires_prompts = True

    with pytest.raises(
        ScorerInputError, match=r"^test_echo: expected `references` \(one or more per response\); "
    ):
        NeedsRefs().score(["a"])
    with pytest.raises(
        ScorerInputError, match=r"^test_echo: expected `prompts` \(one per response\); got none$"
    ):
        NeedsPrompts().score(["a"])
    with pytest.raises(
        ScorerOutputError, match=r"^test_echo: detail 'd' has 1 values for 2 responses$"
    ):
        _Echo(details={"d": [1.0]}).score(["a", "b"])
    with pytest.raises(
        ScorerOutputError, match=r"^test_echo: backend returned 3 scores for 2 responses$"
    ):
        _Echo(scores=[1, 2, 3]).score(["a", "b"])
    with pytest.raises(ScorerInputError, match=r"^test_echo: expected at least one response"):
        _Echo().score([])
    plain = _Echo()  # inputs not given reach the backend as None, not as an empty value
    plain.score(["a"])
    assert plain.seen == {"references": None, "prompts": None, "sources": None}
    for argument in ("references", "prompts", "sources"):  # the scorer names itself
        with pytest.raises(
            ScorerInputError,
            match=rf"^test_echo: expected `{argument}` to have one entry per response "
            rf"\(got 2 responses, 1 {argument}\)$",
        ):
            _Echo().score(["a", "b"], **{argument: ["x"]})


def test_corpus_score_comes_from_the_details():
    class Summed(_Echo):
        def corpus_from_details(self, details):
            return np.int64(details["n"].sum())

    result = Summed(details={"n": [1, 2, 3]}).score(["a", "b", "c"])
    assert result.corpus_score == 6.0 and type(result.corpus_score) is float


def test_score_result_frame():
    result = ScoreResult("s", np.array([1.0, 3.0]), False, "sig", {"a": np.array([5, 6])})
    frame = result.to_frame()
    assert frame.to_dict("list") == {"s": [1.0, 3.0], "s.a": [5, 6]}
    assert len(result) == 2 and result.mean() == 2.0 and result.corpus_score is None


# ---------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("value", [None, "text", b"bytes", 3, object()])
def test_check_sequence_refuses_non_lists(value):
    expected = (
        f"who: expected `things` to be a list with one entry per response "
        f"(got {type(value).__name__})"
    )
    with pytest.raises(ScorerInputError, match=f"^{re.escape(expected)}$"):
        check_sequence("who", "things", value)


def test_check_sequence_returns_a_list():
    assert check_sequence("who", "x", ("a", "b")) == ["a", "b"]
    assert check_sequence("who", "x", np.array([1, 2])) == [1, 2]


def test_check_responses_messages_and_long_values():
    long = "z" * 80
    expected = (
        "who: response 1 must be a string or a list of chat messages "
        f"(got list: {repr([long])[:57]}...)"
    )
    with pytest.raises(ScorerInputError, match=f"^{re.escape(expected)}$"):
        check_responses("who", ["ok", [long]])
    short = ["ok", 12]
    with pytest.raises(ScorerInputError, match=r"^who: response 1 must be .* \(got int: 12\)$"):
        check_responses("who", short)
    exact = "y" * 56  # the list's repr is 60 characters: shown whole
    with pytest.raises(ScorerInputError, match=re.escape(f"(got list: {[exact]!r})")):
        check_responses("who", [[exact]])
    over = "y" * 57  # 61 characters: cut to 57 and "..."
    with pytest.raises(ScorerInputError, match=re.escape(f"(got list: {repr([over])[:57]}...)")):
        check_responses("who", [[over]])
    with pytest.raises(
        ScorerInputError, match=r"^who: response 0 is empty; expected non-empty text$"
    ):
        check_responses("who", [" \n"])
    assert check_responses("who", [" \n", ""], allow_empty_text=True) == [" \n", ""]
    assert check_responses("who", [[{"role": "assistant", "content": "a"}]]) == ["a"]


def test_check_references_messages():
    assert check_references("who", ["a", ["b", "c"], ("d",)], 3) == [["a"], ["b", "c"], ["d"]]
    with pytest.raises(
        ScorerInputError,
        match=r"^who: expected `references` to have one entry per response "
        r"\(got 3 responses, 2 references\)$",
    ):
        check_references("who", ["a", "b"], 3)
    for bad, kind in ((None, "NoneType"), (b"x", "bytes"), (5, "int")):
        with pytest.raises(
            ScorerInputError,
            match=rf"^who: references for item 1 must be a string or a list of strings "
            rf"\(got {kind}\)$",
        ):
            check_references("who", ["a", bad], 2)
    with pytest.raises(
        ScorerInputError, match=r"^who: item 0 has no reference; expected at least one$"
    ):
        check_references("who", [[]], 1)
    with pytest.raises(
        ScorerInputError, match=r"^who: reference 1 of item 0 must be a string \(got int: 3\)$"
    ):
        check_references("who", [["a", 3]], 1)
    for value in (None, "one reference for all"):  # the argument is named in the message
        expected = (
            "who: expected `references` to be a list with one entry per response "
            f"(got {type(value).__name__})"
        )
        with pytest.raises(ScorerInputError, match=f"^{re.escape(expected)}$"):
            check_references("who", value, 1)


@pytest.mark.parametrize(
    ("argument", "singular"), [("prompts", "prompt"), ("sources", "source"), ("context", "context")]
)
def test_check_texts_messages(argument, singular):
    with pytest.raises(
        ScorerInputError,
        match=rf"^who: expected `{argument}` to have one entry per response "
        rf"\(got 2 responses, 1 {argument}\)$",
    ):
        check_texts("who", argument, ["a"], 2)
    with pytest.raises(
        ScorerInputError,
        match=rf"^who: {singular} 1 must be a string or a list of chat messages "
        r"\(got float: 2\.5\)$",
    ):
        check_texts("who", argument, ["a", 2.5], 2)
    with pytest.raises(ScorerInputError, match=rf"^who: expected `{argument}` to be a list"):
        check_texts("who", argument, "a", 1)
    messages = [{"role": "user", "content": "q"}]
    assert check_texts("who", argument, ["a", messages], 2) == ["a", "q"]
    kept = check_texts("who", argument, ["a", messages], 2, flatten=False)
    assert kept == ["a", messages] and kept[1] is not messages


def test_check_scores_messages():
    np.testing.assert_array_equal(check_scores("who", [[1], [2]], 2), [1.0, 2.0])
    # whatever the backend's type (ints, float32, numeric strings), the result is float64
    for given in ([1, 2], np.array([0.1, 2.0], dtype=np.float32), ["0.5", "2"]):
        out = check_scores("who", given, 2)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, np.asarray(given, dtype=np.float64))
    with pytest.raises(
        ScorerOutputError,
        match=r"^who: backend returned a non-finite score \(inf\) for item 1; "
        r"expected a finite number$",
    ):
        check_scores("who", [0.0, np.inf, 1.0], 3)
    with pytest.raises(ScorerOutputError, match=r"\(nan\) for item 0 and 2 more; expected"):
        check_scores("who", [np.nan, np.nan, -np.inf], 3)
    with pytest.raises(ScorerInputError, match=r"^who: expected at least one response"):
        check_not_empty("who", 0)
    check_not_empty("who", 1)
