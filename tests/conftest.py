"""Shared pytest fixtures.

The suite does not depend on, or write to, the user's environment: every score cache defaults to
a session temporary folder (``METRICRM_CACHE`` is replaced for the whole run, subprocesses
included), the tiny test models are built in another one, and subprocesses import the metricrm
under test (``PYTHONPATH`` starts with its checkout), not whichever one is installed.
``USER_METRICRM_CACHE`` keeps the value the user had set, if any: the SmolLM2 conversion (slow
tests) goes there so that it is reused across runs, else into the session's temporary cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import metricrm

from . import model_fixtures

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: ``METRICRM_CACHE`` as set before the suite replaced it (None when it was not set)
USER_METRICRM_CACHE = os.environ.get("METRICRM_CACHE", "").strip() or None


@pytest.fixture(scope="session", autouse=True)
def isolated_metricrm_cache(tmp_path_factory) -> Path:
    """The session's score cache folder, exported as ``METRICRM_CACHE`` for the whole run."""
    folder = tmp_path_factory.mktemp("metricrm-cache")
    checkout = str(Path(metricrm.__file__).resolve().parents[1])
    patch = pytest.MonkeyPatch()
    patch.setenv("METRICRM_CACHE", str(folder))
    patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [checkout, os.getenv("PYTHONPATH")])))
    model_fixtures.use_root(tmp_path_factory.mktemp("metricrm-test-models"))
    model_fixtures.use_smollm2_cache(Path(USER_METRICRM_CACHE) if USER_METRICRM_CACHE else folder)
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real evaluation data kept beside the checkout (``../shared/data``); skip if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA
