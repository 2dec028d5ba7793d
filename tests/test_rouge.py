"""ROUGE 1/2/L/Lsum against rouge-score itself, on real SummEval summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rouge_score import rouge_scorer

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError

pytestmark = pytest.mark.shared_data

N_DOCS = 20  # x 16 systems = 320 summaries, each with 1 or 11 references
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


@pytest.fixture(scope="module")
def summeval(shared_data):
    """System summaries of the first documents with the main and the 11 reference summaries."""
    with open(shared_data / "scored" / "summeval" / "summeval.json", encoding="utf-8") as f:
        data = json.load(f)
    hyps, ref, refs = [], [], []
    for doc in list(data.values())[:N_DOCS]:
        for system in doc["sys_summs"].values():
            hyps.append(system["sys_summ"])
            ref.append(doc["ref_summ"])
            refs.append(list(doc["ref_summs"]))
    return hyps, ref, refs


def _expected(kind, hyps, refs, use_stemmer=False):
    """rouge-score's (precision, recall, fmeasure) per item; score_multi for several refs."""
    scorer = rouge_scorer.RougeScorer([kind], use_stemmer=use_stemmer)
    out = [
        scorer.score_multi(r, h)[kind] if isinstance(r, list) else scorer.score(r, h)[kind]
        for h, r in zip(hyps, refs)
    ]
    keys = ("precision", "recall", "fmeasure")
    return {key: np.array([getattr(s, key) for s in out]) for key in keys}


@pytest.mark.parametrize("kind", TYPES)
def test_single_reference_equals_rouge_score(kind, summeval):
    hyps, ref, _ = summeval
    result = mr.get_scorer(kind).score(hyps, references=ref)
    expected = _expected(kind, hyps, ref)
    np.testing.assert_array_equal(result.scores, expected["fmeasure"])
    for key, values in expected.items():
        np.testing.assert_array_equal(result.details[key], values)
    assert result.corpus_score is None


@pytest.mark.parametrize("kind", TYPES)
def test_eleven_references_equal_score_multi(kind, summeval):
    hyps, _, refs = summeval
    result = mr.get_scorer(kind).score(hyps, references=refs)
    expected = _expected(kind, hyps, refs)
    np.testing.assert_array_equal(result.scores, expected["fmeasure"])
    np.testing.assert_array_equal(result.details["recall"], expected["recall"])
    # the best of 11 references is never worse than the first one alone
    first = mr.get_scorer(kind).score(hyps, references=[r[0] for r in refs]).scores
    assert np.all(result.scores >= first) and np.any(result.scores > first)


@pytest.mark.parametrize("output", ["precision", "recall"])
def test_output_and_stemmer(output, summeval):
    hyps, ref, _ = summeval
    hyps, ref = hyps[:80], ref[:80]
    result = mr.get_scorer("rouge2", use_stemmer=True, output=output).score(hyps, references=ref)
    expected = _expected("rouge2", hyps, ref, use_stemmer=True)
    np.testing.assert_array_equal(result.scores, expected[output])
    plain = mr.get_scorer("rouge2", output=output).score(hyps, references=ref).scores
    assert not np.array_equal(result.scores, plain)


def test_rougelsum_splits_sentences_on_newlines(summeval):
    """With one sentence per line rougeLsum is summary-level LCS, and differs from rougeL."""
    hyps, ref, _ = summeval
    hyps = [h.replace(" . ", " .\n") for h in hyps[:80]]
    ref = [r.replace(" . ", " .\n") for r in ref[:80]]
    assert all("\n" in r for r in ref)
    lsum = mr.get_scorer("rougeLsum").score(hyps, references=ref).scores
    np.testing.assert_array_equal(lsum, _expected("rougeLsum", hyps, ref)["fmeasure"])
    rouge_l = mr.get_scorer("rougeL").score(hyps, references=ref).scores
    assert np.all(lsum >= rouge_l) and np.any(lsum > rouge_l)


def test_signature_and_settings():
    scorer = mr.get_scorer("rougeL", use_stemmer=True)
    assert scorer.higher_is_better is True
    assert scorer.signature.startswith("rougeL|metricrm:")
    assert "rouge-score:0.1.2" in scorer.signature
    assert "use_stemmer:True" in scorer.signature and "output:fmeasure" in scorer.signature
    assert mr.get_scorer("rougeL").signature != scorer.signature


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("rouge1", {"output": "f1"}, "unknown output 'f1'"),
        ("rouge1", {"stemmer": True}, "unknown setting(s) stemmer"),
        ("rouge1", {"use_stemmer": "yes"}, "use_stemmer must be True or False"),
        ("rouge1", {"rouge_type": "rouge2"}, "fixed by this scorer's name"),
    ],
)
def test_bad_settings_raise(name, settings, message):
    with pytest.raises(ScorerConfigError) as info:
        mr.get_scorer(name, **settings)
    assert message in str(info.value)


def test_unknown_rouge_type_and_missing_references():
    from metricrm.adapters.rouge import Rouge

    with pytest.raises(ScorerConfigError, match="unknown rouge_type 'rouge0'"):
        Rouge(rouge_type="rouge0")
    with pytest.raises(ScorerInputError, match="rouge1: expected `references`"):
        mr.get_scorer("rouge1").score(["a summary"])
