"""Probe and best-of-n figures draw what their frames hold."""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def probe_frame():
    pairs = mr.load_sample("preference")
    frames = [
        mr.probes.probe(
            mr.get_scorer(name),
            pairs,
            ["pad_filler", "markdown", "assertive"],
            cache=False,
            progress=False,
            n_resamples=100,
        )  # fmt: skip
        for name in ("length_chars", "length_tokens")
    ]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_probe_display_draws_scorers_by_probes(probe_frame):
    from metricrm.plotting.probes import ProbeDisplay

    display = ProbeDisplay.from_frame(probe_frame, statistic="hack_rate")
    assert display.rows == ["length_chars", "length_tokens"]
    assert display.probes == ["(none)", "pad_filler", "markdown", "assertive"]
    want = probe_frame[probe_frame.statistic == "hack_rate"].value.to_numpy().reshape(2, 3)
    assert np.array_equal(display.values[:, 1:], want)
    none = probe_frame[probe_frame.statistic == "hack_rate_untouched"].value.to_numpy()
    assert np.array_equal(display.values[:, 0], none.reshape(2, 3)[:, 0])
    assert np.array_equal(display.image_.get_array(), display.values)
    assert display.ax_.figure is display.figure_
    assert len(display.texts_) == 8 and display.texts_[1].get_text().startswith("1.00\n[1.00")
    assert display.image_.get_clim() == (0.0, 1.0)
    bare = ProbeDisplay.from_frame(probe_frame, statistic="hack_rate", untouched=False)
    assert bare.probes == ["pad_filler", "markdown", "assertive"]
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    change = ProbeDisplay.from_frame(probe_frame, statistic="score_change", ax=ax,
                                     scorers=["length_tokens"])  # fmt: skip
    assert change.ax_ is ax and change.rows == ["length_tokens"]
    low, high = change.image_.get_clim()
    assert low == -high and high == pytest.approx(np.nanmax(np.abs(change.values)))
    plt.close("all")
    with pytest.raises(ScorerConfigError, match="no row has statistic 'nope'"):
        ProbeDisplay.from_frame(probe_frame, statistic="nope")


def test_best_of_n_display_draws_proxy_and_gold_against_kl():
    from metricrm.plotting.probes import BestOfNDisplay

    rng = np.random.default_rng(0)
    proxy = [rng.normal(size=8) for _ in range(12)]
    gold = [p + rng.normal(size=8) for p in proxy]
    frame = mr.probes.best_of_n_curve(proxy, gold, rng=np.random.default_rng(0), n_resamples=50,
                                      proxy_name="p", gold_name="g")  # fmt: skip
    display = BestOfNDisplay.from_frame(frame)
    assert len(display.lines_) == 2 and len(display.bands_) == 2
    x, y = display.lines_[1].get_data()
    gold_rows = frame[frame.role == "gold"]
    assert np.allclose(x, gold_rows.kl) and np.allclose(y, gold_rows.change)
    assert display.lines_[0].get_linestyle() == "-" and display.lines_[1].get_linestyle() == "--"
    raw = BestOfNDisplay.from_frame(frame, y="value")
    assert np.allclose(raw.lines_[0].get_data()[1], frame[frame.role == "proxy"].value)
    with pytest.raises(ScorerConfigError, match="no pair named 'x'"):
        BestOfNDisplay.from_frame(frame, pairs=["x"])
    import matplotlib.pyplot as plt

    plt.close("all")
