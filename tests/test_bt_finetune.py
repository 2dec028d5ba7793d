"""Bradley-Terry fine-tuning of a sequence classifier: loss, best checkpoint, reload as a scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError
from metricrm.training import split_by_prompt

from .model_fixtures import tiny_reward_model_path

pytest.importorskip("torch")
pytest.importorskip("transformers")

SETTINGS = dict(epochs=4, lr=1e-3, batch_size=4, validation=0.25, patience=2, seed=0)


@pytest.fixture(scope="module")
def sample():
    return mr.load_sample("preference")


@pytest.fixture(scope="module")
def tuned(sample, tmp_path_factory):
    from metricrm.training import fine_tune_reward_model

    out = tmp_path_factory.mktemp("tuned")
    return fine_tune_reward_model(
        sample, base_model=tiny_reward_model_path(), output_dir=out, overwrite=True, **SETTINGS
    )


def _val_loss(scorer, pairs):
    """Mean Bradley-Terry loss of a scorer on pairs (tie target 0.5), in float64."""
    chosen = scorer.score([p.chosen for p in pairs], prompts=[p.prompt for p in pairs]).scores
    rejected = scorer.score([p.rejected for p in pairs], prompts=[p.prompt for p in pairs]).scores
    t = np.array([0.5 if p.label == "tie" else 1.0 for p in pairs])
    d = chosen - rejected
    return float(np.mean(t * np.logaddexp(0, -d) + (1 - t) * np.logaddexp(0, d)))


def test_training_loss_decreases(tuned):
    h = tuned.history
    assert h.epochs_run == len(h.train_loss) == len(h.validation_loss)
    assert h.train_loss[-1] < h.train_loss[0] - 0.1
    steps = tuned.step_losses
    assert len(steps) == h.epochs_run * 7  # 27 training pairs in batches of 4
    assert np.mean(steps[-7:]) < np.mean(steps[:7])
    assert h.counts["train_pairs"] + h.counts["validation_pairs"] == 36


def test_best_checkpoint_is_saved_and_loads_as_reward_model(tuned, sample):
    folder = tuned.output_dir
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin"))
    assert len(json.loads((folder / "config.json").read_text())["id2label"]) == 1
    h = tuned.history
    assert h.best_epoch == int(np.argmin(h.validation_loss)) + 1

    loaded = mr.get_scorer("reward_model", model=str(folder))
    in_memory = tuned.scorer()
    prompts = [p.prompt for p in sample]
    for side in ("chosen", "rejected"):
        texts = [getattr(p, side) for p in sample]
        np.testing.assert_array_equal(
            loaded.score(texts, prompts=prompts).scores,
            in_memory.score(texts, prompts=prompts).scores,
        )
    # the folder holds the best epoch: its validation loss is the one recorded for that epoch
    split = split_by_prompt(sample, validation=SETTINGS["validation"], seed=SETTINGS["seed"])
    val = split.take(sample, "validation")
    assert _val_loss(loaded, val) == pytest.approx(h.validation_loss[h.best_epoch - 1], abs=1e-5)
    info = json.loads((folder / "metricrm_training.json").read_text())
    assert info["history"]["best_epoch"] == h.best_epoch
    assert info["settings"]["seed"] == 0 and len(info["train_data"]) == 16


def test_same_seed_same_model(tuned, sample, tmp_path):
    from metricrm.training import fine_tune_reward_model

    again = fine_tune_reward_model(
        sample, base_model=tiny_reward_model_path(), output_dir=tmp_path / "again", **SETTINGS
    )
    assert again.step_losses == tuned.step_losses
    a, b = tuned.model.state_dict(), again.model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_refuses_non_empty_output_and_bad_settings(sample, tuned):
    from metricrm.training import fine_tune_reward_model

    with pytest.raises(ScorerConfigError, match=r"exists and is not empty; pass overwrite=True"):
        fine_tune_reward_model(
            sample, base_model=tiny_reward_model_path(), output_dir=tuned.output_dir
        )
    with pytest.raises(ScorerConfigError, match=r"`lr` must be a number > 0 \(got 0\)"):
        fine_tune_reward_model(sample, base_model="x", output_dir="unused", lr=0)
    with pytest.raises(ScorerConfigError, match=r"`monitor` must be one of 'loss', 'accuracy'"):
        fine_tune_reward_model(sample, base_model="x", output_dir="unused", monitor="f1")
    not_a_pair = r"fine_tune_reward_model: validation item 0 is a str; expected a PreferencePair"
    with pytest.raises(ScorerConfigError, match=not_a_pair):
        fine_tune_reward_model(sample, base_model="x", output_dir="unused", validation=["text"])
    with pytest.raises(ScorerConfigError, match=r"at least one pair in `pairs` \(got none\)"):
        fine_tune_reward_model([], base_model="x", output_dir="unused")
