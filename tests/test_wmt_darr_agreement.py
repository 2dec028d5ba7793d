"""WMT19 DARR lt-en through the public API: the published tau-like agreement of BLEU and chrF."""

from __future__ import annotations

import pytest

import metricrm as mr
from metricrm.meta import kendall_tau_like

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def darr_pairs(shared_data):
    return mr.data.load_wmt_darr(shared_data / "scored" / "wmt19-darr" / "lt-en.json")


@pytest.fixture(scope="module")
def taus(darr_pairs):
    return {name: _tau_like(name, darr_pairs) for name in ("bleu", "chrf")}


def _tau_like(name: str, pairs) -> float:
    scorer = mr.get_scorer(name)
    refs = [list(p.references) for p in pairs]
    # Pairwise use is derived: chosen and rejected go through the same score call.
    result = scorer.score(
        [p.chosen for p in pairs] + [p.rejected for p in pairs], references=refs + refs
    )
    n = len(pairs)
    better, worse = result.scores[:n], result.scores[n:]
    return kendall_tau_like(better, worse, higher_is_better=result.higher_is_better).value


# sacrebleu 2.x sentence-level figures on WMT19 DARR lt-en, as given in ../shared/data/README.md
# (about 0.25 for sentence BLEU and 0.30 for sentence chrF).
@pytest.mark.parametrize("name, published", [("bleu", 0.25), ("chrf", 0.30)])
def test_tau_like_matches_published(name, published, darr_pairs, taus):
    assert len(darr_pairs) == 21862
    assert taus[name] == pytest.approx(published, abs=0.015)


def test_chrf_agrees_better_than_bleu(taus):
    assert taus["chrf"] > taus["bleu"]
