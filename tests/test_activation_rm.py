"""Activation reward model: head patching, the reward's definition, fitting, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.activation_rm import ActivationRewardModel, heads_digest
from metricrm.core.errors import DataFormatError, ScorerConfigError
from metricrm.training import fit_activation_rm
from metricrm.training.activation_rm import (
    head_effects,
    head_gains,
    mean_activations,
    select_heads,
)

from . import model_fixtures as models

PAIRS = mr.load_sample("preference")[:6]
RESPONSES = [p.chosen for p in PAIRS[:3]] + [p.rejected for p in PAIRS[:3]]
PROMPTS = [p.prompt for p in PAIRS[:3]] * 2


@pytest.fixture(scope="module")
def bare():
    """An activation RM on the tiny causal LM with no head selected."""
    return ActivationRewardModel(models.tiny_causal_lm_path())


def _capture_all(scorer, items, patch=None):
    """Every head's output at the last token of each item: (n, layers, heads, head_dim)."""
    access, e = scorer.heads_access, scorer.engine
    e.on_batch = access.set_positions
    heads, means = patch if patch is not None else (np.zeros((0, 2)), np.zeros((0, 16)))
    try:
        with access.patched(heads, means), access.captured(range(access.n_layers)) as store:
            e.next_token_outputs(items, scorer.yes_ids, hidden=False)
    finally:
        e.on_batch = None
    # one item per batch (max_batch_size=1): records are in the engine's batch order
    return store


def test_no_heads_gives_the_log_odds_of_the_zero_shot_judge(bare):
    judge = mr.get_scorer("lm_judge", model=models.tiny_causal_lm_path())
    p = judge.score(RESPONSES, prompts=PROMPTS).scores
    np.testing.assert_allclose(
        bare.score(RESPONSES, prompts=PROMPTS).scores, np.log(p / (1 - p)), rtol=1e-6, atol=1e-6
    )


def test_patching_a_head_with_its_own_activation_changes_nothing(bare):
    """The patch writes exactly the given values into exactly the selected head: writing
    back what the head computed must leave the log-odds as they were."""
    items = bare.encode_questions(RESPONSES[:1], PROMPTS[:1])
    store = _capture_all(bare, items)
    own = store[0][1][0, 1].numpy()  # layer 1, head 1, item 0
    base = bare.score(RESPONSES[:1], prompts=PROMPTS[:1]).scores
    patched = ActivationRewardModel(
        models.tiny_causal_lm_path(), heads=[(1, 1)], means=own[None, :]
    ).score(RESPONSES[:1], prompts=PROMPTS[:1])
    np.testing.assert_allclose(patched.scores, base, rtol=1e-6, atol=1e-7)


def test_patching_selected_heads_changes_log_odds_and_leaves_other_heads_untouched(bare):
    rng = np.random.default_rng(0)
    means = rng.normal(0, 3.0, size=(1, bare.heads_access.head_dim)).astype(np.float32)
    heads = np.array([[1, 0]])
    arm = ActivationRewardModel(models.tiny_causal_lm_path(), heads=heads, means=means)
    base = bare.score(RESPONSES, prompts=PROMPTS).scores
    moved = arm.score(RESPONSES, prompts=PROMPTS).scores
    assert np.all(np.abs(moved - base) > 1e-4)

    bare.engine.max_batch_size = 1
    try:
        items = bare.encode_questions(RESPONSES, PROMPTS)
        clean = _capture_all(bare, items)
        patched = _capture_all(bare, items, patch=(heads, means))
    finally:
        bare.engine.max_batch_size = None
    assert len(clean) == len(patched) == len(items)
    for c, p in zip(clean, patched):
        # layer 0 comes before the patch: identical
        np.testing.assert_array_equal(p[0].numpy(), c[0].numpy())
        # layer 1: the selected head carries the mean, the other head is untouched
        np.testing.assert_array_equal(p[1][0, 0].numpy(), means[0])
        np.testing.assert_array_equal(p[1][0, 1].numpy(), c[1][0, 1].numpy())
        assert not np.allclose(c[1][0, 0].numpy(), means[0])


def test_patch_only_touches_the_answer_position(bare):
    """The forward pass's other positions are untouched: patching the last token of a question
    does not change the log-probabilities at earlier positions."""
    import torch

    heads, means = np.array([[0, 1]]), np.full((1, 16), 5.0, dtype=np.float32)
    item = bare.encode_questions(RESPONSES[:1], PROMPTS[:1])[0]
    model, access = bare.lm.model, bare.heads_access
    ids = torch.tensor([item.ids])
    access.set_positions([len(item.ids) - 1])
    with torch.inference_mode():
        clean = model(input_ids=ids).logits[0]
        with access.patched(heads, means):
            patched = model(input_ids=ids).logits[0]
    np.testing.assert_array_equal(patched[:-1].numpy(), clean[:-1].numpy())
    assert not torch.allclose(patched[-1], clean[-1])


def test_scores_do_not_depend_on_batching_with_patches():
    rng = np.random.default_rng(1)
    arm = ActivationRewardModel(
        models.tiny_causal_lm_path(),
        heads=[(0, 0), (1, 1)],
        means=rng.normal(size=(2, 16)).astype(np.float32),
    )
    whole = arm.score(RESPONSES, prompts=PROMPTS).scores
    arm.max_batch_size = 1
    np.testing.assert_allclose(arm.score(RESPONSES, prompts=PROMPTS).scores, whole, atol=1e-5)


