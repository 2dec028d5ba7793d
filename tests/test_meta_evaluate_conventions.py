"""meta_evaluate(convention=...): one argument sets a benchmark's rules; explicit settings win;
the run signature names the convention; RM-Bench's and RewardBench's own totals are reproduced
(published figures and the benchmark functions), with intervals and clusters."""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.core.types import ScoreOutput
from metricrm.meta import (
    get_convention,
    pairwise_outcomes,
    pairwise_permutation_test,
    rewardbench_section_scores,
    rmbench_totals,
    significance_clusters,
    stratified_bootstrap,
    weighted_cell_means,
    williams,
)
from metricrm.study import MetaEvalConfig


def _row(df, **where):
    mask = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        mask &= (df[k] == v).to_numpy()
    assert mask.sum() == 1, (where, mask.sum())
    return df[mask].iloc[0]


class _Table(mr.BaseScorer):
    """Scores looked up by response text (a scorer with chosen outcomes for the tests)."""

    name = "table"
    accepts_empty_responses = True

    def __init__(self, table: dict[str, float], tag: str):
        self.table, self.tag = table, tag

    def settings(self):
        return {"tag": self.tag}

    def _score(self, responses, *, references, prompts, sources):
        return ScoreOutput([self.table[r] for r in responses])


def _pairs_for(outcomes: dict[str, np.ndarray], subsets=None):
    """Pairs c{i} > r{i} and one table scorer per name whose outcome on pair i is given
    (1: chosen scored above rejected, 0: below, 0.5: a tie)."""
    n = len(next(iter(outcomes.values())))
    subsets = subsets if subsets is not None else [None] * n
    pairs = [mr.PreferencePair(prompt=f"q{i}", chosen=f"c{i}", rejected=f"r{i}", subset=s)
             for i, s in enumerate(subsets)]  # fmt: skip
    scorers = []
    for name, o in outcomes.items():
        table = {f"c{i}": float(v) for i, v in enumerate(o)}
        table.update({f"r{i}": 0.5 for i in range(n)})
        scorers.append((name, _Table(table, name)))
    return pairs, scorers


FAST = dict(cache=False, progress=False)


# ------------------------------------------------------------------------- settings, signature


def test_convention_sets_the_tie_rule_and_explicit_settings_win():
    # one tie in four pairs: half credit (metricrm) or a loss (RM-Bench, RewardBench)
    pairs, scorers = _pairs_for({"x": np.array([1.0, 1.0, 0.0, 0.5])})
    runs = {
        "metricrm": mr.meta_evaluate(scorers, pairs, n_resamples=50, **FAST),
        "rm-bench": mr.meta_evaluate(scorers, pairs, convention="rm-bench", n_resamples=50, **FAST),
        "override": mr.meta_evaluate(
            scorers, pairs, convention="rm-bench", score_ties="half", n_resamples=50, **FAST
        ),  # fmt: skip
    }
    values = {k: _row(df, statistic="accuracy").value for k, df in runs.items()}
    assert values == {"metricrm": 0.625, "rm-bench": 0.5, "override": 0.625}
    sig = {k: df.run_signature.iloc[0] for k, df in runs.items()}
    assert "|convention:metricrm|score-ties:half|" in sig["metricrm"]
    assert "|convention:rm-bench|score-ties:loss|" in sig["rm-bench"]
    assert "|overrides:n_resamples|" in sig["rm-bench"]  # 50 instead of the convention's 1000
    assert "|convention:rm-bench|score-ties:half|" in sig["override"]
    assert "|overrides:n_resamples,score_ties|" in sig["override"]
    assert len(set(sig.values())) == 3


