"""Loading a trained scorer from a folder that is not one: every loader names the folder, the
missing file and what wrote it; a broken config names the file."""

from __future__ import annotations

import json

import pytest

import metricrm as mr
from metricrm.core.errors import DataFormatError, ModelUnavailableError

KINDS = {
    "bt_head": ("a saved head", "BradleyTerryHead.save"),
    "activation_rm": ("a saved activation reward model", "ActivationRewardModel.save"),
    "ebrm": ("a saved energy-based refinement", "EnergyRefinedReward.save"),
}


@pytest.mark.parametrize("name", list(KINDS))
def test_a_folder_that_is_no_saved_model(name, tmp_path):
    from importlib import import_module

    config = import_module(f"metricrm.adapters.{name}").CONFIG_FILE
    what, writer = KINDS[name]
    with pytest.raises(ModelUnavailableError) as err:
        mr.get_scorer(name, path=str(tmp_path))
    assert str(err.value) == (
        f"{name}: {str(tmp_path)!r} is not {what}: {config} is missing (expected a folder "
        f"written by {writer})"
    )
    (tmp_path / config).write_text("{}", encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match=r": \S+\.safetensors is missing \("):
        mr.get_scorer(name, path=str(tmp_path))


@pytest.mark.parametrize("name", list(KINDS))
def test_a_broken_config_names_the_file(name, tmp_path):
    from importlib import import_module

    module = import_module(f"metricrm.adapters.{name}")
    (tmp_path / module.WEIGHTS_FILE).write_bytes(b"")
    config = tmp_path / module.CONFIG_FILE
    config.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"^{config}: invalid JSON at line 1: "):
        mr.get_scorer(name, path=str(tmp_path))
    config.write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        mr.get_scorer(name, path=str(tmp_path))
    assert str(err.value) == f"{config}: expected format {module.FORMAT!r} (got 'other')"
