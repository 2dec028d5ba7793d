"""Causal-LM scoring with shared prompt prefixes and int8 linear layers.

The shared-prefix path must give the plain path's scores (to float tolerance, whatever the
batching), run fewer tokens, and fall back cleanly where a model's cache cannot be shared.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.batching import plan_chunks, score_in_chunks
from metricrm.core.errors import PartialScoringError, ScorerConfigError

from .model_fixtures import smollm2_model_path, tiny_causal_lm_path

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

HH = "preference/hh-rlhf/harmless-base_test.jsonl.gz"
PROMPTS = (
    ["Where is the cat? Tell me where it went this morning."] * 3
    + [[{"role": "user", "content": "What is the capital of France, and why?"}]] * 2
    + ["Say hi."]
    + ["Name a colour that rhymes with bed and tell me a story about it."] * 4
)
RESPONSES = [
    "The cat sat on the mat.",
    "It is outside in the garden, far away from the house.",
    "no",
    "Paris is the capital of France.",
    "Lyon, because it has the best food.",
    "Hi!",
    "Red. Once upon a time there was a red fox.",
    "Red",
    "Bed is not a colour, but red is.",
    "I do not know.",
]


@pytest.fixture(scope="module")
def tiny():
    return tiny_causal_lm_path()


def _pair(name, path, **settings):
    plain = mr.get_scorer(name, model=path, share_prefix=False, **settings)
    shared = mr.get_scorer(name, model=path, **settings)
    return plain, shared


@pytest.mark.parametrize("name", ["lm_logprob", "lm_perplexity", "lm_judge"])
def test_shared_prefix_equals_the_plain_path_at_every_budget(name, tiny):
    plain, shared = _pair(name, tiny)
    expected = plain.score(RESPONSES, prompts=PROMPTS).scores
    for budget, cap in ((16, None), (48, 1), (64, 3), (10**5, None)):
        shared.max_tokens_per_batch, shared.max_batch_size = budget, cap
        got = shared.score(RESPONSES, prompts=PROMPTS)
        np.testing.assert_allclose(got.scores, expected, rtol=1e-5, atol=1e-6)
    assert shared.signature == plain.signature  # score-neutral: one cache entry for both
    assert shared.engine.share_disabled is None


def test_shared_prefix_runs_fewer_tokens(tiny):
    plain, shared = _pair("lm_logprob", tiny)
    for s in (plain, shared):
        s.max_tokens_per_batch = 10**5
        s.score(RESPONSES, prompts=PROMPTS)
    items = shared.encode(RESPONSES, PROMPTS)
    total = sum(len(it.ids) for it in items)
    assert plain.engine.counters["tokens"] >= total
    # each shared prompt is counted once (padding aside), so the saving is at least a third
    assert shared.engine.counters["tokens"] < 0.8 * plain.engine.counters["tokens"]
    assert shared.engine.counters["calls"] >= 3  # plain items, prefixes, suffixes


def test_responses_of_very_different_lengths_share_a_prompt(tiny):
    """Suffixes of 1 to ~200 tokens under one prompt: the scores stay the plain path's, and no
    prefix or suffix row is padded by more than MAX_PADDING (padding to the longest response
    used to cost more than the shared prompt saved)."""
    from metricrm.adapters.causal_lm.prefix import MAX_PADDING, plan_groups

    words = "the quick brown fox jumps over a lazy dog while it rains".split()
    rng = np.random.default_rng(3)
    prompts, responses = [], []
    for k, prompt in enumerate(["Tell me a story.", "Describe the weather today, please.", "Hi"]):
        for n in (1, 2, 5, 13, 40, 90, 7 + k):
            prompts.append(prompt)
            responses.append(" ".join(rng.choice(words, size=n)))
    plain, shared = _pair("lm_logprob", tiny)
    want = plain.score(responses, prompts=prompts).scores
    items = shared.encode(responses, prompts)
    ids = [it.ids for it in items]
    left, groups = plan_groups(ids, [it.start - 1 for it in items], [it.share for it in items])
    assert not left and len(groups) == 3
    suffixes = [len(ids[i]) - g.length for g in groups for i in g.members]
    assert max(suffixes) > 20 * min(suffixes)
    real = sum(g.length for g in groups) + sum(suffixes)
    for budget in (64, 512, 10**5):
        shared.max_tokens_per_batch = budget
        before = shared.engine.counters["tokens"]
        got = shared.score(responses, prompts=prompts).scores
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        padded = shared.engine.counters["tokens"] - before
        assert real <= padded <= real / (1 - MAX_PADDING)


def test_dpo_reward_and_pairwise_judge_share_too(tiny):
    from metricrm.adapters.causal_lm import PairwiseJudge

    other = tiny_causal_lm_path(seed=1)
    plain = mr.get_scorer("dpo_reward", policy=tiny, reference=other, share_prefix=False)
    shared = mr.get_scorer("dpo_reward", policy=tiny, reference=other)
    np.testing.assert_allclose(
        shared.score(RESPONSES, prompts=PROMPTS).scores,
        plain.score(RESPONSES, prompts=PROMPTS).scores,
        rtol=1e-5,
        atol=1e-6,
    )
    assert shared.ref_engine.share_prefix and shared.ref_engine.counters["calls"] >= 2
    prompts, a, b = PROMPTS[:5], RESPONSES[:5], RESPONSES[5:]
    judge, judge0 = PairwiseJudge(tiny), PairwiseJudge(tiny, share_prefix=False)
    got, want = judge.compare_details(prompts, a, b), judge0.compare_details(prompts, a, b)
    for key in ("p_a_better", "p_a_first", "label_mass"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7)
    assert judge.engine.counters["tokens"] < judge0.engine.counters["tokens"]
    assert judge.signature == judge0.signature


def test_a_model_whose_cache_cannot_be_shared_falls_back(tiny, monkeypatch):
    from metricrm.adapters.causal_lm import prefix

    plain, shared = _pair("lm_logprob", tiny)
    monkeypatch.setattr(prefix, "cache_tensors", lambda cache: None)
    got = shared.score(RESPONSES, prompts=PROMPTS).scores
    np.testing.assert_allclose(got, plain.score(RESPONSES, prompts=PROMPTS).scores, rtol=1e-5)
    assert "cannot be shared" in shared.engine.share_disabled


def test_truncated_items_share_only_what_they_have_in_common(tiny):
    plain, shared = _pair("lm_logprob", tiny, max_length=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = plain.score(RESPONSES, prompts=PROMPTS)
        got = shared.score(RESPONSES, prompts=PROMPTS)
    assert got.details["truncated"].any()
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-6)


def test_common_length_and_groups():
    from metricrm.adapters.causal_lm.prefix import common_length, plan_groups

    assert common_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert common_length([[7, 8], [7, 8]]) == 2
    ids = [[1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 9], [1, 2, 3], [8, 8, 8, 8, 8, 8]]
    plain, groups = plan_groups(ids, [5, 5, 2, 3], ["a", "a", None, "b"])
    assert plain == [2, 3]  # no key; alone under its key
    assert [(g.length, g.members) for g in groups] == [(6, [0, 1])]  # capped at first needed + 1
    _, groups = plan_groups(ids[:2], [6, 6], ["a", "a"])
    assert groups[0].length == 6  # the common run, leaving each item a token of its own


def test_options_are_checked_and_signed(tiny):
    with pytest.raises(ScorerConfigError, match="lm_logprob: `quantize` must be one of"):
        mr.get_scorer("lm_logprob", model=tiny, quantize="int4")
    with pytest.raises(ScorerConfigError, match="share_prefix"):
        mr.get_scorer("lm_logprob", model=tiny, share_prefix="yes")
    plain = mr.get_scorer("lm_logprob", model=tiny)
    assert "quantize" not in plain.signature  # float signatures are unchanged by this release
    q = mr.get_scorer("lm_logprob", model=tiny, quantize="int8")
    assert "|quantize:int8-per-token|" in q.signature
    assert "share_prefix" in plain.score_neutral


def test_int8_layers_do_not_depend_on_the_batch(tiny):
    """One scale per token: an item's scores are bit-identical alone or batched with others
    (torch's quantize_dynamic scales a whole batch by one number and fails this)."""
    from metricrm.adapters.causal_lm.quantize import _int8_linear_class

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    layer = _int8_linear_class()(linear)
    x = torch.randn(3, 5, 64)
    loud = x.clone()
    loud[1:] *= 50
    assert torch.equal(layer(x[:1]), layer(loud)[:1])
    assert (layer(x) - linear(x)).abs().max() < 0.05 * linear(x).abs().max()
    q = mr.get_scorer("lm_logprob", model=tiny, quantize="int8", share_prefix=False)
    alone = [q.score([r], prompts=[p]).scores[0] for p, r in zip(PROMPTS[:4], RESPONSES[:4])]
    together = q.score(RESPONSES[:4], prompts=PROMPTS[:4]).scores
    np.testing.assert_allclose(together, alone, rtol=1e-6)


def test_a_loaded_model_is_copied_before_quantising(tiny):
    base = mr.get_scorer("lm_logprob", model=tiny)
    q = mr.get_scorer(
        "lm_logprob", model=base.lm.model, tokenizer=base.lm.tokenizer, quantize="int8"
    )
    assert type(base.lm.model.model.layers[0].mlp.up_proj).__name__ == "Linear"
    assert type(q.lm.model.model.layers[0].mlp.up_proj).__name__ == "Int8Linear"
    assert type(q.lm.model.lm_head).__name__ == "Linear"  # the vocabulary head stays float


# -- the runners bring a prompt's responses into one chunk -------------------------------------


def test_chunks_keep_a_prompts_responses_together(tiny):
    scorer = mr.get_scorer("lm_logprob", model=tiny)
    prompts = ["a", "b", "a", "c", "b", "a"]
    assert plan_chunks(scorer, range(6), prompts, 3) == [[0, 2, 5], [1, 4, 3]]
    assert plan_chunks(scorer, range(6), prompts, 2) == [[0, 2], [5], [1, 4], [3]]
    chrf = mr.get_scorer("chrf")
    assert plan_chunks(chrf, range(6), prompts, 4) == [[0, 1, 2, 3], [4, 5]]
    whole = scorer.score(RESPONSES, prompts=PROMPTS).scores
    mixed = [RESPONSES[i] for i in (0, 3, 6, 1, 4, 7, 2, 5, 8, 9)]
    mixed_prompts = [PROMPTS[i] for i in (0, 3, 6, 1, 4, 7, 2, 5, 8, 9)]
    got = score_in_chunks(scorer, mixed, prompts=mixed_prompts, chunk_size=4, progress=False)
    np.testing.assert_allclose(got.scores, whole[[0, 3, 6, 1, 4, 7, 2, 5, 8, 9]], rtol=1e-5)


def test_partial_result_is_the_finished_prefix_in_input_order(tiny):
    scorer = mr.get_scorer("lm_logprob", model=tiny)
    calls = []
    real = scorer.score

    def flaky(responses, **kwargs):
        calls.append(list(responses))
        if len(calls) == 2:
            raise RuntimeError("backend crashed")
        return real(responses, **kwargs)

    scorer.score = flaky
    prompts = ["a", "b", "a", "b", "c", "c"]
    with pytest.raises(PartialScoringError, match="the first 1 items finished") as info:
        score_in_chunks(scorer, RESPONSES[:6], prompts=prompts, chunk_size=2, progress=False)
    assert calls[0] == [RESPONSES[0], RESPONSES[2]]  # prompt "a" first
    partial = info.value.partial
    assert info.value.failed_at == 1 and len(partial) == 1
    assert partial.scores[0] == pytest.approx(real([RESPONSES[0]], prompts=["a"]).scores[0])


# -- SmolLM2 on real HH-RLHF pairs --------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_shared_prefix_matches_plain_on_hh_rlhf(shared_data):
    from metricrm.data.hh_rlhf import load_hh_rlhf

    pairs = [p for p in load_hh_rlhf(shared_data / HH)[:300] if p.chosen.strip() and p.rejected]
    picks = np.random.default_rng(0).choice(len(pairs), 12, replace=False)
    pairs = [pairs[i] for i in picks]
    prompts = [p.prompt for p in pairs] * 2
    responses = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    plain = mr.get_scorer("lm_logprob", model=smollm2_model_path(), share_prefix=False)
    shared = mr.get_scorer(
        "lm_logprob", model=plain.lm.model, tokenizer=plain.lm.tokenizer, share_prefix=True
    )
    want = plain.score(responses, prompts=prompts)
    assert plain.max_tokens_per_batch == 2048
    for budget in (512, 2048):
        shared.max_tokens_per_batch = budget
        before = shared.engine.counters["tokens"]
        got = shared.score(responses, prompts=prompts)
        np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(got.details["n_tokens"], want.details["n_tokens"])
    # at the same budget, sharing the prompts runs fewer (padded) tokens, and no row is padded
    # by more than MAX_PADDING
    from metricrm.adapters.causal_lm.prefix import MAX_PADDING, plan_groups

    padded = shared.engine.counters["tokens"] - before
    assert padded < plain.engine.counters["tokens"]
    items = shared.encode(responses, prompts)
    ids = [it.ids for it in items]
    left, groups = plan_groups(ids, [it.start - 1 for it in items], [it.share for it in items])
    real = sum(len(ids[i]) for i in left) + sum(len(ids[i]) for g in groups for i in g.members)
    real -= sum(g.length * (len(g.members) - 1) for g in groups)
    assert padded <= real / (1 - MAX_PADDING)
