"""meta_evaluate on real shared data: published figures, scipy equality, cache reuse."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError

DARR_PUBLISHED = {"bleu": 0.25, "chrf": 0.30}  # ../shared/data/README.md, sacrebleu 2.x


def _row(df, **where):
    mask = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        mask &= (df[k] == v).to_numpy()
    assert mask.sum() == 1, (where, mask.sum())
    return df[mask].iloc[0]


@pytest.mark.slow
def test_darr_tau_like_with_intervals_containing_published(shared_data, tmp_path):
    pairs = mr.data.load_wmt_darr(shared_data / "scored" / "wmt19-darr" / "lt-en.json")
    df = mr.meta_evaluate(
        ["bleu", "chrf"],
        pairs,
        dataset_name="darr-lt-en",
        statistics=["tau_like"],
        cache=tmp_path,
        progress=False,
    )
    for name, published in DARR_PUBLISHED.items():
        row = _row(df, scorer=name, subset="all", statistic="tau_like")
        assert row.value == pytest.approx(published, abs=0.015)
        assert row.ci_low <= published <= row.ci_high
        assert row.ci_high - row.ci_low < 0.05
        assert row.n == 21862
    # chrF is significantly better than BLEU here, as in WMT19.
    assert _row(df, scorer="chrf", subset="all", statistic="tau_like").cluster == 1
    assert _row(df, scorer="bleu", subset="all", statistic="tau_like").cluster == 2
    # the WMT convention of that time gives the same values (tau-like has no choice it changes)
    wmt = mr.meta_evaluate(["bleu", "chrf"], pairs, dataset_name="darr-lt-en",
                           statistics=["tau_like"], convention="wmt20", cache=tmp_path,
                           progress=False)  # fmt: skip
    assert wmt.value.tolist() == df.value.tolist() and wmt.cluster.tolist() == [2, 1]
    assert "|convention:wmt20|" in wmt.run_signature.iloc[0]


@pytest.fixture(scope="module")
def rm_bench(shared_data):
    return mr.data.load_rm_bench(shared_data / "preference" / "rm-bench")


def test_rm_bench_length_bias_pattern(rm_bench, tmp_path):
    """RM-Bench: a length-biased reward (longer is better) fails hard pairs and wins easy ones."""
    df = mr.meta_evaluate(
        ["length_chars"],
        rm_bench,
        dataset_name="rm-bench",
        n_resamples=200,
        cache=tmp_path,
        progress=False,
    )
    domains = sorted({p.subset for p in rm_bench})
    assert domains == ["chat", "code", "safety-refuse", "safety-response"]
    for domain in domains:
        hard = _row(df, subset=domain, statistic="rmbench_hard")
        easy = _row(df, subset=domain, statistic="rmbench_easy")
        assert hard.value < 0.30 and easy.value > 0.75, domain
        assert hard.ci_low <= hard.value <= hard.ci_high
    # the three difficulties equal RM-Bench's own 3x3 matrix computation
    chat = [p for p in rm_bench if p.subset == "chat"]
    ids = sorted({p.meta["prompt_id"] for p in chat})
    score = {(p.meta["prompt_id"], "c", p.meta["chosen_style"]): len(p.chosen) for p in chat}
    score.update(
        {(p.meta["prompt_id"], "r", p.meta["rejected_style"]): len(p.rejected) for p in chat}
    )
    c = np.array([[score[(i, "c", s)] for s in range(3)] for i in ids], dtype=float)
    r = np.array([[score[(i, "r", s)] for s in range(3)] for i in ids], dtype=float)
    matrix = mr.meta.rmbench_matrix(c, r)
    for level in ("hard", "normal", "easy", "average"):
        assert _row(df, subset="chat", statistic=f"rmbench_{level}").value == pytest.approx(
            getattr(matrix, level), abs=1e-12
        )


@pytest.fixture(scope="module")
def mqm_items(shared_data):
    folder = shared_data / "scored" / "wmt-mqm-ted-ende"
    return mr.data.load_wmt_mqm(
        folder / "mqm_ted_ende.tsv", folder / "mqm_ted_ende.avg_seg_scores.tsv"
    )


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_mqm_correlations_equal_scipy_at_every_level(mqm_items, tmp_path):
    df = mr.meta_evaluate(
        ["chrf"],
        mqm_items,
        dataset_name="mqm",
        human="mqm",
        n_resamples=50,
        statistics=["pearson", "spearman", "kendall_b", "kendall_c"],
        cache=tmp_path,
        progress=False,
    )
    chrf = (
        mr.get_scorer("chrf")
        .score(
            [it.response for it in mqm_items], references=[list(it.references) for it in mqm_items]
        )
        .scores
    )
    frame = pd.DataFrame(
        {
            "m": chrf,
            "h": [np.nan if it.human["mqm"] is None else it.human["mqm"] for it in mqm_items],
            "g": [it.group for it in mqm_items],
            "s": [it.system for it in mqm_items],
        }
    ).dropna()
    fns = {
        "pearson": lambda x, y: stats.pearsonr(x, y)[0],
        "spearman": lambda x, y: stats.spearmanr(x, y)[0],
        "kendall_b": lambda x, y: stats.kendalltau(x, y)[0],
        "kendall_c": lambda x, y: stats.kendalltau(x, y, variant="c")[0],
    }
    sys_means = frame.groupby("s")[["h", "m"]].mean()
    for name, fn in fns.items():
        flat = fn(frame.h, frame.m)
        per_group = [fn(g.h, g.m) for _, g in frame.groupby("g") if len(g) > 1]
        item = np.nanmean([v for v in per_group if not np.isnan(v)])
        system = fn(sys_means.h, sys_means.m)
        assert _row(df, statistic=name, level="flat").value == pytest.approx(flat, abs=1e-9)
        assert _row(df, statistic=name, level="item").value == pytest.approx(item, abs=1e-9)
        assert _row(df, statistic=name, level="system").value == pytest.approx(system, abs=1e-9)
    assert _row(df, statistic="pearson", level="flat").n == len(frame)
    assert _row(df, statistic="pearson", level="system").n == 13


def test_second_run_computes_nothing_and_is_identical(tmp_path):
    items, pairs = mr.load_sample("reference"), mr.load_sample("preference")
    data = {"sample-ref": items, "sample-pref": pairs}
    scorers = ["chrf", "length_chars"]
    first_stats, second_stats = mr.CacheStats(), mr.CacheStats()
    with pytest.raises(ScorerInputError, match="chrf: needs references, but dataset 'sample-pref'"):
        mr.meta_evaluate(scorers, data, cache=tmp_path, progress=False, strict=True)
    data = {"sample-ref": items}
    first = mr.meta_evaluate(
        scorers, data, n_resamples=100, cache=tmp_path, progress=False, cache_stats=first_stats
    )
    second = mr.meta_evaluate(
        scorers, data, n_resamples=100, cache=tmp_path, progress=False, cache_stats=second_stats
    )
    assert first_stats.computed == 2 * len(items) and first_stats.hits == 0
    assert second_stats.computed == 0 and second_stats.hits == 2 * len(items)
    pd.testing.assert_frame_equal(first, second)


def test_seed_controls_intervals_only(tmp_path):
    pairs = mr.load_sample("preference")
    a = mr.meta_evaluate(
        ["length_chars"], pairs, n_resamples=200, seed=1, cache=False, progress=False
    )
    b = mr.meta_evaluate(
        ["length_chars"], pairs, n_resamples=200, seed=1, cache=False, progress=False
    )
    c = mr.meta_evaluate(
        ["length_chars"], pairs, n_resamples=200, seed=2, cache=False, progress=False
    )
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(a.value, c.value)
    assert not np.array_equal(a.ci_low.fillna(-1), c.ci_low.fillna(-1)) or not np.array_equal(
        a.ci_high.fillna(-1), c.ci_high.fillna(-1)
    )


def test_accuracy_counts_human_ties_and_matches_direct_computation():
    pairs = mr.load_sample("preference")
    df = mr.meta_evaluate(["length_tokens"], pairs, n_resamples=100, cache=False, progress=False)
    scorer = mr.get_scorer("length_tokens")
    n = len(pairs)
    s = scorer.score([p.chosen for p in pairs] + [p.rejected for p in pairs]).scores
    keep = np.array([p.label != "tie" for p in pairs])
    diff = (s[:n] - s[n:])[keep]
    expected = ((diff > 0) + 0.5 * (diff == 0)).mean()
    row = _row(df, subset="all", statistic="accuracy")
    assert row.value == pytest.approx(expected, abs=1e-12)
    assert row.n == keep.sum() and row.n_excluded == (~keep).sum() > 0


class _StrictLength(mr.BaseScorer):
    """A reference-free scorer that cannot score an empty response (the default)."""

    name = "strict_len"
    uses_inputs = frozenset()

    def _score(self, responses, *, references, prompts, sources):
        return mr.ScoreOutput([len(r) for r in responses])


def test_bad_requests_are_named():
    pairs = mr.load_sample("preference")
    with pytest.raises(ScorerConfigError, match=r"unknown statistic\(s\) \['kappa'\]"):
        mr.meta_evaluate(["length_chars"], pairs, statistics=["kappa"], cache=False)
    with pytest.raises(ScorerConfigError, match="none of \\['pearson'\\] applies to preference"):
        mr.meta_evaluate(["length_chars"], pairs, statistics=["pearson"], cache=False)
    with pytest.raises(ScorerConfigError, match="scorer names must be unique"):
        mr.meta_evaluate(["length_chars", "length_chars"], pairs, cache=False)
    subset = pairs[0].subset
    bad = list(pairs) + [mr.PreferencePair(prompt="q", chosen=" ", rejected="no", subset=subset)]
    with pytest.raises(
        ScorerInputError,
        match=r"1 record\(s\) with an empty response \(first: record 36\), which strict_len",
    ):
        mr.meta_evaluate([_StrictLength()], bad, strict=True, cache=False, progress=False)
    with pytest.warns(UserWarning, match="excluded 1 record"):
        df = mr.meta_evaluate(
            ["length_chars"], bad, exclude_empty=True, cache=False, progress=False
        )
    assert _row(df, subset="all", statistic="accuracy").n_excluded == 3  # 2 human ties + 1 empty
    # the subset of the dropped pair counts it too (it used to count only in "all")
    ties = sum(p.label == "tie" for p in pairs if p.subset == subset)
    assert _row(df, subset=subset, statistic="accuracy").n_excluded == ties + 1


def test_dropped_empty_items_are_counted_for_pointwise_data():
    import dataclasses

    items = list(mr.load_sample("reference"))
    items[0] = dataclasses.replace(items[0], response="")
    with pytest.warns(UserWarning, match="excluded 1 record"):
        df = mr.meta_evaluate(
            ["chrf"],
            (it for it in items),
            exclude_empty=True,
            levels=["flat"],
            n_resamples=50,
            cache=False,
            progress=False,
        )
    row = _row(df, statistic="pearson", level="flat")
    assert (row.n, row.n_excluded) == (len(items) - 1, 1)


def test_scorers_that_accept_empty_responses_score_them():
    """length_chars scores an empty reply as 0: nothing is left out unless a scorer that
    cannot score empty responses is in the run; then every scorer loses the same records."""
    pairs = [p for p in mr.load_sample("preference") if p.label != "tie"][:10]
    pairs += [mr.PreferencePair(prompt="q", chosen="a real answer", rejected="", subset="s")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no exclusion warning
        kept = mr.meta_evaluate(["length_chars"], pairs, cache=False, progress=False)
    row = _row(kept, subset="all", statistic="accuracy")
    assert (row.n, row.n_excluded) == (11, 0)
    expected = mr.meta.pairwise_accuracy(
        [len(p.chosen) for p in pairs], [len(p.rejected) for p in pairs]
    ).value
    assert row.value == expected
    with pytest.warns(UserWarning, match=r"excluded 1 record.*lm_logprob cannot score them"):
        tiny = mr.get_scorer("lm_logprob", model=_tiny_lm())
        both = mr.meta_evaluate(["length_chars", tiny], pairs, n_resamples=50, cache=False,
                                progress=False)  # fmt: skip
    assert set(both[both.subset == "all"].n) == {10}


def _tiny_lm() -> str:
    from .model_fixtures import tiny_causal_lm_path

    return tiny_causal_lm_path()


def test_a_scorer_without_references_is_skipped_with_a_note():
    items, pairs = mr.load_sample("reference"), mr.load_sample("preference")
    data = {"ref": items, "pref": pairs}
    with pytest.warns(UserWarning, match=r"skipped chrf on dataset 'pref': it needs references"):
        df = mr.meta_evaluate(["chrf", "length_chars"], data, n_resamples=50, cache=False,
                              progress=False)  # fmt: skip
    skip = df[(df.scorer == "chrf") & (df.dataset == "pref")]
    assert len(skip) == 1 and np.isnan(skip.value.iloc[0])
    assert skip.note.iloc[0] == "skipped: needs references; the dataset has none"
    assert (df[df.dataset == "ref"].scorer.unique() == ["chrf", "length_chars"]).all()
    assert (df[df.dataset == "pref"].scorer == "length_chars").sum() > 0
    assert df.note[df.scorer == "length_chars"].isna().all()


def test_flat_bootstrap_resamples_whole_segments_when_several_systems_share_them(shared_data):
    """WMT resamples segments (all systems' outputs of one segment together); treating the
    (system, segment) rows as independent gives intervals far too narrow."""
    base = shared_data / "scored" / "wmt-mqm-ted-ende"
    items = mr.data.load_wmt_mqm(
        base / "mqm_ted_ende.tsv", base / "mqm_ted_ende.avg_seg_scores.tsv"
    )
    df = mr.meta_evaluate(["chrf"], items, levels=["flat"], statistics=["pearson"],
                          n_resamples=300, cache=False, progress=False)  # fmt: skip
    row = _row(df, level="flat", statistic="pearson")
    scored = [it for it in items if it.human.get("mqm") is not None]
    h = np.array([it.human["mqm"] for it in scored])
    m = (
        mr.get_scorer("chrf")
        .score([it.response for it in scored], references=[list(it.references) for it in scored])
        .scores
    )
    seg = np.array([str(it.group) for it in scored])
    cfg_rng = mr.study.MetaEvalConfig(n_resamples=300).rng("chrf", "dataset", "mqm", "flat",
                                                             "pearson")  # fmt: skip
    grouped = mr.meta.bootstrap(mr.meta.PEARSON, m, h, rng=cfg_rng, n_resamples=300, groups=seg)
    assert (row.ci_low, row.ci_high) == (grouped.low, grouped.high)
    items_only = mr.meta.bootstrap(mr.meta.PEARSON, m, h, rng=np.random.default_rng(0),
                                   n_resamples=300)  # fmt: skip
    ratio = (grouped.high - grouped.low) / (items_only.high - items_only.low)
    assert ratio > 1.4, ratio  # the issue measured 1.7-2.1x on real MQM data


def test_acc23_that_ties_every_pair_is_flagged():
    items = list(mr.load_sample("reference"))[:6]
    import dataclasses

    # humans tie everything: the best epsilon is the one that makes the metric tie every pair
    items = [dataclasses.replace(it, human={"da": 50.0}) for it in items]
    with pytest.warns(UserWarning, match="ties every pair"):
        df = mr.meta_evaluate(["chrf"], items, levels=["flat"], statistics=["acc23"],
                              n_resamples=20, cache=False, progress=False)  # fmt: skip
    row = _row(df, statistic="acc23")
    assert row.value == 1.0 and "share of pairs humans tied" in row.note
    assert df.note[df.statistic != "acc23"].isna().all()