def test_meta_eval_config_resolves_none_from_the_convention():
    cfg = MetaEvalConfig(convention="wmt23")
    assert (cfg.score_ties, cfg.human_tie_policy, cfg.n_resamples, cfg.alpha) == (
        "loss", "threshold", 1000, 0.05,
    )  # fmt: skip
    assert (cfg.cluster_rule, cfg.cluster_boundary) == ("wmt", "inclusive")
    assert cfg.convention.early_stopping == get_convention("wmt23").early_stopping
    assert cfg.convention.plus_one is False and cfg.overrides == ()
    mine = MetaEvalConfig(convention="wmt23", n_resamples=300, cluster_rule="head")
    assert (mine.n_resamples, mine.convention.n_resamples) == (300, 300)
    # a rule given alone takes its own boundary
    assert (mine.cluster_rule, mine.cluster_boundary) == ("head", "strict")
    assert mine.overrides == ("n_resamples", "cluster_rule", "cluster_boundary")
    assert mine.settings()["convention"] == "wmt23"
    same = MetaEvalConfig(convention="rm-bench", score_ties="loss")  # equal to the convention's
    assert (
        same.overrides == () and same.signature == MetaEvalConfig(convention="rm-bench").signature
    )
    with pytest.raises(ScorerConfigError, match=r"rule='wmt' compares with p <= alpha"):
        MetaEvalConfig(cluster_boundary="strict")
    with pytest.raises(ScorerConfigError, match=r"meta_evaluate: `score_ties` must be one of"):
        MetaEvalConfig(score_ties="win")
    with pytest.raises(ScorerConfigError, match=r"meta_evaluate: unknown convention 'wmt'"):
        MetaEvalConfig(convention="wmt")


def test_default_clusters_follow_wmts_rule_and_head_stays_available():
    # A > B > C by accuracy. A and C differ on 94 pairs, A winning 54 (p about 0.09: not
    # significant); A and B on 106, A winning 54 (not significant); B beats C on 12 pairs and
    # never loses (p about 2^-12). WMT's rule (any member of the cluster) opens a cluster for C;
    # the head rule (compare with A only) keeps it in cluster 1.
    c = np.r_[np.ones(100), np.zeros(200)]
    b = c.copy()
    b[100:112] = 1.0
    a = c.copy()
    a[:40] = 0.0
    a[200:254] = 1.0
    acc = {k: v.mean() for k, v in {"A": a, "B": b, "C": c}.items()}
    assert acc["A"] > acc["B"] > acc["C"], acc
    pairs, scorers = _pairs_for({"A": a, "B": b, "C": c})
    wmt = mr.meta_evaluate(scorers, pairs, **FAST)
    head = mr.meta_evaluate(scorers, pairs, cluster_rule="head", **FAST)
    got = {
        rule: {s: _row(df, scorer=s, statistic="accuracy").cluster for s in "ABC"}
        for rule, df in (("wmt", wmt), ("head", head))
    }
    assert got == {"wmt": {"A": 1, "B": 1, "C": 2}, "head": {"A": 1, "B": 1, "C": 1}}
    assert "cluster-rule:head|cluster-boundary:strict" in head.run_signature.iloc[0]


# ----------------------------------------------------------------------------------- RM-Bench


@pytest.fixture(scope="module")
def rm_bench(shared_data):
    return mr.data.load_rm_bench(shared_data / "preference" / "rm-bench")


