"""Displays draw exactly the data they were given: rows, interval extents, labels, colours per
cluster, matrices equal to brute-force computations. Pixels are not compared."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import metricrm as mr
from metricrm.core.errors import DataFormatError, ScorerConfigError, ScorerInputError

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
from matplotlib.colors import to_hex  # noqa: E402

from metricrm.plotting import (  # noqa: E402
    PALETTE,
    CompositeWeightsDisplay,
    ForestDisplay,
    HeatmapDisplay,
    LengthBiasDisplay,
    ParetoFrontDisplay,
    ReliabilityDisplay,
    RMBenchMatrixDisplay,
    ScorerCorrelationDisplay,
    cluster_color,
    pareto_mask,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def reference_table():
    """A real meta_evaluate frame: four scorers on the built-in reference sample."""
    return mr.meta_evaluate(
        ["bleu", "chrf", "ter", "length_chars"], {"ref": mr.load_sample("reference")},
        n_resamples=200, cache=False, progress=False,
    )  # fmt: skip


def _bar_extent(container) -> tuple[float, float]:
    """(low, high) of a one-point ErrorbarContainer's horizontal bar."""
    (segment,) = container.lines[2][0].get_segments()
    return float(segment[0][0]), float(segment[1][0])


def test_importing_plotting_loads_no_matplotlib():
    code = "import sys, metricrm.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------ forest


def test_forest_rows_intervals_labels_and_cluster_colours(reference_table):
    d = ForestDisplay.from_frame(reference_table, human="da", level="flat", panels="statistic")
    expected = reference_table[(reference_table.level == "flat") & (reference_table.human == "da")]
    assert list(d.panels_) == ["pearson", "spearman", "kendall_b"]
    assert len(d.ax_) == 3
    for axis, (stat, bars) in zip(d.ax_, d.errorbars_.items()):
        rows = expected[expected.statistic == stat].sort_values("value", ascending=False)
        assert len(bars) == len(rows) == 4
        # tick labels top to bottom = scorers by value, best first
        ticks = sorted(axis.get_yticklabels(), key=lambda t: -t.get_position()[1])
        assert [t.get_text() for t in ticks] == list(rows.scorer)
        for bar, r in zip(bars, rows.itertuples()):
            lo, hi = _bar_extent(bar)
            assert lo == pytest.approx(r.ci_low) and hi == pytest.approx(r.ci_high)
            x, _ = bar.lines[0].get_data()
            assert x[0] == pytest.approx(r.value)
            assert to_hex(bar.lines[0].get_color()) == to_hex(cluster_color(r.cluster))
    # the Pearson panel has more than one cluster, drawn in different colours
    pearson = d.panels_["pearson"]
    assert pearson.cluster.nunique() > 1
    colours = {to_hex(b.lines[0].get_color()) for b in d.errorbars_["pearson"]}
    assert len(colours) == pearson.cluster.nunique()
    labels = [t.get_text() for t in d.legend_.get_texts()]
    assert labels[0] == "cluster 1 (top)"


def test_forest_panels_by_several_columns(reference_table):
    d = ForestDisplay.from_frame(reference_table, human="da", panels=["level", "statistic"])
    assert list(d.panels_)[:4] == ["flat / pearson", "flat / spearman", "flat / kendall_b",
                                   "item / pearson"]  # fmt: skip
    assert len(d.panels_) == 9 and all(len(p) == 4 for p in d.panels_.values())
    assert [a.get_title() for a in d.ax_[:2]] == ["flat / pearson", "flat / spearman"]
    with pytest.raises(ScorerConfigError, match="`panels` must be one of"):
        ForestDisplay.from_frame(reference_table, panels="scorer")


def test_forest_refuses_to_mix_levels(reference_table):
    with pytest.raises(ScorerConfigError, match=r"differ in level: flat, item, system"):
        ForestDisplay.from_frame(reference_table, statistic="pearson")
    with pytest.raises(ScorerConfigError, match=r"no row has level = 'segment'"):
        ForestDisplay.from_frame(reference_table, statistic="pearson", level="segment")
    with pytest.raises(DataFormatError, match=r"lacks column\(s\) ci_low"):
        ForestDisplay.from_frame(reference_table.drop(columns="ci_low"))


