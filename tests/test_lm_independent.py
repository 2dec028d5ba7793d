"""Model scorers against a hand-written forward pass with transformers, in the default run.

The slow tests make the same comparison on real models (SmolLM2, MiniLM); these use the tiny
random models, which build in about a second, so that the default run checks every model-based
scorer family's numbers, not only its plumbing. Each expected value is computed here from the
model's logits over token ids built by hand from the tokenizer and its chat template, one
unpadded item at a time, while the scorers batch and pad several items together.
"""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr

from .model_fixtures import tiny_causal_lm_path, tiny_reward_model_path

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# tokens of the MiniLM (WordPiece) tokenizer that split cleanly after the chat template's prefix
PROMPTS = ["where is the cat?", "name the capital of france.", "say hi.", "count to three."]
RESPONSES = [
    "the cat sat on the mat, as it does every single morning.",
    "paris is the capital of france.",
    "hi!",
    "one, two, three.",
]


@pytest.fixture(scope="module")
def lm():
    path = tiny_causal_lm_path()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    return path, tok, model


def _chat_prefix(tok, prompt: str) -> str:
    return tok.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def _response_logprobs(tok, model, prompt: str, response: str) -> np.ndarray:
    """log p(token t | tokens < t) for each response token, from one unpadded forward pass."""
    prefix = _chat_prefix(tok, prompt)
    head = tok(prefix, add_special_tokens=False)["input_ids"]
    ids = tok(prefix + response, add_special_tokens=False)["input_ids"]
    assert ids[: len(head)] == head and len(ids) > len(head)  # a clean split
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    return np.array([logp[t - 1, ids[t]].item() for t in range(len(head), len(ids))])


def test_lm_logprob_mean_and_sum_equal_a_hand_forward_pass(lm):
    path, tok, model = lm
    direct = [_response_logprobs(tok, model, p, r) for p, r in zip(PROMPTS, RESPONSES)]
    assert len({len(d) for d in direct}) > 2  # different lengths: the scorer pads a batch
    mean = mr.get_scorer("lm_logprob", model=path, max_tokens_per_batch=10**6)
    result = mean.score(RESPONSES, prompts=PROMPTS)
    np.testing.assert_array_equal(result.details["n_tokens"], [len(d) for d in direct])
    np.testing.assert_allclose(result.scores, [d.mean() for d in direct], rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        result.details["sum_logprob"], [d.sum() for d in direct], rtol=0, atol=1e-4
    )
    total = mr.get_scorer("lm_logprob", model=path, reduction="sum").score(
        RESPONSES, prompts=PROMPTS
    )
    np.testing.assert_allclose(total.scores, [d.sum() for d in direct], rtol=0, atol=1e-4)
    ppl = mr.get_scorer("lm_perplexity", model=path).score(RESPONSES, prompts=PROMPTS)
    np.testing.assert_allclose(ppl.scores, [np.exp(-d.mean()) for d in direct], rtol=1e-5)
    assert ppl.higher_is_better is False


def test_lm_logprob_with_eos_adds_the_eos_token(lm):
    path, tok, model = lm
    scorer = mr.get_scorer("lm_logprob", model=path, include_eos=True, reduction="sum")
    result = scorer.score(RESPONSES[:2], prompts=PROMPTS[:2])
    for k in range(2):
        prefix = _chat_prefix(tok, PROMPTS[k])
        head = tok(prefix, add_special_tokens=False)["input_ids"]
        ids = tok(prefix + RESPONSES[k], add_special_tokens=False)["input_ids"]
        ids = ids + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        expected = sum(logp[t - 1, ids[t]].item() for t in range(len(head), len(ids)))
        assert result.scores[k] == pytest.approx(expected, abs=1e-4)
        assert result.details["n_tokens"][k] == len(ids) - len(head)


def test_lm_judge_equals_next_token_probabilities(lm):
    path, tok, model = lm
    judge = mr.get_scorer("lm_judge", model=path)
    result = judge.score(RESPONSES, prompts=PROMPTS)
    yes = sorted({tok(w, add_special_tokens=False)["input_ids"][0] for w in ("Yes", " Yes")})
    no = sorted({tok(w, add_special_tokens=False)["input_ids"][0] for w in ("No", " No")})
    for k, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        question = judge.judge_template.replace("{prompt}", prompt).replace("{response}", response)
        ids = tok(_chat_prefix(tok, question), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), dim=-1)
        p_yes, p_no = probs[yes].sum().item(), probs[no].sum().item()
        assert result.details["p_yes"][k] == pytest.approx(p_yes, rel=1e-4)
        assert result.details["p_no"][k] == pytest.approx(p_no, rel=1e-4)
        assert result.scores[k] == pytest.approx(p_yes / (p_yes + p_no), abs=1e-5)


def test_dpo_reward_equals_beta_times_the_log_ratio(lm):
    path, tok, policy = lm
    ref_path = tiny_causal_lm_path(seed=1)
    reference = transformers.AutoModelForCausalLM.from_pretrained(ref_path).eval()
    result = mr.get_scorer("dpo_reward", policy=path, reference=ref_path, beta=0.25).score(
        RESPONSES, prompts=PROMPTS
    )
    expected = [
        0.25
        * (
            _response_logprobs(tok, policy, p, r).sum()
            - _response_logprobs(tok, reference, p, r).sum()
        )
        for p, r in zip(PROMPTS, RESPONSES)
    ]
    np.testing.assert_allclose(result.scores, expected, rtol=0, atol=1e-4)
    assert np.ptp(expected) > 1e-3  # the two models differ


def test_bert_reward_model_logits_equal_a_direct_forward_pass():
    """Encoder classifier, no chat template: the documented plain rendering, [CLS] pooling."""
    path = tiny_reward_model_path(architecture="bert", chat_template=False)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path).eval()
    scorer = mr.get_scorer("reward_model", model=path, max_tokens_per_batch=10**6)
    result = scorer.score(RESPONSES, prompts=PROMPTS)
    for k, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        text = f"user: {prompt}\n\nassistant: {response}"
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            expected = model(**enc).logits[0, 0].item()
        assert result.scores[k] == pytest.approx(expected, abs=1e-5)
        assert result.details["n_tokens"][k] == enc["input_ids"].shape[1]


def test_reward_model_pair_mode_equals_a_direct_forward_pass():
    """``template='pair'``: prompt and response as the tokenizer's text pair."""
    path = tiny_reward_model_path(architecture="bert", chat_template=False)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path).eval()
    result = mr.get_scorer("reward_model", model=path, template="pair").score(
        RESPONSES, prompts=PROMPTS
    )
    for k, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        enc = tok(prompt, response, return_tensors="pt")
        with torch.no_grad():
            expected = model(**enc).logits[0, 0].item()
        assert result.scores[k] == pytest.approx(expected, abs=1e-5)
