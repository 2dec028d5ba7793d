"""Generic properties every registered scorer must have, run over the whole registry.

A new scorer must add a row to ``CASES``; the completeness test fails until it does.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerInputError

from . import model_fixtures as models
from .evaluate_fixtures import HF_EVALUATE_KWARGS

RESPONSES = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog",
    "Paris is the capital of France.",
    "I am not sure about that question, sorry.",
    "Water boils at 100 degrees Celsius at sea level.",
    "the the the the",
    "He went to the market and bought apples.",
]
REFERENCES = [
    ["The cat is sitting on the mat."],
    ["The quick brown fox jumped over the lazy dog.", "A fast brown fox leaps over a lazy dog."],
    ["The capital of France is Paris."],
    ["I do not know the answer."],
    ["At sea level, water boils at 100 °C."],
    ["The end."],
    ["He bought apples at the market.", "At the market he purchased apples."],
]
PROMPTS = [f"Question {i}?" for i in range(len(RESPONSES))]


def _bt_head_kwargs() -> dict:
    """A Bradley-Terry head trained briefly on the built-in sample, saved to a folder."""
    from metricrm.adapters.bt_head import BradleyTerryHead

    folder = str(models.scratch_folder("bt-head"))
    head = BradleyTerryHead.train(mr.load_sample("preference"), validation=0.25, epochs=20, lr=1e-3)
    head.save(folder)
    return {"path": folder}


# name -> settings passed to get_scorer, or a function returning them (local, offline models;
# tiny random models where only plumbing is tested)
CASES: dict[str, dict | object] = {
    "bleu": {},
    "corpus_bleu": {},
    "chrf": {},
    "chrf++": {},
    "ter": {},
    "rouge1": {},
    "rouge2": {},
    "rougeL": {},
    "rougeLsum": {},
    "bertscore_f1": {},
    "bertscore_precision": {},
    "bertscore_recall": {},
    "exact_match": {},
    "token_f1": {},
    "length_chars": {},
    "length_tokens": {},
    "hf_evaluate": HF_EVALUATE_KWARGS,
    "reward_model": lambda: {"model": models.tiny_reward_model_path()},
    "lm_logprob": lambda: {"model": models.tiny_causal_lm_path()},
    "lm_perplexity": lambda: {"model": models.tiny_causal_lm_path()},
    "lm_judge": lambda: {"model": models.tiny_causal_lm_path()},
    "dpo_reward": lambda: {
        "policy": models.tiny_causal_lm_path(seed=0),
        "reference": models.tiny_causal_lm_path(seed=1),
    },
    "bt_head": _bt_head_kwargs,
}
SLOW = {"bertscore_f1", "bertscore_precision", "bertscore_recall", "bt_head"}
# float32 models: scores may move in the last bits with batch composition
NEURAL = SLOW | {"reward_model", "lm_logprob", "lm_perplexity", "lm_judge", "dpo_reward"}


def _settings(name: str) -> dict:
    case = CASES[name]
    return case() if callable(case) else case


def _tol(name: str) -> dict:
    return {"rtol": 1e-5, "atol": 1e-5} if name in NEURAL else {"rtol": 1e-6, "atol": 1e-6}


def _params():
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(CASES)]


@pytest.fixture(scope="module")
def settings_of():
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = _settings(name)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def scorers(settings_of):
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = mr.get_scorer(name, **settings_of(name))
        return cache[name]

    return get


def _score(scorer, idx=None):
    idx = range(len(RESPONSES)) if idx is None else idx
    return scorer.score(
        [RESPONSES[i] for i in idx],
        references=[REFERENCES[i] for i in idx],
        prompts=[PROMPTS[i] for i in idx],
    )


def test_registry_is_complete():
    """Every registered scorer has a row in CASES, and no row names a missing scorer."""
    assert set(mr.list_scorers()) == set(CASES)


@pytest.mark.parametrize("name", _params())
def test_output_shape_and_metadata(name, scorers):
    scorer = scorers(name)
    result = _score(scorer)
    assert isinstance(result, mr.ScoreResult)
    assert result.scores.dtype == np.float64
    assert result.scores.shape == (len(RESPONSES),)
    assert np.isfinite(result.scores).all()
    assert result.name == name == scorer.name
    assert result.signature == scorer.signature and result.signature.startswith(name + "|")
    assert isinstance(result.higher_is_better, bool)
    for key, values in result.details.items():
        assert len(values) == len(RESPONSES), key


@pytest.mark.parametrize("name", _params())
def test_order_invariance(name, scorers):
    scorer = scorers(name)
    base = _score(scorer).scores
    perm = np.random.default_rng(0).permutation(len(RESPONSES))
    permuted = _score(scorer, perm).scores
    np.testing.assert_allclose(permuted, base[perm], **_tol(name))


@pytest.mark.parametrize("name", _params())
def test_batch_size_invariance(name, scorers):
    scorer = scorers(name)
    whole = _score(scorer)
    for chunk in (1, 3):
        chunked = mr.score_in_chunks(
            scorer,
            RESPONSES,
            references=REFERENCES,
            prompts=PROMPTS,
            chunk_size=chunk,
            progress=False,
        )
        np.testing.assert_allclose(chunked.scores, whole.scores, **_tol(name))
        if whole.corpus_score is not None:
            assert chunked.corpus_score == pytest.approx(whole.corpus_score, rel=1e-9)


@pytest.mark.parametrize("name", _params())
def test_determinism(name, scorers, settings_of):
    scorer = scorers(name)
    np.testing.assert_array_equal(_score(scorer).scores, _score(scorer).scores)
    fresh = mr.get_scorer(name, **settings_of(name))
    np.testing.assert_allclose(_score(fresh).scores, _score(scorer).scores, **_tol(name))
    assert fresh.signature == scorer.signature


BAD_INPUTS = {
    "none response": (["ok", None], [["ok"], ["ok"]], r"response 1 .*NoneType"),
    "empty response": (["ok", "  "], [["ok"], ["ok"]], r"response 1 is empty"),
    "non-string response": (["ok", 3.5], [["ok"], ["ok"]], r"response 1 .*float"),
    "too few references": (["ok", "fine"], [["ok"]], r"got 2 responses, 1 references"),
    "non-string reference": (["ok", "fine"], [["ok"], [None]], r"reference 0 of item 1"),
    "no responses": ([], [], r"at least one response"),
    "bare string": ("just one string", ["ok"], r"expected `responses` to be a list"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("name", _params())
def test_bad_input_names_scorer_and_item(name, case, scorers):
    responses, references, pattern = BAD_INPUTS[case]
    with pytest.raises(ScorerInputError, match=rf"^{re.escape(name)}: .*{pattern}"):
        scorers(name).score(responses, references=references)
