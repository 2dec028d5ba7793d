"""Property tests (hypothesis) for the cheap scorers on generated inputs: unicode, whitespace,
very long texts, several references per item.

The registry-wide tests (test_common.py) state the same properties on one fixed input; here
hypothesis searches for inputs that break them: order invariance, batch-size invariance (scores
and corpus score), determinism (same object, fresh object) and clear errors for bad input.
Runs are derandomized and short by default; ``METRICRM_HYPOTHESIS=explore`` draws new random
inputs with more examples.
"""

from __future__ import annotations

import os
import re
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metricrm as mr
from metricrm.core.errors import ScorerInputError

pytest.importorskip("sacrebleu")
pytest.importorskip("rouge_score")

settings.register_profile(
    "metricrm",
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("mutation", settings.get_profile("metricrm"), max_examples=4)
if os.environ.get("METRICRM_HYPOTHESIS") == "explore":
    PROFILE = "explore"
elif "MUTANT_UNDER_TEST" in os.environ:  # a mutmut run: each mutant reruns these tests
    PROFILE = "mutation"
else:
    PROFILE = "metricrm"

CHEAP = [
    "bleu",
    "corpus_bleu",
    "chrf",
    "chrf++",
    "ter",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "exact_match",
    "token_f1",
    "length_chars",
    "length_tokens",
]
#: words in a "very long" text: TER's shift search and ROUGE-L's pure-Python LCS grow fast
#: with length, so theirs are shorter
LONG_WORDS = {"ter": 30, "rougeL": 300, "rougeLsum": 300}

_SCORERS: dict[str, object] = {}


def _scorer(name: str):
    if name not in _SCORERS:
        _SCORERS[name] = mr.get_scorer(name)
    return _SCORERS[name]


WORDS = ["the", "cat", "sat", "on", "a", "mat", "Über", "naïve", "東京", "😀", "don't", "x-1", "."]
_word_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
_unicode_text = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda t: t.strip())
_spaced_text = st.tuples(
    st.sampled_from(["", " ", "\t", "\n", "\u3000", "  \n "]),
    _word_text,
    st.sampled_from(["", " ", "\n\n", "\u00a0", "\r\n"]),
).map("".join)


def _long_text(words: int):
    return st.integers(0, 10**6).map(
        lambda seed: " ".join(np.random.default_rng(seed).choice(WORDS, words).tolist())
    )


def texts(name: str):
    """Non-empty response texts: words, arbitrary unicode, padded with odd whitespace, long."""
    return st.one_of(
        _word_text,
        _unicode_text,
        _spaced_text,
        _long_text(LONG_WORDS.get(name, 2000)),
    )


def references(name: str):
    """One to three references; a reference may be blank (empty or whitespace-only)."""
    ref = st.one_of(texts(name), st.sampled_from(["", " ", "\n"]))
    return st.lists(ref, min_size=1, max_size=3)


@st.composite
def batches(draw, name: str, min_size: int = 1, max_size: int = 7):
    n = draw(st.integers(min_size, max_size))
    responses = draw(st.lists(texts(name), min_size=n, max_size=n))
    refs = draw(st.lists(references(name), min_size=n, max_size=n))
    return responses, refs


def _score(scorer, responses, refs):
    return scorer.score(responses, references=refs)


@pytest.mark.parametrize("name", CHEAP)
def test_order_invariance(name):
    @settings(settings.get_profile(PROFILE))
    @given(batch=batches(name, min_size=2), seed=st.integers(0, 2**32 - 1))
    def check(batch, seed):
        responses, refs = batch
        scorer = _scorer(name)
        base = _score(scorer, responses, refs)
        perm = np.random.default_rng(seed).permutation(len(responses))
        permuted = _score(scorer, [responses[i] for i in perm], [refs[i] for i in perm])
        np.testing.assert_array_equal(permuted.scores, base.scores[perm])
        for key, values in base.details.items():
            np.testing.assert_array_equal(permuted.details[key], values[perm], err_msg=key)
        if base.corpus_score is not None:
            assert permuted.corpus_score == pytest.approx(base.corpus_score, rel=1e-12, abs=1e-12)

    check()


@pytest.mark.parametrize("name", CHEAP)
def test_batch_size_invariance(name):
    @settings(settings.get_profile(PROFILE))
    @given(batch=batches(name), chunk=st.integers(1, 4))
    def check(batch, chunk):
        responses, refs = batch
        scorer = _scorer(name)
        whole = _score(scorer, responses, refs)
        chunked = mr.score_in_chunks(
            scorer, responses, references=refs, chunk_size=chunk, progress=False
        )
        np.testing.assert_array_equal(chunked.scores, whole.scores)
        assert set(chunked.details) == set(whole.details)
        assert chunked.corpus_score == whole.corpus_score  # same statistics, same order

    check()


