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
    from metricrm.training import train_bt_head

    folder = str(models.scratch_folder("bt-head"))
    head = train_bt_head(mr.load_sample("preference"), validation=0.25, epochs=20, lr=1e-3)
    head.save(folder)
    return {"path": folder}


def _composite_file(weight: float = 0.5) -> str:
    """A hand-written composite file: chrF (z-scored) plus a length penalty, with a gate."""
    folder = models.scratch_folder(f"composite-{weight}")
    path = f"{folder}/reward.yaml"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            "components:\n"
            "  chrf: {scorer: chrf, normalizer: {kind: zscore, mean: 40.0, std: 15.0}}\n"
            "  brevity:\n"
            "    scorer: length_chars\n"
            "    higher_is_better: false\n"
            "    normalizer: {kind: minmax, min: -200, max: 0}\n"
            f"weights: {{chrf: 1.0, brevity: {weight}}}\n"
            "gates: [{component: chrf, below: 1.0, floor: -5.0}]\n"
        )
    return path


def _activation_rm_kwargs(seed: int = 0) -> dict:
    """An activation reward model fitted on the built-in sample with the tiny causal LM."""
    from metricrm.training import fit_activation_rm

    folder = str(models.scratch_folder(f"activation-rm-{seed}"))
    pairs = mr.load_sample("preference")[:8]
    model = fit_activation_rm(
        pairs, model=models.tiny_causal_lm_path(), n_heads=2, shots=2, seed=seed
    )
    model.save(folder)
    return {"path": folder}


#: reward servers started for the ``remote`` case; stopped when the module ends
_SERVERS: list = []


def _remote_kwargs() -> dict:
    """A chrF reward server in a thread of this process (the Ray Serve one has its own tests)."""
    from metricrm.engines.reward_server import serve_in_thread

    running = serve_in_thread(mr.get_scorer("chrf"))
    _SERVERS.append(running)
    return {"url": running.url}


@pytest.fixture(scope="module", autouse=True)
def _stop_reward_servers():
    yield
    while _SERVERS:
        _SERVERS.pop().stop()


def _ebrm_kwargs(seed: int = 0) -> dict:
    """An energy-based refinement of the tiny reward model, trained briefly on the sample."""
    from metricrm.training import train_ebrm

    folder = str(models.scratch_folder(f"ebrm-{seed}"))
    model = train_ebrm(
        mr.load_sample("preference"),
        base="reward_model",
        base_settings={"model": models.tiny_reward_model_path()},
        epochs=3,
        seed=seed,
    )
    model.save(folder)
    return {"path": folder}


def _icl_examples() -> list:
    return mr.load_sample("preference")[:4]


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
    "composite": lambda: {"path": _composite_file()},
    "lm_icl_judge": lambda: {"model": models.tiny_causal_lm_path(), "examples": _icl_examples()},
    "lm_vote_judge": lambda: {"model": models.tiny_causal_lm_path(), "samples": 3},
    "activation_rm": _activation_rm_kwargs,
    "ebrm": _ebrm_kwargs,
    "remote": _remote_kwargs,
}
SLOW = {"bertscore_f1", "bertscore_precision", "bertscore_recall", "bt_head"}
# float32 models: scores may move in the last bits with batch composition
NEURAL = SLOW | {
    "reward_model",
    "lm_logprob",
    "lm_perplexity",
    "lm_judge",
    "dpo_reward",
    "lm_icl_judge",
    "lm_vote_judge",
    "activation_rm",
    "ebrm",
}


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
    scorer = scorers(name)
    if case == "empty response" and scorer.accepts_empty_responses:
        prompts = ["q1", "q2"]
        result = scorer.score(responses, references=references, prompts=prompts)
        assert np.isfinite(result.scores).all()
        return
    with pytest.raises(ScorerInputError, match=rf"^{re.escape(name)}: .*{pattern}"):
        scorer.score(responses, references=references)


@pytest.mark.parametrize("name", _params())
def test_inputs_a_scorer_does_not_use_do_not_change_its_scores(name, scorers):
    """The score cache keys each item on the scorer's ``uses_inputs`` only: an input left out
    of it must not change a score, or the cache would serve one item's score for another."""
    scorer = scorers(name)
    uses = scorer.uses_inputs
    base = dict(references=REFERENCES, prompts=PROMPTS, sources=PROMPTS)
    other = {
        "references": [[r[0] + " extra words"] for r in REFERENCES],
        "prompts": [p + " And another question?" for p in PROMPTS],
        "sources": [p + " source text" for p in PROMPTS],
    }
    changed = []
    for field, values in other.items():
        if field in ("sources",) and name == "hf_evaluate":
            continue  # the fixture module takes no sources
        first = scorer.score(RESPONSES, **base).scores
        second = scorer.score(RESPONSES, **{**base, field: values}).scores
        if not np.allclose(first, second, **_tol(name)):
            changed.append(field)
    assert set(changed) <= set(uses), f"{name}: scores depend on {changed}, uses_inputs={uses}"


