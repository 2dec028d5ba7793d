"""Export: the composite as TRL reward functions and as an ``evaluate`` module, with the same
frozen normalizers (the trainer run itself is in test_weighting_trl.py)."""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.weighting import (
    Component,
    Composite,
    Gate,
    evaluate_module,
    trl_reward_function,
    trl_reward_functions,
    write_evaluate_module,
)

PROMPTS = ["Translate: Hallo Welt", "Translate: Guten Morgen", "Translate: Danke"]
COMPLETIONS = ["Hello world", "Good morning to you all", "Thanks"]
REFERENCES = ["Hello world", "Good morning", "Thank you"]


def _composite(**kwargs) -> Composite:
    return Composite(
        [
            Component.build("chrf", "chrf", normalizer={"kind": "zscore", "mean": 50, "std": 25}),
            Component.build("brevity", "length_chars", higher_is_better=False,
                            normalizer={"kind": "minmax", "min": -40, "max": 0}),
        ],
        {"chrf": 1.0, "brevity": 0.4},
        cache=False,
        **kwargs,
    )  # fmt: skip


def test_plain_and_conversational_completions_get_the_composite_reward():
    c = _composite()
    fn = trl_reward_function(c, name="mix")
    expected = c.score(COMPLETIONS, references=REFERENCES).scores.tolist()
    plain = fn(prompts=PROMPTS, completions=COMPLETIONS, references=REFERENCES,
               completion_ids=[[1]] * 3, trainer_state=None)  # fmt: skip
    assert plain == expected and fn.__name__ == "mix"
    chat = fn(
        prompts=[[{"role": "user", "content": p}] for p in PROMPTS],
        completions=[[{"role": "assistant", "content": t}] for t in COMPLETIONS],
        references=[[r] for r in REFERENCES],
    )
    assert chat == expected


def test_components_are_logged_through_trl_log_metric():
    logged: dict = {}
    fn = trl_reward_function(_composite())
    fn(PROMPTS, COMPLETIONS, references=REFERENCES, log_metric=logged.__setitem__)
    d = _composite().score(COMPLETIONS, references=REFERENCES).details
    assert logged["composite/chrf"] == pytest.approx(d["chrf.norm"].mean())
    assert logged["composite/brevity_raw"] == pytest.approx(d["brevity.raw"].mean())


def test_label_column_picks_the_weights():
    c = _composite(by_label={"short": {"chrf": 0.0, "brevity": 1.0}})
    fn = trl_reward_function(c, labels="kind")
    got = fn(PROMPTS, COMPLETIONS, references=REFERENCES, kind=["short", "x", "short"])
    ref = c.score(COMPLETIONS, references=REFERENCES, labels=["short", "x", "short"]).scores
    assert got == ref.tolist()


def test_a_missing_column_is_named():
    fn = trl_reward_function(_composite())
    with pytest.raises(
        ScorerInputError,
        match=r"needs the dataset column 'references'; the reward function got columns \['answer'\]",
    ):
        fn(PROMPTS, COMPLETIONS, answer=REFERENCES, trainer_state=None)


def test_separate_reward_functions_with_reward_weights_sum_to_the_composite():
    c = _composite()
    funcs, weights = trl_reward_functions(c)
    assert [f.__name__ for f in funcs] == ["chrf", "brevity"] and weights == [1.0, 0.4]
    parts = np.array([f(PROMPTS, COMPLETIONS, references=REFERENCES) for f in funcs])
    total = np.asarray(weights) @ parts
    np.testing.assert_allclose(total, c.score(COMPLETIONS, references=REFERENCES).scores)
    with pytest.raises(ScorerConfigError, match="gates or label-dependent weights"):
        trl_reward_functions(_composite(gates=[Gate("chrf", 10.0, -1.0)]))


def test_a_saved_composite_file_is_the_same_reward(tmp_path):
    c = _composite()
    path = c.save(tmp_path / "reward.yaml")
    fn = trl_reward_function(path)
    assert (
        fn(PROMPTS, COMPLETIONS, references=REFERENCES)
        == c.score(COMPLETIONS, references=REFERENCES).scores.tolist()
    )


def test_evaluate_module_and_written_folder(tmp_path):
    evaluate = pytest.importorskip("evaluate")
    c = _composite()
    expected = c.score(COMPLETIONS, references=REFERENCES).scores
    out = evaluate_module(c).compute(predictions=COMPLETIONS, references=REFERENCES)
    assert out["composite_scores"] == expected.tolist()
    assert out["composite"] == pytest.approx(expected.mean())
    path = c.save(tmp_path / "reward.json")
    folder = write_evaluate_module(path, tmp_path / "metricrm_reward").parent
    loaded = evaluate.load(str(folder))
    again = loaded.compute(predictions=COMPLETIONS, references=REFERENCES)
    assert again["composite_scores"] == expected.tolist()
    assert mr.get_scorer("composite", path=str(path)).signature in loaded.info.description