def test_forest_leaves_out_rows_without_a_value():
    pairs = mr.load_sample("preference")
    with pytest.warns(UserWarning, match="skipped chrf"):
        table = mr.meta_evaluate(["length_chars", "chrf"], {"p": pairs}, n_resamples=50,
                                 cache=False, progress=False)  # fmt: skip
    d = ForestDisplay.from_frame(table)
    assert list(d.panels_["p"].scorer) == ["length_chars"]


def test_cluster_colours_are_the_palette_and_grey_for_none():
    assert [cluster_color(k) for k in (1, 2, 3)] == list(PALETTE[:3])
    assert cluster_color(float("nan")) == cluster_color(None) == "#999999"


# ------------------------------------------------------------------------------------ heatmap


def test_heatmap_cells_hold_value_interval_and_bold_top_cluster(reference_table):
    d = HeatmapDisplay.from_frame(reference_table, columns=["level", "statistic"], human="da")
    assert d.values_.shape == (4, 9)
    assert list(d.values_.index) == ["bleu", "chrf", "ter", "length_chars"]
    for r in reference_table.itertuples():
        j = list(d.values_.columns).index(f"{r.level} / {r.statistic}")
        i = list(d.values_.index).index(r.scorer)
        text = d.texts_[i, j]
        assert text.get_text() == f"{r.value:.3f}\n[{r.ci_low:.3f}, {r.ci_high:.3f}]"
        assert (text.get_fontweight() == "bold") == (r.cluster == 1)
    # the image holds the values
    assert np.allclose(d.image_.get_array().filled(np.nan), d.values_.to_numpy(), equal_nan=True)


def test_heatmap_shaded_per_row_keeps_the_texts(reference_table):
    d = HeatmapDisplay.from_frame(reference_table, rows=["level", "statistic"], columns="scorer",
                                  human="da", color_by="row")  # fmt: skip
    shade = d.image_.get_array().filled(np.nan)
    values = d.values_.to_numpy()
    assert d.values_.shape == (9, 4)
    for i in range(9):
        if np.ptp(values[i]) > 0:
            assert shade[i].min() == 0 and shade[i].max() == 1
            assert np.argmax(shade[i]) == np.argmax(values[i])
    assert d.texts_[0, 0].get_text().startswith(f"{values[0, 0]:.3f}\n")
    with pytest.raises(ScorerConfigError, match="`color_by` must be one of"):
        HeatmapDisplay.from_frame(reference_table, human="da", level="flat", color_by="x")


def test_heatmap_missing_cell_is_na():
    frame = pd.DataFrame({
        "scorer": ["a", "a", "b"], "dataset": ["x", "y", "x"], "statistic": ["accuracy"] * 3,
        "value": [0.6, 0.7, 0.8], "ci_low": [0.5, 0.6, 0.7], "ci_high": [0.7, 0.8, 0.9],
    })  # fmt: skip
    d = HeatmapDisplay.from_frame(frame)
    assert d.texts_[1, 1].get_text() == "n/a"
    assert np.isnan(d.values_.loc["b", "y"])


# -------------------------------------------------------------------------------- correlation


