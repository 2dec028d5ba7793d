"""ROUGE-L's bit-parallel LCS length against rouge-score's own table, and ROUGE-L against
rouge-score where the fast path has choices to get wrong: empty token lists, ties between
references, repeated texts, the stemmer, very long texts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metricrm as mr
from metricrm.adapters.lcs import lcs_length

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

# few distinct tokens, so that sequences share many and the table has long chains
TOKENS = st.lists(st.sampled_from("abcde"), max_size=70)


def _table_length(a: list[str], b: list[str]) -> int:
    """rouge-score's dynamic-programming table, last cell (its own definition of the length)."""
    return rouge_scorer._lcs_table(a, b)[-1][-1] if a and b else 0


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(TOKENS, TOKENS)
def test_lcs_length_equals_rouge_score_table(a, b):
    assert lcs_length(a, b) == _table_length(a, b)
    assert lcs_length(b, a) == lcs_length(a, b)


def test_lcs_length_on_known_cases():
    assert lcs_length([], ["a"]) == 0
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4  # the textbook example
    assert lcs_length(list("aaaa"), list("aa")) == 2
    assert lcs_length(list("abc"), list("xyz")) == 0
    # longer than a machine word: carries must cross 64-bit boundaries
    long = [f"w{i % 7}" for i in range(300)]
    assert lcs_length(long, long[5:]) == 295
    assert lcs_length(long, long[::-1]) == _table_length(long, long[::-1])


def _rouge_score(refs: list[str], hyp: str, use_stemmer: bool = False) -> tuple:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    s = (
        scorer.score_multi(refs, hyp)["rougeL"]
        if len(refs) > 1
        else scorer.score(refs[0], hyp)["rougeL"]
    )
    return s.fmeasure, s.precision, s.recall


def _ours(hyps: list[str], refs: list[list[str]], **settings) -> np.ndarray:
    out = mr.get_scorer("rougeL", n_jobs=1, **settings).score(hyps, references=refs).details
    return np.column_stack([out["fmeasure"], out["precision"], out["recall"]])


def test_ties_between_references_keep_the_first_like_score_multi():
    """Two references with the same F-measure but swapped precision and recall: rouge-score
    takes the first (np.argmax), so the reported precision and recall depend on the order."""
    hyp = "a b c d e f"
    short = "a b z"  # LCS 2: precision 1/3, recall 2/3
    long = "a b c d q q q q q q q q"  # LCS 4: precision 2/3, recall 1/3; the same F-measure
    for refs in ([short, long], [long, short]):
        expected = _rouge_score(refs, hyp)
        got = _ours([hyp], [refs])[0]
        assert tuple(got) == expected
    assert _ours([hyp], [[short, long]])[0][1] != _ours([hyp], [[long, short]])[0][1]


def test_empty_token_lists_and_other_scripts_score_zero_like_rouge_score():
    hyps = ["", "...", "Добрый день", "plain words", "plain words"]
    refs = [["a reference"], ["a reference"], ["a reference"], ["!!!"], ["", "plain"]]
    expected = np.array([_rouge_score(r, h) for h, r in zip(hyps, refs)], dtype=float)
    np.testing.assert_array_equal(_ours(hyps, refs), expected)


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_repeated_texts_long_texts_and_stemmer_equal_rouge_score(use_stemmer):
    """Texts recur (tokenized once per chunk) and exceed a machine word of tokens."""
    words = "the running runner runs quickly while cats were sitting on mats again".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=n)) for n in (3, 10, 70, 140, 10)]
    hyps = [texts[i % len(texts)] for i in range(40)]
    refs = [[texts[(i * 3) % len(texts)], texts[(i + 1) % len(texts)]] for i in range(40)]
    expected = np.array([_rouge_score(r, h, use_stemmer) for h, r in zip(hyps, refs)])
    np.testing.assert_array_equal(_ours(hyps, refs, use_stemmer=use_stemmer), expected)
