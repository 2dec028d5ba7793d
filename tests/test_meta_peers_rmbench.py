"""RM-Bench's matrix and totals (THU-KEG/RM-Bench ``compute_accuracy``, its README, and its paper's
tables): per-domain hard / normal / easy from the 3x3 style matrix, the two safety files as one
domain, totals as the equal-weight mean over domains; reproduced on the shared RM-Bench files."""

from __future__ import annotations

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerInputError
from metricrm.meta import get_convention, pairwise_outcomes, rmbench_matrix, rmbench_totals


def _compute_accuracy(chosen: np.ndarray, rejected: np.ndarray) -> dict[str, float]:
    """RM-Bench's definition written out: count chosen[i] > rejected[j] over prompts, divide by
    the number of prompts; hard = upper triangle, normal = diagonal, easy = lower triangle."""
    k = chosen.shape[1]
    acc = np.zeros((k, k))
    for c, r in zip(chosen, rejected):
        for i in range(k):
            for j in range(k):
                acc[i, j] += c[i] > r[j]
    acc /= len(chosen)
    pairs = k * (k - 1) / 2
    return {
        "hard": np.sum(np.triu(acc, 1)) / pairs,
        "normal": float(np.mean(np.diag(acc))),
        "easy": np.sum(np.tril(acc, -1)) / pairs,
    }


def _long_form(chosen: np.ndarray, rejected: np.ndarray, domain: str):
    """Per-pair outcomes, domains and difficulties in load_rm_bench's row-major order."""
    k = chosen.shape[1]
    c = np.repeat(chosen, k, axis=1).ravel()
    r = np.tile(rejected, (1, k)).ravel()
    i, j = np.divmod(np.arange(k * k), k)
    level = np.where(i < j, "hard", np.where(i == j, "normal", "easy"))
    n = chosen.shape[0]
    return c, r, np.full(n * k * k, domain), np.tile(level, n)


def test_rmbench_compute_accuracy_per_domain_and_total():
    rng = np.random.default_rng(3)
    parts = {}
    for d, n in (("chat", 7), ("safety-refuse", 5), ("safety-response", 4)):
        # integers, so that ties occur: RM-Bench counts only chosen > rejected
        parts[d] = (rng.integers(0, 4, size=(n, 3)), rng.integers(0, 4, size=(n, 3)))
    rows = [_long_form(c, r, d) for d, (c, r) in parts.items()]
    c, r, dom, level = (np.concatenate(x) for x in zip(*rows))
    conv = get_convention("rm-bench")
    out = pairwise_outcomes(c, r, score_ties=conv.score_ties)
    t = rmbench_totals(out, dom, level, merge=conv.domains)
    chat = _compute_accuracy(*parts["chat"])
    safety = _compute_accuracy(
        np.vstack([parts["safety-refuse"][0], parts["safety-response"][0]]),
        np.vstack([parts["safety-refuse"][1], parts["safety-response"][1]]),
    )
    assert sorted(t.domains) == ["chat", "safety"] and t.n_pairs == {"chat": 63, "safety": 81}
    for level_name in ("hard", "normal", "easy"):
        assert t.domains["chat"][level_name] == pytest.approx(chat[level_name], abs=1e-15)
        assert t.domains["safety"][level_name] == pytest.approx(safety[level_name], abs=1e-15)
        total = (chat[level_name] + safety[level_name]) / 2
        assert getattr(t, level_name) == pytest.approx(total, abs=1e-15)
    m = rmbench_matrix(*parts["chat"])
    assert (m.hard, m.normal, m.easy) == pytest.approx((chat["hard"], chat["normal"], chat["easy"]))
    assert t.average == pytest.approx((t.hard + t.normal + t.easy) / 3)


def test_rmbench_totals_rejects_incomplete_input():
    with pytest.raises(ScorerInputError, match=r"domain 'chat' has no 'easy' pair"):
        rmbench_totals([1.0, 0.0], ["chat", "chat"], ["hard", "normal"])
    with pytest.raises(ScorerInputError, match=r"`difficulty` must be one of .* first at pair 1"):
        rmbench_totals([1.0, 0.0], ["chat", "chat"], ["hard", "medium"])


@pytest.fixture(scope="module")
def rm_bench_length(shared_data):
    pairs = mr.data.load_rm_bench(shared_data / "preference" / "rm-bench")
    scorer = mr.get_scorer("length_chars")
    chosen = scorer.score([p.chosen for p in pairs]).scores
    rejected = scorer.score([p.rejected for p in pairs]).scores
    domains = np.array([p.subset for p in pairs])
    level = np.array([p.meta["difficulty"] for p in pairs])
    return chosen, rejected, domains, level


@pytest.mark.shared_data
def test_rmbench_paper_length_baseline_totals(rm_bench_length):
    # RM-Bench's own code, run unchanged on these files with response length in characters as
    # the reward, gives hard / normal / easy / average 0.1267 / 0.3940 / 0.8369 / 0.4525
    chosen, rejected, domains, level = rm_bench_length
    conv = get_convention("rm-bench")
    out = pairwise_outcomes(chosen, rejected, score_ties=conv.score_ties)
    t = rmbench_totals(out, domains, level, merge=conv.domains)
    got = [round(v, 4) for v in (t.hard, t.normal, t.easy, t.average)]
    assert got == [0.1267, 0.3940, 0.8369, 0.4525]
    assert sorted(t.domains) == ["chat", "code", "safety"]
    # metricrm's pooled "all" row weighs domains by their size: 0.1320 / 0.4035 / 0.8634 / 0.4663
    pooled = [round(float(out[level == lv].mean()), 4) for lv in ("hard", "normal", "easy")]
    assert pooled == [0.1320, 0.4035, 0.8634]
    assert round(float(out.mean()), 4) == 0.4663
