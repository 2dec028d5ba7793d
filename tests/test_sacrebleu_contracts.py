"""Exact contracts of the sacrebleu adapters beyond equality with sacrebleu's scores.

Written while reviewing mutation-testing survivors (docs/testing.md): statistics names, order
and types in ``details``; settings and their messages; the corpus score from any subset of
statistics; each setting reaching sacrebleu.
"""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError

sacrebleu = pytest.importorskip("sacrebleu")

HYPS = ["The cat sat on the mat.", "A dog ran in the park today", "Hello, World!"]
REFS = [
    ["The cat is on the mat.", "A cat sat on a mat."],
    ["The dog runs in a park today."],
    ["hello world", "Hello world!", "hi, world"],
]
STREAMS = [[r[k] if k < len(r) else None for r in REFS] for k in range(3)]


def _stats(metric, hyps=HYPS, refs=REFS):
    return [metric.sentence_score(h, r) for h, r in zip(hyps, refs)]


def test_bleu_details_are_sacrebleus_statistics_in_order():
    scorer = mr.get_scorer("corpus_bleu", max_ngram_order=3)
    result = scorer.score(HYPS, references=REFS)
    assert list(result.details) == list(scorer.stat_keys) == [
        "sys_len", "ref_len", "counts_1", "counts_2", "counts_3",
        "totals_1", "totals_2", "totals_3",
    ]  # fmt: skip
    metric = sacrebleu.BLEU(max_ngram_order=3, effective_order=True)
    for k, (h, r) in enumerate(zip(HYPS, REFS)):
        s = metric.sentence_score(h, r)
        row = [int(result.details[key][k]) for key in scorer.stat_keys]
        assert row == [s.sys_len, s.ref_len, *s.counts, *s.totals]
        assert result.scores[k] == s.score
    assert all(np.issubdtype(v.dtype, np.integer) for v in result.details.values())
    corpus = sacrebleu.BLEU(max_ngram_order=3).corpus_score(HYPS, STREAMS).score
    assert result.corpus_score == corpus
    assert scorer.settings() == {
        "tokenize": "13a", "lowercase": False, "smooth_method": "exp", "smooth_value": None,
        "max_ngram_order": 3, "effective_order": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [
        {"tokenize": "char", "lowercase": True},
        {"smooth_method": "floor"},
        {"smooth_method": "add-k", "smooth_value": 2},
        {"smooth_method": "none", "effective_order": True},
        {"max_ngram_order": 2, "tokenize": "none"},
    ],
)
def test_every_bleu_setting_reaches_sacrebleu(settings):
    sentence = mr.get_scorer("bleu", **settings).score(HYPS, references=REFS)
    corpus = mr.get_scorer("corpus_bleu", **settings).score(HYPS, references=REFS)
    per_item = sacrebleu.BLEU(**{**settings, "effective_order": True})
    expected = [s.score for s in _stats(per_item)]
    np.testing.assert_array_equal(sentence.scores, expected)
    np.testing.assert_array_equal(corpus.scores, expected)
    assert corpus.corpus_score == sacrebleu.BLEU(**settings).corpus_score(HYPS, STREAMS).score
    assert sentence.corpus_score is None