@pytest.mark.parametrize("name", CHEAP)
def test_determinism(name):
    @settings(settings.get_profile(PROFILE))
    @given(batch=batches(name))
    def check(batch):
        responses, refs = batch
        scorer = _scorer(name)
        first = _score(scorer, responses, refs)
        again = _score(scorer, responses, refs)
        fresh = _score(mr.get_scorer(name), responses, refs)
        for other in (again, fresh):
            np.testing.assert_array_equal(other.scores, first.scores)
            assert other.corpus_score == first.corpus_score
            assert other.signature == first.signature
        assert np.isfinite(first.scores).all()

    check()


_BAD_RESPONSES = st.sampled_from(
    [None, 3, 2.5, b"bytes", {"text": "x"}, "", " ", "\t\n", "\u3000", "\u00a0\n"]
)


@pytest.mark.parametrize("name", CHEAP)
def test_a_bad_response_names_the_scorer_and_the_item(name):
    @settings(settings.get_profile(PROFILE))
    @given(batch=batches(name, max_size=5), bad=_BAD_RESPONSES, data=st.data())
    def check(batch, bad, data):
        responses, refs = batch
        i = data.draw(st.integers(0, len(responses) - 1), label="position")
        responses = [*responses[:i], bad, *responses[i + 1 :]]
        scorer = _scorer(name)
        if isinstance(bad, str) and scorer.accepts_empty_responses:
            # an empty reply is a reply these scorers can score: a finite score, no error
            assert np.isfinite(_score(scorer, responses, refs).scores).all()
            return
        what = r"is empty" if isinstance(bad, str) else r"must be a string"
        with pytest.raises(ScorerInputError, match=rf"^{re.escape(name)}: response {i} {what}"):
            _score(scorer, responses, refs)

    check()


_BAD_REFERENCES = st.sampled_from([None, 7, 1.5, b"ref", {"ref": "x"}])


@pytest.mark.parametrize("name", CHEAP)
def test_a_bad_reference_names_the_scorer_and_the_item(name):
    @settings(settings.get_profile(PROFILE))
    @given(batch=batches(name, max_size=5), bad=_BAD_REFERENCES, data=st.data())
    def check(batch, bad, data):
        responses, refs = batch
        i = data.draw(st.integers(0, len(responses) - 1), label="item")
        j = data.draw(st.integers(0, len(refs[i])), label="position")
        refs = [list(r) for r in refs]
        refs[i].insert(j, bad)
        pattern = rf"^{re.escape(name)}: reference {j} of item {i} must be a string"
        with pytest.raises(ScorerInputError, match=pattern):
            _score(_scorer(name), responses, refs)
        refs[i] = []
        with pytest.raises(ScorerInputError, match=rf"^{re.escape(name)}: item {i} has no ref"):
            _score(_scorer(name), responses, refs)

    check()


@pytest.mark.parametrize("name", CHEAP)
def test_mismatched_lengths_are_refused(name):
    @settings(settings.get_profile(PROFILE))
    @given(batch=batches(name, max_size=5), extra=st.integers(1, 3), drop=st.booleans())
    def check(batch, extra, drop):
        responses, refs = batch
        refs = refs[:-1] if drop else refs + [["spare"]] * extra
        pattern = rf"^{re.escape(name)}: expected `references` to have one entry per response"
        with pytest.raises(ScorerInputError, match=pattern):
            _score(_scorer(name), responses, refs)
        with pytest.raises(ScorerInputError, match=r"expected `responses` to be a list"):
            _scorer(name).score(responses[0], references=refs[:1])

    check()


def test_length_scorers_count_what_they_say():
    """An independent value check under generated text: characters and whitespace tokens."""

    @settings(settings.get_profile(PROFILE))
    @given(responses=st.lists(texts("length_chars"), min_size=1, max_size=6))
    def check(responses):
        chars = mr.get_scorer("length_chars").score(responses).scores
        tokens = mr.get_scorer("length_tokens").score(responses).scores
        np.testing.assert_array_equal(chars, [len(r) for r in responses])
        np.testing.assert_array_equal(tokens, [len(r.split()) for r in responses])

    check()


def test_exact_match_of_a_response_with_itself():
    """Every text matches itself (after any normalisation) and scores 1; another text does not
    match a reference it differs from in letters."""

    @settings(settings.get_profile(PROFILE))
    @given(responses=st.lists(texts("exact_match"), min_size=1, max_size=6))
    def check(responses):
        scorer = mr.get_scorer("exact_match")
        same = scorer.score(responses, references=[[r] for r in responses]).scores
        np.testing.assert_array_equal(same, 1.0)
        marked = [r + " " + string.ascii_letters for r in responses]
        differ = scorer.score(marked, references=[[r] for r in responses]).scores
        np.testing.assert_array_equal(differ, 0.0)

    check()
