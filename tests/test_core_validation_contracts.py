"""Contracts of metricrm.core.validation found by mutation testing: the setting checks every
scorer and study shares (integers, numbers, choices, flags) with their messages in full, a plain
string counted as one reference, and the scorer named in the responses check."""

from __future__ import annotations

import numpy as np

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.core.validation import (
    check_choice,
    check_flag,
    check_integer,
    check_number,
    check_references,
    check_responses,
)

from .contract_helpers import raises_exactly as _raises


def test_integers():
    assert check_integer("f", "k", 3) == 3 and type(check_integer("f", "k", np.int64(3))) is int
    assert check_integer("f", "k", 2, minimum=2, maximum=2) == 2
    assert check_integer("f", "k", -5) == -5
    for value, kw, bounds in (
        (True, {}, ""),
        (np.True_, {}, ""),
        (2.0, {}, ""),
        ("2", {}, ""),
        (1, {"minimum": 2}, " >= 2"),
        (3, {"maximum": 2}, " <= 2"),
        (0, {"minimum": 1, "maximum": 5}, " in [1, 5]"),
        (6, {"minimum": 1, "maximum": 5}, " in [1, 5]"),
    ):
        with _raises(ScorerConfigError, f"f: `k` must be an integer{bounds} (got {value!r})"):
            check_integer("f", "k", value, **kw)


def test_numbers():
    assert check_number("f", "x", 1) == 1.0 and type(check_number("f", "x", 1)) is float
    assert check_number("f", "x", np.float32(0.5)) == 0.5
    assert check_number("f", "x", np.int64(2), minimum=2, maximum=2) == 2.0
    assert check_number("f", "x", 0.5, above=0) == 0.5
    assert check_number("f", "x", 0.0, minimum=0.0) == 0.0
    for value, kw, bounds in (
        (True, {}, ""),
        (np.False_, {}, ""),
        ("1", {}, ""),
        (None, {}, ""),
        (float("nan"), {}, ""),
        (float("inf"), {}, ""),
        (-0.5, {"minimum": 0}, " >= 0"),
        (1.5, {"maximum": 1}, " <= 1"),
        (2.0, {"minimum": 0, "maximum": 1.5}, " in [0, 1.5]"),
        (0.0, {"above": 0}, " > 0"),
        (-1e-3, {"above": 0, "minimum": -1}, " > 0"),
        (0.25, {"above": 0.25}, " > 0.25"),
    ):
        with _raises(ScorerConfigError, f"f: `x` must be a number{bounds} (got {value!r})"):
            check_number("f", "x", value, **kw)


def test_choices_and_flags():
    assert check_choice("f", "c", "b", ("a", "b")) == "b"
    assert check_choice("f", "c", 1, [1, 2]) == 1
    assert check_choice("f", "c", True, [True, None]) is True
    assert check_choice("f", "c", np.True_, [False, True]) is np.True_  # equal, not identical
    for value, choices, listed in (
        ("z", ("a", "b"), "'a', 'b'"),
        (True, (1, 2), "1, 2"),  # True == 1, but a flag is not the choice 1
        (False, [0, "x"], "0, 'x'"),
        ([1], {"a", "b"}, None),  # unhashable against a set
        (True, (False, "x"), "False, 'x'"),  # the other flag is no match
        (np.True_, [False], "False"),
    ):
        listed = listed or ", ".join(repr(c) for c in choices)
        with _raises(ScorerConfigError, f"f: `c` must be one of {listed} (got {value!r})"):
            check_choice("f", "c", value, choices)
    assert check_flag("f", "b", True) is True and check_flag("f", "b", np.False_) is False
    for value in (1, 0, "yes", None):
        with _raises(ScorerConfigError, f"f: `b` must be True or False (got {value!r})"):
            check_flag("f", "b", value)


def test_a_plain_string_is_one_reference_and_the_scorer_is_named():
    assert check_references("bleu", ["abc", ("x", "y")], 2) == [["abc"], ["x", "y"]]
    with _raises(
        ScorerInputError,
        "bleu: expected `responses` to be a list with one entry per response (got NoneType)",
    ):
        check_responses("bleu", None)
