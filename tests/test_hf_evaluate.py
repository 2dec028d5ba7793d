"""The Hugging Face ``evaluate`` bridge, both ways, on real shared data and our local modules."""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.hf_evaluate import (
    EvaluateScorer,
    as_evaluate_module,
    evaluation_module_class,
    write_evaluate_module,
)
from metricrm.core.errors import ScorerConfigError, ScorerInputError, ScorerOutputError

from .evaluate_fixtures import EXACT_MATCH_RATE, TOKEN_PRECISION

evaluate = pytest.importorskip("evaluate")
datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test in which evaluate (or anything else) tries to open a connection."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    assert not attempts, f"network access attempted: {attempts}"


# -- real data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mqm(shared_data):
    """WMT21 TED en-de system outputs with their single reference (segments 1-20, 13 systems)."""
    texts: dict[tuple[str, int], str] = {}
    path = shared_data / "scored" / "wmt-mqm-ted-ende" / "mqm_ted_ende.tsv"
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if int(row["seg_id"]) <= 20:
                texts[(row["system"], int(row["seg_id"]))] = re.sub(r"</?v>", "", row["target"])
    refs = {seg: text for (system, seg), text in texts.items() if system == "ref"}
    keys = sorted(k for k in texts if k[0] != "ref" and k[1] in refs)
    return [texts[k] for k in keys], [refs[k[1]] for k in keys]


@pytest.fixture(scope="module")
def summeval(shared_data):
    """SummEval summaries of 4 documents x 16 systems, each with its 11 references."""
    data = json.loads((shared_data / "scored" / "summeval" / "summeval.json").read_text("utf-8"))
    hyps, refs = [], []
    for doc_id in sorted(data)[:4]:
        doc = data[doc_id]
        for system in sorted(doc["sys_summs"]):
            hyps.append(doc["sys_summs"][system]["sys_summ"])
            refs.append(list(doc["ref_summs"]))
    return hyps, refs


def _load(path):
    return evaluate.load(str(path), keep_in_memory=True)


# -- evaluate module -> metricrm scorer ------------------------------------------------------------


def test_corpus_only_module_is_scored_one_item_at_a_time(mqm):
    hyps, refs = mqm
    scorer = mr.get_scorer("hf_evaluate", module=str(EXACT_MATCH_RATE))
    result = scorer.score(hyps, references=refs)
    module = _load(EXACT_MATCH_RATE)
    own = [
        module.compute(predictions=[h], references=[r])["exact_match_rate"]
        for h, r in zip(hyps, refs)
    ]
    np.testing.assert_array_equal(result.scores, own)
    # the data hold both outcomes, so the comparison can fail
    assert 0 < result.scores.sum() < len(hyps)
    # the module's corpus value is the mean of its per-item values
    corpus = module.compute(predictions=hyps, references=refs)["exact_match_rate"]
    assert result.mean() == pytest.approx(corpus, abs=1e-12)
    # a module instance works like its path
    again = EvaluateScorer(module).score(hyps, references=refs)
    np.testing.assert_array_equal(again.scores, result.scores)


def test_per_item_output_equals_module_compute_per_item(summeval):
    hyps, refs = summeval
    module = _load(TOKEN_PRECISION)

    def own_per_item(references):
        return [
            module.compute(predictions=[h], references=[r])["token_precision"][0]
            for h, r in zip(hyps, references)
        ]

    own = own_per_item(refs)
    assert len(set(own)) > 10  # real spread, not a constant
    for mode in ("auto", "output", "each"):
        scores = EvaluateScorer(str(TOKEN_PRECISION), per_item=mode).score(hyps, references=refs)
        np.testing.assert_allclose(scores.scores, own, rtol=0, atol=1e-15)
    # single-string references reach a multi-reference module as one-element lists
    single = EvaluateScorer(str(TOKEN_PRECISION)).score(hyps, references=[r[0] for r in refs])
    first = own_per_item([r[0] for r in refs])
    np.testing.assert_allclose(single.scores, first, rtol=0, atol=1e-15)
    assert not np.allclose(single.scores, own)  # more references find more tokens


