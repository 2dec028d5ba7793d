"""The composite scorer: weighted sum of frozen-normalised components, gates, label-dependent
weights, details, signature, files, the cache, and the errors that name the component."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sacrebleu

import metricrm as mr
from metricrm.core.errors import NotFittedError, ScorerConfigError, ScorerInputError
from metricrm.core.types import BaseScorer, ScoreOutput
from metricrm.weighting import Component, Composite, Gate, load_composite

RESPONSES = ["the cat sat on the mat", "a dog", "the cat is on a mat today", "rain"]
REFERENCES = ["the cat sat on the mat", "the dog barked", "the cat is on the mat", "it rains"]
PROMPTS = ["q0", "q1", "q2", "q3"]


def _chrf(hyps, refs):
    return np.array([sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)])


def _composite(**kwargs) -> Composite:
    parts = [
        Component.build("chrf", "chrf", normalizer={"kind": "zscore", "mean": 40.0, "std": 20.0}),
        Component.build(
            "brevity", "length_chars", higher_is_better=False,
            normalizer={"kind": "minmax", "min": -30.0, "max": 0.0},
        ),
    ]  # fmt: skip
    return Composite(parts, kwargs.pop("weights", {"chrf": 1.0, "brevity": 0.5}), cache=False,
                     **kwargs)  # fmt: skip


class Counting(BaseScorer):
    """Length in words; counts the items it scored and keeps the prompts it saw."""

    name = "counting"
    keep_prompt_messages = True
    uses_inputs = frozenset({"prompts"})
    calls: list = []

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        Counting.calls.append((list(responses), prompts))
        return ScoreOutput([float(len(r.split())) for r in responses])


@pytest.fixture
def counting():
    Counting.calls = []
    mr.register_scorer("counting", Counting, overwrite=True)
    yield Counting
    mr.unregister_scorer("counting")


def test_reward_is_the_weighted_sum_of_normalised_components():
    result = _composite().score(RESPONSES, references=REFERENCES)
    chrf = _chrf(RESPONSES, REFERENCES)  # sacrebleu itself
    lengths = np.array([len(r) for r in RESPONSES], dtype=float)
    expected = 1.0 * (chrf - 40.0) / 20.0 + 0.5 * (-lengths + 30.0) / 30.0
    np.testing.assert_allclose(result.scores, expected, rtol=1e-12)
    np.testing.assert_allclose(result.details["chrf.raw"], chrf, rtol=1e-12)
    np.testing.assert_allclose(result.details["chrf.norm"], (chrf - 40.0) / 20.0, rtol=1e-12)
    np.testing.assert_array_equal(result.details["brevity.raw"], lengths)
    np.testing.assert_allclose(result.details["brevity.norm"], (30.0 - lengths) / 30.0)
    assert result.name == "composite" and result.higher_is_better is True


def test_one_item_reward_does_not_depend_on_its_batch():
    c = _composite()
    whole = c.score(RESPONSES, references=REFERENCES).scores
    alone = [c.score([h], references=[r]).scores[0] for h, r in zip(RESPONSES, REFERENCES)]
    np.testing.assert_array_equal(whole, alone)


def test_gates_set_the_floor_and_the_lowest_floor_wins():
    c = _composite(
        gates=[
            Gate("chrf", below=30.0, floor=-3.0),
            {"component": "brevity", "below": 0.5, "floor": -7.0, "on": "normalized"},
        ]
    )
    result = c.score(RESPONSES, references=REFERENCES)
    ungated = _composite().score(RESPONSES, references=REFERENCES).scores
    chrf = _chrf(RESPONSES, REFERENCES)
    short = (30.0 - np.array([len(r) for r in RESPONSES])) / 30.0 < 0.5
    expected = np.where(chrf < 30.0, -3.0, ungated)
    expected = np.where(short, np.where(chrf < 30.0, -7.0, -7.0), expected)
    np.testing.assert_allclose(result.scores, expected)
    np.testing.assert_array_equal(result.details["gated"], (chrf < 30.0) | short)
    assert (chrf < 30.0).any() and short.any() and not ((chrf < 30.0) | short).all()


def test_label_dependent_weights():
    by_label = {"code": {"chrf": 0.0, "brevity": 2.0}}
    c = _composite(by_label=by_label)
    labels = ["code", None, "chat", "code"]
    result = c.score(RESPONSES, references=REFERENCES, labels=labels)
    d = result.details
    default = d["chrf.norm"] + 0.5 * d["brevity.norm"]
    code = 2.0 * d["brevity.norm"]
    np.testing.assert_allclose(result.scores, np.where(np.array(labels) == "code", code, default))
    assert list(d["weights"]) == ["code", "default", "default", "code"]
    strict = _composite(by_label=by_label, unknown_label="error")
    with pytest.raises(ScorerInputError, match=r"item 1 has label 'chat', which has no weights"):
        strict.score(RESPONSES, references=REFERENCES, labels=["code", "chat", "code", "code"])
    with pytest.raises(ScorerInputError, match=r"pass labels="):
        strict.score(RESPONSES, references=REFERENCES)
    assert "by_label:code={chrf=0.0,brevity=2.0}" in c.signature


def test_signature_names_components_weights_and_normalizer_digest():
    c = _composite()
    sig = c.signature
    assert sig.startswith("composite|metricrm:")
    for part in c.components:
        assert f"component.{part.label}:[{part.scorer.signature}]" in sig
    assert "weights:chrf=1.0,brevity=0.5" in sig
    assert f"normalizers:{c.normalizer_digest()}" in sig
    assert _composite(weights={"chrf": 1.0, "brevity": 0.25}).signature != sig
    other = Component.build(
        "chrf",
        "chrf",
        settings={"word_order": 2},
        normalizer={"kind": "zscore", "mean": 40.0, "std": 20.0},
    )
    assert Composite([other, c.components[1]], c.weights, cache=False).signature != sig
    moved = Component.build(
        "chrf", "chrf", normalizer={"kind": "zscore", "mean": 41.0, "std": 20.0}
    )
    assert Composite([moved, c.components[1]], c.weights, cache=False).signature != sig
    assert Composite(c.components, c.weights, cache=True).signature == sig  # cache is neutral


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_and_load_give_identical_scores(tmp_path, suffix):
    c = _composite(
        by_label={"code": {"chrf": 0.0, "brevity": 2.0}},
        gates=[Gate("chrf", 30.0, -3.0)],
        info={"note": "hand-made"},
    )
    path = c.save(tmp_path / f"reward{suffix}")
    back = mr.get_scorer("composite", path=str(path), cache=False)
    labels = ["code", "x", "code", "y"]
    a = c.score(RESPONSES, references=REFERENCES, labels=labels)
    b = back.score(RESPONSES, references=REFERENCES, labels=labels)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert back.signature.replace("composite|", "", 1) == c.signature.replace("composite|", "", 1)
    assert back.info == {"note": "hand-made"}
    for k in a.details:
        np.testing.assert_array_equal(a.details[k], b.details[k])


def test_relative_path_settings_are_read_from_the_file_folder(tmp_path):
    inner = _composite().save(tmp_path / "inner.json")
    (tmp_path / "outer.yaml").write_text(
        "components:\n"
        "  inner: {scorer: composite, settings: {path: inner.json, cache: false}, "
        "normalizer: {kind: identity}}\n"
        "weights: {inner: 2.0}\n"
    )
    outer = load_composite(tmp_path / "outer.yaml", cache=False)
    inner_scores = load_composite(inner, cache=False).score(RESPONSES, references=REFERENCES).scores
    np.testing.assert_allclose(
        outer.score(RESPONSES, references=REFERENCES).scores, 2 * inner_scores
    )


# ---------------------------------------------------------------------------------- errors


def _write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


GOOD = "  chrf: {scorer: chrf, normalizer: {kind: zscore, mean: 40, std: 20}}\n"


@pytest.mark.parametrize(
    "components, weights, error, message",
    [
        (GOOD, "{chrf: 1.0, bleu: 1.0}", ScorerConfigError, r"weight for 'bleu', which is not a component"),
        (GOOD + "  len: {scorer: length_chars, normalizer: {kind: identity}}\n", "{chrf: 1.0}",
         ScorerConfigError, r"component 'len' has no weight"),
        (GOOD, "{chrf: -0.5}", ScorerConfigError, r"component 'chrf' has weight -0.5; expected a finite number >= 0"),
        (GOOD, "{chrf: .nan}", ScorerConfigError, r"component 'chrf' has weight nan"),
        (GOOD, "{chrf: 0}", ScorerConfigError, r"every weight is 0"),
        ("  chrf: {scorer: chrf, normalizer: {kind: zscore}}\n", "{chrf: 1}", NotFittedError,
         r"component 'chrf': the zscore normalizer was never fitted"),
        ("  chrf: {scorer: chrf}\n", "{chrf: 1}", mr.DataFormatError,
         r"component 'chrf': missing key `normalizer`"),
        ("  judge: {scorer: lm_judgement, normalizer: {kind: identity}}\n", "{judge: 1}",
         mr.UnknownScorerError, r"component 'judge': unknown scorer 'lm_judgement'"),
        ("  chrf: {scorer: chrf, settings: {order: 3}, normalizer: {kind: identity}}\n",
         "{chrf: 1}", ScorerConfigError, r"component 'chrf': chrf: unknown setting\(s\) order"),
    ],
)  # fmt: skip
def test_bad_composite_files_name_the_component(tmp_path, components, weights, error, message):
    path = _write(tmp_path, f"components:\n{components}weights: {weights}\n")
    with pytest.raises(error, match=message) as info:
        load_composite(path)
    assert str(path) in str(info.value)


def test_combining_scores_names_the_missing_or_mismatched_component():
    c = _composite()
    with pytest.raises(ScorerInputError, match=r"no scores for component 'brevity'"):
        c.combine({"chrf": [1.0, 2.0]})
    with pytest.raises(
        ScorerInputError,
        match=r"components have different lengths: 'chrf' has 2 scores, 'brevity' has 3",
    ):
        c.combine({"chrf": [1.0, 2.0], "brevity": [1.0, 2.0, 3.0]})


def test_a_component_needing_references_says_so():
    with pytest.raises(ScorerInputError, match=r"component 'chrf' \(chrf\) needs references"):
        _composite().score(RESPONSES)


def test_gate_on_an_unknown_component_is_refused():
    with pytest.raises(
        ScorerConfigError, match=r"gate on component 'safety', which is not a component"
    ):
        _composite(gates=[Gate("safety", 0.5, -1.0)])


# ------------------------------------------------------------------------- cache and inputs


def test_each_component_is_scored_once_through_the_cache(tmp_path, counting):
    cache = mr.ScoreCache(tmp_path / "cache")
    part = Component.build("words", "counting", normalizer={"kind": "identity"})
    c = Composite([part], {"words": 1.0}, cache=cache)
    responses = RESPONSES + RESPONSES[:2]  # two repeats: scored once each
    first = c.score(responses, prompts=PROMPTS + PROMPTS[:2])
    assert sum(len(r) for r, _ in counting.calls) == 4
    again = c.with_weights({"words": 3.0}).score(responses, prompts=PROMPTS + PROMPTS[:2])
    assert sum(len(r) for r, _ in counting.calls) == 4  # re-weighting runs no scorer
    np.testing.assert_array_equal(again.scores, 3 * first.scores)
    stats = mr.CacheStats()
    alone = mr.score_with_cache(mr.get_scorer("counting"), RESPONSES, prompts=PROMPTS,
                                cache=cache, stats=stats, progress=False)  # fmt: skip
    assert stats.hits == 4 and stats.computed == 0  # the component's own cache entries
    np.testing.assert_array_equal(alone.scores, first.scores[:4])


def test_chat_prompts_and_responses_reach_components_as_given(counting):
    part = Component.build("words", "counting", normalizer={"kind": "identity"})
    c = Composite([part], {"words": 1.0}, cache=False)
    prompts = [[{"role": "user", "content": "hi there"}]]
    responses = [[{"role": "assistant", "content": "hello you two"}]]
    assert c.score(responses, prompts=prompts).scores.tolist() == [3.0]
    assert counting.calls[-1][1] == prompts  # messages, not flattened text


def test_meta_evaluate_scores_a_composite_like_any_scorer(tmp_path):
    pairs = mr.load_sample("preference")
    parts = [
        Component.build("brevity", "length_chars", higher_is_better=False,
                        normalizer={"kind": "zscore", "mean": -60.0, "std": 40.0}),
        Component.build("words", "length_tokens", normalizer={"kind": "rank", "points": [1, 5, 9, 30]}),
    ]  # fmt: skip
    c = Composite(parts, {"brevity": 1.0, "words": 0.3}, cache=tmp_path / "cache")
    frame = mr.meta_evaluate({"mix": c}, pairs, n_resamples=200, cache=tmp_path / "cache")
    row = frame[(frame.subset == "all") & (frame.statistic == "accuracy")].iloc[0]
    scored = c.score([p.chosen for p in pairs] + [p.rejected for p in pairs],
                     prompts=[p.prompt for p in pairs] * 2)  # fmt: skip
    n = len(pairs)
    ties = [p.label == "tie" for p in pairs]
    outcomes = mr.meta.pairwise_outcomes(scored.scores[:n], scored.scores[n:], human_ties=ties)
    assert row.value == pytest.approx(np.nanmean(outcomes))
    assert row.signature == c.signature


def test_component_details_survive_the_score_cache(tmp_path):
    cache = mr.ScoreCache(tmp_path / "c")
    c = _composite()
    fresh = c.score(RESPONSES, references=REFERENCES)
    first = mr.score_with_cache(c, RESPONSES, references=REFERENCES, cache=cache, progress=False)
    cached = mr.score_with_cache(c, RESPONSES, references=REFERENCES, cache=cache, progress=False)
    np.testing.assert_array_equal(cached.scores, fresh.scores)
    np.testing.assert_allclose(cached.details["chrf.norm"], fresh.details["chrf.norm"])
    assert json.dumps(first.details["brevity.raw"].tolist())