def test_correlation_matrix_equals_scipy_and_flips_lower_is_better():
    rng = np.random.default_rng(0)
    base = rng.normal(size=60)
    scores = pd.DataFrame({
        "a": base + rng.normal(scale=0.5, size=60),
        "b": base + rng.normal(scale=1.0, size=60),
        "ter": -base + rng.normal(scale=0.7, size=60),
    })  # fmt: skip
    scores.loc[3, "b"] = np.nan  # pairwise complete items
    d = ScorerCorrelationDisplay.from_scores(scores, higher_is_better={"ter": False})
    for x in scores:
        for y in scores:
            both = scores[[x, y]].dropna()
            sx = -both[x] if x == "ter" else both[x]
            sy = -both[y] if y == "ter" else both[y]
            want = 1.0 if x == y else stats.kendalltau(sx, sy).statistic
            assert d.matrix_.loc[x, y] == pytest.approx(want)
    assert d.matrix_.loc["a", "ter"] > 0  # flipped: now agrees with a
    assert d.n_.loc["a", "b"] == 59 and d.n_.loc["a", "ter"] == 60
    assert d.texts_[0, 2].get_text() == f"{d.matrix_.loc['a', 'ter']:.2f}"
    p = ScorerCorrelationDisplay.from_scores(scores.dropna(), method="pearson")
    assert p.matrix_.loc["a", "b"] == pytest.approx(np.corrcoef(scores.dropna().T)[0, 1])