def test_compute_kwargs_reach_the_module_and_the_signature(summeval):
    hyps, refs = summeval
    module = _load(TOKEN_PRECISION)
    plain = EvaluateScorer(module)
    cased = EvaluateScorer(module, compute_kwargs={"case_sensitive": True})
    own = module.compute(predictions=hyps, references=refs, case_sensitive=True)["token_precision"]
    cased_scores = cased.score(hyps, references=refs).scores
    np.testing.assert_allclose(cased_scores, own, rtol=0, atol=1e-15)
    plain_scores = plain.score(hyps, references=refs).scores
    assert (cased_scores <= plain_scores).all() and (cased_scores < plain_scores).any()
    assert "compute_kwargs:{case_sensitive=True}" in cased.signature
    assert "module:token_precision" in plain.signature
    assert f"module_hash:{module._hash}" in plain.signature and module._hash
    assert plain.signature.startswith("hf_evaluate|")
    assert f"evaluate:{evaluate.__version__}" in plain.signature
    assert cased.signature != plain.signature


def test_score_key_selects_among_several_outputs():
    module = _load(TOKEN_PRECISION)
    by_name = EvaluateScorer(module).score(["a b", "c"], references=["a", "c d"])
    np.testing.assert_array_equal(by_name.scores, [0.5, 1.0])
    # "mean" is a single number, so it is computed item by item: the same values here
    by_mean = EvaluateScorer(module, score_key="mean").score(["a b", "c"], references=["a", "c d"])
    np.testing.assert_array_equal(by_mean.scores, [0.5, 1.0])
    keys = r"\['token_precision', 'mean'\]"
    with pytest.raises(ScorerOutputError, match=rf"returned no 'f1'; its result keys are {keys}"):
        EvaluateScorer(module, score_key="f1").score(["a"], references=["a"])


def test_round_trip_through_evaluate(mqm):
    hyps, refs = mqm
    ours = mr.get_scorer("token_f1").score(hyps, references=refs)
    bridged = EvaluateScorer(
        as_evaluate_module("token_f1"), score_key="token_f1_scores", per_item="output"
    )
    np.testing.assert_array_equal(bridged.score(hyps, references=refs).scores, ours.scores)
    # the mean under the scorer's name, taken item by item, gives the same values
    each = EvaluateScorer(as_evaluate_module("token_f1"), per_item="each")
    some = each.score(hyps[:20], references=refs[:20])
    np.testing.assert_array_equal(some.scores, ours.scores[:20])


# -- errors ----------------------------------------------------------------------------------


def test_forced_per_item_output_on_a_corpus_module_raises():
    scorer = EvaluateScorer(str(EXACT_MATCH_RATE), per_item="output")
    pattern = r"^hf_evaluate: per_item='output' needs .*'exact_match_rate'.* one number \(0\.5\)"
    with pytest.raises(ScorerOutputError, match=pattern):
        scorer.score(["a", "b"], references=["a", "c"])


def test_several_references_for_a_single_reference_module_raise():
    scorer = mr.get_scorer("hf_evaluate", module=str(EXACT_MATCH_RATE))
    pattern = r"^hf_evaluate: item 1 has 2 references, .*'exact_match_rate' takes exactly one"
    with pytest.raises(ScorerInputError, match=pattern):
        scorer.score(["a", "b"], references=[["a"], ["b", "c"]])


def test_nan_from_the_module_names_the_item():
    scorer = EvaluateScorer(str(TOKEN_PRECISION))
    pattern = r"^hf_evaluate: .*non-finite score \(nan\) for item 2"
    with pytest.raises(ScorerOutputError, match=pattern):
        scorer.score(["a b", "c", "?!", "d"], references=["a", "c", "e", "d"])


