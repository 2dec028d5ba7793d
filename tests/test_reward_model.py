"""Sequence-classification reward models: real HH-RLHF data, batching, templates, bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.core.token_batching import plan_batches

from .model_fixtures import (
    minilm_reward_model_path,
    tiny_base_model_path,
    tiny_reward_model_path,
)

pytest.importorskip("torch")
pytest.importorskip("transformers")

HH = "preference/hh-rlhf/harmless-base_test.jsonl.gz"
PROMPTS = ["Where is the cat?", [{"role": "user", "content": "Capital of France?"}], "Say hi."]
RESPONSES = ["The cat sat on the mat.", "Paris is the capital of France.", "Hi!"]


@pytest.fixture(scope="module")
def hh_items(shared_data):
    """40 HH-RLHF (prompt messages, chosen response) items spread over the length range."""
    from metricrm.data.hh_rlhf import load_hh_rlhf

    pairs = [p for p in load_hh_rlhf(shared_data / HH)[:300] if p.chosen.strip()]
    by_len = sorted(pairs, key=lambda p: sum(len(m["content"]) for m in p.prompt) + len(p.chosen))
    picks = [by_len[int(i)] for i in np.linspace(0, len(by_len) - 1, 40)]
    order = np.random.default_rng(0).permutation(len(picks))
    return [list(picks[i].prompt) for i in order], [picks[i].chosen for i in order]


@pytest.fixture(scope="module")
def minilm_rm():
    return mr.get_scorer("reward_model", model=minilm_reward_model_path(), max_length=256)


def _with_batching(scorer, budget, cap=None):
    scorer.max_tokens_per_batch, scorer.max_batch_size = budget, cap
    return scorer


@pytest.mark.slow
def test_batch_size_invariance_and_order_on_hh_rlhf(minilm_rm, hh_items):
    """1, 4 and 32 items per batch, and a 2048-token budget on shuffled input, agree."""
    prompts, responses = hh_items
    encoded, _ = minilm_rm.encode(responses, prompts)
    lengths = [len(e["input_ids"]) for e in encoded]
    assert max(lengths) == 256 and min(lengths) < 100  # mixed lengths, some truncated
    assert {len(b) for b in plan_batches(lengths, 1)} == {1}
    for cap in (4, 32):
        assert max(len(b) for b in plan_batches(lengths, 10**9, max_batch_size=cap)) == cap
    perm = np.random.default_rng(1).permutation(len(responses))
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, budget, cap in (("1", 1, None), ("4", 10**9, 4), ("32", 10**9, 32)):
            scorer = _with_batching(minilm_rm, budget, cap)
            runs[label] = scorer.score(responses, prompts=prompts).scores
        shuffled = _with_batching(minilm_rm, 2048).score(
            [responses[i] for i in perm], prompts=[prompts[i] for i in perm]
        )
    np.testing.assert_allclose(runs["4"], runs["1"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(runs["32"], runs["1"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(shuffled.scores, runs["1"][perm], rtol=0, atol=1e-4)
    assert np.std(runs["1"]) > 0  # not a constant head


@pytest.mark.slow
def test_scores_equal_a_direct_forward_pass(minilm_rm, hh_items):
    """Our score is the head output of the model on the documented plain-text rendering."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = minilm_reward_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    prompts, responses = hh_items
    idx = [0, 1, 2, 16, 17, 19]  # 16 and 17 are longer than 256 tokens
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _with_batching(minilm_rm, 4096).score(
            [responses[i] for i in idx], prompts=[prompts[i] for i in idx]
        )
    assert "template:plain'{role}: {content}|\\n\\n'" in result.signature
    names = {"user": "User", "assistant": "Assistant"}
    tok.truncation_side = "left"
    for k, i in enumerate(idx):
        turns = prompts[i] + [{"role": "assistant", "content": responses[i]}]
        text = "\n\n".join(f"{names[m['role']]}: {m['content']}" for m in turns)
        enc = tok(text, truncation=True, max_length=256, return_tensors="pt")
        with torch.no_grad():
            expected = model(**enc).logits[0, 0].item()
        assert result.scores[k] == pytest.approx(expected, abs=1e-5)
        assert result.details["n_tokens"][k] == enc["input_ids"].shape[1]
        assert result.details["truncated"][k] == (len(tok(text)["input_ids"]) > 256)
    assert result.details["truncated"].sum() == 2


