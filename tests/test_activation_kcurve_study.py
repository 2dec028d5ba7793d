"""The activation k-curve study's fit budget: every k of the curve reaches the fit."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import metricrm as mr

from . import model_fixtures as models

STUDY = Path(__file__).resolve().parents[1] / "studies" / "robust_rms"
PAIRS = [p for p in mr.load_sample("preference") if p.label != "tie"]  # 34 pairs


@pytest.fixture(scope="module")
def kcurve():
    """The study script as a module (its ``common`` helper imported from its folder)."""
    saved = sys.modules.pop("common", None)
    sys.path.insert(0, str(STUDY))
    try:
        spec = importlib.util.spec_from_file_location(
            "activation_kcurve_study", STUDY / "activation_kcurve.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(STUDY))
        sys.modules.pop("common", None)
        if saved is not None:
            sys.modules["common"] = saved
    return module


def _args(kcurve, tmp_path, *extra):
    return kcurve.build_parser().parse_args(["--work", str(tmp_path), "--n-heads", "2", *extra])


def test_every_pair_beyond_k16_reaches_the_fit(kcurve, tmp_path):
    """k = 24 pairs are 48 judged examples: head selection reads all 48 and the mean
    activations 24 prompts (the earlier fixed caps stopped at 32 and 16)."""
    args = _args(kcurve, tmp_path)
    arm = kcurve.fit_or_load(
        PAIRS[:24], 0, tmp_path / "k24", args, model=models.tiny_causal_lm_path()
    )
    assert arm.fit_settings["items"] == 48 and arm.fit_settings["prompts"] == 24
    assert len(arm.fit_report.positive) == 48 and arm.fit_report.positive.sum() == 24
    assert arm.fit_report.n_prompts == 24
    assert "items=48" in arm.signature and "prompts=24" in arm.signature


def test_budget_up_to_k16_is_the_earlier_caps_and_grows_after(kcurve):
    for k in (1, 2, 4, 8, 12, 16, 32, 64, 128):
        auto = kcurve.fit_budget(k, kcurve.AUTO, kcurve.AUTO)
        fixed = kcurve.fit_budget(k, 16, 32)
        used = {key: min(v, 2 * k) for key, v in auto.items()}
        if k <= 16:  # the rows fitted before the rule keep their fits and signatures
            assert used == {key: min(v, 2 * k) for key, v in fixed.items()}
        assert used["max_items"] == 2 * k
        assert used["max_prompts"] == max(min(16, 2 * k), k)


def test_a_saved_fit_with_another_budget_is_fitted_again(kcurve, tmp_path, monkeypatch):
    model = models.tiny_causal_lm_path()
    folder = tmp_path / "fit"
    capped = _args(kcurve, tmp_path, "--max-prompts", "16", "--max-items", "32")
    old = kcurve.fit_or_load(PAIRS[:20], 0, folder, capped, model=model)
    assert (old.fit_settings["prompts"], old.fit_settings["items"]) == (16, 32)
    new = kcurve.fit_or_load(PAIRS[:20], 0, folder, _args(kcurve, tmp_path), model=model)
    assert (new.fit_settings["prompts"], new.fit_settings["items"]) == (20, 40)
    assert new.signature != old.signature

    def refuse(*args, **kwargs):
        raise AssertionError("a matching saved fit must be loaded, not fitted again")

    monkeypatch.setattr(kcurve, "fit_activation_rm", refuse)
    again = kcurve.fit_or_load(PAIRS[:20], 0, folder, _args(kcurve, tmp_path), model=model)
    assert again.signature == new.signature


@pytest.mark.parametrize("text", ["0", "-3", "all", "1.5", ""])
def test_budget_option_refuses_other_values(kcurve, text):
    with pytest.raises(argparse.ArgumentTypeError, match="'auto' or a positive integer"):
        kcurve.budget_option(text)
    assert kcurve.budget_option("auto") == kcurve.AUTO and kcurve.budget_option("7") == 7


class _Judge:
    """Scores and 'hidden states' that are a function of (prompt, response); counts calls."""

    def __init__(self):
        self.asked: list[str] = []

    def score_with_embeddings(self, responses, prompts):
        self.asked.extend(responses)
        x = np.array(
            [
                [len(r), len(p), zlib.crc32(f"{p}|{r}".encode()) % 97]
                for r, p in zip(responses, prompts)
            ]
        )
        scores = x[:, 0] / (1.0 + x[:, 2])
        return mr.ScoreResult("judge", scores, True, "judge"), x.astype(np.float32)


def test_feature_store_embeds_each_response_once_and_returns_the_same(kcurve, tmp_path):
    store = tmp_path / "features.npz"
    first, more = PAIRS[:4], PAIRS[2:8] + PAIRS[2:3]  # overlap, and a pair given twice
    both = [p.chosen for p in more] + [p.rejected for p in more]
    result, want_x = _Judge().score_with_embeddings(both, [p.prompt for p in more] * 2)
    want_r = result.scores
    direct = _Judge()
    kcurve.embed(direct, more, tmp_path / "fresh.npz")
    assert len(direct.asked) == 12  # 6 distinct pairs, 2 responses each
    judge = _Judge()
    kcurve.embed(judge, first, store)
    assert judge.asked == [p.chosen for p in first] + [p.rejected for p in first]
    judge.asked.clear()
    got_r, got_x = kcurve.embed(judge, more, store)
    assert judge.asked == [p.chosen for p in PAIRS[4:8]] + [p.rejected for p in PAIRS[4:8]]
    np.testing.assert_array_equal(got_x, want_x)
    np.testing.assert_array_equal(got_r, want_r)
    assert got_x.shape == (2 * len(more), 3)
    judge.asked.clear()
    kcurve.embed(judge, more, store)
    assert judge.asked == []


def test_summary_averages_seeds_per_pair_and_counts_them(kcurve, tmp_path, monkeypatch):
    """Accuracy averages each pair over the seeds first; the seeds column gives the per-seed
    range and how many seeds there are; one seed is named."""
    import pandas as pd

    monkeypatch.setattr(kcurve, "OUT_MD", tmp_path / "kcurve.md")
    rows = []
    per_seed = {0: [1, 1, 0, 0], 1: [1, 0, 0, 0], 2: [1, 1, 1, 0]}
    for seed, outcome in per_seed.items():
        rows.append(
            pd.DataFrame(
                {
                    "dataset": "llmbar",
                    "pair": range(4),
                    "group": list("abcd"),
                    "scorer": "activation_rm",
                    "k": 16,
                    "seed": seed,
                    "outcome": outcome,
                    "signature": "arm",
                }
            )  # fmt: skip
        )
    rows.append(
        pd.DataFrame(
            {
                "dataset": "llmbar",
                "pair": range(4),
                "group": list("abcd"),
                "scorer": "probe",
                "k": 64,
                "seed": 1,
                "outcome": [1, 1, 1, 0],
                "signature": "probe",
            }
        )  # fmt: skip
    )
    args = _args(kcurve, tmp_path, "--n-resamples", "50")
    kcurve.write_summary(pd.concat(rows), {"llmbar": 4}, args)
    lines = (tmp_path / "kcurve.md").read_text().splitlines()
    arm = next(line for line in lines if "| activation_rm |" in line and "| 16 |" in line)
    assert "| 0.500 |" in arm and "| 0.250-0.750 (3) |" in arm
    probe = next(line for line in lines if "| probe |" in line)
    assert "| 0.750 |" in probe and "| seed 1 only |" in probe