def _int_module():
    class IntLabels(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(
                description="",
                citation="",
                features=datasets.Features(
                    {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
                ),
            )

        def _compute(self, predictions, references):
            return {"accuracy": float(np.mean(np.equal(predictions, references)))}

    return IntLabels(keep_in_memory=True)


def _source_module():
    class CopiesSource(evaluate.Metric):
        def _info(self):
            string = datasets.Value("string")
            return evaluate.MetricInfo(
                description="",
                citation="",
                features=datasets.Features(
                    {"sources": string, "predictions": string, "references": string}
                ),
            )

        def _compute(self, sources, predictions, references):
            return {"copies_source": [float(s == p) for s, p in zip(sources, predictions)]}

    return CopiesSource(keep_in_memory=True)


def test_sources_feature_is_fed_from_sources():
    scorer = EvaluateScorer(_source_module())
    result = scorer.score(["a", "b"], references=["x", "y"], sources=["a", "c"])
    np.testing.assert_array_equal(result.scores, [1.0, 0.0])
    pattern = r"^hf_evaluate: evaluate module 'copies_source' needs `sources`"
    with pytest.raises(ScorerInputError, match=pattern):
        scorer.score(["a"], references=["x"])


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"per_item": "maybe"}, r"per_item must be one of auto, output, each \(got 'maybe'\)"),
        ({"compute_kwargs": {"references": []}}, r"compute_kwargs must not set references"),
        ({"higher_is_better": "yes"}, r"higher_is_better must be True or False"),
    ],
)
def test_bad_settings(kwargs, pattern):
    with pytest.raises(ScorerConfigError, match=rf"^hf_evaluate: {pattern}"):
        EvaluateScorer(str(EXACT_MATCH_RATE), **kwargs)


def test_unusable_modules_raise_at_construction(tmp_path):
    pattern = r"expects `predictions` of type Value\('int32'\); metricrm passes text"
    with pytest.raises(ScorerConfigError, match=pattern):
        EvaluateScorer(_int_module())
    cannot_load = r"^hf_evaluate: could not load the evaluate module"
    with pytest.raises(ScorerConfigError, match=rf"{cannot_load} .*no_such_module"):
        EvaluateScorer(str(tmp_path / "no_such_module"))
    with pytest.raises(ScorerConfigError, match=rf"{cannot_load} 'metricrm-no-such-module-xyz'"):
        EvaluateScorer("metricrm-no-such-module-xyz")  # a hub id, unreachable offline
    with pytest.raises(ScorerConfigError, match=r"`module` must be an evaluate.EvaluationModule"):
        EvaluateScorer(42)
    # a module whose name is not among its result keys needs score_key
    module = _load(TOKEN_PRECISION)
    module._module_info.module_name = "renamed"
    pattern = r"several values \['token_precision', 'mean'\]; pass score_key="
    with pytest.raises(ScorerConfigError, match=pattern):
        EvaluateScorer(module).score(["a"], references=["a"])


# -- metricrm scorer -> evaluate module ----------------------------------------------------


def test_chrf_module_matches_sacrebleu_sentence_chrf(mqm, summeval):
    sacrebleu = pytest.importorskip("sacrebleu")
    module = as_evaluate_module("chrf")
    assert module.name == "chrf" and isinstance(module, evaluate.EvaluationModule)
    hyps, refs = mqm
    out = module.compute(predictions=hyps, references=refs)
    expected = [sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)]
    np.testing.assert_allclose(out["chrf_scores"], expected, rtol=0, atol=1e-9)
    assert out["chrf"] == pytest.approx(np.mean(expected), abs=1e-9)
    corpus = sacrebleu.corpus_chrf(hyps, [refs]).score
    assert out["chrf_corpus_score"] == pytest.approx(corpus, abs=1e-9)
    # several references per item
    s_hyps, s_refs = summeval
    out = module.compute(predictions=s_hyps, references=s_refs)
    expected = [sacrebleu.sentence_chrf(h, r).score for h, r in zip(s_hyps, s_refs)]
    np.testing.assert_allclose(out["chrf_scores"], expected, rtol=0, atol=1e-9)


def test_combine_returns_every_bridged_scorer(mqm):
    hyps, refs = mqm
    combined = evaluate.combine([as_evaluate_module("token_f1"), as_evaluate_module("exact_match")])
    out = combined.compute(predictions=hyps, references=refs)
    assert set(out) == {"token_f1", "token_f1_scores", "exact_match", "exact_match_scores"}
    for name in ("token_f1", "exact_match"):
        ours = mr.get_scorer(name).score(hyps, references=refs)
        np.testing.assert_array_equal(out[f"{name}_scores"], ours.scores)
        assert out[name] == pytest.approx(ours.mean(), abs=1e-12)
    assert 0 < out["exact_match"] < 1


