"""Input checks shared by every scorer: they name the scorer, the item and what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ScorerConfigError, ScorerInputError, ScorerOutputError
from .records import is_messages, prompt_text, response_text


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_sequence(scorer: str, argument: str, values: Any) -> list:
    """Return ``values`` as a list, refusing strings, None and non-sequences."""
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ScorerInputError(
            f"{scorer}: expected `{argument}` to be a list with one entry per response "
            f"(got {type(values).__name__})"
        )
    return list(values)


def check_responses(scorer: str, responses: Any, *, allow_empty_text: bool = False) -> list[str]:
    """Plain-text responses; chat-message lists are flattened to their contents."""
    items = check_sequence(scorer, "responses", responses)
    out: list[str] = []
    for i, value in enumerate(items):
        if isinstance(value, str):
            text = value
        elif is_messages(value):
            text = response_text(value)
        else:
            raise ScorerInputError(
                f"{scorer}: response {i} must be a string or a list of chat messages "
                f"(got {type(value).__name__}: {_describe(value)})"
            )
        if not allow_empty_text and not text.strip():
            raise ScorerInputError(f"{scorer}: response {i} is empty; expected non-empty text")
        out.append(text)
    return out


def check_references(scorer: str, references: Any, n: int) -> list[list[str]]:
    """One list of reference strings per response (a plain string counts as one reference)."""
    items = check_sequence(scorer, "references", references)
    if len(items) != n:
        raise ScorerInputError(
            f"{scorer}: expected `references` to have one entry per response "
            f"(got {n} responses, {len(items)} references)"
        )
    out: list[list[str]] = []
    for i, value in enumerate(items):
        refs = [value] if isinstance(value, str) else value
        if refs is None or isinstance(refs, bytes) or not hasattr(refs, "__iter__"):
            raise ScorerInputError(
                f"{scorer}: references for item {i} must be a string or a list of strings "
                f"(got {type(value).__name__})"
            )
        refs = list(refs)
        if not refs:
            raise ScorerInputError(f"{scorer}: item {i} has no reference; expected at least one")
        for j, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise ScorerInputError(
                    f"{scorer}: reference {j} of item {i} must be a string "
                    f"(got {type(ref).__name__}: {_describe(ref)})"
                )
        out.append(refs)
    return out


def check_texts(scorer: str, argument: str, values: Any, n: int, *, flatten: bool = True) -> list:
    """Prompts or sources: one string (or chat-message list) per response.

    With ``flatten`` chat-message lists become plain text; without, they are kept as given.
    """
    items = check_sequence(scorer, argument, values)
    if len(items) != n:
        raise ScorerInputError(
            f"{scorer}: expected `{argument}` to have one entry per response "
            f"(got {n} responses, {len(items)} {argument})"
        )
    out: list[str] = []
    for i, value in enumerate(items):
        if isinstance(value, str):
            out.append(value)
        elif is_messages(value):
            out.append(prompt_text(value) if flatten else list(value))
        else:
            raise ScorerInputError(
                f"{scorer}: {argument[:-1] if argument.endswith('s') else argument} {i} must be "
                "a string or a list of chat messages "
                f"(got {type(value).__name__}: {_describe(value)})"
            )
    return out


def check_scores(scorer: str, scores: Any, n: int) -> np.ndarray:
    """Backend output as float64, one finite value per response."""
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        raise ScorerOutputError(
            f"{scorer}: backend returned {arr.shape[0]} scores for {n} responses"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise ScorerOutputError(
            f"{scorer}: backend returned a non-finite score ({arr[i]}) for item {i}"
            + (f" and {bad.size - 1} more" if bad.size > 1 else "")
            + "; expected a finite number"
        )
    return arr


def check_not_empty(scorer: str, n: int) -> None:
    if n == 0:
        raise ScorerInputError(f"{scorer}: expected at least one response (got an empty list)")


# -- settings ------------------------------------------------------------------------------------
# One set of checks for every setting of a scorer, statistic, loader or trainer. Each raises
# ScorerConfigError (a TypeError and a ValueError) naming who, the setting and what came.


def check_choice(who: str, name: str, value: Any, choices: Any) -> Any:
    """``value`` if it is one of ``choices``; otherwise an error listing them."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if isinstance(value, (bool, np.bool_)):  # True == 1: a flag is not the choice 1
        ok = any(c is value or (isinstance(c, bool) and c == value) for c in choices)
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise ScorerConfigError(f"{who}: `{name}` must be one of {listed} (got {value!r})")
    return value


def check_flag(who: str, name: str, value: Any) -> bool:
    """``value`` as a bool; only ``True``/``False`` (numpy booleans too) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise ScorerConfigError(f"{who}: `{name}` must be True or False (got {value!r})")
    return bool(value)


def check_integer(
    who: str, name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int (booleans refused) within ``[minimum, maximum]``."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        raise ScorerConfigError(
            f"{who}: `{name}` must be an integer{_bounds(minimum, maximum)} (got {value!r})"
        )
    return int(value)


def check_number(
    who: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """``value`` as a finite float (booleans refused) that is ``>= minimum``, ``<= maximum``
    and ``> above`` where those are given."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    ok = ok and bool(np.isfinite(value))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    ok = ok and (above is None or value > above)
    if not ok:
        bounds = _bounds(minimum, maximum) if above is None else f" > {above:g}"
        raise ScorerConfigError(f"{who}: `{name}` must be a number{bounds} (got {value!r})")
    return float(value)


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f" >= {minimum:g}"
    if maximum is not None:
        return f" <= {maximum:g}"
    return ""
