"""BLEU, chrF, chrF++ and TER against sacrebleu's own functions, on real WMT19 and SummEval text."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

import metricrm as mr
from metricrm.core.batching import concat_results
from metricrm.core.errors import ScorerConfigError, ScorerInputError

pytestmark = pytest.mark.shared_data

N_PAIRS = 300  # DARR pairs -> 600 hypotheses
N_DOCS = 4  # SummEval documents x 16 systems, 11 references each


@pytest.fixture(scope="module")
def darr(shared_data):
    """First DARR lt-en pairs: better and worse outputs, each with the pair's reference."""
    with open(shared_data / "scored" / "wmt19-darr" / "lt-en.json", encoding="utf-8") as f:
        data = json.load(f)
    hyps, refs = [], []
    for entry in list(data.values())[:N_PAIRS]:
        for side in ("better", "worse"):
            hyps.append(entry[side]["sys"])
            refs.append(entry["ref"])
    return hyps, refs


@pytest.fixture(scope="module")
def summeval(shared_data):
    """A few SummEval documents: every system summary with the 11 reference summaries."""
    with open(shared_data / "scored" / "summeval" / "summeval.json", encoding="utf-8") as f:
        data = json.load(f)
    hyps, refs = [], []
    for doc in list(data.values())[:N_DOCS]:
        for system in doc["sys_summs"].values():
            hyps.append(system["sys_summ"])
            refs.append(list(doc["ref_summs"]))
    return hyps, refs


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu reference streams, padded with None where an item has fewer references."""
    k = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(k)]


# name -> (sacrebleu sentence function, corpus function or None)
SACRE = {
    "bleu": (sacrebleu.sentence_bleu, None),
    "corpus_bleu": (sacrebleu.sentence_bleu, sacrebleu.corpus_bleu),
    "chrf": (sacrebleu.sentence_chrf, sacrebleu.corpus_chrf),
    "chrf++": (
        lambda h, r: sacrebleu.sentence_chrf(h, r, word_order=2),
        lambda h, r: sacrebleu.corpus_chrf(h, r, word_order=2),
    ),
    "ter": (sacrebleu.sentence_ter, sacrebleu.corpus_ter),
}


@pytest.mark.parametrize("name", sorted(SACRE))
def test_single_reference_equals_sacrebleu(name, darr):
    hyps, refs = darr
    if name == "ter":  # the slowest metric: a third of the pairs is enough
        hyps, refs = hyps[:200], refs[:200]
    sentence, corpus = SACRE[name]
    result = mr.get_scorer(name).score(hyps, references=refs)
    expected = [sentence(h, [r]).score for h, r in zip(hyps, refs)]
    np.testing.assert_array_equal(result.scores, expected)
    if corpus is None:
        assert result.corpus_score is None
    else:
        assert result.corpus_score == corpus(hyps, [refs]).score


@pytest.mark.parametrize("name", ["bleu", "corpus_bleu", "chrf", "chrf++"])
def test_eleven_references_equal_sacrebleu(name, summeval):
    hyps, refs = summeval
    sentence, corpus = SACRE[name]
    result = mr.get_scorer(name).score(hyps, references=refs)
    np.testing.assert_array_equal(result.scores, [sentence(h, r).score for h, r in zip(hyps, refs)])
    if corpus is not None:
        assert result.corpus_score == corpus(hyps, _streams(refs)).score


def test_ter_multiple_and_variable_references_equal_sacrebleu(darr):
    """TER is slow on long texts, so its references come from DARR: each output is scored
    against the reference and the other system's output, and every third item against the
    reference alone."""
    hyps, refs = darr
    hyps, others = hyps[:200], [hyps[i ^ 1] for i in range(200)]
    two = [[r, o] for r, o in zip(refs, others)]
    mixed = [pair[:1] if i % 3 == 0 else pair for i, pair in enumerate(two)]
    for multi in (two, mixed):
        result = mr.get_scorer("ter").score(hyps, references=multi)
        np.testing.assert_array_equal(
            result.scores, [sacrebleu.sentence_ter(h, r).score for h, r in zip(hyps, multi)]
        )
        # the mean reference length makes statistics fractional: float sums must still match
        assert result.details["ref_len"].dtype == np.float64
        assert result.corpus_score == sacrebleu.corpus_ter(hyps, _streams(multi)).score


def test_corpus_bleu_statistics_and_chunks(darr):
    hyps, refs = darr
    scorer = mr.get_scorer("corpus_bleu")
    result = scorer.score(hyps, references=refs)
    reference = sacrebleu.corpus_bleu(hyps, [refs])
    details = result.details
    assert int(details["sys_len"].sum()) == reference.sys_len
    assert int(details["ref_len"].sum()) == reference.ref_len
    assert [int(details[f"counts_{n}"].sum()) for n in range(1, 5)] == reference.counts
    assert [int(details[f"totals_{n}"].sum()) for n in range(1, 5)] == reference.totals
    # scoring in chunks and joining recomputes the same corpus score from the statistics
    parts = [scorer.score(hyps[i : i + 97], references=refs[i : i + 97]) for i in range(0, 600, 97)]
    assert concat_results(scorer, parts).corpus_score == reference.score
    # a resample of the statistics gives sacrebleu's score on the resampled corpus
    idx = np.random.default_rng(0).integers(0, len(hyps), len(hyps))
    resampled = {k: v[idx] for k, v in details.items()}
    expected = sacrebleu.corpus_bleu([hyps[i] for i in idx], [[refs[i] for i in idx]]).score
    assert scorer.corpus_from_details(resampled) == expected


def test_bleu_settings_change_scores_like_sacrebleu(darr):
    hyps, refs = darr
    hyps, refs = hyps[:100], refs[:100]
    settings = dict(tokenize="intl", lowercase=True, smooth_method="floor", smooth_value=0.2)
    result = mr.get_scorer("corpus_bleu", **settings).score(hyps, references=refs)
    sentence = BLEU(effective_order=True, **settings)
    np.testing.assert_array_equal(
        result.scores, [sentence.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]
    )
    assert result.corpus_score == BLEU(**settings).corpus_score(hyps, [refs]).score
    addk = mr.get_scorer("bleu", smooth_method="add-k", effective_order=False)
    np.testing.assert_array_equal(
        addk.score(hyps, references=refs).scores,
        [
            sacrebleu.sentence_bleu(h, [r], smooth_method="add-k", use_effective_order=False).score
            for h, r in zip(hyps, refs)
        ],
    )


def test_chrf_settings_change_scores_like_sacrebleu(darr):
    hyps, refs = darr
    hyps, refs = hyps[:100], refs[:100]
    settings = dict(char_order=4, word_order=1, beta=1, lowercase=True, whitespace=True)
    result = mr.get_scorer("chrf", **settings).score(hyps, references=refs)
    metric = CHRF(**settings)
    np.testing.assert_array_equal(
        result.scores, [metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]
    )
    assert result.corpus_score == CHRF(**settings).corpus_score(hyps, [refs]).score
    assert len(result.details) == 3 * (4 + 1)
    eps = mr.get_scorer("chrf", eps_smoothing=True).score(hyps, references=refs)
    expected = [
        sacrebleu.sentence_chrf(h, [r], eps_smoothing=True).score for h, r in zip(hyps, refs)
    ]
    np.testing.assert_array_equal(eps.scores, expected)


def test_ter_settings_change_scores_like_sacrebleu(darr):
    hyps, refs = darr
    hyps, refs = hyps[:100], refs[:100]
    settings = dict(normalized=True, no_punct=True, case_sensitive=True)
    result = mr.get_scorer("ter", **settings).score(hyps, references=refs)
    expected = [sacrebleu.sentence_ter(h, [r], **settings).score for h, r in zip(hyps, refs)]
    np.testing.assert_array_equal(result.scores, expected)
    assert result.corpus_score == sacrebleu.corpus_ter(hyps, [refs], **settings).score
    default = mr.get_scorer("ter").score(hyps, references=refs).scores
    assert not np.array_equal(result.scores, default)


def test_directions_names_and_signatures():
    assert mr.get_scorer("ter").higher_is_better is False
    for name in ("bleu", "corpus_bleu", "chrf", "chrf++"):
        assert mr.get_scorer(name).higher_is_better is True
    plain, plus = mr.get_scorer("chrf"), mr.get_scorer("chrf++")
    assert plain.word_order == 0 and plus.word_order == 2
    assert plus.signature.startswith("chrf++|metricrm:")
    assert f"sacrebleu:{sacrebleu.__version__}" in plus.signature
    assert "word_order:2" in plus.signature and "word_order:0" in plain.signature
    low = mr.get_scorer("bleu", lowercase=True).signature
    assert low != mr.get_scorer("bleu").signature and "lowercase:True" in low


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("bleu", {"tokenizer": "13a"}, "unknown setting(s) tokenizer"),
        ("bleu", {"tokenize": "nope"}, "unknown tokenize 'nope'"),
        ("bleu", {"smooth_method": "laplace"}, "unknown smooth_method 'laplace'"),
        ("bleu", {"smooth_method": "exp", "smooth_value": 0.1}, "takes no smooth_value"),
        ("corpus_bleu", {"max_ngram_order": 0}, "max_ngram_order must be an integer >= 1"),
        ("chrf", {"char_order": 0}, "cannot both be 0"),
        ("chrf", {"beta": 0}, "beta must be a positive number"),
        ("chrf", {"lowercase": "yes"}, "lowercase must be True or False"),
        ("chrf++", {"word_order": 1}, "fixed by this scorer's name"),
        ("ter", {"normalize": True}, "unknown setting(s) normalize"),
    ],
)
def test_bad_settings_raise(name, settings, message):
    with pytest.raises(ScorerConfigError) as info:
        mr.get_scorer(name, **settings)
    assert message in str(info.value)


def test_missing_or_mismatched_references_raise():
    with pytest.raises(ScorerInputError, match="chrf: expected `references`"):
        mr.get_scorer("chrf").score(["a b c"])
    with pytest.raises(ScorerInputError, match=r"got 2 responses, 1 references"):
        mr.get_scorer("ter").score(["a b", "c d"], references=["a b"])
    scorer = mr.get_scorer("corpus_bleu")
    with pytest.raises(ScorerInputError, match="counts_1"):
        scorer.corpus_from_details({"sys_len": np.array([3])})