def test_scorer_module_inputs_and_errors():
    module = as_evaluate_module("length_chars")
    assert list(module.features) == ["predictions"]  # no references for a reference-free scorer
    assert module.compute(predictions=["ab", "abcd"])["length_chars_scores"] == [2.0, 4.0]
    module = as_evaluate_module(mr.get_scorer("exact_match", normalize=False))
    assert module.compute(predictions=["The cat"], references=["the cat"])["exact_match"] == 0.0
    pattern = r"settings \['normalize'\] apply only to a scorer given by name"
    with pytest.raises(ScorerConfigError, match=pattern):
        as_evaluate_module(mr.get_scorer("exact_match"), normalize=False)
    with pytest.raises(mr.UnknownScorerError, match=r"unknown scorer 'nope'"):
        as_evaluate_module("nope")
    with pytest.raises(ScorerConfigError, match=r"unknown compute argument\(s\) beta"):
        as_evaluate_module("chrf").compute(predictions=["a"], references=["a"], beta=3)
    with pytest.raises(ScorerConfigError, match=r"unknown argument\(s\) word_order"):
        evaluation_module_class()("chrf", word_order=2)
    # metricrm's own input checks name the scorer and the item
    with pytest.raises(ScorerInputError, match=r"^bertscore_f1: response 1 is empty"):
        as_evaluate_module("bertscore_f1").compute(predictions=["a", " "], references=["a", "b"])


def test_written_module_loads_with_evaluate_load(tmp_path, mqm):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = mqm
    folder = tmp_path / "metricrm_chrf_pp"
    script = write_evaluate_module("chrf", folder, word_order=2)
    assert script == folder / "metricrm_chrf_pp.py"
    loaded = evaluate.load(str(folder))
    assert loaded.name == "chrf" and loaded._hash
    out = loaded.compute(predictions=hyps, references=refs)
    expected = [sacrebleu.sentence_chrf(h, [r], word_order=2).score for h, r in zip(hyps, refs)]
    np.testing.assert_allclose(out["chrf_scores"], expected, rtol=0, atol=1e-9)
    direct = as_evaluate_module("chrf", word_order=2).compute(predictions=hyps, references=refs)
    assert out == direct
    chrf_pp = mr.get_scorer("chrf++").score(hyps, references=refs)
    assert out["chrf_scores"] == chrf_pp.scores.tolist()
    # and the loaded folder wraps back into a scorer
    back = mr.get_scorer("hf_evaluate", module=str(folder), score_key="chrf_scores")
    np.testing.assert_array_equal(back.score(hyps, references=refs).scores, out["chrf_scores"])


def test_write_evaluate_module_refuses_bad_requests(tmp_path):
    folder = tmp_path / "metricrm_tf1"
    path = write_evaluate_module("token_f1", folder)
    assert write_evaluate_module("token_f1", folder) == path  # same content: fine
    with pytest.raises(FileExistsError, match=r"exists with different content; pass overwrite="):
        write_evaluate_module("exact_match", folder)
    write_evaluate_module("exact_match", folder, overwrite=True)
    assert "scorer_name = 'exact_match'" in path.read_text()
    with pytest.raises(ScorerConfigError, match=r"must be a Python identifier .*got 'bad-name'"):
        write_evaluate_module("token_f1", tmp_path / "bad-name")
    with pytest.raises(ScorerConfigError, match=r"token_f1: unknown setting\(s\) beta"):
        write_evaluate_module("token_f1", tmp_path / "ok", beta=2)
    with pytest.raises(ScorerConfigError, match=r"must be plain Python literals"):
        odd = type("OddStr", (str,), {})("whitespace")
        write_evaluate_module("length_tokens", tmp_path / "ok", tokenizer=odd)
    assert not (tmp_path / "ok").exists()


def test_import_stays_light():
    code = (
        "import sys, metricrm.adapters.hf_evaluate; "
        "heavy = ('evaluate', 'datasets', 'torch', 'transformers'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
