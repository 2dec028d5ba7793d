"""Best-of-n over pools of existing outputs (MT systems per segment): on real WMT MQM data the
curve equals the brute-force average over every n-subset of each segment's systems, with the
proxy computed by sacrebleu and the gold read from the human MQM file."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import sacrebleu

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.probes import best_of_n_items


def _brute(proxy, gold, n):
    """Mean over every n-subset of the gold value of its proxy-best member (ties: the mean of
    the tied members' gold, a random tie-break)."""
    values = []
    for subset in itertools.combinations(range(len(proxy)), n):
        top = max(proxy[i] for i in subset)
        tied = [gold[i] for i in subset if proxy[i] == top]
        values.append(sum(tied) / len(tied))
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def mqm_items(shared_data):
    folder = shared_data / "scored" / "wmt-mqm-ted-ende"
    items = mr.data.load_wmt_mqm(folder / "mqm_ted_ende.tsv",
                                 folder / "mqm_ted_ende.avg_seg_scores.tsv")  # fmt: skip
    first = list(dict.fromkeys(it.group for it in items))[:3]
    return [it for it in items if it.group in first]


def test_curve_equals_brute_force_over_every_subset_of_systems(mqm_items, tmp_path):
    frame = best_of_n_items(mqm_items, mr.get_scorer("chrf"), "mqm", [1, 2, 4, 13],
                            n_resamples=50, cache=tmp_path, progress=False)  # fmt: skip
    rows = frame.set_index(["role", "n"])
    segments = list(dict.fromkeys(it.group for it in mqm_items))
    assert len(segments) == 3 and len(mqm_items) == 39  # 13 systems per segment
    for n in (1, 2, 4, 13):
        want_gold, want_proxy = [], []
        for seg in segments:
            its = [it for it in mqm_items if it.group == seg]
            chrf = [sacrebleu.sentence_chrf(it.response, list(it.references)).score for it in its]
            mqm = [it.human["mqm"] for it in its]
            want_gold.append(_brute(chrf, mqm, n))
            want_proxy.append(_brute(chrf, chrf, n))
        assert rows.loc[("gold", n), "value"] == pytest.approx(np.mean(want_gold), abs=1e-9)
        assert rows.loc[("proxy", n), "value"] == pytest.approx(np.mean(want_proxy), abs=1e-6)
        assert rows.loc[("gold", n), "n_prompts"] == 3
    # n = 1 is the plain mean; n = pool size is the proxy's argmax in each segment
    assert rows.loc[("gold", 1), "value"] == pytest.approx(
        np.mean([it.human["mqm"] for it in mqm_items]))  # fmt: skip
    assert set(frame.pair) == {"chrf -> mqm"} and (frame.n_unscored_dropped == 0).all()
    # pools are the groups, wherever their items stand in the list
    shuffled = [mqm_items[i] for i in np.random.default_rng(0).permutation(len(mqm_items))]
    again = best_of_n_items(shuffled, mr.get_scorer("chrf"), "mqm", [1, 2, 4, 13],
                            n_resamples=50, cache=tmp_path, progress=False)  # fmt: skip
    assert np.allclose(again["value"], frame["value"])


def test_lower_is_better_gold_and_a_scorer_as_gold(mqm_items):
    """A gold Scorer is scored like the proxy; a lower-is-better human gold flips the sign of
    the change only (values stay in the judgment's own units)."""
    proxy = mr.get_scorer("length_chars")
    by_scorer = best_of_n_items(mqm_items, proxy, mr.get_scorer("length_tokens"), [1, 2],
                                n_resamples=20, cache=False, progress=False)  # fmt: skip
    rows = by_scorer.set_index(["role", "n"])
    segments = list(dict.fromkeys(it.group for it in mqm_items))
    want = np.mean([
        _brute([len(it.response) for it in mqm_items if it.group == s],
               [len(it.response.split()) for it in mqm_items if it.group == s], 2)
        for s in segments
    ])  # fmt: skip
    assert rows.loc[("gold", 2), "value"] == pytest.approx(want)
    # length_tokens is higher-is-better: its gain from the longer pick counts as positive
    assert rows.loc[("gold", 2), "value"] > rows.loc[("gold", 1), "value"]
    assert rows.loc[("gold", 2), "change"] > 0
    up = best_of_n_items(mqm_items, proxy, "mqm", [1, 2], n_resamples=20, cache=False,
                         progress=False).set_index(["role", "n"])  # fmt: skip
    down = best_of_n_items(
        mqm_items,
        proxy,
        "mqm",
        [1, 2],
        gold_higher_is_better=False,
        n_resamples=20,
        cache=False,
        progress=False,
    ).set_index(["role", "n"])
    assert down.loc[("gold", 2), "value"] == up.loc[("gold", 2), "value"]
    assert down.loc[("gold", 2), "change"] == pytest.approx(-up.loc[("gold", 2), "change"])


def test_unscored_items_are_left_out_and_counted(mqm_items):
    items = list(mqm_items)
    items[0] = replace(items[0], human={"mqm": None})
    frame = best_of_n_items(items, mr.get_scorer("length_chars"), "mqm", [1, 2],
                            n_resamples=20, cache=False, progress=False)  # fmt: skip
    assert (frame.n_unscored_dropped == 1).all()
    rest = [it.human["mqm"] for it in items if it.group == items[0].group][1:]
    others = [it.human["mqm"] for it in items if it.group != items[0].group]
    want = np.mean([np.mean(rest)] + [np.mean(others[:13]), np.mean(others[13:])])
    assert frame.set_index(["role", "n"]).loc[("gold", 1), "value"] == pytest.approx(want)


def test_bad_input_names_the_function_and_the_item(mqm_items):
    length = mr.get_scorer("length_chars")
    with pytest.raises(ScorerInputError, match=r"best_of_n_items: item 1 .* has no `group`"):
        best_of_n_items([mqm_items[0], replace(mqm_items[1], group=None)], length, "mqm")
    with pytest.raises(ScorerInputError, match=r"item 0 .* no human judgment 'da'"):
        best_of_n_items(mqm_items, length, "da", cache=False, progress=False)
    with pytest.raises(ScorerInputError, match="no item has a human 'mqm' score"):
        best_of_n_items([replace(mqm_items[0], human={"mqm": None})], length, "mqm")
    with pytest.raises(ScorerInputError, match="item 0: expected a PointwiseItem"):
        best_of_n_items(["text"], length, "mqm")
    with pytest.raises(ScorerConfigError, match="`gold` must be a Scorer or the name"):
        best_of_n_items(mqm_items, length, 3)
    with pytest.raises(ScorerConfigError, match="`proxy` must be a Scorer"):
        best_of_n_items(mqm_items, "chrf", "mqm")