@pytest.mark.parametrize("convention", ["metricrm", "rm-bench"])
def test_rm_bench_total_reproduces_rm_bench_and_keeps_the_pooled_rows(rm_bench, convention):
    df = mr.meta_evaluate(["length_chars", "length_tokens"], rm_bench, dataset_name="rm-bench",
                          statistics=["rmbench"], convention=convention, n_resamples=200,
                          **FAST)  # fmt: skip
    chars = df[df.scorer == "length_chars"]
    # RM-Bench's own code on these files, response length in characters as the reward
    published = {"hard": 0.1267, "normal": 0.3940, "easy": 0.8369, "average": 0.4525}
    pooled = {"hard": 0.1320, "normal": 0.4035, "easy": 0.8634, "average": 0.4663}
    for level in published:
        total = _row(chars, subset="all", level="total", statistic=f"rmbench_{level}")
        assert round(total.value, 4) == published[level]
        assert total.ci_low < total.value < total.ci_high and total.n == 7182
        assert total.note.startswith(
            "RM-Bench total: equal-weight mean over the domains chat, "
            "code, safety (safety = safety-refuse + safety-response)"
        )
        row = _row(chars, subset="all", level="pair", statistic=f"rmbench_{level}")
        assert round(row.value, 4) == pooled[level]
    # the value is rmbench_totals', on the same outcomes
    scorer = mr.get_scorer("length_tokens")
    c = scorer.score([p.chosen for p in rm_bench]).scores
    r = scorer.score([p.rejected for p in rm_bench]).scores
    t = rmbench_totals(pairwise_outcomes(c, r, score_ties="loss"), [p.subset for p in rm_bench],
                       [p.meta["difficulty"] for p in rm_bench])  # fmt: skip
    tokens = df[df.scorer == "length_tokens"]
    assert _row(tokens, level="total", statistic="rmbench_easy").value == t.easy
    domains = df[df.level == "domain"]
    if convention == "metricrm":
        assert domains.empty
    else:  # RM-Bench's table: one row per merged domain
        assert sorted(set(domains.subset)) == ["chat", "code", "safety"]
        safety = _row(tokens, subset="safety", level="domain", statistic="rmbench_hard")
        assert safety.value == t.domains["safety"]["hard"] and safety.n == 9 * (284 + 157)
    assert set(df.cluster[df.level == "total"]) <= {1.0, 2.0}


def test_rm_bench_intervals_resample_prompts_within_domains():
    # Two domains of 10 prompts; a prompt's 9 style pairs share one outcome, 1 for 6 prompts
    # of each domain. Resampling prompts, a domain's hard accuracy is k / 10 with k ~ Bin(10,
    # 0.6): its 95% percentile interval is [0.3, 0.9] (P(k <= 2) = 0.012, P(k <= 3) = 0.055,
    # P(k >= 9) = 0.046, P(k = 10) = 0.006). Resampling the 30 pairs instead would give about
    # [0.43, 0.77].
    pairs, table = [], {}
    for domain in ("chat", "code"):
        for i in range(10):
            for k in range(9):
                c, r = f"{domain}{i}c{k}", f"{domain}{i}r{k}"
                table[c], table[r] = float(i < 6), 0.5
                level = ("hard", "normal", "easy")[k % 3]
                pairs.append(
                    mr.PreferencePair(
                        prompt=f"{domain}{i}",
                        chosen=c,
                        rejected=r,
                        subset=domain,
                        meta={"difficulty": level, "prompt_id": i},
                    )
                )
    df = mr.meta_evaluate([("x", _Table(table, "x"))], pairs, statistics=["rmbench"],
                          convention="rm-bench", n_resamples=4000, **FAST)  # fmt: skip
    for domain in ("chat", "code"):
        row = _row(df, subset=domain, level="domain", statistic="rmbench_hard")
        assert row.value == 0.6 and (row.ci_low, row.ci_high) == pytest.approx((0.3, 0.9))
    total = _row(df, level="total", statistic="rmbench_hard")
    # equal-weight mean of two independent k / 10: (k1 + k2) / 20, K ~ Bin(20, 0.6)
    assert total.value == 0.6 and (total.ci_low, total.ci_high) == pytest.approx((0.4, 0.8))


# -------------------------------------------------------------------------------- RewardBench


def _rb_pairs():
    """Pairs in four RewardBench subsets with known accuracies under "a tie is a loss"."""
    spec = {  # subset: outcomes
        "alpacaeval-easy": [1, 1, 1, 0, 0.5],  # 3/5 (the tie loses)
        "mt-bench-easy": [1, 0],  # 1/2
        "math-prm": [1, 1, 1, 1],  # 1
        "hep-go": [0, 0, 1],  # 1/3
        "llmbar-natural": [1, 0, 0.5, 1],  # 2/4
    }
    subsets = [s for s, o in spec.items() for _ in o]
    outcomes = np.concatenate([np.array(o, float) for o in spec.values()])
    return subsets, outcomes


