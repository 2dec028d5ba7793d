"""Tests aimed at bugs that once survived the suite (issue 17): each one fails when its bug is
planted back (see docs/testing.md for the plant-and-run commands).

- the score cache key must cover the prompt and the source;
- percentile intervals equal numpy's quantiles and scipy's percentile bootstrap;
- grouped acc23 averages per-group accuracies (checked by brute force on unequal MQM groups);
- corpus scores sum float statistics left to right, as sacrebleu does;
- benchmark loaders honour label 2 and refuse ``True`` and ``"1"``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

import metricrm as mr
from metricrm.core.batching import score_with_cache
from metricrm.core.cache import CacheStats, ScoreCache, item_key
from metricrm.core.errors import DataFormatError
from metricrm.data.benchmarks import load_evalbiasbench, load_llmbar
from metricrm.meta import MEAN, PEARSON, bootstrap, percentile_interval, tie_calibrated_accuracy

MQM = "scored/wmt-mqm-ted-ende"


# ------------------------------------------------------------------------ cache key: prompt, source


class _PromptAware(mr.BaseScorer):
    """A judge-like scorer whose score depends on the prompt and the source, not only the text."""

    name = "test_prompt_aware"

    def __init__(self) -> None:
        self.calls = 0

    def _score(self, responses, *, references, prompts, sources):
        self.calls += len(responses)
        prompts = prompts or [""] * len(responses)
        sources = sources or [""] * len(responses)
        return mr.ScoreOutput(
            [
                len(r) + 100 * len(p) + 10_000 * len(s)
                for r, p, s in zip(responses, prompts, sources)
            ]
        )


@pytest.fixture
def prompt_aware():
    mr.register_scorer(_PromptAware.name, _PromptAware)
    yield mr.get_scorer(_PromptAware.name)
    mr.unregister_scorer(_PromptAware.name)


def test_same_response_under_two_prompts_is_scored_twice(tmp_path, prompt_aware):
    cache = ScoreCache(tmp_path)
    kwargs = dict(cache=cache, progress=False)
    first = score_with_cache(prompt_aware, ["Paris."], prompts=["Capital?"], **kwargs)
    stats = CacheStats()
    second = score_with_cache(
        prompt_aware, ["Paris."], prompts=["Capital of France?"], stats=stats, **kwargs
    )
    assert (stats.hits, stats.computed) == (0, 1)
    assert (
        second.scores[0] == prompt_aware.score(["Paris."], prompts=["Capital of France?"]).scores[0]
    )
    assert second.scores[0] != first.scores[0]
    # one call, the same response under two prompts: two distinct items, not one deduplicated
    both = score_with_cache(prompt_aware, ["Rome.", "Rome."], prompts=["a?", "bb?"], **kwargs)
    np.testing.assert_array_equal(
        both.scores, prompt_aware.score(["Rome.", "Rome."], prompts=["a?", "bb?"]).scores
    )


def test_same_response_for_two_sources_is_scored_twice(tmp_path, prompt_aware):
    cache = ScoreCache(tmp_path)
    kwargs = dict(cache=cache, progress=False)
    score_with_cache(prompt_aware, ["Hallo."], sources=["Hi."], **kwargs)
    stats = CacheStats()
    second = score_with_cache(prompt_aware, ["Hallo."], sources=["Hello."], stats=stats, **kwargs)
    assert (stats.hits, stats.computed) == (0, 1)
    assert second.scores[0] == prompt_aware.score(["Hallo."], sources=["Hello."]).scores[0]
    repeat = CacheStats()
    again = score_with_cache(prompt_aware, ["Hallo."], sources=["Hello."], stats=repeat, **kwargs)
    assert (repeat.hits, repeat.computed) == (1, 0) and again.scores[0] == second.scores[0]


def test_item_key_covers_every_input():
    base = dict(response="r", references=["x"], prompt="p", source="s")
    key = item_key(**base)
    assert key == item_key(**base)  # stable
    for field, other in (
        ("response", "r2"),
        ("references", ["y"]),
        ("prompt", "p2"),
        ("source", "s2"),
    ):
        assert item_key(**{**base, field: other}) != key, field
    # a value moved from one field to another is another item
    assert item_key("r", None, "x", None) != item_key("r", None, None, "x")
    assert item_key("r", ["p"], None, None) != item_key("r", None, "p", None)


# ----------------------------------------------------------------------- percentile intervals


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_percentile_interval_equals_numpy_quantiles(confidence):
    d = np.random.default_rng(7).standard_normal(999)
    d[[3, 50, 700]] = np.nan
    finite = d[~np.isnan(d)]
    tail = (1 - confidence) / 2
    expected = np.quantile(finite, [tail, 1 - tail])
    assert percentile_interval(d, confidence) == pytest.approx(tuple(expected), abs=0, rel=0)
    # and the interval holds the stated share of the distribution
    low, high = percentile_interval(d, confidence)
    inside = np.mean((finite >= low) & (finite <= high))
    assert inside == pytest.approx(confidence, abs=2 / finite.size)


def test_percentile_interval_of_nothing_is_nan():
    low, high = percentile_interval(np.array([np.nan, np.nan]), 0.95)
    assert np.isnan(low) and np.isnan(high)


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_bootstrap_mean_interval_equals_scipy_percentile(confidence):
    """Same generator seed, same resamples: scipy's percentile interval, to the last bit."""
    x = np.random.default_rng(11).gamma(2.0, size=57)
    ours = bootstrap(MEAN, x, rng=np.random.default_rng(3), n_resamples=3000, confidence=confidence)
    ref = stats.bootstrap(
        (x,),
        np.mean,
        n_resamples=3000,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(3),
    )
    np.testing.assert_allclose(ours.distribution, ref.bootstrap_distribution, rtol=1e-13)
    assert ours.low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert ours.high == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    tail = (1 - confidence) / 2
    assert (ours.low, ours.high) == tuple(np.quantile(ours.distribution, [tail, 1 - tail]))