def test_chat_template_and_last_token_pooling():
    """A decoder classifier with a chat template scores the templated text at its last token."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tiny_reward_model_path()
    scorer = mr.get_scorer("reward_model", model=path, max_tokens_per_batch=10**6)
    result = scorer.score(RESPONSES, prompts=PROMPTS)
    assert "template:chat" in result.signature and "pad:model" in result.signature
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    for k, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        messages = (
            [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        ) + [{"role": "assistant", "content": response}]
        text = tok.apply_chat_template(messages, tokenize=False)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            hidden = model.model(ids).last_hidden_state[0, -1]
            expected = model.score(hidden)[0].item()
        assert result.scores[k] == pytest.approx(expected, abs=1e-5)


def test_string_and_message_prompts_agree():
    scorer = mr.get_scorer("reward_model", model=tiny_reward_model_path())
    a = scorer.score(["Paris."], prompts=["Capital of France?"]).scores
    b = scorer.score(
        ["Paris."], prompts=[[{"role": "user", "content": "Capital of France?"}]]
    ).scores
    np.testing.assert_array_equal(a, b)
    c = scorer.score(["Paris."], prompts=["Capital of Spain?"]).scores
    assert a[0] != c[0]  # the prompt is part of the input


def test_multi_output_head():
    path = tiny_reward_model_path(num_labels=3, labels=("bad", "ok", "good"))
    with pytest.raises(
        ScorerConfigError, match=r"3 outputs \(0=logit_bad, 1=logit_ok, 2=logit_good\)"
    ):
        mr.get_scorer("reward_model", model=path)
    good = mr.get_scorer("reward_model", model=path, output="good").score(
        RESPONSES, prompts=PROMPTS
    )
    assert set(good.details) == {"logit_bad", "logit_ok", "logit_good", "truncated", "n_tokens"}
    np.testing.assert_array_equal(good.scores, good.details["logit_good"])
    assert "select:output:logit_good" in good.signature
    by_index = mr.get_scorer("reward_model", model=path, output=2).score(RESPONSES, prompts=PROMPTS)
    np.testing.assert_array_equal(by_index.scores, good.scores)

    weighted = mr.get_scorer("reward_model", model=path, weights=[-1.0, 0.0, 2.0])
    result = weighted.score(RESPONSES, prompts=PROMPTS)
    d = result.details
    np.testing.assert_allclose(result.scores, 2 * d["logit_good"] - d["logit_bad"], atol=1e-12)
    assert "select:weights:-1,0,2" in result.signature
    by_name = mr.get_scorer("reward_model", model=path, weights={"good": 2.0, "bad": -1.0})
    np.testing.assert_allclose(by_name.score(RESPONSES, prompts=PROMPTS).scores, result.scores)

    soft = mr.get_scorer("reward_model", model=path, output="good", activation="softmax")
    logits = np.stack([d["logit_bad"], d["logit_ok"], d["logit_good"]], axis=1)
    expected = np.exp(logits[:, 2]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(soft.score(RESPONSES, prompts=PROMPTS).scores, expected, atol=1e-9)

    with pytest.raises(ScorerConfigError, match="one weight per head output"):
        mr.get_scorer("reward_model", model=path, weights=[1.0, 2.0])
    with pytest.raises(ScorerConfigError, match="either `output` or `weights`"):
        mr.get_scorer("reward_model", model=path, output=0, weights=[1, 1, 1])
    with pytest.raises(ScorerConfigError, match="'great' is not one of"):
        mr.get_scorer("reward_model", model=path, output="great")


def test_truncation_is_counted_and_warned():
    scorer = mr.get_scorer("reward_model", model=tiny_reward_model_path(), max_length=24)
    long = "word " * 60
    with pytest.warns(
        UserWarning, match=r"truncated 2 of 3 items to max_length=24 .*'left'.*items 0, 2"
    ):
        result = scorer.score([long, "short", long + "more"], prompts=["q", "q", "q"])
    np.testing.assert_array_equal(result.details["truncated"], [True, False, True])
    assert result.details["n_tokens"].tolist()[0] == 24 and result.details["n_tokens"][1] < 24
    assert "max_length:24" in result.signature and "truncation:left" in result.signature

    strict = mr.get_scorer(
        "reward_model", model=tiny_reward_model_path(), max_length=24, truncation=False
    )
    with pytest.raises(
        ScorerInputError, match=r"^reward_model: item 1 is \d+ tokens long.*max_length=24"
    ):
        strict.score(["short", long], prompts=["q", "q"])
    assert "truncation:off" in strict.signature


def test_right_truncation_keeps_the_start():
    left = mr.get_scorer("reward_model", model=tiny_reward_model_path(), max_length=16)
    right = mr.get_scorer(
        "reward_model", model=tiny_reward_model_path(), max_length=16, truncation_side="right"
    )
    texts = ["alpha beta gamma " * 10 + "one", "alpha beta gamma " * 10 + "two"]
    with pytest.warns(UserWarning):
        r = right.score(texts).scores
    with pytest.warns(UserWarning):
        l_ = left.score(texts).scores
    assert r[0] == r[1]  # the differing last word was cut
    assert l_[0] != l_[1]  # ... and kept


def test_response_longer_than_the_model_limit():
    path = tiny_reward_model_path(max_positions=64)
    scorer = mr.get_scorer("reward_model", model=path)
    assert scorer.max_length == 64  # the model's own limit by default
    with pytest.warns(UserWarning, match="truncated 1 of 1 items to max_length=64"):
        result = scorer.score(["token " * 200])
    assert result.details["n_tokens"][0] == 64
    with pytest.raises(ScorerConfigError, match="max_length=100 exceeds the model's limit of 64"):
        mr.get_scorer("reward_model", model=path, max_length=100)


def test_empty_response_is_scored_like_any_reply():
    """Real preference data has empty replies; a reward model scores the empty turn."""
    scorer = mr.get_scorer("reward_model", model=tiny_reward_model_path())
    both = scorer.score(["fine", "   ", ""], prompts=["q", "q", "q"]).scores
    alone = [scorer.score([r], prompts=["q"]).scores[0] for r in ("fine", "   ", "")]
    np.testing.assert_allclose(both, alone, atol=1e-6)
    assert both[2] != both[0]


def test_model_without_pad_token_uses_eos():
    path = tiny_reward_model_path(pad_token=False)
    with pytest.warns(UserWarning, match="no pad token; using the end-of-sequence token"):
        scorer = mr.get_scorer("reward_model", model=path)
    assert "pad:eos" in scorer.signature
    responses = ["a", "a much longer response with many words in it", "mid length one"]
    one = _with_batching(scorer, 1).score(responses).scores
    together = _with_batching(scorer, 10**6).score(responses).scores
    np.testing.assert_allclose(together, one, atol=1e-5)


def test_tokenizer_without_chat_template_falls_back_to_plain_text():
    path = tiny_reward_model_path(architecture="bert", chat_template=False)
    scorer = mr.get_scorer(
        "reward_model", model=path, plain_format="<{role}> {content}", plain_separator="\n"
    )
    assert "template:plain'<{role}> {content}|\\n'" in scorer.signature
    assert scorer.score(RESPONSES, prompts=PROMPTS).scores.shape == (3,)
    with pytest.raises(
        ScorerConfigError, match="template='chat' but the tokenizer has no chat template"
    ):
        mr.get_scorer("reward_model", model=path, template="chat")
    with pytest.raises(ScorerConfigError, match="plain_format must contain"):
        mr.get_scorer("reward_model", model=path, plain_format="{role} only")


def test_pair_mode_uses_token_types():
    path = tiny_reward_model_path(architecture="bert", chat_template=False)
    scorer = mr.get_scorer("reward_model", model=path, template="pair")
    encoded, _ = scorer.encode(["an answer"], ["a question"])
    assert encoded[0]["token_type_ids"][-1] == 1 and encoded[0]["token_type_ids"][0] == 0
    assert "template:pair" in scorer.signature


def test_hub_id_when_offline(monkeypatch):
    from metricrm.core.errors import ModelUnavailableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelUnavailableError, match=r"'no-such-org/no-such-reward-model'.*local model folder"
    ):
        mr.get_scorer("reward_model", model="no-such-org/no-such-reward-model")


def test_constructors_agree():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from metricrm.adapters.reward_model import RewardModel

    path = tiny_reward_model_path()
    via_registry = mr.get_scorer("reward_model", model=path).score(RESPONSES, prompts=PROMPTS)
    via_classmethod = RewardModel.from_pretrained(path).score(RESPONSES, prompts=PROMPTS)
    loaded = RewardModel(
        AutoModelForSequenceClassification.from_pretrained(path),
        AutoTokenizer.from_pretrained(path),
    ).score(RESPONSES, prompts=PROMPTS)
    np.testing.assert_array_equal(via_classmethod.scores, via_registry.scores)
    np.testing.assert_allclose(loaded.scores, via_registry.scores, atol=1e-6)
    assert re.search(r"model:local:rm-llama-1-11-512-None@[0-9a-f]{16}", via_registry.signature)
    with pytest.raises(ScorerConfigError, match="a loaded model needs its `tokenizer`"):
        RewardModel(AutoModelForSequenceClassification.from_pretrained(path))
    with pytest.raises(ScorerConfigError, match="`truncation_side` must be one of"):
        RewardModel(path, truncation_side="middle")


# -- a head that is not in the checkpoint --------------------------------------------------------


def test_plain_encoder_as_reward_model_is_refused():
    """The MiniLM encoder has no classification head: transformers would initialise one at
    random, and every score would be noise."""
    from metricrm.adapters.model_location import default_encoder_path

    for model in (str(default_encoder_path()), tiny_base_model_path()):
        with pytest.raises(
            ScorerConfigError,
            match=r"^reward_model: .* not in the checkpoint .*newly initialised at random: "
            r"(classifier\.bias, classifier\.weight|score\.weight).*allow_untrained_head=True",
        ):
            mr.get_scorer("reward_model", model=model, output=0)


def test_untrained_head_when_allowed_is_marked_in_signature_and_details():
    import torch

    path = tiny_base_model_path()
    scorers = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        with pytest.warns(UserWarning, match=r"score\.weight .*random"):
            scorers.append(mr.get_scorer("reward_model", model=path, allow_untrained_head=True))
    results = [s.score(RESPONSES, prompts=PROMPTS) for s in scorers]
    for scorer, result in zip(scorers, results):
        assert re.search(r"\+untrained:score\.weight@[0-9a-f]{16}\|", scorer.signature)
        assert result.details["untrained_head"].tolist() == [True] * len(RESPONSES)
    # The same random head (same seed) is the same signature and scores; another head is not.
    assert scorers[0].signature == scorers[1].signature != scorers[2].signature
    np.testing.assert_array_equal(results[0].scores, results[1].scores)
    assert not np.allclose(results[0].scores, results[2].scores)
    # A complete checkpoint carries no mark.
    complete = mr.get_scorer("reward_model", model=tiny_reward_model_path())
    assert "untrained" not in complete.signature
    assert "untrained_head" not in complete.score(RESPONSES, prompts=PROMPTS).details


def test_causal_lm_without_its_lm_head_is_refused():
    from metricrm.adapters.model_location import default_encoder_path

    with pytest.raises(ScorerConfigError, match=r"^lm_logprob: .*lm_head\.weight"):
        mr.get_scorer("lm_logprob", model=tiny_base_model_path())
    with pytest.raises(ScorerConfigError, match=r"^lm_logprob: .*cls\.predictions\."):
        mr.get_scorer("lm_logprob", model=str(default_encoder_path()))