def test_rewardbench_sections_and_total_from_published_counts():
    subsets, outcomes = _rb_pairs()
    pairs, scorers = _pairs_for({"x": outcomes}, subsets)
    df = mr.meta_evaluate(scorers, pairs, convention="rewardbench", n_resamples=200, **FAST)
    # RewardBench's published example counts: 100, 28 (Chat); 984, 164 (Reasoning); 100
    chat = (100 * 3 / 5 + 28 * 1 / 2) / 128
    reasoning = (984 * 1 + 164 * 1 / 3) / 1148
    chat_hard = 2 / 4  # mt-bench-hard and the adversarial sets absent: renormalised
    got = {r.subset: r.value for r in df[df.level == "section"].itertuples()}
    assert got == pytest.approx({"Chat": chat, "Chat Hard": chat_hard, "Reasoning": reasoning},
                                abs=1e-15)  # fmt: skip
    total = _row(df, level="total")
    assert total.value == pytest.approx((chat + chat_hard + reasoning) / 3, abs=1e-15)
    assert "Safety" not in got and total.n == len(pairs) and total.n_excluded == 0
    assert total.ci_low <= total.value <= total.ci_high
    assert "(Chat, Chat Hard, Reasoning)" in total.note
    assert "absent, left out: mt-bench-hard" in _row(df, subset="Chat Hard").note
    # the same as the meta function on the subset accuracies (ties lose, as in run_rm.py)
    acc = {s: outcomes[np.array(subsets) == s] for s in set(subsets)}
    ref = rewardbench_section_scores({s: float((o == 1).mean()) for s, o in acc.items()})
    assert total.value == pytest.approx(ref.overall, abs=1e-15)
    # the interval: RewardBench's weights over pairs resampled within their subsets
    names = sorted(set(subsets))
    w = np.zeros(len(names))
    for sec, sw in ref.section_weights.items():
        for s, x in ref.weights[sec].items():
            w[names.index(s)] += sw * x
    loss = np.where(outcomes == 1, 1.0, 0.0)
    cells = np.array([names.index(s) for s in subsets])
    rng = MetaEvalConfig(convention="rewardbench").rng("x", "dataset", "section", "total")
    boot = stratified_bootstrap(weighted_cell_means(w), loss, cells, strata=cells, rng=rng,
                                n_resamples=200)  # fmt: skip
    assert (total.ci_low, total.ci_high) == pytest.approx((boot.low, boot.high), abs=1e-12)
    # metricrm's own convention reports no sections
    assert set(mr.meta_evaluate(scorers, pairs, n_resamples=20, **FAST).level) == {"pair"}


def test_rewardbench_interval_is_a_bootstrap_within_subsets():
    # a subset whose pairs are all right stays at 1 in every resample: with math-prm and hep-go
    # at 1 and 0, Reasoning is exactly 984 / 1148 in every resample, so its interval is a point
    subsets = ["math-prm"] * 3 + ["hep-go"] * 2
    pairs, scorers = _pairs_for({"x": np.array([1, 1, 1, 0, 0.0])}, subsets)
    df = mr.meta_evaluate(scorers, pairs, convention="rewardbench", n_resamples=100, **FAST)
    row = _row(df, subset="Reasoning")
    assert row.value == row.ci_low == row.ci_high == pytest.approx(984 / 1148, abs=1e-15)
    pooled = _row(df, subset="all", level="pair")
    assert pooled.ci_low < pooled.ci_high  # resampling across subsets varies the pooled mean