def test_correlation_bad_input():
    with pytest.raises(ScorerInputError, match="lengths"):
        ScorerCorrelationDisplay.from_scores({"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(ScorerInputError, match="at least 2 scorers"):
        ScorerCorrelationDisplay.from_scores({"a": [1, 2, 3]})
    with pytest.raises(ScorerInputError, match="not among the scorers"):
        ScorerCorrelationDisplay.from_scores({"a": [1, 2], "b": [2, 1]}, higher_is_better={"c": 0})


# ---------------------------------------------------------------------------------- RM-Bench


def _rmbench_frame(rng, domains=("chat", "code"), n_prompts=5):
    rows = []
    for d in domains:
        for p in range(n_prompts):
            c = rng.integers(0, 4, size=3).astype(float)  # ties happen
            r = rng.integers(0, 4, size=3).astype(float)
            for i in range(3):
                for j in range(3):
                    rows.append(
                        {
                            "domain": d,
                            "prompt_id": p,
                            "chosen_style": i,
                            "rejected_style": j,
                            "chosen": c[i],
                            "rejected": r[j],
                        }
                    )
    return pd.DataFrame(rows)


def test_rmbench_matrix_equals_brute_force():
    frame = _rmbench_frame(np.random.default_rng(1))
    d = RMBenchMatrixDisplay.from_scores(frame)
    assert list(d.matrices_) == ["chat", "code"]
    for domain, res in d.matrices_.items():
        part = frame[frame.domain == domain]
        want = np.zeros((3, 3))
        for i in range(3):
            for j in range(3):
                cell = part[(part.chosen_style == i) & (part.rejected_style == j)]
                want[i, j] = (cell.chosen > cell.rejected).mean()  # tie = wrong, as RM-Bench
        assert np.allclose(res.matrix, want)
        assert res.hard == pytest.approx(np.mean([want[0, 1], want[0, 2], want[1, 2]]))
        assert res.easy == pytest.approx(np.mean([want[1, 0], want[2, 0], want[2, 1]]))
        texts = d.texts_[domain]
        assert texts[0, 2].get_text() == f"{want[0, 2]:.2f}"
    assert len(d.ax_) == 2


def test_rmbench_from_pairs_on_real_data(shared_data):
    pairs = [p for p in mr.data.load_rm_bench(shared_data / "preference" / "rm-bench")
             if p.subset == "chat"]  # fmt: skip
    both = mr.score_pairs(mr.get_scorer("length_chars"), pairs, progress=False)
    d = RMBenchMatrixDisplay.from_pairs(pairs, both.chosen, both.rejected)
    res = d.matrices_["chat"]
    hard = [p for p, c, r in zip(pairs, both.chosen, both.rejected)
            if p.meta["difficulty"] == "hard"]  # fmt: skip
    wins = [c > r for p, c, r in zip(pairs, both.chosen, both.rejected)
            if p.meta["difficulty"] == "hard"]  # fmt: skip
    assert len(hard) == 3 * 129
    assert res.hard == pytest.approx(np.mean(wins))


def test_rmbench_from_outcomes_equals_brute_force_and_from_scores():
    """Per-pair outcomes (a pairwise judge's): each cell is the mean outcome over prompts, and
    outcomes made from scores give the matrices of those scores; rows shuffled, same result."""
    frame = _rmbench_frame(np.random.default_rng(4))
    outcome = np.where(frame.chosen > frame.rejected, 1.0, 0.0)  # tie = loss, as RM-Bench
    with_outcomes = frame.assign(outcome=outcome).sample(frac=1.0, random_state=0)
    d = RMBenchMatrixDisplay.from_outcomes(with_outcomes)
    ref = RMBenchMatrixDisplay.from_scores(frame)
    for domain, res in d.matrices_.items():
        part = with_outcomes[with_outcomes.domain == domain]
        for i in range(3):
            for j in range(3):
                cell = part[(part.chosen_style == i) & (part.rejected_style == j)]
                assert res.matrix[i, j] == pytest.approx(cell.outcome.mean())
        assert np.allclose(res.matrix, ref.matrices_[domain].matrix)
        assert (res.hard, res.normal, res.easy) == pytest.approx(
            (ref.matrices_[domain].hard, ref.matrices_[domain].normal, ref.matrices_[domain].easy)
        )
        assert (res.counts == 5).all()
    # outcomes a judge gives per pair need not come from per-response scores
    judge = frame.assign(outcome=0.0)
    judge.loc[(judge.domain == "chat") & (judge.chosen_style == 0), "outcome"] = 1.0
    res = RMBenchMatrixDisplay.from_outcomes(judge).matrices_["chat"]
    assert res.matrix.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert (res.hard, res.normal, res.easy) == pytest.approx((2 / 3, 1 / 3, 0.0))


def test_rmbench_from_outcomes_errors():
    frame = _rmbench_frame(np.random.default_rng(5)).assign(outcome=1.0)
    with pytest.raises(DataFormatError, match="prompt 2 lacks the pair of chosen_style 1 and "
                                              "rejected_style 2"):  # fmt: skip
        RMBenchMatrixDisplay.from_outcomes(
            frame[
                ~((frame.prompt_id == 2) & (frame.chosen_style == 1) & (frame.rejected_style == 2))
            ]  # fmt: skip
        )
    with pytest.raises(DataFormatError, match="prompt 0 has more than one row"):
        RMBenchMatrixDisplay.from_outcomes(pd.concat([frame, frame.iloc[:1]]))
    with pytest.raises(
        ScorerInputError,
        match=r"prompt 0, chosen_style 0, rejected_style 0: "
        r"expected an outcome between 0 and 1 \(got 2.0",
    ):
        RMBenchMatrixDisplay.from_outcomes(frame.assign(outcome=2.0))
    with pytest.raises(ScorerInputError, match="outcomes` of shape"):
        mr.meta.rmbench_matrix_from_outcomes(np.zeros((2, 3, 2)))
    bad = np.zeros((2, 3, 3))
    bad[1, 2, 0] = -1.0
    with pytest.raises(
        ScorerInputError,
        match=r"between 0 and 1 \(got -1.0 at prompt 1, "
        r"chosen style 2, rejected style 0\)",
    ):
        mr.meta.rmbench_matrix_from_outcomes(bad)


def test_rmbench_incomplete_prompt_is_an_error():
    frame = _rmbench_frame(np.random.default_rng(2))
    frame = frame[~((frame.prompt_id == 3) & (frame.chosen_style == 2))]
    with pytest.raises(DataFormatError, match="prompt 3 lacks a chosen_style"):
        RMBenchMatrixDisplay.from_scores(frame)


# ------------------------------------------------------------------------------- length bias


def test_length_bias_bins_and_points():
    rng = np.random.default_rng(3)
    n = 200
    lc, lr = rng.integers(10, 400, n), rng.integers(10, 400, n)
    c = lc / 100 + rng.normal(size=n)
    r = lr / 100 + rng.normal(size=n)
    r[:5] = c[:5]  # ties count half
    d = LengthBiasDisplay.from_scores(c, r, lc, lr, n_bins=4, scorer="toy")
    assert len(d.points_) == 2 * n
    assert d.scatter_["chosen"].get_offsets().shape == (n, 2)
    assert np.allclose(d.scatter_["rejected"].get_offsets()[:, 1], r)
    assert d.bins_.n.sum() == n and len(d.bins_) == 4
    diff = lc - lr
    outcome = np.where(c > r, 1.0, np.where(c == r, 0.5, 0.0))
    edges = np.quantile(diff, np.linspace(0, 1, 5))
    for k, b in enumerate(d.bins_.itertuples()):
        inside = (diff >= edges[k]) & ((diff < edges[k + 1]) if k < 3 else (diff <= edges[k + 1]))
        assert b.n == inside.sum()
        assert b.accuracy == pytest.approx(outcome[inside].mean())
        assert b.ci_low <= b.accuracy <= b.ci_high
    segs = d.errorbar_.lines[2][0].get_segments()
    assert [s[0][1] for s in segs] == pytest.approx(list(d.bins_.ci_low))
    assert [s[1][1] for s in segs] == pytest.approx(list(d.bins_.ci_high))
    # a length-biased scorer: accuracy rises with the length difference
    assert d.bins_.accuracy.iloc[-1] > d.bins_.accuracy.iloc[0]
    # each bin's tick names its range and count, on separate lines (no overlap)
    ticks = [t.get_text() for t in d.ax_[1].get_xticklabels()]
    assert ticks == [f"{b.low:+.0f} to\n{b.high:+.0f}\nn={b.n}" for b in d.bins_.itertuples()]


def test_length_bias_from_pairs_counts_characters():
    pairs = mr.load_sample("preference")
    both = mr.score_pairs(mr.get_scorer("length_chars"), pairs, progress=False)
    d = LengthBiasDisplay.from_pairs(pairs, both.chosen, both.rejected, n_bins=3)
    chosen = d.points_[d.points_.side == "chosen"]
    assert np.allclose(chosen.length, both.chosen)  # length_chars scores are the lengths


# ------------------------------------------------------------------------------- composites


def test_composite_weights_bars_and_intervals():
    frame = pd.DataFrame({"component": ["chrf", "bleu", "length"], "weight": [0.6, 0.3, -0.1],
                          "ci_low": [0.5, 0.1, -0.2], "ci_high": [0.7, 0.4, 0.0]})  # fmt: skip
    d = CompositeWeightsDisplay.from_frame(frame)
    assert [b.get_width() for b in d.bars_] == pytest.approx([0.6, 0.3, -0.1])
    ticks = sorted(d.ax_.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in ticks] == ["chrf", "bleu", "length"]
    segs = d.errorbar_.lines[2][0].get_segments()
    assert [x for s in segs for x in (s[0][0], s[1][0])] == pytest.approx(
        [0.5, 0.7, 0.1, 0.4, -0.2, 0.0]
    )
    assert CompositeWeightsDisplay.from_frame(frame[["component", "weight"]]).errorbar_ is None
    with pytest.raises(DataFormatError, match="both ci_low and ci_high"):
        CompositeWeightsDisplay.from_frame(frame.drop(columns="ci_high"))
    bad = frame.assign(ci_low=[0.65, 0.1, -0.2])
    with pytest.raises(DataFormatError, match=r"'chrf': the interval \[0.65, 0.7\] does not"):
        CompositeWeightsDisplay.from_frame(bad)


def test_pareto_front_equals_brute_force_and_marks_the_chosen_point():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"acc": rng.uniform(size=40), "bias": rng.uniform(size=40)})
    frame["weights"] = [f"w{i}" for i in range(40)]
    d = ParetoFrontDisplay.from_frame(frame, "acc", "bias", maximize=(True, False),
                                      chosen=7, label="weights")  # fmt: skip
    pts = frame[["acc", "bias"]].to_numpy()
    brute = [
        not any((q[0] >= p[0]) and (q[1] <= p[1]) and ((q[0] > p[0]) or (q[1] < p[1]))
                for q in pts)
        for p in pts
    ]  # fmt: skip
    assert list(d.candidates_.pareto) == brute
    assert np.allclose(d.front_line_.get_xdata(), np.sort(frame.acc[brute]))
    assert np.allclose(d.chosen_marker_.get_offsets()[0], pts[7])
    assert d.others_.get_offsets().shape[0] == 40 - sum(brute)
    assert d.ax_.texts[0].get_text() == "w7"
    assert pareto_mask(np.array([[1, 1], [1, 1]])).tolist() == [True, True]  # equal: both
    with pytest.raises(ScorerConfigError, match="not a row"):
        ParetoFrontDisplay.from_frame(frame, "acc", "bias", chosen=99)
    two = frame.assign(chosen=[i < 2 for i in range(40)])
    with pytest.raises(DataFormatError, match="marks 2 rows"):
        ParetoFrontDisplay.from_frame(two, "acc", "bias")


