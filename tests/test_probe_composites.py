"""A length term in a learned composite, against the padding probe on real WMT19 DARR pairs.

A free-sign fit on pairs whose better translation is the longer one turns length into a reward
that padding games; a non-negative weight on a length *penalty* cannot be raised by more text,
and a rank-normalised length term is capped at its weight however long the text."""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.probes import perturbed_pairs
from metricrm.weighting import Component, WeightMethod, fit_composite, score_pair_table

DARR = "scored/wmt19-darr/lt-en.json"


@pytest.fixture(scope="module")
def darr(shared_data):
    pairs = mr.data.load_wmt_darr(shared_data / DARR)
    # fitting pairs: the first 400 whose better translation is the longer one (so that, given
    # chrF, longer looks better); probed pairs: the next 150 of the file, unfiltered
    longer = [p for p in pairs[:3000] if len(p.chosen) > len(p.rejected)][:400]
    return longer, pairs[3000:3150]


def _fit(pairs, normalizer: str, method: WeightMethod, tmp_path, name: str):
    parts = [
        Component.build("chrf", "chrf"),
        Component.build("length", "length_chars", higher_is_better=False, normalizer=normalizer),
    ]
    table = score_pair_table(parts, pairs, cache=False, progress=False)
    path = fit_composite(parts, table, method).save(tmp_path / f"{name}.yaml")
    return mr.get_scorer("composite", path=str(path))  # as the study loads it


def _score(scorer, pairs, side: str):
    result = scorer.score(
        [getattr(p, side) for p in pairs], references=[p.references for p in pairs]
    )
    return result.scores, result.details


def _padding_effect(composite, pairs):
    """Per probed pair: composite and chrF change of the rejected translation when padded."""
    padded = perturbed_pairs(pairs, "pad_filler", seed=0, sides="rejected")
    before, d0 = _score(composite, pairs, "rejected")
    after, d1 = _score(composite, padded, "rejected")
    return after - before, d1["chrf.raw"] - d0["chrf.raw"], d1


def test_a_free_sign_length_weight_becomes_a_reward_that_padding_games(darr, tmp_path):
    fit_pairs, probed = darr
    free = _fit(fit_pairs, "zscore", WeightMethod("logistic"), tmp_path, "free")
    length = free.components[1]
    assert length.higher_is_better is True and free.weights["length"] > 0
    change, chrf_change, _ = _padding_effect(free, probed)
    # the composite rises on pairs where chrF itself does not: the length term did it
    assert np.sum((change > 0) & (chrf_change <= 0)) > len(probed) // 2


def test_a_nonnegative_length_penalty_cannot_be_raised_by_padding(darr, tmp_path):
    fit_pairs, probed = darr
    method = WeightMethod("logistic", penalty="l1", nonnegative=True)
    bounded = _fit(fit_pairs, "zscore", method, tmp_path, "nonneg")
    assert bounded.components[1].higher_is_better is False and bounded.weights["length"] >= 0
    change, chrf_change, _ = _padding_effect(bounded, probed)
    # padding adds characters, so the penalty term can only fall: the composite rises on a
    # pair only where chrF rises, and never by more than chrF's own part
    assert np.all(change[chrf_change <= 0] <= 1e-12)
    z_std = bounded.components[0].normalizer.fitted_params["std"]
    assert np.all(change <= bounded.weights["chrf"] * chrf_change / z_std + 1e-12)


def test_a_rank_normalised_length_term_is_capped_at_its_weight(darr, tmp_path):
    fit_pairs, probed = darr
    capped = _fit(fit_pairs, "rank", WeightMethod("logistic"), tmp_path, "rank")
    length = capped.components[1]
    assert length.higher_is_better is True  # a reward here too, but a bounded one
    _, _, details = _padding_effect(capped, probed)
    longest = max(max(len(p.chosen), len(p.rejected)) for p in fit_pairs)
    beyond = details["length.raw"] > longest
    assert beyond.sum() > len(probed) // 2
    # past every fitting length the term is exactly its cap, 1, whatever the padding added
    np.testing.assert_array_equal(details["length.norm"][beyond], 1.0)
    assert np.all(details["length.norm"] <= 1.0)
