"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real evaluation data kept beside the checkout (``../shared/data``); skip if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Nothing the suite scores lands in the user's cache: METRICRM_CACHE points to a fresh
    folder for the whole run (tests that need their own cache pass a folder explicitly)."""
    import os

    if os.environ.get("METRICRM_TEST_KEEP_CACHE"):  # e.g. reuse converted models across runs
        yield
        return
    old = os.environ.get("METRICRM_CACHE")
    os.environ["METRICRM_CACHE"] = str(tmp_path_factory.mktemp("metricrm-cache"))
    yield
    if old is None:
        os.environ.pop("METRICRM_CACHE", None)
    else:
        os.environ["METRICRM_CACHE"] = old