# ------------------------------------------------------------------------------ reliability


def test_reliability_bins_and_ece_by_hand():
    d = ReliabilityDisplay.from_predictions([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], n_bins=2)
    assert d.bins_.n.tolist() == [2, 2]
    assert d.bins_.mean_predicted.tolist() == pytest.approx([0.1, 0.9])
    assert d.bins_.observed.tolist() == pytest.approx([0.5, 1.0])
    assert d.ece_ == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert np.allclose(d.line_.get_xdata(), [0.1, 0.9])
    assert np.allclose(d.line_.get_ydata(), [0.5, 1.0])
    assert [b.get_height() for b in d.counts_] == [2, 2]
    edge = ReliabilityDisplay.from_predictions([1.0, 0.0], [1, 0], n_bins=4)
    assert edge.bins_.n.tolist() == [1, 1]  # 1.0 falls in the last bin
    inner = ReliabilityDisplay.from_predictions([0.25, 0.5], [0, 1], n_bins=2)
    assert inner.bins_.low.tolist() == [0.0, 0.5]  # bins are closed on the left


def test_reliability_from_margins_is_symmetric():
    rng = np.random.default_rng(5)
    c, r = rng.normal(size=300), rng.normal(size=300)
    d = ReliabilityDisplay.from_margins(c, r, n_bins=10)
    b = d.bins_
    assert b.n.sum() == 600
    assert np.allclose(b.mean_predicted + b.mean_predicted[::-1].to_numpy(), 1.0)
    assert np.allclose(b.observed + b.observed[::-1].to_numpy(), 1.0)
    with pytest.raises(ScorerInputError, match=r"y_prob\[1\] = 1.5 is not in \[0, 1\]"):
        ReliabilityDisplay.from_predictions([0.5, 1.5], [0, 1])


