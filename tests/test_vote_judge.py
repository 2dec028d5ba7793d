"""The voting judge: each wording's probability equals lm_judge asked with that wording, hard
votes are a majority over the wordings, sampled votes follow the tempered answer distribution
(binomial bounds), and a response's votes depend neither on its batch nor on the order."""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.causal_lm import DEFAULT_JUDGE_TEMPLATE, DEFAULT_VOTE_TEMPLATES
from metricrm.core.errors import ScorerConfigError

from . import model_fixtures as models

pytest.importorskip("torch")
pytest.importorskip("transformers")

ITEMS = [p for p in mr.load_sample("preference") if isinstance(p.prompt, str)][:8]
RESPONSES = [p.chosen for p in ITEMS] + [p.rejected for p in ITEMS]
PROMPTS = [p.prompt for p in ITEMS] * 2


def test_one_wording_votes_like_lm_judge_and_keeps_its_probability():
    path = models.tiny_causal_lm_path()
    judge = mr.get_scorer("lm_judge", model=path).score(RESPONSES, prompts=PROMPTS)
    vote = mr.get_scorer("lm_vote_judge", model=path, judge_templates=[DEFAULT_JUDGE_TEMPLATE])
    alias = mr.get_scorer("lm_vote_judge", model=path, judge_template=DEFAULT_JUDGE_TEMPLATE)
    assert alias.signature == vote.signature
    got = vote.score(RESPONSES, prompts=PROMPTS)
    np.testing.assert_allclose(got.details["p_yes_mean"], judge.scores, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got.scores, (judge.scores > 0.5).astype(float))


def test_hard_votes_are_a_majority_over_the_wordings():
    """Per wording, the vote is lm_judge with that wording thresholded at 0.5. With two
    spellings each for Yes and No the tiny model's wordings disagree on some responses."""
    path = models.tiny_causal_lm_path()
    words = {"yes_words": ("Yes", "1"), "no_words": ("No", "0")}
    vote = mr.get_scorer("lm_vote_judge", model=path, **words)
    got = vote.score(RESPONSES, prompts=PROMPTS)
    per_template = np.stack(
        [
            mr.get_scorer("lm_judge", model=path, judge_template=t, **words)
            .score(RESPONSES, prompts=PROMPTS)
            .scores
            for t in DEFAULT_VOTE_TEMPLATES
        ],
        axis=1,
    )
    yes = per_template > 0.5
    # the wordings disagree on some responses, so a vote over one wording would differ
    assert (yes.any(axis=1) & ~yes.all(axis=1)).any()
    np.testing.assert_array_equal(got.details["votes_yes"], yes.sum(axis=1))
    np.testing.assert_array_equal(got.scores, yes.mean(axis=1))
    np.testing.assert_allclose(got.details["p_yes_mean"], per_template.mean(axis=1), rtol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.25])
def test_sampled_votes_follow_the_tempered_answer_distribution(temperature):
    """Share of Yes in 4,000 draws within 4.5 binomial standard deviations of
    p^(1/T) / (p^(1/T) + (1-p)^(1/T)), p from lm_judge (T = 0.25 moves it by ~0.14)."""
    path = models.tiny_causal_lm_path()
    p = mr.get_scorer("lm_judge", model=path).score(RESPONSES[:4], prompts=PROMPTS[:4]).scores
    want = p ** (1 / temperature) / (p ** (1 / temperature) + (1 - p) ** (1 / temperature))
    n = 4000
    vote = mr.get_scorer("lm_vote_judge", model=path, judge_templates=[DEFAULT_JUDGE_TEMPLATE],
                         samples=n, temperature=temperature)  # fmt: skip
    got = vote.score(RESPONSES[:4], prompts=PROMPTS[:4]).scores
    bound = 4.5 * np.sqrt(want * (1 - want) / n)
    assert np.all(np.abs(got - want) <= bound), (got, want, bound)


def test_sampled_votes_do_not_depend_on_batch_or_order_but_on_the_seed():
    path = models.tiny_causal_lm_path()
    vote = mr.get_scorer("lm_vote_judge", model=path, samples=7)
    whole = vote.score(RESPONSES, prompts=PROMPTS).scores
    order = np.random.default_rng(0).permutation(len(RESPONSES))
    shuffled = vote.score([RESPONSES[i] for i in order], prompts=[PROMPTS[i] for i in order])
    np.testing.assert_array_equal(shuffled.scores, whole[order])
    alone = [vote.score([r], prompts=[q]).scores[0] for r, q in zip(RESPONSES[:4], PROMPTS[:4])]
    np.testing.assert_array_equal(alone, whole[:4])
    other = mr.get_scorer("lm_vote_judge", model=path, samples=7, seed=1)
    assert not np.array_equal(other.score(RESPONSES, prompts=PROMPTS).scores, whole)
    assert other.signature != vote.signature


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"judge_templates": "Good? {response}"}, "`judge_templates` must be a list"),
        ({"judge_templates": []}, "at least one template"),
        ({"judge_templates": ["{response}?"], "judge_template": "{response}!"}, "not both"),
        ({"judge_templates": ["Good? Answer Yes or No."]}, "must be a string containing"),
        ({"samples": -1}, "`samples`"),
        ({"samples": 2.5}, "`samples`"),
        ({"temperature": 0.0}, "`temperature` must be a number > 0"),
        ({"seed": -3}, "`seed`"),
    ],
)
def test_bad_settings_name_the_judge_and_the_setting(settings, message):
    with pytest.raises(ScorerConfigError, match="lm_vote_judge") as info:
        mr.get_scorer("lm_vote_judge", model=models.tiny_causal_lm_path(), **settings)
    assert message in str(info.value)
