"""Preference pairs as training data: the one input check, prompt keys and groups, targets,
and a digest of the data a model was trained on."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
from ..core.records import PreferencePair, Text, response_text
from ..core.validation import check_choice

TIE_POLICIES = ("half", "exclude")


def prompt_key(prompt: Text | None) -> str:
    """A canonical string for a prompt: the text itself, or the chat messages as JSON."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    return json.dumps([[str(m["role"]), str(m["content"])] for m in prompt], ensure_ascii=False)


def prompt_groups(pairs: Sequence[PreferencePair]) -> np.ndarray:
    """Group id per pair: pairs with the same prompt share an id (ids in first-seen order)."""
    ids: dict[str, int] = {}
    return np.asarray(
        [ids.setdefault(prompt_key(p.prompt), len(ids)) for p in pairs], dtype=np.int64
    )


def check_pairs(
    who: str, pairs: Any, what: str = "pairs", *, allow_empty: bool = True
) -> list[PreferencePair]:
    """``pairs`` as a list, refusing anything that is not a sequence of PreferencePair records."""
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__len__"):
        raise ScorerConfigError(
            f"{who}: expected `{what}` to be a list of PreferencePair (got {type(pairs).__name__})"
        )
    pairs = list(pairs)
    for i, pair in enumerate(pairs):
        if not isinstance(pair, PreferencePair):
            raise ScorerConfigError(
                f"{who}: {what} item {i} is a {type(pair).__name__}; expected a PreferencePair"
            )
    if not pairs and not allow_empty:
        raise ScorerConfigError(f"{who}: expected at least one pair in `{what}` (got none)")
    return pairs


def pair_targets(
    pairs: Sequence[PreferencePair], ties: str = "half", *, who: str = "bt"
) -> np.ndarray:
    """Bradley-Terry target per pair: 1.0 (chosen is better), 0.5 (human tie, ``ties="half"``)
    or NaN (human tie, ``ties="exclude"``; the caller drops those pairs and reports how many)."""
    check_choice(who, "ties", ties, TIE_POLICIES)
    tie = 0.5 if ties == "half" else math.nan
    return np.asarray([tie if p.label == "tie" else 1.0 for p in pairs], dtype=np.float64)


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)


def pairs_digest(pairs: Sequence[PreferencePair]) -> str:
    """SHA-256 (hex, 16 characters) of the pairs' prompts, responses and labels, in order."""
    digest = hashlib.sha256()
    for pair in pairs:
        for part in (
            prompt_key(pair.prompt),
            _text_of(pair.chosen),
            _text_of(pair.rejected),
            pair.label,
        ):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
        digest.update(b"\1")
    return digest.hexdigest()[:16]