# ---------------------------------------------------------------------------------- README


def test_readme_quick_start_figure_runs(tmp_path, monkeypatch):
    """The README's quick-start figure code runs as printed and writes forest.png."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
                 if "ForestDisplay.from_frame" in b)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "forest.png").read_bytes().startswith(b"\x89PNG")
    assert list(namespace["forest"].panels_) == ["pearson", "spearman", "kendall_b"]


# ---------------------------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                           (".svg", b"<?xml")])  # fmt: skip
def test_savefig_formats(tmp_path, reference_table, suffix, magic):
    d = ForestDisplay.from_frame(reference_table, human="da", level="system",
                                 statistic="pearson")  # fmt: skip
    path = d.savefig(tmp_path / f"forest{suffix}")
    assert path.read_bytes().startswith(magic)
    if suffix == ".svg":
        assert "bleu" in path.read_text()  # text stays text


def test_savefig_and_svg_errors(tmp_path, reference_table):
    d = ForestDisplay.from_frame(reference_table, human="da", level="flat", statistic="pearson")
    with pytest.raises(ScorerConfigError, match=r"ending in \.png, \.svg, \.pdf"):
        d.savefig(tmp_path / "forest.jpg")
    assert d.to_svg().startswith("<svg")
    with pytest.raises(ScorerConfigError, match="call .plot"):
        ForestDisplay({}).to_svg()