def test_smooth_value_defaults_and_checks():
    floor = mr.get_scorer("bleu", smooth_method="floor")
    assert floor.smooth_value == sacrebleu.BLEU.SMOOTH_DEFAULTS["floor"] == 0.1
    assert mr.get_scorer("bleu", smooth_method="add-k", smooth_value=3).smooth_value == 3
    with pytest.raises(ScorerConfigError) as err:
        mr.get_scorer("bleu", smooth_method="floor", smooth_value="big")
    assert str(err.value) == "bleu: smooth_value must be a number (got 'big')"
    with pytest.raises(ScorerConfigError) as err:
        mr.get_scorer("corpus_bleu", smooth_method="floor", smooth_value=True)
    assert str(err.value) == "corpus_bleu: smooth_value must be a number (got True)"
    with pytest.raises(ScorerConfigError) as err:
        mr.get_scorer("bleu", smooth_method="none", smooth_value=0.5)
    assert str(err.value) == (
        "bleu: smooth_method 'none' takes no smooth_value (got 0.5); use 'floor' or 'add-k'"
    )
    with pytest.raises(ScorerConfigError) as err:
        mr.get_scorer("bleu", tokenize="nope")
    assert str(err.value) == (
        f"bleu: unknown tokenize 'nope'; valid: {', '.join(sacrebleu.BLEU.TOKENIZERS)}"
    )
    with pytest.raises(ScorerConfigError) as err:
        mr.get_scorer("bleu", smooth_method="laplace")
    assert str(err.value) == (
        f"bleu: unknown smooth_method 'laplace'; valid: {', '.join(sacrebleu.BLEU.SMOOTH_DEFAULTS)}"
    )


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("bleu", {"lowercase": 1}, "bleu: setting lowercase must be True or False (got 1)"),
        ("corpus_bleu", {"effective_order": "no"},
         "corpus_bleu: setting effective_order must be True or False (got 'no')"),
        ("bleu", {"max_ngram_order": 2.0},
         "bleu: setting max_ngram_order must be an integer >= 1 (got 2.0)"),
        ("bleu", {"max_ngram_order": True},
         "bleu: setting max_ngram_order must be an integer >= 1 (got True)"),
        ("chrf", {"char_order": -1}, "chrf: setting char_order must be an integer >= 0 (got -1)"),
        ("chrf", {"word_order": 1.5}, "chrf: setting word_order must be an integer >= 0 (got 1.5)"),
        ("chrf", {"char_order": 0, "word_order": 0},
         "chrf: char_order and word_order cannot both be 0"),
        ("chrf", {"beta": -1}, "chrf: setting beta must be a positive number (got -1)"),
        ("chrf", {"beta": True}, "chrf: setting beta must be a positive number (got True)"),
        ("chrf", {"beta": "2"}, "chrf: setting beta must be a positive number (got '2')"),
        ("chrf", {"beta": 0}, "chrf: setting beta must be a positive number (got 0)"),
        ("chrf", {"lowercase": "no"}, "chrf: setting lowercase must be True or False (got 'no')"),
        ("chrf", {"whitespace": None}, "chrf: setting whitespace must be True or False (got None)"),
        ("chrf++", {"char_order": -1},
         "chrf++: setting char_order must be an integer >= 0 (got -1)"),
        ("chrf", {"eps_smoothing": 0},
         "chrf: setting eps_smoothing must be True or False (got 0)"),
        ("ter", {"normalized": "y"}, "ter: setting normalized must be True or False (got 'y')"),
        ("ter", {"no_punct": 1}, "ter: setting no_punct must be True or False (got 1)"),
        ("ter", {"asian_support": 0},
         "ter: setting asian_support must be True or False (got 0)"),
        ("ter", {"case_sensitive": "no"},
         "ter: setting case_sensitive must be True or False (got 'no')"),
    ],
)  # fmt: skip
def test_setting_errors_name_scorer_setting_and_value(name, settings, message):
    with pytest.raises(ScorerConfigError) as err:
        mr.get_scorer(name, **settings)
    assert str(err.value) == message


def test_chrf_class_names_itself_and_accepts_equal_orders():
    """Built directly (not through the registry) the class names itself by its word order;
    equal character and word orders are a valid setting, scored like sacrebleu's CHRF."""
    import sacrebleu

    from metricrm.adapters.sacrebleu_metrics import ChrF

    assert ChrF().name == "chrf" and ChrF(word_order=2).name == "chrf++"
    hyp, refs = "the cat sat on the mat", ["a cat sat on the mat", "the cat is on a mat"]
    ours = ChrF(char_order=2, word_order=2).score([hyp], references=[refs]).scores[0]
    theirs = sacrebleu.metrics.CHRF(char_order=2, word_order=2).sentence_score(hyp, refs).score
    assert ours == theirs


def test_numpy_settings_are_accepted():
    scorer = mr.get_scorer("bleu", lowercase=np.bool_(True), max_ngram_order=np.int64(3))
    assert scorer.lowercase is True and scorer.max_ngram_order == 3
    assert type(scorer.max_ngram_order) is int and scorer.max_ngram_order == 3
    assert mr.get_scorer("chrf", char_order=0, word_order=1).stat_keys == (
        "word1_hyp", "word1_ref", "word1_match",
    )  # fmt: skip


