"""Input checks for the meta-evaluation statistics: each error names the function, what was
expected, what was received and, where it applies, the first offending index."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError


def as_float_array(
    who: str, name: str, values: Any, *, ndim: int = 1, allow_nan: bool = False
) -> np.ndarray:
    """``values`` as a float64 array with ``ndim`` dimensions; NaN refused unless ``allow_nan``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ScorerInputError(
            f"{who}: expected `{name}` to be an array of numbers "
            f"(got {type(values).__name__}: {exc})"
        ) from None
    if arr.ndim != ndim:
        raise ScorerInputError(
            f"{who}: expected `{name}` to be {ndim}-dimensional (got shape {arr.shape})"
        )
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        at = int(where[0]) if ndim == 1 else tuple(int(i) for i in where)
        what = "a finite number" if not allow_nan else "a finite number or NaN (missing)"
        raise ScorerInputError(
            f"{who}: `{name}` has {arr[tuple(where)]} at index {at} "
            f"({int(bad.sum())} such entries); expected {what}"
        )
    return arr


def same_length(who: str, **arrays: np.ndarray) -> int:
    """Length shared by every array (first axis); raise naming each length otherwise."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{n} {name}" for name, n in lengths.items())
        raise ScorerInputError(f"{who}: expected one entry per item in every input (got {got})")
    return next(iter(lengths.values()))


def non_empty(who: str, n: int, what: str = "items") -> None:
    if n == 0:
        raise ScorerInputError(f"{who}: expected at least one of the {what} (got none)")


def choice(who: str, name: str, value: Any, allowed: Collection[str]) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ScorerConfigError(f"{who}: `{name}` must be one of {options} (got {value!r})")
    return value


def as_mask(who: str, name: str, values: Any, n: int) -> np.ndarray:
    """A boolean mask of length ``n``; only booleans (or 0/1 integers) are accepted."""
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ScorerInputError(f"{who}: expected `{name}` to have shape ({n},) (got {arr.shape})")
    if arr.dtype != bool:
        if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all():
            raise ScorerInputError(
                f"{who}: expected `{name}` to hold booleans (got dtype {arr.dtype})"
            )
        arr = arr.astype(bool)
    return arr


def labels(who: str, name: str, values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group labels -> (unique labels in sorted order, integer code per item)."""
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) != n:
        raise ScorerInputError(
            f"{who}: expected `{name}` to have one label per item ({n}) (got shape {arr.shape})"
        )
    if arr.dtype == object:
        try:
            uniq, codes = np.unique(arr, return_inverse=True)
        except TypeError:
            raise ScorerInputError(
                f"{who}: `{name}` mixes label types that cannot be ordered; use one type"
            ) from None
    else:
        uniq, codes = np.unique(arr, return_inverse=True)
    return uniq, codes.reshape(-1)


def is_number(value: Any) -> bool:
    """A real number: a Python or numpy integer or float, not a boolean (``np.bool_`` is
    neither, ``bool`` is an ``int``)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def positive_int(who: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ScorerConfigError(f"{who}: `{name}` must be an integer >= {minimum} (got {value!r})")
    return int(value)


def probability(
    who: str, name: str, value: Any, *, open_low: bool = True, closed_high: bool = False
) -> float:
    """A number in (0, 1), or [0, 1) without ``open_low``, or (0, 1] with ``closed_high``."""
    ok = is_number(value)
    low_ok = ok and (0.0 < value if open_low else 0.0 <= value)
    high_ok = ok and (value <= 1.0 if closed_high else value < 1.0)
    if not (low_ok and high_ok):
        interval = f"{'(' if open_low else '['}0, 1{']' if closed_high else ')'}"
        raise ScorerConfigError(f"{who}: `{name}` must be a number in {interval} (got {value!r})")
    return float(value)


def generator(who: str, rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ScorerConfigError(
            f"{who}: `rng` must be a numpy.random.Generator, e.g. numpy.random.default_rng(0) "
            f"(got {type(rng).__name__})"
        )
    return rng