def test_first_order_effect_matches_a_finite_difference(bare):
    """The head effects used for selection are g . (mu - z): check them against the exact
    change of the log-odds when a head is moved a small step towards its mean."""
    items = bare.encode_questions(RESPONSES[:2], PROMPTS[:2])
    rng = np.random.default_rng(2)
    means = rng.normal(size=(2, 2, 16))
    effects, odds = head_effects(bare, items, [0, 1], means)
    np.testing.assert_allclose(
        odds, bare.score(RESPONSES[:2], prompts=PROMPTS[:2]).scores, atol=1e-5
    )
    store = _capture_all(bare, items[:1])
    eps = 1e-3
    for layer, head in [(0, 1), (1, 0)]:
        z = store[0][layer][0, head].double().numpy()
        step = (z + eps * (means[layer, head] - z)).astype(np.float32)[None, :]
        arm = ActivationRewardModel(models.tiny_causal_lm_path(), heads=[(layer, head)], means=step)
        exact = (arm.score(RESPONSES[:1], prompts=PROMPTS[:1]).scores[0] - odds[0]) / eps
        assert exact == pytest.approx(effects[0, layer, head], rel=0.05, abs=1e-4)


def test_gains_and_selection():
    effects = np.array(
        [[[1.0, 0.0], [2.0, -1.0]], [[3.0, 0.0], [0.0, -1.0]], [[0.0, 1.0], [0.0, 0.0]]]
    )
    positive = np.array([True, True, False])
    gains = head_gains(effects, positive)
    np.testing.assert_allclose(gains, [[2.0, -1.0], [1.0, -1.0]])
    np.testing.assert_array_equal(select_heads(gains, [3, 7], 5), [[3, 0], [7, 0]])
    np.testing.assert_array_equal(select_heads(gains, [3, 7], 1), [[3, 0]])
    assert select_heads(-np.abs(gains), [3, 7], 4).shape == (0, 2)


def test_mean_activations_are_the_mean_of_each_prompt_at_its_last_token(bare):
    items = bare.encode_questions(RESPONSES[:3], PROMPTS[:3])
    assert len({len(it.ids) for it in items}) > 1  # right padding is exercised
    means = mean_activations(bare, items, [0, 1])
    singles = [mean_activations(bare, [it], [0, 1]) for it in items]
    np.testing.assert_allclose(means, np.mean(singles, axis=0), atol=1e-5)


def test_fit_is_seeded_and_saves_and_loads_to_identical_scores(tmp_path):
    path = models.tiny_causal_lm_path()
    first = fit_activation_rm(PAIRS, model=path, n_heads=2, shots=2, seed=3)
    again = fit_activation_rm(PAIRS, model=path, n_heads=2, shots=2, seed=3)
    assert first.digest == again.digest and first.signature == again.signature
    assert 0 < len(first.heads) <= 2
    gains = first.fit_report.gains
    ranked = sorted(((gains[a, b], (a, b)) for a in range(2) for b in range(2)), reverse=True)
    assert [tuple(h) for h in first.heads.tolist()] == [h for g, h in ranked[:2] if g > 0]
    first.save(tmp_path)
    loaded = mr.get_scorer("activation_rm", path=tmp_path)
    assert loaded.signature == first.signature
    np.testing.assert_array_equal(
        loaded.score(RESPONSES, prompts=PROMPTS).scores,
        first.score(RESPONSES, prompts=PROMPTS).scores,
    )
    assert f"heads:{len(first.heads)}@{heads_digest(first.heads, first.means)}" in first.signature
    other = fit_activation_rm(PAIRS, model=path, n_heads=1, shots=2, seed=3)
    assert other.signature != first.signature


def test_load_refuses_a_mixed_folder_and_other_weights(tmp_path):
    path = models.tiny_causal_lm_path()
    fit_activation_rm(PAIRS, model=path, n_heads=1, shots=1).save(tmp_path)
    with pytest.raises(ScorerConfigError, match="fitted on"):
        mr.get_scorer("activation_rm", path=tmp_path, model=models.tiny_causal_lm_path(seed=1))
    config = json.loads((tmp_path / "activation_rm.json").read_text())
    config["heads_sha256_12"] = "0" * 12
    (tmp_path / "activation_rm.json").write_text(json.dumps(config))
    with pytest.raises(DataFormatError, match="does not match"):
        mr.get_scorer("activation_rm", path=tmp_path)


def test_fit_refuses_one_sided_examples_and_bad_layers():
    path = models.tiny_causal_lm_path()
    items = [mr.PointwiseItem(response="ok", prompt="q", human={"label": 1}) for _ in range(3)]
    with pytest.raises(ScorerConfigError, match="both answers"):
        fit_activation_rm(items, model=path)
    with pytest.raises(ScorerConfigError, match="layers"):
        fit_activation_rm(PAIRS, model=path, layers=[5])
    with pytest.raises(ScorerConfigError, match="outside"):
        ActivationRewardModel(path, heads=[(0, 9)], means=np.zeros((1, 16)))