def test_rewardbench_on_llmbar_equals_the_pooled_accuracy(shared_data):
    # RewardBench's Chat Hard holds LLMBar's five sets with their published sizes as weights
    # (100 / 134 / 92 / 47 / 46, the sizes of the shared files), so its section score over them
    # is the pooled accuracy; mt-bench-hard is absent and renormalised away.
    names = {"Natural": "llmbar-natural", "Adversarial-Neighbor": "llmbar-adver-neighbor",
             "Adversarial-GPTInst": "llmbar-adver-GPTInst",
             "Adversarial-GPTOut": "llmbar-adver-GPTOut",
             "Adversarial-Manual": "llmbar-adver-manual"}  # fmt: skip
    pairs = mr.data.load_llmbar(shared_data / "preference" / "llmbar")
    renamed = [dataclasses.replace(p, subset=names[p.subset]) for p in pairs]
    df = mr.meta_evaluate(["length_chars"], renamed, convention="rewardbench", n_resamples=100,
                          **FAST)  # fmt: skip
    pooled = _row(df, subset="all", level="pair").value
    assert _row(df, subset="Chat Hard").value == pytest.approx(pooled, abs=1e-15)
    assert _row(df, level="total").value == pytest.approx(pooled, abs=1e-15)
    with pytest.warns(UserWarning, match=r"no subset is a RewardBench subset"):
        plain = mr.meta_evaluate(["length_chars"], pairs, convention="rewardbench",
                                 n_resamples=20, **FAST)  # fmt: skip
    assert set(plain.level) == {"pair"}


def test_rewardbench_refuses_a_mix_of_its_subsets_and_others():
    pairs, scorers = _pairs_for({"x": np.ones(3)}, ["hep-go", "hep-go", "my-subset"])
    with pytest.raises(ScorerInputError, match=r"subsets \['my-subset'\] are not RewardBench"):
        mr.meta_evaluate(scorers, pairs, convention="rewardbench", n_resamples=20, **FAST)


def test_rewardbench2_total_is_the_plain_mean_of_subsets():
    subsets, outcomes = _rb_pairs()
    pairs, scorers = _pairs_for({"x": outcomes}, subsets)
    df = mr.meta_evaluate(scorers, pairs, convention="rewardbench2", n_resamples=50, **FAST)
    # a tie earns 1 / (number tied at the top) = 1/2 with two responses
    per_subset = [3.5 / 5, 1 / 2, 1.0, 1 / 3, 2.5 / 4]
    assert _row(df, level="total").value == pytest.approx(np.mean(per_subset), abs=1e-15)
    assert not (df.level == "section").any()
    tied, scorers = _pairs_for({"x": np.ones(2)}, ["Ties", "Math"])
    with pytest.raises(ScorerInputError, match=r"Ties subset with its own formula"):
        mr.meta_evaluate(scorers, tied, convention="rewardbench2", n_resamples=20, **FAST)


# ---------------------------------------------------------------------------------- WMT


