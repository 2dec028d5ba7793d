"""The suite is independent of the user's environment and leaves their home folder alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import metricrm as mr
from metricrm.core.batching import score_with_cache
from metricrm.core.cache import ScoreCache, default_cache_dir, item_key

RESPONSES = ["the cat sat", "a dog ran off", "the cat sat"]


def _score_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of the score-cache files in ``folder`` (other files there,
    e.g. converted models, may be written by other programs meanwhile)."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.glob("scores.sqlite*")}


def test_library_caches_are_outside_the_home_folder():
    for variable in ("HF_HOME", "MPLCONFIGDIR"):
        assert not Path(os.environ[variable]).is_relative_to(Path.home()), variable


def test_default_cache_is_the_session_folder(isolated_metricrm_cache):
    assert os.environ["METRICRM_CACHE"] == str(isolated_metricrm_cache)
    assert default_cache_dir() == isolated_metricrm_cache
    assert ScoreCache().path == isolated_metricrm_cache / "scores.sqlite"
    assert not default_cache_dir().is_relative_to(Path.home())


def test_scoring_through_the_default_cache_writes_nothing_at_home(
    isolated_metricrm_cache, tmp_path, monkeypatch
):
    real_home_cache = Path.home() / ".cache" / "metricrm"
    before = _score_files(real_home_cache)
    # a fresh, empty home: anything that falls back to ~ would show up in it
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.setenv("USERPROFILE", str(fake_home))
    assert Path.home() == fake_home

    scorer = mr.get_scorer("length_chars")
    result = score_with_cache(scorer, RESPONSES, progress=False)  # the default cache
    np.testing.assert_array_equal(result.scores, [len(r) for r in RESPONSES])
    stored = ScoreCache(isolated_metricrm_cache).get_many(
        scorer.signature, [item_key(r) for r in RESPONSES]
    )
    assert {v[0] for v in stored.values()} == {len(r) for r in RESPONSES}
    # meta_evaluate's default (cache=None) is the default folder too
    mr.meta_evaluate(
        ["length_chars"], mr.load_sample("preference")[:8], n_resamples=10, progress=False
    )

    assert list(fake_home.iterdir()) == []
    assert _score_files(real_home_cache) == before


def test_subprocesses_import_the_metricrm_under_test(tmp_path):
    code = "import metricrm; print(metricrm.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()).resolve() == Path(mr.__file__).resolve()
