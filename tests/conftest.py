"""Shared pytest fixtures.

The suite does not depend on, or write to, the user's environment: every score cache defaults to
a session temporary folder (``METRICRM_CACHE`` is replaced for the whole run, subprocesses
included), the Hugging Face and matplotlib caches go to another (``HF_HOME``,
``MPLCONFIGDIR``), the tiny test models are built in a third, and subprocesses import the metricrm
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


def _shared_data() -> Path:
    """``shared/data`` beside the checkout, or beside a folder holding it (a copy of the
    checkout such as mutmut's ``mutants/`` runs from inside it)."""
    checkout = Path(__file__).resolve().parents[1]
    for folder in checkout.parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return checkout.parent / "shared" / "data"


SHARED_DATA = _shared_data()

#: ``METRICRM_CACHE`` as set before the suite replaced it (None when it was not set)
USER_METRICRM_CACHE = os.environ.get("METRICRM_CACHE", "").strip() or None


#: caches that libraries used by the tests would otherwise keep in the home folder
#: (Hugging Face datasets/evaluate modules, matplotlib's font list); read at their import
HOME_CACHE_VARIABLES = ("HF_HOME", "MPLCONFIGDIR")


@pytest.hookimpl(trylast=True)  # after pytest's own tmp_path set-up
def pytest_configure(config):
    """Point the libraries' home-folder caches at a pytest temporary folder, before any test
    module imports them."""
    root = config._tmp_path_factory.mktemp("library-caches")
    for variable in HOME_CACHE_VARIABLES:
        os.environ[variable] = str(root / variable.lower())


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


if os.environ.get("MUTANT_UNDER_TEST") == "stats":  # mutmut's coverage run (pyproject, docs)
    #: functions called while each broader-than-function fixture was set up
    _fixture_calls: dict[object, set[str]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(fixturedef, request):
        """mutmut credits a function to the test during which it ran, so one called while a
        module- or session-scoped fixture is set up would be credited to the first test using
        the fixture only, and its mutants run against that test alone. Record those calls."""
        from mutmut.state import state

        outer, state()._stats = state()._stats, set()
        try:
            yield
        finally:
            inner, state()._stats = state()._stats, outer
            outer |= inner
            if fixturedef.scope != "function":
                _fixture_calls[fixturedef] = inner

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(item, nextitem):
        """... and credit them to every test that uses the fixture (before mutmut's own hook)."""
        from mutmut.state import state

        for defs in item._fixtureinfo.name2fixturedefs.values():
            for fixturedef in defs:
                state()._stats |= _fixture_calls.get(fixturedef, set())