def test_bootstrap_pearson_interval_equals_scipy_percentile(shared_data):
    """Paired resampling of real MQM scores and a metric (segment length), as scipy pairs them."""
    items = [it for it in _mqm_items(shared_data) if it.system == "Facebook-AI"][:120]
    human = np.array([it.human["mqm"] for it in items], dtype=float)
    metric = np.array([len(it.response) for it in items], dtype=float)
    ours = bootstrap(PEARSON, metric, human, rng=np.random.default_rng(5), n_resamples=2000)

    def pearson(a, b, axis=-1):
        return stats.pearsonr(a, b, axis=axis).statistic

    ref = stats.bootstrap(
        (metric, human),
        pearson,
        paired=True,
        n_resamples=2000,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(5),
    )
    np.testing.assert_allclose(ours.distribution, ref.bootstrap_distribution, rtol=0, atol=1e-12)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=1e-12)


# ------------------------------------------------------------ grouped acc23 against brute force


def _mqm_items(shared_data):
    from metricrm.data import load_wmt_mqm

    folder = shared_data / MQM
    return load_wmt_mqm(folder / "mqm_ted_ende.tsv", folder / "mqm_ted_ende.avg_seg_scores.tsv")


def _pair_outcomes(h, m, groups):
    """Per pair within a group: human diff, metric |diff|, metric order agrees, group."""
    rows = []
    for g in np.unique(groups):
        sel = np.flatnonzero((groups == g) & ~np.isnan(h))
        for a in range(sel.size):
            for b in range(a + 1, sel.size):
                i, j = sel[a], sel[b]
                dh, dm = h[j] - h[i], m[j] - m[i]
                rows.append((dh, abs(dm), np.sign(dh) == np.sign(dm), g))
    dh, adm, agree, grp = (np.array(c) for c in zip(*rows))
    return dh, adm, agree, grp


