"""The in-context judge: scores equal a plain forward pass over the whole conversation
(rendered by the tokenizer's own chat template), examples alternate their order within pairs,
ties give no example, and the examples kept are the longest head that fits the budget."""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.causal_lm.fewshot import example_turns, judged_examples
from metricrm.adapters.causal_lm.judges import DEFAULT_JUDGE_TEMPLATE
from metricrm.core.errors import ScorerConfigError
from metricrm.core.records import PreferencePair

from . import model_fixtures as models


def _reference_p_yes(path: str, turns: list[dict], yes: str = "Yes", no: str = "No") -> float:
    """P(Yes) / (P(Yes) + P(No)) from transformers alone: the chat template renders the whole
    conversation, one forward pass without a key/value cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    text = tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].double()
    logp = torch.log_softmax(logits, dim=-1)
    y = logp[tok.convert_tokens_to_ids(tok.tokenize(yes))[0]].exp().item()
    n = logp[tok.convert_tokens_to_ids(tok.tokenize(no))[0]].exp().item()
    return y / (y + n)


def test_scores_equal_a_plain_forward_pass_over_the_conversation():
    path = models.tiny_causal_lm_path()
    pairs = [p for p in mr.load_sample("preference") if isinstance(p.prompt, str)]
    examples, items = pairs[:2], pairs[4:7]
    judge = mr.get_scorer("lm_icl_judge", model=path, examples=examples, context_tokens=400)
    assert judge.cached and len(judge.used) == 4
    got = judge.score([p.chosen for p in items], prompts=[p.prompt for p in items])

    def ask(prompt, response):
        return {
            "role": "user",
            "content": DEFAULT_JUDGE_TEMPLATE.format(prompt=prompt, response=response),
        }

    a, b = examples  # the first pair's chosen response comes first, the second's rejected one
    turns = [
        ask(a.prompt, a.chosen), {"role": "assistant", "content": "Yes"},
        ask(a.prompt, a.rejected), {"role": "assistant", "content": "No"},
        ask(b.prompt, b.rejected), {"role": "assistant", "content": "No"},
        ask(b.prompt, b.chosen), {"role": "assistant", "content": "Yes"},
    ]  # fmt: skip
    for j, p in enumerate(items):
        want = _reference_p_yes(path, turns + [ask(p.prompt, p.chosen)])
        assert got.scores[j] == pytest.approx(want, rel=1e-4)
    np.testing.assert_allclose(
        got.details["log_odds"],
        np.log(got.details["p_yes"]) - np.log(got.details["p_no"]),
        rtol=1e-9,
    )


def test_examples_alternate_within_pairs_and_ties_give_none():
    pairs = [
        PreferencePair("q0", "good0", "bad0"),
        PreferencePair("q1", "good1", "bad1"),
        PreferencePair("q2", "same", "same2", label="tie"),
        PreferencePair("q3", "good3", "bad3"),
    ]
    judged = judged_examples("t", pairs)
    assert [(e.response, e.positive, e.source) for e in judged] == [
        ("good0", True, 0),
        ("bad0", False, 0),
        ("bad1", False, 1),
        ("good1", True, 1),
        ("bad3", False, 3),
        ("good3", True, 3),
    ]
    with pytest.raises(ScorerConfigError, match="no usable example"):
        judged_examples("t", pairs[2:3])


def test_kept_examples_are_the_longest_head_within_context_tokens():
    path = models.tiny_causal_lm_path()
    pairs = mr.load_sample("preference")[:6]
    everything = mr.get_scorer("lm_icl_judge", model=path, examples=pairs, context_tokens=480)
    n_all = len(everything.used)
    e = everything.engine
    lengths = [
        len(e._ids(everything._render_examples(example_turns(
            everything.judge_template, everything.used[:m], ("Yes", "No")
        ))))
        for m in range(1, n_all + 1)
    ]  # fmt: skip
    assert lengths == sorted(lengths) and n_all >= 4 and lengths[-1] <= 480
    budget = (lengths[2] + lengths[3]) // 2  # room for 3 examples, not 4
    some = mr.get_scorer("lm_icl_judge", model=path, examples=pairs, context_tokens=budget)
    assert len(some.used) == 3 and some.used == everything.used[:3]
    assert "examples:3@" in some.signature and some.signature != everything.signature
