"""The activation RM's hack-rate study runs end to end on a tiny model and reuses the
k-curve's stored judge features."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metricrm as mr

from . import model_fixtures as models

STUDY = Path(__file__).resolve().parents[1] / "studies" / "robust_rms"
PAIRS = [p for p in mr.load_sample("preference") if p.label != "tie"]  # 34 pairs


@pytest.fixture()
def study(monkeypatch):
    """Loads a study script as a module, with its folder's ``common`` and
    ``activation_kcurve`` (removed again afterwards)."""
    helpers = ("common", "activation_kcurve")
    for name in helpers:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(STUDY))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_study", STUDY / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in helpers:
        sys.modules.pop(name, None)


def test_hack_rate_study_runs_on_a_tiny_model(study, tmp_path, monkeypatch):
    probes_study = study("activation_probes")
    monkeypatch.setattr(probes_study, "MODEL", models.tiny_causal_lm_path())
    monkeypatch.setattr(probes_study, "load_preference", lambda shared, name: PAIRS)
    monkeypatch.setattr(probes_study, "OUT_CSV", tmp_path / "out.csv")
    monkeypatch.setattr(probes_study, "OUT_MD", tmp_path / "out.md")
    argv = ["activation_probes.py", "--work", str(tmp_path / "work"), "--test", "6",
            "--k", "4", "--probes", "markdown", "--n-heads", "2", "--n-resamples", "20",
            "--max-length", "256", "--context-tokens", "200"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    probes_study.main()
    frame = pd.read_csv(tmp_path / "out.csv")
    assert sorted(set(frame.scorer)) == sorted(probes_study.SCORERS)
    assert set(frame.probe) == {"markdown"} and len(frame) == 5 * 6
    # the judge's features are kept where the k-curve keeps them, so the two studies share them
    kcurve = sys.modules["activation_kcurve"]
    judge = mr.get_scorer("lm_judge", model=probes_study.MODEL, max_length=256)
    store = kcurve.feature_store(tmp_path / "work", "evalbiasbench", judge)
    assert store.is_file()
    saved = kcurve.embed(judge, PAIRS[:2], store)  # read back, not recomputed
    direct = judge.score_with_embeddings([p.chosen for p in PAIRS[:2]],
                                         prompts=[p.prompt for p in PAIRS[:2]])  # fmt: skip
    assert saved[0][:2].tolist() == pytest.approx(direct[0].scores.tolist(), abs=1e-5)
    assert "markdown" in (tmp_path / "out.md").read_text()


def test_vote_baseline_adds_its_rows_and_states_the_kcurve_settings(study, tmp_path, monkeypatch):
    vote = study("vote_baseline")
    kcurve, common = sys.modules["activation_kcurve"], sys.modules["common"]
    test, _ = common.split_test(PAIRS, 6, seed=0)
    judge_rows = pd.DataFrame(
        {"dataset": "llmbar", "pair": range(len(test)), "group": [common.group_id(p) for p in test],
         "scorer": "lm_judge", "k": 0, "seed": -1, "outcome": 1.0, "signature": "judge"}
    )  # fmt: skip
    csv, md = tmp_path / "kcurve.csv", tmp_path / "kcurve.md"
    judge_rows.to_csv(csv, index=False)
    monkeypatch.setattr(vote, "OUT_CSV", csv)
    monkeypatch.setattr(kcurve, "OUT_MD", md)
    monkeypatch.setattr(vote, "MODEL", models.tiny_causal_lm_path())
    monkeypatch.setattr(vote, "load_preference", lambda shared, name: PAIRS)
    argv = ["vote_baseline.py", "--work", str(tmp_path / "work"), "--datasets", "llmbar",
            "--test", "llmbar=6", "--samples", "0", "--max-length", "256", "--n-resamples", "20"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    vote.main()
    frame = pd.read_csv(csv, keep_default_na=False)
    votes = frame[frame.scorer == "lm_vote_judge"]
    assert len(votes) == len(test) and list(votes.group) == list(judge_rows.group)
    assert set(votes.outcome) <= {0.0, 0.5, 1.0}
    text = md.read_text()
    assert "lm_vote_judge" in text and "max_length 256" in text
    # the settings the k-curve's rows were scored with, not the caps it had before
    assert "max_prompts max(16, k), max_items 2k (every example)" in text


def test_hack_rate_tests_swap_whole_prompts(study, tmp_path, monkeypatch):
    """RM-Bench's test pairs come 9 to a prompt: the permutation test must move them together
    (4 prompts: the exact two-sided p is at least 2/16), not treat 36 pairs as independent."""
    probes_study = study("activation_probes")
    kcurve = sys.modules["activation_kcurve"]
    monkeypatch.setattr(probes_study, "OUT_MD", tmp_path / "out.md")
    group = [f"g{i // 9}" for i in range(36)]
    hacked = [1.0 if g != "g3" else 0.0 for g in group]
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "dataset": "rm-bench",
                    "group": group,
                    "pair": range(36),
                    "scorer": s,
                    "probe": "markdown",
                    "hack": h,
                    "untouched": 0.0,
                    "rise": h,
                    "changed": 1.0,
                    "signature": s,
                }
            )  # fmt: skip
            for s, h in (("activation_rm", [0.0] * 36), ("lm_judge", hacked))
        ]
    )
    args = argparse.Namespace(
        seed=0, n_resamples=400, max_length=256, k=4, n_heads=2, shots=2, max_prompts=16,
        max_items=32, context_tokens=200,
    )  # fmt: skip
    probes_study.write_summary(frame, args)
    row = next(
        line for line in (tmp_path / "out.md").read_text().splitlines() if "lm_judge" in line
    )
    cells = [c.strip() for c in row.split("|")]
    assert cells[6] == "+0.750" and float(cells[7]) >= 0.125
    # the overview: each rate under its scorer's header, the same grouped test
    text = (tmp_path / "out.md").read_text()
    header = next(
        line for line in text.splitlines() if line.startswith("| dataset | probe | activation_rm")
    )
    row = next(
        line for line in text.splitlines() if line.startswith("| rm-bench | markdown | 0.000")
    )
    named = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert named["lm_judge"] == "0.750" and named["probe"] == named["lm_logprob"] == ""
    assert named["hacked [95% CI]"] == "0.000 [0.000, 0.000]"
    assert named["lm_judge minus activation_rm (p)"] == f"+0.750 ({cells[7]})"
    # the same as the test on per-prompt sums, and equal to the pairwise test with one pair each
    sums = pd.Series(hacked).groupby(group).sum().to_numpy()
    want = mr.meta.paired_permutation_test(
        mr.meta.MEAN, sums, np.zeros(4), rng=np.random.default_rng(0), n_resamples=400,
        alternative="two-sided",
    )  # fmt: skip
    assert kcurve.prompt_permutation_test(hacked, [0.0] * 36, group, 0, 400) == (
        0.75,
        pytest.approx(want.pvalue, abs=0),
    )
    x = np.random.default_rng(1).integers(0, 2, 30).astype(float)
    single = mr.meta.paired_permutation_test(
        mr.meta.MEAN, x, np.zeros(30), rng=np.random.default_rng(0), n_resamples=400,
        alternative="two-sided",
    )  # fmt: skip
    names = [f"p{i:02d}" for i in range(30)]
    assert kcurve.prompt_permutation_test(x, np.zeros(30), names, 0, 400)[1] == single.pvalue
