"""Token-budget batching: plans respect the budget, cover every item once, restore input order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError
from metricrm.core.token_batching import pad_right, plan_batches, run_in_batches, select_device


def test_plan_follows_the_definition_on_a_small_case():
    # Longest first: 8 alone (8*2 > 8), 5 alone (5*2 > 8), 3 and 2 together (3*2 <= 8, 3*3 > 8), then 1.
    assert plan_batches([5, 1, 3, 2, 8], 8) == [[4], [0], [2, 3], [1]]


@pytest.mark.parametrize("budget", [1, 7, 64, 500, 10**6])
@pytest.mark.parametrize("cap", [None, 1, 4])
def test_plan_invariants(budget, cap):
    lengths = np.random.default_rng(budget).integers(1, 120, size=97).tolist()
    batches = plan_batches(lengths, budget, max_batch_size=cap)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every item exactly once
    visit = [lengths[i] for i in flat]
    assert visit == sorted(visit, reverse=True)  # longest first
    for batch in batches:
        padded = max(lengths[i] for i in batch) * len(batch)
        assert len(batch) == 1 or padded <= budget
        if cap is not None:
            assert len(batch) <= cap
    # greedy: the next item would not have fitted into the previous batch
    for prev in batches[:-1]:
        full = cap is not None and len(prev) == cap
        assert full or max(lengths[i] for i in prev) * (len(prev) + 1) > budget


@pytest.mark.parametrize("slack", [0.0, 0.1, 0.5])
def test_max_padding_bounds_the_padding_of_every_row(slack):
    lengths = np.random.default_rng(7).integers(1, 300, size=211).tolist()
    batches = plan_batches(lengths, 2048, max_padding=slack)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert longest * len(batch) <= 2048
        assert all(lengths[i] >= (1 - slack) * longest for i in batch)
    # greedy: the next item broke the budget or the padding bound of the previous batch
    for prev, nxt in zip(batches, batches[1:]):
        longest = max(lengths[i] for i in prev)
        assert longest * (len(prev) + 1) > 2048 or lengths[nxt[0]] < (1 - slack) * longest
    loose = plan_batches(lengths, 2048)
    assert loose == plan_batches(lengths, 2048, max_padding=None)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert sum(lengths) <= padded <= sum(lengths) / (1 - slack)


@pytest.mark.parametrize("bad", [1, 1.5, -0.1, "0.1", True])
def test_bad_max_padding(bad):
    with pytest.raises(ScorerConfigError, match=r"plan_batches: max_padding must be a fraction"):
        plan_batches([1, 2], 10, max_padding=bad)


def test_equal_lengths_keep_input_order_inside_a_batch():
    assert plan_batches([4, 4, 4, 4], 8) == [[0, 1], [2, 3]]


def test_run_in_batches_restores_input_order():
    lengths = [3, 9, 1, 7, 7, 2]
    seen = []

    def fn(batch):
        seen.append(list(batch))
        return [f"item{i}" for i in batch]

    out = run_in_batches(lengths, fn, 14)
    assert out == [f"item{i}" for i in range(len(lengths))]
    assert seen[0] == [1]  # the longest item comes first
    assert len(seen) > 1


def test_run_in_batches_refuses_a_short_result():
    with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
        run_in_batches([1, 1], lambda batch: [0], 100)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, None, "8"])
def test_bad_budget(bad):
    with pytest.raises(ScorerConfigError, match="max_tokens_per_batch must be a positive integer"):
        plan_batches([1, 2], bad)


def test_bad_batch_cap():
    with pytest.raises(ScorerConfigError, match="max_batch_size must be a positive integer"):
        plan_batches([1, 2], 10, max_batch_size=0)


def test_pad_right():
    ids, mask = pad_right([[5, 6, 7], [8]], pad_id=0)
    assert ids == [[5, 6, 7], [8, 0, 0]]
    assert mask == [[1, 1, 1], [1, 0, 0]]


def test_select_device():
    torch = pytest.importorskip("torch")
    assert select_device("cpu") == "cpu"
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else (
            "mps"
            if getattr(torch.backends, "mps", None) is not None
            and torch.backends.mps.is_available()
            else "cpu"
        )
    )
    assert select_device() == expected
    with pytest.raises(ScorerConfigError, match="device must be a string"):
        select_device(3)


def test_model_modules_import_without_torch():
    """Adapter and helper modules import torch/transformers only when a model is used."""
    code = (
        "import sys\n"
        "import metricrm.core.token_batching, metricrm.adapters.chat_format\n"
        "import metricrm.adapters.reward_model, metricrm.adapters.causal_lm\n"
        "import metricrm.adapters.offline_models\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