def _items(seed: int = 0, n_sys: int = 6, n_seg: int = 12):
    """Pointwise items: n_sys systems x n_seg segments, some without a human score."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n_sys)
    items, metric = [], {"good": {}, "noisy": {}, "bad": {}}
    for s in range(n_sys):
        for g in range(n_seg):
            h = quality[s] + rng.normal(scale=0.5)
            text = f"s{s}g{g}"
            metric["good"][text] = h + rng.normal(scale=0.3)
            metric["noisy"][text] = h + rng.normal(scale=1.5)
            metric["bad"][text] = rng.normal()
            human = None if (s + g) % 5 == 0 else float(h)
            items.append(mr.PointwiseItem(response=text, human={"q": human}, system=f"s{s}",
                                          group=f"g{g}"))  # fmt: skip
    scorers = [(k, _Table(v, k)) for k, v in metric.items()]
    return items, scorers, metric


def test_wmt_conventions_average_the_metric_over_every_segment():
    items, scorers, metric = _items()
    frame = pd.DataFrame({
        "h": [np.nan if it.human["q"] is None else it.human["q"] for it in items],
        "m": [metric["good"][it.response] for it in items],
        "s": [it.system for it in items],
    })  # fmt: skip
    h_sys = frame.groupby("s").h.mean()
    scored_m = frame.dropna().groupby("s").m.mean()
    all_m = frame.groupby("s").m.mean()
    for conv, m_sys in (("metricrm", scored_m), ("wmt23", all_m), ("wmt20", all_m)):
        df = mr.meta_evaluate(scorers[:1], items, statistics=["pearson"], levels=["system"],
                              convention=conv, n_resamples=50, **FAST)  # fmt: skip
        expected = stats.pearsonr(h_sys, m_sys).statistic
        assert _row(df, level="system").value == pytest.approx(expected, abs=1e-12), conv
    assert stats.pearsonr(h_sys, scored_m).statistic != pytest.approx(
        stats.pearsonr(h_sys, all_m).statistic
    )


def test_wmt20_clusters_system_pearson_with_williams_tests():
    items, scorers, metric = _items(seed=8, n_sys=8)  # Williams and permutation disagree here
    df = mr.meta_evaluate(scorers, items, statistics=["pearson"], levels=["system"],
                          convention="wmt20", **FAST)  # fmt: skip
    frame = pd.DataFrame({
        "h": [np.nan if it.human["q"] is None else it.human["q"] for it in items],
        "s": [it.system for it in items],
        **{k: [v[it.response] for it in items] for k, v in metric.items()},
    })  # fmt: skip
    h = frame.groupby("s").h.mean().to_numpy()
    means = {k: frame.groupby("s")[k].mean().to_numpy() for k in metric}  # all cells
    names = list(metric)
    r = np.array([stats.pearsonr(h, means[k]).statistic for k in names])
    p = np.full((3, 3), np.nan)
    for i in range(3):
        for j in range(3):
            if i != j and r[i] >= r[j]:
                p[i, j] = williams(h, means[names[i]], means[names[j]]).pvalue
    expected = significance_clusters(names, r, p).as_dict()
    got = {k: int(_row(df, scorer=k).cluster) for k in names}
    assert got == expected and len(set(got.values())) > 1
    assert "system-test:williams" in df.run_signature.iloc[0]
    permutation = dataclasses.replace(get_convention("wmt20"), system_test="permutation")
    other = mr.meta_evaluate(scorers, items, statistics=["pearson"], levels=["system"],
                             convention=permutation, **FAST)  # fmt: skip
    assert {k: int(_row(other, scorer=k).cluster) for k in names} != got


@pytest.mark.parametrize("level", ["flat", "item"])
def test_wmt23_clusters_acc23_with_the_pairwise_permutation_test(level):
    items, _, metric = _items(seed=3, n_seg=20)
    # right within each segment, wrong across them: only a per-segment test ranks it first
    metric["within"] = {it.response: metric["good"][it.response] + 10 * int(it.group[1:])
                        for it in items}  # fmt: skip
    names = ["bad", "within", "noisy"]  # not in the order of their values
    scorers = [(k, _Table(metric[k], k)) for k in names]
    df = mr.meta_evaluate(scorers, items, statistics=["acc23"], levels=[level],
                          convention="wmt23", **FAST)  # fmt: skip
    scored = [it for it in items if it.human["q"] is not None]
    h = np.array([it.human["q"] for it in scored])
    groups = np.array([it.group for it in scored]) if level == "item" else None
    m = {k: np.array([metric[k][it.response] for it in scored]) for k in names}
    # the pairwise test's values are the rows' values
    values = np.array([
        pairwise_permutation_test(h, m[k], m[k], rng=np.random.default_rng(0), groups=groups,
                                  epsilon_a=None, epsilon_b=None, n_resamples=1).value_a
        for k in names
    ])  # fmt: skip
    got_values = np.array([_row(df, scorer=k).value for k in names])
    np.testing.assert_allclose(got_values, values, rtol=0, atol=1e-12)
    p = np.full((3, 3), np.nan)
    for i in range(3):
        for j in range(3):
            if i != j and values[i] >= values[j]:
                p[i, j] = pairwise_permutation_test(
                    h, m[names[i]], m[names[j]], rng=np.random.default_rng(11), groups=groups,
                    epsilon_a=None, epsilon_b=None, n_resamples=2000,
                ).pvalue  # fmt: skip
    known = p[~np.isnan(p)]
    assert ((known < 0.02) | (known > 0.15)).all(), p  # clear decisions, whatever the seed
    expected = significance_clusters(names, values, p).as_dict()
    got = {k: int(_row(df, scorer=k).cluster) for k in names}
    assert got == expected and len(set(got.values())) > 1
    assert "segment-test:pairs" in df.run_signature.iloc[0]
    # conventions that swap scores have no test for acc23: no cluster rather than a wrong one
    for conv in ("metricrm", dataclasses.replace(get_convention("wmt23"), segment_test="scores")):
        other = mr.meta_evaluate(scorers, items, statistics=["acc23"], levels=[level],
                                 convention=conv, n_resamples=50, **FAST)  # fmt: skip
        assert other.cluster.isna().all()


def test_micro_item_average_from_a_custom_convention():
    items, scorers, metric = _items(seed=1)
    conv = dataclasses.replace(get_convention("metricrm"), name="micro", item_average="micro")
    df = mr.meta_evaluate(scorers[:1], items, statistics=["pearson"], levels=["item"],
                          convention=conv, n_resamples=100, **FAST)  # fmt: skip
    frame = pd.DataFrame({
        "h": [np.nan if it.human["q"] is None else it.human["q"] for it in items],
        "m": [metric["good"][it.response] for it in items],
        "g": [it.group for it in items],
    }).dropna()  # fmt: skip
    parts = [x for _, x in frame.groupby("g")]
    per = [stats.pearsonr(x.h, x.m).statistic for x in parts]
    sizes = [len(x) for x in parts]
    row = _row(df, level="item")
    assert row.value == pytest.approx(np.average(per, weights=sizes), abs=1e-12)
    assert row.ci_low < row.value < row.ci_high
    assert "|convention:micro|" in row.run_signature and "item-average:micro" in row.run_signature


def test_unused_convention_settings_do_not_warn_or_fail():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = mr.meta_evaluate(["length_chars"], mr.load_sample("preference"), convention="wmt23",
                              n_resamples=20, **FAST)  # fmt: skip
    assert "convention:wmt23" in df.run_signature.iloc[0]


# ---------------------------------------------------------------- command line and study files


def _cli(capsys, *argv) -> tuple[int, str, str]:
    from metricrm.cli import main

    code = main(["meta-eval", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_convention_flag_and_study_file(tmp_path, capsys):
    import json

    report = tmp_path / "r.json"
    flags = ["-s", "length_chars", "-d", "sample:preference", "--n-resamples", "50",
             "--no-progress", "--no-cache"]  # fmt: skip
    code, out, err = _cli(capsys, *flags, "--convention", "rm-bench", "--json", report)
    assert code == 0, err
    data = json.loads(report.read_text("utf-8"))
    settings = data["settings"]
    assert (settings["convention"], settings["score_ties"], settings["overrides"]) == (
        "rm-bench", "loss", ["n_resamples"],
    )  # fmt: skip
    assert settings["run_signature"].startswith("meta_evaluate|metricrm:")
    assert "|convention:rm-bench|" in settings["run_signature"]
    expected = mr.meta_evaluate(["length_chars"], {"sample-preference": mr.load_sample("preference")},
                                convention="rm-bench", n_resamples=50, **FAST)  # fmt: skip
    assert [r["value"] for r in data["results"]] == pytest.approx(expected.value.tolist())
    assert {r["run_signature"] for r in data["results"]} == {settings["run_signature"]}
    # a study file names it too; the flag wins over the file
    study = tmp_path / "study.yaml"
    study.write_text("convention: rewardbench\nscore_ties: half\n", "utf-8")
    code, _, err = _cli(capsys, *flags, "--config", study, "--json", report)
    assert code == 0, err
    settings = json.loads(report.read_text("utf-8"))["settings"]
    assert (settings["convention"], settings["score_ties"]) == ("rewardbench", "half")
    code, _, err = _cli(capsys, *flags, "--config", study, "--convention", "wmt23", "--json",
                        report)  # fmt: skip
    settings = json.loads(report.read_text("utf-8"))["settings"]
    assert (settings["convention"], settings["score_ties"]) == ("wmt23", "half")
    study.write_text("convention: wmt\n", "utf-8")
    code, out, err = _cli(capsys, *flags, "--config", study, "--json", report)
    assert code == 2 and re.search(r"`convention` must be one of 'metricrm', 'wmt20'", err), err
