"""A real TRL GRPOTrainer run, rewarded by a composite (chrF to a reference, a length penalty and
the SmolLM2 judge), on CPU: a couple of steps, two prompts per step, short completions. Both ways
TRL takes a composite: one reward function, or one per component with ``reward_weights``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricrm.weighting import (
    Component,
    Composite,
    trl_reward_function,
    trl_reward_functions,
)

from . import model_fixtures as models

pytestmark = pytest.mark.slow

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

ROWS = [
    ("Translate to English: Guten Morgen!", "Good morning!"),
    ("Translate to English: Danke schön.", "Thank you very much."),
    ("Translate to English: Wie spät ist es?", "What time is it?"),
    ("Translate to English: Ich habe Hunger.", "I am hungry."),
]


@pytest.fixture(scope="module")
def model_path() -> str:
    return models.smollm2_model_path()


@pytest.fixture(scope="module")
def composite(model_path) -> Composite:
    judge = Component.build("judge", "lm_judge", settings={"model": model_path, "max_length": 256},
                            normalizer={"kind": "identity"})  # fmt: skip
    return Composite(
        [
            Component.build("chrf", "chrf", normalizer={"kind": "zscore", "mean": 20, "std": 15}),
            Component.build("brevity", "length_chars", higher_is_better=False,
                            normalizer={"kind": "minmax", "min": -60, "max": 0}),
            judge,
        ],
        {"chrf": 1.0, "brevity": 0.3, "judge": 0.5},
        cache=False,
    )  # fmt: skip


def _dataset():
    return datasets.Dataset.from_dict({
        "prompt": [[{"role": "user", "content": p}] for p, _ in ROWS],
        "references": [r for _, r in ROWS],
    })  # fmt: skip


def _train(model_path, tmp_path, reward_funcs, reward_weights=None):
    import torch

    torch.manual_seed(0)
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-6,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=0,
        reward_weights=reward_weights,
        log_completions=False,
        dataloader_num_workers=0,
    )
    trainer = trl.GRPOTrainer(
        model=model_path, reward_funcs=reward_funcs, args=args, train_dataset=_dataset()
    )
    trainer.train()
    logs = [row for row in trainer.state.log_history if "reward" in row]
    for row in logs:  # shown with pytest -s
        print({k: round(v, 4) for k, v in row.items() if k == "reward" or "/" in k})
    return logs


class Recorder:
    """Wraps the reward function and keeps the last call, to check what TRL passed and got."""

    def __init__(self, fn):
        self.fn, self.__name__, self.calls = fn, fn.__name__, []

    def __call__(self, prompts, completions, **kwargs):
        rewards = self.fn(prompts, completions, **kwargs)
        self.calls.append((prompts, completions, kwargs["references"], rewards))
        return rewards


def test_grpo_with_one_composite_reward_logs_it_and_each_component(model_path, tmp_path, composite):
    fn = Recorder(trl_reward_function(composite, name="composite"))
    logs = _train(model_path, tmp_path, [fn])
    assert len(logs) == 2 and len(fn.calls) >= 2
    for row in logs:
        assert math.isfinite(row["rewards/composite/mean"])
        for label in ("chrf", "brevity", "judge"):
            assert math.isfinite(row[f"composite/{label}"]), label
    # TRL handed over the conversational completions and the references column; rescoring
    # them with the composite gives the rewards TRL received.
    prompts, completions, refs, rewards = fn.calls[-1]
    assert isinstance(completions[0], list) and completions[0][0]["role"] == "assistant"
    again = composite.score(completions, references=refs, prompts=prompts).scores
    np.testing.assert_allclose(rewards, again, rtol=1e-5, atol=1e-6)
    assert logs[-1]["rewards/composite/mean"] == pytest.approx(np.mean(rewards), rel=1e-4)


def test_grpo_with_one_function_per_component_and_reward_weights(model_path, tmp_path, composite):
    funcs, weights = trl_reward_functions(composite)
    logs = _train(model_path, tmp_path, funcs, reward_weights=weights)
    assert len(logs) == 2
    for row in logs:
        means = [row[f"rewards/{f.__name__}/mean"] for f in funcs]
        assert all(math.isfinite(m) for m in means)
        # TRL's reward is the weighted sum of the components: the composite's reward
        assert row["reward"] == pytest.approx(float(np.dot(weights, means)), rel=1e-4, abs=1e-5)