def _brute_acc23(outcomes, eps, pooled):
    dh, adm, agree, grp = outcomes
    correct = np.where(dh == 0, adm <= eps, (adm > eps) & agree)
    if pooled:
        return correct.mean()
    return np.mean([correct[grp == g].mean() for g in np.unique(grp)])


@pytest.fixture(scope="module")
def mqm_unequal_groups(shared_data):
    """60 MQM segments with 2..13 systems each (unequal groups), chrF as the metric, and a few
    human scores blanked out."""
    items = _mqm_items(shared_data)
    segments = sorted({it.group for it in items}, key=int)[:60]
    keep = []
    for k, seg in enumerate(segments):
        members = [it for it in items if it.group == seg]
        keep += members[: 2 + (k * 5) % 12]
    human = np.array([it.human["mqm"] for it in keep], dtype=float)
    human[::17] = np.nan
    chrf = mr.get_scorer("chrf").score(
        [it.response for it in keep], references=[list(it.references) for it in keep]
    )
    groups = np.array([it.group for it in keep])
    assert len(set(np.unique(groups, return_counts=True)[1])) > 5  # really unequal groups
    return human, chrf.scores, groups


def test_grouped_acc23_averages_groups_like_brute_force(mqm_unequal_groups):
    h, m, groups = mqm_unequal_groups
    outcomes = _pair_outcomes(h, m, groups)
    dh, adm, _, _ = outcomes
    candidates = np.unique(np.r_[0.0, adm[dh == 0]])
    values = np.array([_brute_acc23(outcomes, e, pooled=False) for e in candidates])
    best = int(np.flatnonzero(values >= values.max() - 1e-12)[0])

    ours = tie_calibrated_accuracy(h, m, groups=groups)
    assert ours.accuracy == pytest.approx(values[best], abs=1e-12)
    assert ours.epsilon == candidates[best]
    assert ours.n_pairs == dh.size
    assert ours.n_missing == int(np.isnan(h).sum())
    # pooling the pairs of all groups gives another number on these data
    assert abs(_brute_acc23(outcomes, ours.epsilon, pooled=True) - ours.accuracy) > 1e-3
    for eps in (0.0, 1.0, 5.0, candidates[len(candidates) // 2]):
        fixed = tie_calibrated_accuracy(h, m, groups=groups, epsilon=eps)
        assert fixed.accuracy == pytest.approx(_brute_acc23(outcomes, eps, False), abs=1e-12)


def test_ungrouped_acc23_pools_pairs_like_brute_force(mqm_unequal_groups):
    h, m, _ = mqm_unequal_groups
    h, m = h[:150], m[:150]
    outcomes = _pair_outcomes(h, m, np.zeros(h.size))
    for eps in (0.0, 2.5, 10.0):
        r = tie_calibrated_accuracy(h, m, epsilon=eps)
        assert r.accuracy == pytest.approx(_brute_acc23(outcomes, eps, pooled=True), abs=1e-12)


# ------------------------------------------------------------- corpus scores: float summation


def _padded_streams(refs):
    width = max(len(r) for r in refs)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def test_corpus_ter_sums_float_statistics_like_sacrebleu():
    """TER's per-item reference length is a mean (a float such as 13/3): a sum in another order
    than sacrebleu's left-to-right one changes the corpus score in the last bits."""
    sacrebleu = pytest.importorskip("sacrebleu")
    words = "the a cat dog sat ran on under mat rug big small red".split()
    rng = np.random.default_rng(1)
    hyps = [" ".join(rng.choice(words, rng.integers(2, 9))) for _ in range(40)]
    refs = [[" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(3)] for _ in range(40)]
    ter = mr.get_scorer("ter")
    result = ter.score(hyps, references=refs)
    expected = sacrebleu.corpus_ter(hyps, _padded_streams(refs)).score
    # the case discriminates: numpy's pairwise sum gives another corpus score
    pairwise = result.details["edits"].sum() / np.sum(result.details["ref_len"]) * 100
    assert pairwise != expected
    assert result.corpus_score == expected
    assert ter.corpus_from_details(result.details) == expected
    chunked = mr.score_in_chunks(ter, hyps, references=refs, chunk_size=7, progress=False)
    assert chunked.corpus_score == expected


def test_corpus_scores_equal_sacrebleu_on_summeval(shared_data):
    """Real summaries with eleven references each (first sentences, to keep TER fast): TER's
    ref_len is a mean of eleven lengths; chrF, chrF++ and BLEU equal sacrebleu's corpus
    functions on the same texts."""
    sacrebleu = pytest.importorskip("sacrebleu")
    data = json.loads((shared_data / "scored/summeval/summeval.json").read_text("utf-8"))
    docs = list(data.values())[:40]
    first = lambda text: text.strip().split(" . ")[0]  # noqa: E731
    hyps = [first(d["sys_summs"][sorted(d["sys_summs"])[0]]["sys_summ"]) for d in docs]
    refs = [[first(r) for r in d["ref_summs"]] for d in docs]
    streams = _padded_streams(refs)
    ter = mr.get_scorer("ter").score(hyps, references=refs)
    expected = sacrebleu.corpus_ter(hyps, streams).score
    assert ter.details["edits"].sum() / np.sum(ter.details["ref_len"]) * 100 != expected
    assert ter.corpus_score == expected
    chrf = mr.get_scorer("chrf").score(hyps, references=refs)
    assert chrf.corpus_score == sacrebleu.corpus_chrf(hyps, streams).score
    chrfpp = mr.get_scorer("chrf++").score(hyps, references=refs)
    assert chrfpp.corpus_score == sacrebleu.corpus_chrf(hyps, streams, word_order=2).score
    bleu = mr.get_scorer("corpus_bleu").score(hyps, references=refs)
    assert bleu.corpus_score == sacrebleu.corpus_bleu(hyps, streams).score


# ----------------------------------------------------------------------- loader labels


def _llmbar_file(tmp_path, label):
    folder = tmp_path / "Natural"
    folder.mkdir(exist_ok=True)
    items = [
        {"input": "q0", "output_1": "first", "output_2": "second", "label": 1},
        {"input": "q1", "output_1": "worse", "output_2": "better", "label": label},
    ]
    (folder / "dataset.json").write_text(json.dumps(items), "utf-8")
    return folder / "dataset.json"


def _evalbias_file(tmp_path, label):
    items = [
        {
            "bias": "length",
            "instruction": "q0",
            "response1": "good",
            "response2": "bad",
            "label": 1,
        },
        {
            "bias": "length",
            "instruction": "q1",
            "response1": "worse",
            "response2": "better",
            "label": label,
        },
    ]
    path = tmp_path / "biasbench.json"
    path.write_text(json.dumps({"length bias": items}), "utf-8")
    return path


def test_label_two_picks_the_second_response(tmp_path):
    llmbar = load_llmbar(_llmbar_file(tmp_path, 2))
    bias = load_evalbiasbench(_evalbias_file(tmp_path, 2))
    for pairs in (llmbar, bias):
        assert [(p.chosen, p.rejected) for p in pairs] == [
            (pairs[0].chosen, pairs[0].rejected),
            ("better", "worse"),
        ]
        assert [p.meta["label"] for p in pairs] == [1, 2]
    assert (llmbar[0].chosen, llmbar[0].rejected) == ("first", "second")
    assert (bias[0].chosen, bias[0].rejected) == ("good", "bad")
    assert [p.prompt for p in llmbar] == ["q0", "q1"] == [p.prompt for p in bias]


@pytest.mark.parametrize("label", [True, False, "1", "2", 1.5, None, 0, 3])
def test_labels_other_than_the_numbers_one_and_two_are_refused(tmp_path, label):
    for loader, path in (
        (load_llmbar, _llmbar_file(tmp_path, label)),
        (load_evalbiasbench, _evalbias_file(tmp_path, label)),
    ):
        expected = f"item 1: expected `label` to be 1 or 2 (got {label!r})"
        with pytest.raises(DataFormatError, match=re.escape(expected)):
            loader(path)
