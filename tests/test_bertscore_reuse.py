"""BERTScore encodes each distinct text once per model and layer (across references, calls and
chunks, in memory and on disk) and still equals ``bert_score.score`` on the same pairs; the
bfloat16 encoder is a signature setting."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.model_location import default_encoder_path
from metricrm.core.errors import ScorerConfigError

MINILM = str(default_encoder_path())


@pytest.fixture(scope="module")
def summeval(shared_data):
    """Three SummEval documents: 48 summaries (16 systems), each with the 11 references."""
    with open(shared_data / "scored" / "summeval" / "summeval.json", encoding="utf-8") as fh:
        docs = list(json.load(fh).values())[:3]
    cands, refs, systems = [], [], []
    for doc in docs:
        for name in sorted(doc["sys_summs"]):
            cands.append(doc["sys_summs"][name]["sys_summ"])
            refs.append(list(doc["ref_summs"]))
            systems.append(name)
    return cands, refs, systems


@pytest.fixture(scope="module")
def bert_score():
    return pytest.importorskip("bert_score")


def _expected(bert_score, cands, refs, **kwargs):
    kwargs = {"model_type": MINILM, "num_layers": 6, **kwargs}
    return [t.numpy().astype(np.float64) for t in bert_score.score(cands, refs, **kwargs)]


def _assert_prf(result, expected, atol=1e-6):
    for key, values in zip(("precision", "recall", "f1"), expected):
        np.testing.assert_allclose(result.details[key], values, rtol=0, atol=atol, err_msg=key)


def _count_encoded(scorer) -> list[int]:
    """Rows (texts) that go through the model, counted by a forward hook on the model itself."""
    scorer.load()
    rows: list[int] = []
    scorer._model.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    return rows


def _distinct(cands, refs) -> int:
    return len(set(cands) | {r for group in refs for r in group})


@pytest.mark.slow
def test_each_text_is_encoded_once_across_references_calls_and_chunks(summeval, bert_score):
    cands, refs, _ = summeval
    distinct = _distinct(cands, refs)
    assert sum(len(r) for r in refs) == 528 and distinct < 90  # 48 summaries, 33 references
    scorer = mr.get_scorer("bertscore_f1")
    encoded = _count_encoded(scorer)
    result = scorer.score(cands, references=refs)
    assert sum(encoded) == distinct  # 528 pairs, each distinct text encoded once
    expected = _expected(bert_score, cands, refs)
    _assert_prf(result, expected)
    # the score cache's chunks and later calls reuse every embedding
    chunked = mr.score_in_chunks(scorer, cands, references=refs, chunk_size=5, progress=False)
    again = scorer.score(cands[::-1], references=refs[::-1])
    assert sum(encoded) == distinct
    _assert_prf(chunked, expected)
    _assert_prf(again, [e[::-1] for e in expected])


@pytest.mark.slow
def test_per_system_calls_reuse_the_shared_references(summeval, bert_score):
    cands, refs, systems = summeval
    scorer = mr.get_scorer("bertscore_f1")
    encoded = _count_encoded(scorer)
    seen_c, seen_r = [], []
    for name in sorted(set(systems))[:5]:
        idx = [i for i, s in enumerate(systems) if s == name]
        c, r = [cands[i] for i in idx], [refs[i] for i in idx]
        _assert_prf(scorer.score(c, references=r), _expected(bert_score, c, r))
        seen_c += c
        seen_r += r
    # 5 systems x 3 documents: the 15 summaries and the 33 references, each once
    assert sum(encoded) == _distinct(seen_c, seen_r) > 33


@pytest.mark.slow
def test_idf_from_each_calls_references_with_stored_embeddings(summeval, bert_score):
    """idf weights come from each call's references even when the embeddings are reused."""
    cands, refs, _ = summeval
    scorer = mr.get_scorer("bertscore_f1", idf=True)
    scorer.score(cands, references=refs)
    few = [r[:2] for r in refs[16:32]]  # another reference set: another idf
    _assert_prf(
        scorer.score(cands[16:32], references=few),
        _expected(bert_score, cands[16:32], few, idf=True),
    )


@pytest.mark.slow
def test_memory_store_is_bounded(summeval, bert_score):
    cands, refs, _ = summeval
    budget_mb = 0.5
    scorer = mr.get_scorer("bertscore_f1", embedding_cache_mb=budget_mb)
    encoded = _count_encoded(scorer)
    result = scorer.score(cands, references=refs)
    store = scorer.embedding_store
    distinct = _distinct(cands, refs)
    assert 0 < store.nbytes <= budget_mb * 2**20 and 0 < len(store) < distinct
    _assert_prf(result, _expected(bert_score, cands, refs))  # a small store changes no score
    scorer.score(cands, references=refs)
    assert sum(encoded) > distinct  # what was dropped is encoded again
    nothing = mr.get_scorer("bertscore_f1", embedding_cache_mb=0)
    nothing.score(cands[:4], references=refs[:4])
    assert len(nothing.embedding_store) == 0


@pytest.mark.slow
def test_disk_store_is_shared_by_later_scorers(summeval, tmp_path):
    cands, refs, _ = summeval
    first = mr.get_scorer("bertscore_f1", embedding_dir=str(tmp_path))
    a = first.score(cands, references=refs)
    second = mr.get_scorer("bertscore_f1", embedding_dir=str(tmp_path))
    encoded = _count_encoded(second)
    b = second.score(cands, references=refs)
    distinct = _distinct(cands, refs)
    assert sum(encoded) == 0 and second.embedding_store.stats.disk == distinct
    for key in ("precision", "recall", "f1"):
        np.testing.assert_array_equal(b.details[key], a.details[key])
    # another layer is another namespace: nothing is reused, and the scores differ
    other = mr.get_scorer("bertscore_f1", num_layers=5, embedding_dir=str(tmp_path))
    encoded = _count_encoded(other)
    c = other.score(cands, references=refs)
    assert sum(encoded) == distinct
    assert np.abs(c.scores - a.scores).max() > 1e-3


@pytest.mark.slow
def test_bfloat16_encoder_moves_scores_a_little(summeval):
    cands, refs, _ = summeval
    full = mr.get_scorer("bertscore_f1").score(cands, references=refs)
    half = mr.get_scorer("bertscore_f1", dtype="bfloat16").score(cands, references=refs)
    diff = np.abs(half.scores - full.scores)
    assert 0 < diff.max() < 2e-2
    assert np.corrcoef(half.scores, full.scores)[0, 1] > 0.99


def test_dtype_is_in_the_signature_and_checked():
    default = mr.get_scorer("bertscore_f1")
    assert "dtype:float32" in default.signature.split("|")
    half = mr.get_scorer("bertscore_f1", dtype="bfloat16")
    assert "dtype:bfloat16" in half.signature.split("|")
    assert mr.get_scorer("bertscore_f1", dtype="float32").signature == default.signature
    # memory and disk stores cannot change a score
    same = mr.get_scorer("bertscore_f1", embedding_cache_mb=1, embedding_dir="/tmp/x")
    assert same.signature == default.signature
    for bad in ("float16", "fp32", 16):
        with pytest.raises(ScorerConfigError, match=r"^bertscore_f1: `dtype` must be one of"):
            mr.get_scorer("bertscore_f1", dtype=bad)
    with pytest.raises(ScorerConfigError, match=r"`embedding_cache_mb` must be a number >= 0"):
        mr.get_scorer("bertscore_f1", embedding_cache_mb=-1)
    with pytest.raises(ScorerConfigError, match=r"expected `embedding_dir` to be a folder path"):
        mr.get_scorer("bertscore_f1", embedding_dir=3)
