"""Energy-based reward refinement: the refinement reaches known energy minima, the loss's
proposal density, conflict filtering, training, save/load, and the embeddings base scorers
expose."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

import metricrm as mr
from metricrm.adapters.ebrm import EnergyRefinedReward, RefineSettings, energy, refine
from metricrm.adapters.embedding import EmbeddingScorer
from metricrm.core.errors import DataFormatError, ScorerConfigError
from metricrm.core.types import BaseScorer, ScoreOutput
from metricrm.training import (
    EBRMSettings,
    conflict_filter,
    fit_energy,
    fit_energy_on_pairs,
    train_ebrm,
)
from metricrm.training.ebrm import proposal_log_density

from . import model_fixtures as models


class FixedBase(BaseScorer, EmbeddingScorer):
    """A base scorer returning given rewards and embeddings for responses "0", "1", ..."""

    name = "fixed"
    uses_inputs = frozenset()

    def __init__(self, rewards: np.ndarray, embeddings: np.ndarray) -> None:
        self.rewards, self.embeddings = rewards, embeddings

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        idx = [int(r) for r in responses]
        self._emit_embeddings(self.embeddings[idx])
        return ScoreOutput(self.rewards[idx])


def test_refine_reaches_the_minimum_of_a_quadratic_energy():
    import torch

    target = np.array([-2.0, 0.3, 1.7, 5.0])
    weight = torch.tensor([1.0, 4.0, 0.5, 2.0], dtype=torch.float64)
    fn = lambda r: (r - torch.as_tensor(target)) ** 2 * weight  # noqa: E731
    start = np.array([1.0, -1.0, 1.7, 4.0])
    refined, before, after = refine(fn, start, RefineSettings(steps=200, step_size=0.1))
    np.testing.assert_allclose(refined, target, atol=1e-6)
    np.testing.assert_allclose(after, 0.0, atol=1e-10)
    np.testing.assert_allclose(before, (start - target) ** 2 * [1.0, 4.0, 0.5, 2.0])
    same, _, _ = refine(fn, start, RefineSettings(steps=0))
    np.testing.assert_array_equal(same, start)


def test_refine_never_raises_the_energy_and_items_do_not_interact():
    import torch

    fn = lambda r: torch.sin(3 * r) + 0.1 * r**2  # noqa: E731
    start = np.linspace(-3, 3, 7)
    refined, before, after = refine(fn, start, RefineSettings(steps=30, step_size=0.5))
    assert np.all(after <= before + 1e-12)
    alone = [refine(fn, start[i : i + 1], RefineSettings(steps=30, step_size=0.5))[0][0]
             for i in range(7)]  # fmt: skip
    np.testing.assert_array_equal(refined, alone)


def _bump_energy(v: np.ndarray) -> dict[str, np.ndarray]:
    """A hand-built energy model: E = tanh(phi - t - 1) - tanh(phi - t + 1) with
    phi = tanh(r), t = v . e, minimal exactly where tanh(r) = v . e."""
    d = v.shape[0]
    f = np.float32
    return {
        "reward.weight": np.array([1.0], f),
        "reward.bias": np.array([0.0], f),
        "hidden0.embed": np.stack([-v, -v]).astype(f),
        "hidden0.reward": np.array([[1.0], [1.0]], f),
        "hidden0.bias": np.array([1.0, -1.0], f),
        "out.weight": np.array([-1.0, 1.0], f),
        "out.bias": np.array([0.0], f),
        "embedding_mean": np.zeros(d, f),
        "embedding_scale": np.ones(d, f),
        "reward_mean": np.array([0.0], f),
        "reward_scale": np.array([1.0], f),
    }


def test_ebrm_scorer_moves_rewards_to_the_known_energy_minimum():
    rng = np.random.default_rng(0)
    v = np.array([0.5, -0.25, 0.125], dtype=np.float32)
    e = rng.uniform(-1, 1, size=(6, 3)).astype(np.float32)
    minimum = np.arctanh(e.astype(np.float64) @ v.astype(np.float64))
    start = minimum + np.array([0.6, -0.5, 0.3, -0.2, 0.05, -0.7])
    base = FixedBase(start, e)
    model = EnergyRefinedReward(base, _bump_energy(v), {}, RefineSettings(steps=300, step_size=0.2))
    result = model.score([str(i) for i in range(6)])
    np.testing.assert_allclose(result.scores, minimum, atol=1e-5)
    np.testing.assert_array_equal(result.details["base_score"], start)
    assert np.all(result.details["energy_refined"] < result.details["energy_base"])
    np.testing.assert_allclose(result.details["energy_refined"], -2 * np.tanh(1.0), atol=1e-8)


def test_energy_shares_the_embedding_term_across_rewards():
    import torch

    rng = np.random.default_rng(1)
    params = {k: torch.as_tensor(x, dtype=torch.float64)
              for k, x in _bump_energy(np.array([0.3, 0.1], np.float32)).items()}  # fmt: skip
    params["hidden.1.weight"] = torch.as_tensor(rng.normal(size=(3, 2)))
    params["hidden.1.bias"] = torch.as_tensor(rng.normal(size=3))
    params["out.weight"] = torch.as_tensor(rng.normal(size=3))
    e = torch.as_tensor(rng.normal(size=(4, 2)))
    r = torch.as_tensor(rng.normal(size=(4, 5)))
    many = energy(params, e, r)
    for j in range(5):
        np.testing.assert_allclose(many[:, j], energy(params, e, r[:, j : j + 1])[:, 0])
    # written out for one row
    phi = np.tanh(r[0, 2].item())
    h1 = np.tanh(params["hidden0.embed"].numpy() @ e[0].numpy() + phi + [1.0, -1.0])
    h2 = np.tanh(params["hidden.1.weight"].numpy() @ h1 + params["hidden.1.bias"].numpy())
    assert many[0, 2].item() == pytest.approx(h2 @ params["out.weight"].numpy(), abs=1e-12)


def test_proposal_density_is_the_gaussian_mixture():
    import torch

    z = torch.tensor([0.0, 1.5])
    y = torch.tensor([[0.2, -1.0, 3.0], [1.5, 2.0, -0.5]])
    sigmas = torch.tensor([0.25, 0.5, 1.0])
    got = proposal_log_density(y, z, sigmas).numpy()
    for b in range(2):
        mix = np.mean([stats.norm.pdf(y[b].numpy(), z[b].item(), s) for s in (0.25, 0.5, 1.0)], 0)
        np.testing.assert_allclose(got[b], np.log(mix), rtol=1e-5)


def test_conflict_filter_keeps_pairs_ranked_right_by_the_margin():
    chosen, rejected = np.array([1.0, 0.0, 2.0, 0.5]), np.array([0.0, 1.0, 1.9, 0.5])
    np.testing.assert_array_equal(conflict_filter(chosen, rejected, 0.0, 1.0), [1, 0, 1, 0])
    np.testing.assert_array_equal(conflict_filter(chosen, rejected, 0.5, 1.0), [1, 0, 0, 0])
    np.testing.assert_array_equal(conflict_filter(chosen, rejected, 0.05, 1.0), [1, 0, 1, 0])
    np.testing.assert_array_equal(conflict_filter(chosen, rejected, 0.05, 4.0), [1, 0, 0, 0])


def test_training_learns_where_rewards_lie_and_refinement_moves_towards_it():
    """Rewards r = w . e + noise: the trained energy is lowest near w . e, so refining a reward
    pushed off by 0.8 brings it most of the way back."""
    rng = np.random.default_rng(3)
    w = np.array([1.0, -0.5, 0.25, 0.0])
    e = rng.normal(size=(600, 4))
    r = e @ w + rng.normal(scale=0.1, size=600)
    opts = EBRMSettings(epochs=25, dropout=0.0, hidden=(32, 16), batch_size=64, seed=0)
    params, history = fit_energy(e, r, opts)
    assert history.train_loss[-1] < history.train_loss[0]
    base = FixedBase(np.zeros(40), rng.normal(size=(40, 4)))
    model = EnergyRefinedReward(base, params, {}, RefineSettings(steps=100, step_size=0.1))
    truth = base.embeddings @ w
    off = truth + 0.8 * np.where(np.arange(40) % 2, 1.0, -1.0)
    refined, before, after = model.refine_rewards(base.embeddings, off)
    assert np.mean(np.abs(refined - truth)) < 0.4 * np.mean(np.abs(off - truth))
    assert np.all(after <= before)
    again, _ = fit_energy(e, r, opts)
    for key in params:
        np.testing.assert_array_equal(again[key], params[key])


@pytest.fixture(scope="module")
def trained():
    pairs = mr.load_sample("preference")
    model = train_ebrm(
        pairs,
        base="reward_model",
        base_settings={"model": models.tiny_reward_model_path()},
        epochs=3,
        filter_margin=0.0,
    )
    return pairs, model


def test_train_ebrm_filters_the_pairs_the_base_ranks_wrong(trained):
    pairs, model = trained
    usable = [p for p in pairs if p.label != "tie"]
    base = mr.get_scorer("reward_model", model=models.tiny_reward_model_path())
    margin = mr.score_pairs(base, usable, progress=False).margin
    counts = model.history.counts
    assert counts["pairs"] == len(usable)
    assert counts["excluded_ties"] == len(pairs) - len(usable)
    assert counts["kept_pairs"] == int((margin > 0).sum())
    assert counts["filtered_pairs"] == int((margin <= 0).sum())
    for key in (
        "filter_margin:0.0",
        "noise_rate:0.1",
        "refine_steps:50",
        "refine_step_size:0.1",
        "epochs:3",
        "hidden:128+64",
        "lr:0.001",
        "seed:0",
        "train_data:",
    ):
        assert key in model.signature, key  # fmt: skip


def test_save_and_load_give_identical_scores(trained, tmp_path):
    pairs, model = trained
    responses = [p.chosen for p in pairs[:6]]
    prompts = [p.prompt for p in pairs[:6]]
    model.save(tmp_path)
    loaded = mr.get_scorer("ebrm", path=tmp_path)
    assert loaded.signature == model.signature
    np.testing.assert_array_equal(
        loaded.score(responses, prompts=prompts).scores,
        model.score(responses, prompts=prompts).scores,
    )
    with pytest.raises(ScorerConfigError, match="settings differ"):
        mr.get_scorer("ebrm", path=tmp_path, base=mr.get_scorer(
            "reward_model", model=models.tiny_reward_model_path(architecture="bert")
        ))  # fmt: skip
    config = json.loads((tmp_path / "ebrm.json").read_text())
    config["energy_sha256_12"] = "f" * 12
    (tmp_path / "ebrm.json").write_text(json.dumps(config))
    with pytest.raises(DataFormatError, match="does not match"):
        mr.get_scorer("ebrm", path=tmp_path)


def test_every_training_choice_changes_the_signature(trained):
    pairs, model = trained
    base = {"base": "reward_model", "base_settings": {"model": models.tiny_reward_model_path()}}
    for change in ({"noise_rate": 0.2}, {"filter_margin": 0.1}, {"steps": 10},
                   {"step_size": 0.05}, {"sigmas": (0.5,)}, {"negatives": 8}):  # fmt: skip
        other = train_ebrm(pairs, epochs=3, **base, **change)
        assert other.signature != model.signature, change


def test_ebrm_refuses_a_base_without_embeddings():
    with pytest.raises(ScorerConfigError, match="expose the embedding"):
        train_ebrm(mr.load_sample("preference"), base=mr.get_scorer("length_chars"))


# -- what the base scorers expose -------------------------------------------------------------


def test_reward_model_embedding_is_what_its_head_reads():
    import torch

    rm = mr.get_scorer("reward_model", model=models.tiny_reward_model_path())
    pairs = mr.load_sample("preference")[:4]
    result, x = rm.score_with_embeddings(
        [p.chosen for p in pairs], prompts=[p.prompt for p in pairs]
    )
    with torch.no_grad():
        head = rm.model.score(torch.as_tensor(x, dtype=torch.float32)).numpy()[:, 0]
    np.testing.assert_allclose(head, result.scores, rtol=1e-5, atol=1e-6)
    assert np.array_equal(rm.score([p.chosen for p in pairs], prompts=[p.prompt for p in pairs]).scores,
                          result.scores)  # fmt: skip


def test_lm_judge_embedding_is_the_state_the_answer_is_predicted_from():
    import torch

    judge = mr.get_scorer("lm_judge", model=models.tiny_causal_lm_path())
    pairs = mr.load_sample("preference")[:3]
    result, x = judge.score_with_embeddings(
        [p.chosen for p in pairs], prompts=[p.prompt for p in pairs]
    )
    with torch.no_grad():
        logits = judge.lm.model.get_output_embeddings()(torch.as_tensor(x, dtype=torch.float32))
    logp = torch.log_softmax(logits.double(), dim=-1).numpy()
    p_yes = np.exp(logp[:, judge.yes_ids]).sum(axis=1)
    np.testing.assert_allclose(p_yes, result.details["p_yes"], rtol=1e-4)


def test_fit_energy_on_pairs_checks_alignment_and_an_empty_filter():
    e = np.zeros((3, 2))
    with pytest.raises(
        ScorerConfigError, match=r"ebrm: expected aligned arrays.*\(3,\) and \(2,\)"
    ):
        fit_energy_on_pairs(e, e, np.ones(3), np.zeros(2), EBRMSettings())
    with pytest.raises(ScorerConfigError, match="left no pair: the base ranks none of the 3"):
        fit_energy_on_pairs(e, e, np.zeros(3), np.ones(3), EBRMSettings())
