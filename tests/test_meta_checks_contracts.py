"""Contracts of metricrm.meta._checks found by mutation testing, through the public functions
where a caller reaches them: the not-a-number message in full, object-dtype labels, and the
half-open intervals of ``probability`` that no public argument uses yet."""

from __future__ import annotations

import numpy as np

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import pairwise_accuracy, subset_accuracies
from metricrm.meta._checks import probability

from .contract_helpers import raises_exactly as _raises


def test_values_that_are_not_numbers_name_the_type_and_numpy_reason():
    with _raises(
        ScorerInputError,
        "pairwise_accuracy: expected `chosen` to be an array of "
        "numbers (got list: could not convert string to float: 'a')",
    ):
        pairwise_accuracy(["a"], [1.0])
    with _raises(
        ScorerInputError,
        "pairwise_accuracy: expected `rejected` to be an array of "
        "numbers (got tuple: could not convert string to float: 'x')",
    ):
        pairwise_accuracy([1.0], ("x",))


def test_object_labels_are_sorted_and_coded():
    subs = subset_accuracies([1, 0, 1], [0, 1, 0], np.array(["b", "a", "b"], dtype=object))
    assert list(subs) == ["a", "b"]
    assert (subs["a"].value, subs["b"].value, subs["b"].n_used) == (0.0, 1.0, 2)


def test_probability_intervals():
    assert probability("f", "p", 0, open_low=False) == 0.0
    assert probability("f", "p", 0.5, open_low=False) == 0.5
    assert probability("f", "p", 1, closed_high=True) == 1.0 and probability("f", "p", 0.25) == 0.25
    for value, kw, interval in (
        (0, {}, "(0, 1)"),
        (1, {}, "(0, 1)"),
        (1, {"open_low": False}, "[0, 1)"),
        (-0.1, {"open_low": False}, "[0, 1)"),
        (0, {"closed_high": True}, "(0, 1]"),
        (1.5, {"open_low": False, "closed_high": True}, "[0, 1]"),
        (True, {"open_low": False}, "[0, 1)"),
    ):
        with _raises(ScorerConfigError, f"f: `p` must be a number in {interval} (got {value!r})"):
            probability("f", "p", value, **kw)