# -- every setting is in the signature or declared score-neutral ---------------------------


def _tokenizer_of(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _baseline_files() -> tuple[str, str]:
    folder = models.scratch_folder("baselines")
    paths = []
    for k, value in enumerate((0.1, 0.2)):
        path = f"{folder}/b{k}.csv"
        rows = "".join(f"{layer},{value},{value},{value}\n" for layer in range(7))
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("LAYER,P,R,F\n" + rows)
        paths.append(path)
    return paths[0], paths[1]


def _model_alternatives(kind: str) -> dict:
    """Settings shared by every transformers-model scorer, each changed from the default."""
    plain = {"template": "plain"}
    return {
        "revision": {"revision": "v2"},
        "dtype": {"dtype": "bfloat16"},
        "max_length": {"max_length": 64},
        "truncation": {"truncation": False},
        "truncation_side": {"truncation_side": "right"},
        "template": plain,
        "plain_format": ({**plain, "plain_format": "{role}> {content}"}, plain),
        "plain_separator": ({**plain, "plain_separator": "\n"}, plain),
        "trust_remote_code": {"trust_remote_code": True},
    }


def _untrained(key: str = "model", **extra) -> tuple[dict, dict]:
    """``allow_untrained_head`` only acts on a checkpoint without the model's head: a base model
    loaded with it (head drawn at random, marked in the signature) against the CASES model."""
    base = models.tiny_base_model_path()
    keys = ("policy", "reference") if key == "policy" else (key,)
    return ({**dict.fromkeys(keys, base), "allow_untrained_head": True, **extra}, {})


def _alternatives(name: str) -> dict:
    """setting -> overrides that change it: a dict applied on top of the CASES settings, or a
    pair (overrides, reference overrides) when the setting only acts together with another."""
    sacre_bleu = {
        "tokenize": {"tokenize": "char"},
        "lowercase": {"lowercase": True},
        "smooth_method": {"smooth_method": "floor"},
        "smooth_value": (
            {"smooth_method": "floor", "smooth_value": 0.5},
            {"smooth_method": "floor"},
        ),
        "max_ngram_order": {"max_ngram_order": 3},
        "effective_order": {"effective_order": name == "corpus_bleu"},
    }
    chrf = {
        "char_order": {"char_order": 4},
        "word_order": {"word_order": 1},
        "beta": {"beta": 1},
        "lowercase": {"lowercase": True},
        "whitespace": {"whitespace": True},
        "eps_smoothing": {"eps_smoothing": True},
    }
    if name in ("bleu", "corpus_bleu"):
        return sacre_bleu
    if name in ("chrf", "chrf++"):
        return chrf
    if name == "ter":
        return {k: {k: True} for k in ("normalized", "no_punct", "asian_support", "case_sensitive")}
    if name.startswith("rouge"):
        return {"use_stemmer": {"use_stemmer": True}, "output": {"output": "recall"}}
    if name.startswith("bertscore"):
        first, second = _baseline_files()
        tiny_bert = models.tiny_reward_model_path(architecture="bert")
        rescale = {"rescale_with_baseline": True, "baseline_path": first}
        return {
            "model": {"model": tiny_bert, "num_layers": 1},
            "num_layers": {"num_layers": 5},
            "dtype": {"dtype": "bfloat16"},
            "idf": {"idf": True},
            "idf_sentences": ({"idf": True, "idf_sentences": ["a b"]}, {"idf": True}),
            "rescale_with_baseline": rescale,
            "baseline_path": ({**rescale, "baseline_path": second}, rescale),
            "lang": ({**rescale, "lang": "en"}, rescale),
        }
    if name == "exact_match":
        return {"normalize": {"normalize": False}}
    if name == "length_tokens":
        return {"tokenizer": {"tokenizer": "regex"}}
    if name == "hf_evaluate":
        from .evaluate_fixtures import EXACT_MATCH_RATE

        return {
            "module": {"module": str(EXACT_MATCH_RATE)},
            "score_key": {"score_key": "token_precision"},
            "per_item": {"per_item": "output"},
            "compute_kwargs": {"compute_kwargs": {"lowercase": True}},
            "higher_is_better": {"higher_is_better": False},
            "load_kwargs": {"load_kwargs": {"config_name": "other"}},
        }
    if name == "reward_model":
        path = models.tiny_reward_model_path()
        two = models.tiny_reward_model_path(num_labels=2)
        return {
            **_model_alternatives("classifier"),
            "model": {"model": models.tiny_reward_model_path(architecture="bert")},
            "tokenizer": {"tokenizer": _tokenizer_of(path)},
            "output": ({"model": two, "output": 1}, {"model": two, "output": 0}),
            "weights": {"weights": [2.0]},
            "activation": {"activation": "sigmoid"},
            "allow_untrained_head": _untrained(),
        }
    if name in ("lm_logprob", "lm_perplexity", "lm_judge"):
        path = models.tiny_causal_lm_path()
        own = {
            "model": {"model": models.tiny_causal_lm_path(seed=1)},
            "tokenizer": {"tokenizer": _tokenizer_of(path)},
        }
        if name == "lm_logprob":
            own["reduction"] = {"reduction": "sum"}
        if name in ("lm_logprob", "lm_perplexity"):
            own["include_eos"] = {"include_eos": True}
        if name == "lm_judge":
            own["judge_template"] = {"judge_template": "Good? {response} Answer Yes or No."}
            own["yes_words"] = {"yes_words": ("Yes", "yes")}
            own["no_words"] = {"no_words": ("No", "no")}
        own["allow_untrained_head"] = _untrained()
        own["quantize"] = {"quantize": "int8"}
        return {**_model_alternatives("lm"), **own}
    if name == "dpo_reward":
        path = models.tiny_causal_lm_path(seed=0)
        return {
            **_model_alternatives("lm"),
            "policy": {"policy": models.tiny_causal_lm_path(seed=2)},
            "reference": {"reference": models.tiny_causal_lm_path(seed=2)},
            "tokenizer": {"tokenizer": _tokenizer_of(path)},
            "reference_tokenizer": {"reference_tokenizer": _tokenizer_of(path)},
            "beta": {"beta": 0.2},
            "reference_revision": {"reference_revision": "v2"},
            "include_eos": {"include_eos": True},
            "allow_untrained_head": _untrained("policy"),
            "quantize": {"quantize": "int8"},
        }
    if name == "composite":
        return {"path": {"path": _composite_file(weight=0.25)}}
    if name == "lm_icl_judge":
        from metricrm.core.records import PointwiseItem

        path = models.tiny_causal_lm_path()
        labelled = [
            PointwiseItem(
                response=r, prompt="Question?", human={"label": k % 2, "other": 1 - k % 2}
            )
            for k, r in enumerate(RESPONSES[:4])
        ]
        return {
            **_model_alternatives("lm"),
            "model": {"model": models.tiny_causal_lm_path(seed=1)},
            "tokenizer": {"tokenizer": _tokenizer_of(path)},
            "examples": {"examples": mr.load_sample("preference")[4:6]},
            "context_tokens": {"context_tokens": 100},
            "label_key": ({"examples": labelled, "label_key": "other"}, {"examples": labelled}),
            "judge_template": {"judge_template": "Good? {response} Answer Yes or No."},
            "yes_words": {"yes_words": ("Yes", "yes")},
            "no_words": {"no_words": ("No", "no")},
            "allow_untrained_head": _untrained(),
            "quantize": {"quantize": "int8"},
        }
    if name == "lm_vote_judge":
        path = models.tiny_causal_lm_path()
        return {
            **_model_alternatives("lm"),
            "model": {"model": models.tiny_causal_lm_path(seed=1)},
            "tokenizer": {"tokenizer": _tokenizer_of(path)},
            "judge_templates": {"judge_templates": ["Good? {response} Answer Yes or No."]},
            "judge_template": {"judge_template": "Good? {response} Answer Yes or No."},
            "samples": {"samples": 0},
            "temperature": {"temperature": 0.5},
            "seed": {"seed": 1},
            "yes_words": {"yes_words": ("Yes", "yes")},
            "no_words": {"no_words": ("No", "no")},
            "allow_untrained_head": _untrained(),
            "quantize": {"quantize": "int8"},
        }
    if name == "activation_rm":
        return {"path": _activation_rm_kwargs(seed=1)}
    if name == "ebrm":
        return {"path": _ebrm_kwargs(seed=1)}
    if name == "bt_head":
        from metricrm.training import train_bt_head

        folder = str(models.scratch_folder("bt-head-other"))
        sample = mr.load_sample("preference")
        train_bt_head(sample, validation=0.25, epochs=5, lr=1e-3, seed=1).save(folder)
        return {"path": {"path": folder}}
    return {}


@pytest.mark.parametrize("name", _params())
def test_every_setting_changes_the_signature_or_is_score_neutral(name, scorers, settings_of):
    """A setting missing from the signature would let the score cache return another
    configuration's scores: every constructor setting must change the signature, unless the
    scorer declares it score-neutral (device, batch sizes, cache folders)."""
    spec = mr.scorer_spec(name)
    base = scorers(name)
    neutral = set(getattr(base, "score_neutral", ()))
    alternatives = _alternatives(name)
    unchecked = [
        s for s in spec.settings() if s not in spec.preset and s not in neutral | set(alternatives)
    ]
    assert not unchecked, f"{name}: settings neither tested nor declared score-neutral: {unchecked}"
    for setting, change in alternatives.items():
        if setting in spec.preset:
            continue
        changed, reference = change if isinstance(change, tuple) else (change, {})
        first = mr.get_scorer(name, **{**settings_of(name), **reference}).signature
        second = mr.get_scorer(name, **{**settings_of(name), **changed}).signature
        assert first != second, f"{name}: setting {setting!r} does not change the signature"


def _neutral_values(name: str) -> dict:
    """score-neutral setting -> a value other than the default, to check that it changes
    neither the scores nor the signature."""
    values: dict = {"n_jobs": 2, "device": "cpu", "max_tokens_per_batch": 16, "max_batch_size": 1,
                    "share_prefix": False}  # fmt: skip
    if name.startswith("bertscore"):
        folder = str(models.scratch_folder("neutral-embeddings"))
        values.update(batch_size=1, embedding_cache_mb=0, embedding_dir=folder)
    if name == "composite":
        values.update(cache=False)  # components scored without the score cache
    if name == "activation_rm":
        # may only name the weights the heads were fitted on (checked on load)
        values.update(model=None, tokenizer=None)
    if name == "remote":  # another address would be another server; a tokenless one takes any
        values.update(url=None, token="any", timeout=30.0, max_items_per_request=2)
    if name == "ebrm":
        values.update(base=None)  # may only be the scorer it was trained on (checked on load)
    if name == "bt_head":
        # `encoder` may only repeat the head's own encoder; `cache_dir` is the model download
        # folder (the model is local here)
        values.update(encoder=None, cache_dir=None)
    return values


@pytest.mark.parametrize("name", _params())
def test_score_neutral_settings_change_neither_scores_nor_signature(name, scorers, settings_of):
    """What a scorer declares score-neutral (and leaves out of its signature) must really be:
    scores from a changed value equal the default's, bit for bit where no float32 model is
    involved (``n_jobs`` splits the work over processes)."""
    from metricrm.core import parallel

    neutral = sorted(getattr(scorers(name), "score_neutral", ()))
    values = _neutral_values(name)
    assert set(neutral) <= set(values), f"{name}: no test value for {set(neutral) - set(values)}"
    # 70 distinct items (repeats are scored once): two chunks' worth, so n_jobs pools
    copies = 10 if "n_jobs" in neutral else 1
    responses = [r if k == 0 else f"{r} {k}" for k in range(copies) for r in RESPONSES]
    references = REFERENCES * copies
    base = scorers(name).score(responses, references=references, prompts=PROMPTS * copies)
    for setting in neutral:
        if values[setting] is None:
            continue
        other = mr.get_scorer(name, **{**settings_of(name), setting: values[setting]})
        assert other.signature == scorers(name).signature, setting
        got = other.score(responses, references=references, prompts=PROMPTS * copies)
        if setting == "n_jobs":
            assert parallel.last_run.processes == 2, "n_jobs=2 must really use two processes"
        if name in NEURAL:
            np.testing.assert_allclose(got.scores, base.scores, **_tol(name), err_msg=setting)
            continue
        np.testing.assert_array_equal(got.scores, base.scores, err_msg=setting)
        for key, column in base.details.items():
            np.testing.assert_array_equal(got.details[key], column, err_msg=f"{setting}: {key}")
        assert got.corpus_score == base.corpus_score, setting
