"""``metricrm compose fit`` / ``compose score``: the CLI gives what the public API gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metricrm as mr
from metricrm import read_table
from metricrm.cli import main
from metricrm.weighting import Component, compose, load_composite

pytest.importorskip("sklearn")
SAMPLE = Path(mr.__file__).parent / "data" / "sample" / "preference.jsonl"

STUDY = """\
scorers:
  - length_chars
  - {name: length_tokens, label: words}
datasets:
  - {format: sample, path: preference}
compose:
  method: {kind: logistic, C: 10.0}
  normalizer: {words: rank}
  higher_is_better: {length_chars: false}
  k: 3
  n_resamples: 200
  output: reward.yaml
"""


@pytest.fixture
def study(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    return path


def test_fit_prints_the_held_out_table_and_writes_the_composite(study, tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["compose", "fit", str(study), "--cache-dir", str(cache), "--no-progress",
                 "--table", str(tmp_path / "held.csv")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert (tmp_path / "reward.yaml").is_file() and "wrote" in out
    for method in ("composite", "equal", "best_single", "length_chars", "words"):
        assert f"\n{method} " in out
    # the same call through the API
    parts = [
        Component.build("length_chars", "length_chars", higher_is_better=False),
        Component.build("words", "length_tokens", normalizer="rank"),
    ]
    api = compose(parts, mr.load_sample("preference"), method={"kind": "logistic", "C": 10.0},
                  k=3, n_resamples=200, cache=mr.ScoreCache(cache), progress=False)  # fmt: skip
    table = read_table(tmp_path / "held.csv")
    np.testing.assert_allclose(table["value"], api.frame["value"])
    np.testing.assert_allclose(table["p_value"], api.frame["p_value"], equal_nan=True)
    written = load_composite(tmp_path / "reward.yaml", cache=False)
    assert written.weights == pytest.approx(api.composite.weights)
    assert written.info["held_out"]["composite"]["value"] == pytest.approx(
        float(api.frame.set_index("method").loc["composite", "value"]), abs=1e-6
    )


def test_score_with_a_composite_file_and_through_metricrm_score(study, tmp_path, capsys):
    assert main(["compose", "fit", str(study), "--no-cache", "--no-progress"]) == 0
    reward = tmp_path / "reward.yaml"
    out = tmp_path / "scores.csv"
    assert main(["compose", "score", str(reward), str(SAMPLE), "-o", str(out), "--no-cache"]) == 0
    frame = read_table(out)
    pairs = mr.load_sample("preference")
    composite = load_composite(reward, cache=False)
    expected = composite.score([p.chosen for p in pairs]).scores
    np.testing.assert_allclose(frame["composite.chosen"], expected)
    assert "composite.length_chars.raw.chosen" in frame.columns
    # the generic score command reaches the same scorer
    other = tmp_path / "generic.csv"
    assert main(["score", str(SAMPLE), "-s", "composite", "--set",
                 f"composite.path={reward}", "-o", str(other), "--no-cache"]) == 0  # fmt: skip
    np.testing.assert_allclose(read_table(other)["composite.chosen"], expected)


def test_errors_exit_2_and_name_the_problem(tmp_path, study, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(STUDY.replace("  k: 3", "  folds: 3"))
    assert main(["compose", "fit", str(bad), "--no-cache"]) == 2
    assert "compose: unknown key 'folds'" in capsys.readouterr().err
    unfitted = tmp_path / "unfitted.yaml"
    unfitted.write_text("components:\n  len: {scorer: length_chars, normalizer: {kind: robust}}\n"
                        "weights: {len: 1}\n")  # fmt: skip
    assert main(["compose", "score", str(unfitted), str(SAMPLE), "-o", "-", "--no-cache"]) == 2
    assert "component 'len': the robust normalizer was never fitted" in capsys.readouterr().err
    assert main(["compose"]) == 2
