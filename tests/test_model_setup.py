"""Finding a model: offline aliases (``minilm``, ``smollm2-135m-instruct``), a clear error when
no model is given, and a fast failure for hub ids when the hub cannot be reached."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.model_location import default_encoder_path, resolve_model_location
from metricrm.cli import main
from metricrm.core.errors import ModelUnavailableError, ScorerConfigError

from . import model_fixtures as models

pytest.importorskip("transformers")


# -- aliases of the offline models ------------------------------------------------------------


def test_aliases_resolve_to_the_offline_folders():
    from metricrm.adapters.model_location import MODEL_ALIASES

    minilm = str(default_encoder_path())
    for alias in ("minilm", "all-minilm-l6-v2"):
        assert resolve_model_location(alias) == minilm
    assert set(MODEL_ALIASES) == {"minilm", "all-minilm-l6-v2", "smollm2-135m-instruct"}


def test_a_local_folder_of_the_same_name_wins_over_the_alias(tmp_path, monkeypatch):
    (tmp_path / "minilm").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model_location("minilm") == "minilm"


def test_alias_and_path_give_one_signature_bertscore():
    default = mr.get_scorer("bertscore_f1")
    by_alias = mr.get_scorer("bertscore_f1", model="minilm")
    by_path = mr.get_scorer("bertscore_f1", model=str(default_encoder_path()))
    assert by_alias.signature == by_path.signature == default.signature
    responses, refs = ["The cat sat on the mat."], [["A cat sat on the mat."]]
    np.testing.assert_array_equal(
        by_alias.score(responses, references=refs).scores,
        default.score(responses, references=refs).scores,
    )


def test_alias_from_the_command_line(tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(
        ["meta-eval", "-s", "bertscore_f1", "--set", "bertscore_f1.model=minilm",
         "-d", "sample:reference", "--statistic", "pearson", "--level", "flat",
         "--n-resamples", "50", "--no-progress", "--no-cache", "--json", str(report)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    signature = json.loads(report.read_text())["scorers"][0]["signature"]
    assert signature == mr.get_scorer("bertscore_f1").signature


@pytest.mark.slow
def test_bt_head_encoder_alias(tmp_path):
    from metricrm.training import train_bt_head

    head = train_bt_head(mr.load_sample("preference"), validation=0.25, epochs=2, lr=1e-3)
    head.save(tmp_path)
    by_alias = mr.get_scorer("bt_head", path=str(tmp_path), encoder="minilm")
    assert by_alias.signature == mr.get_scorer("bt_head", path=str(tmp_path)).signature


@pytest.mark.slow
def test_smollm2_alias_for_lm_scorers_and_dpo():
    path = models.smollm2_model_path()
    assert resolve_model_location("smollm2-135m-instruct") == path
    by_alias = mr.get_scorer("lm_logprob", model="smollm2-135m-instruct")
    assert by_alias.signature == mr.get_scorer("lm_logprob", model=path).signature
    dpo = mr.get_scorer("dpo_reward", policy="smollm2-135m-instruct", reference=path)
    assert dpo.ref is dpo.lm  # one model: alias and path name the same weights
    result = dpo.score(["Paris."], prompts=["Capital of France?"])
    assert result.scores.tolist() == [0.0]


# -- a model scorer without a model -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("reward_model", "model"),
        ("lm_logprob", "model"),
        ("lm_perplexity", "model"),
        ("lm_judge", "model"),
        ("dpo_reward", "policy, reference"),
        ("bt_head", "path"),
    ],
)
def test_a_model_scorer_without_its_model_names_the_setting(name, missing):
    with pytest.raises(
        ScorerConfigError, match=rf"^{name}: missing setting\(s\) {missing}"
    ) as info:
        mr.get_scorer(name)
    if name != "bt_head":
        assert "minilm" in str(info.value) and "smollm2-135m-instruct" in str(info.value)


def test_model_none_names_the_setting_and_the_aliases():
    with pytest.raises(ScorerConfigError, match=r"^reward_model: `model` .*minilm"):
        mr.get_scorer("reward_model", model=None)


# -- no network ---------------------------------------------------------------------------------


@pytest.fixture
def hub_unreachable(monkeypatch):
    """Hub access switched on, with the hub endpoint at a closed local port."""
    import huggingface_hub.constants as constants

    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


def test_unreachable_hub_fails_at_once_with_the_clear_message(hub_unreachable):
    with pytest.raises(
        ModelUnavailableError,
        match=r"^reward_model: cannot load hub model 'org/does-not-exist': the hub at "
        r"http://127\.0\.0\.1:9 cannot be reached .*pass the path of a local model folder",
    ):
        mr.get_scorer("reward_model", model="org/does-not-exist")


def test_offline_variable_is_honoured(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match=r"hub access is off \(HF_HUB_OFFLINE\)"):
        mr.get_scorer("lm_logprob", model="org/does-not-exist")