def test_a_tokenizer_without_its_package_is_a_clear_error(monkeypatch):
    from metricrm.core.errors import MissingDependencyError

    def refuse(**kwargs):
        raise ImportError("No module named 'MeCab'")

    monkeypatch.setattr(sacrebleu.metrics, "BLEU", type("B", (sacrebleu.BLEU,), {}))
    monkeypatch.setattr(sacrebleu.metrics.BLEU, "__new__", lambda cls, **kw: refuse(**kw))
    with pytest.raises(MissingDependencyError) as err:
        mr.get_scorer("bleu", tokenize="ja-mecab")
    assert str(err.value).startswith(
        "bleu: the sacrebleu metric with settings {'tokenize': 'ja-mecab', "
    )
    assert str(err.value).endswith(
        "needs a package that is not installed (No module named 'MeCab')"
    )


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"char_order": 4, "word_order": 1, "beta": 1},
        {"lowercase": True, "whitespace": True},
        {"eps_smoothing": True},
    ],
)
def test_every_chrf_setting_reaches_sacrebleu(settings):
    scorer = mr.get_scorer("chrf", **settings)
    result = scorer.score(HYPS, references=REFS)
    metric = sacrebleu.CHRF(**settings)
    np.testing.assert_array_equal(result.scores, [s.score for s in _stats(metric)])
    assert result.corpus_score == metric.corpus_score(HYPS, STREAMS).score
    order = settings.get("char_order", 6)
    assert list(result.details)[:3] == ["char1_hyp", "char1_ref", "char1_match"]
    assert len(result.details) == 3 * (order + settings.get("word_order", 0))
    assert scorer.settings() == {
        "char_order": order, "word_order": settings.get("word_order", 0),
        "beta": settings.get("beta", 2), "lowercase": settings.get("lowercase", False),
        "whitespace": settings.get("whitespace", False),
        "eps_smoothing": settings.get("eps_smoothing", False),
    }  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [{}, {"normalized": True}, {"no_punct": True}, {"asian_support": True},
     {"case_sensitive": True}],
)  # fmt: skip
def test_every_ter_setting_reaches_sacrebleu(settings):
    scorer = mr.get_scorer("ter", **settings)
    result = scorer.score(HYPS, references=REFS)
    metric = sacrebleu.TER(**settings)
    stats = [metric._extract_corpus_statistics([h], [[r] for r in refs])[0]
             for h, refs in zip(HYPS, REFS)]  # fmt: skip
    np.testing.assert_array_equal(result.details["edits"], [s[0] for s in stats])
    np.testing.assert_array_equal(result.details["ref_len"], [s[1] for s in stats])
    assert result.details["edits"].dtype == np.int64
    assert result.details["ref_len"].dtype == np.float64
    np.testing.assert_array_equal(result.scores, [s.score for s in _stats(metric)])
    assert result.corpus_score == metric.corpus_score(HYPS, STREAMS).score
    assert scorer.settings() == {
        "normalized": False, "no_punct": False, "asian_support": False,
        "case_sensitive": False, **settings,
    }  # fmt: skip


def test_corpus_from_details_names_what_is_missing():
    scorer = mr.get_scorer("ter")
    with pytest.raises(ScorerInputError) as err:
        scorer.corpus_from_details({"edits": np.array([1])})
    assert str(err.value) == (
        "ter: cannot compute the corpus score; details lack the statistics ref_len "
        "(expected edits, ref_len)"
    )
    chrf = mr.get_scorer("chrf", char_order=1, word_order=0)
    with pytest.raises(ScorerInputError) as err:
        chrf.corpus_from_details({})
    assert str(err.value).endswith(
        "details lack the statistics char1_hyp, char1_ref, char1_match "
        "(expected char1_hyp, char1_ref, char1_match)"
    )
    assert mr.get_scorer("bleu").corpus_from_details({}) is None
    # statistics from JSON (e.g. the score cache) are plain lists: same corpus score
    result = scorer.score(HYPS, references=REFS)
    as_lists = {k: np.asarray(v.tolist()) for k, v in result.details.items()}
    assert scorer.corpus_from_details(as_lists) == result.corpus_score
    ints = {k: np.asarray(v, dtype=np.int32) for k, v in result.details.items()}
    assert isinstance(scorer.corpus_from_details(ints), float)


def test_corpus_bleu_effective_order_reaches_the_corpus_score():
    hyps, refs = ["the cat", "a dog"], [["the cat sat"], ["a dog ran"]]
    plain = mr.get_scorer("corpus_bleu").score(hyps, references=refs)
    effective = mr.get_scorer("corpus_bleu", effective_order=True).score(hyps, references=refs)
    streams = [[r[0] for r in refs]]
    assert plain.corpus_score == sacrebleu.corpus_bleu(hyps, streams).score == 0.0
    expected = sacrebleu.BLEU(effective_order=True).corpus_score(hyps, streams).score
    assert effective.corpus_score == expected > 0


@pytest.mark.parametrize("name", ["bleu", "corpus_bleu", "chrf", "chrf++", "ter"])
def test_without_sacrebleu_the_error_names_scorer_and_extra(monkeypatch, name):
    import sys

    from metricrm.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(MissingDependencyError) as err:
        mr.get_scorer(name)
    assert str(err.value) == (
        f"{name}: needs the `sacrebleu` package, which is not installed; "
        'install it with `pip install "metricrm[metrics]"`'
    )


@pytest.mark.parametrize(("name", "factory"), [("chrf", "CHRF"), ("ter", "TER")])
def test_a_metric_that_cannot_be_built_names_the_scorer(monkeypatch, name, factory):
    from metricrm.core.errors import MissingDependencyError

    def refuse(**kwargs):
        raise ImportError("No module named 'extra'")

    monkeypatch.setattr(sacrebleu.metrics, factory, refuse)
    with pytest.raises(MissingDependencyError) as err:
        mr.get_scorer(name)
    assert str(err.value).startswith(f"{name}: the sacrebleu metric with settings {{")
    assert str(err.value).endswith(
        "needs a package that is not installed (No module named 'extra')"
    )
