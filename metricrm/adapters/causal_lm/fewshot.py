"""Labelled judging examples for few-shot judges: preference pairs or labelled items become
(prompt, response, answer) examples, rendered as earlier turns of a judging conversation.

A preference pair gives two examples: its chosen response answered "Yes" and its rejected one
answered "No" (a pair humans judged a tie gives none). Within the k-th pair the chosen example
comes first when k is even and second when k is odd, so a list of examples never teaches "the
first one is good". A :class:`~metricrm.core.records.PointwiseItem` is an example when its
``human[label_key]`` is 0/1 (or False/True): 1 means the answer is "Yes".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...core.errors import ScorerConfigError
from ...core.records import PointwiseItem, PreferencePair, Text, response_text
from ..chat_format import PlainFormat, flat_prompt, render_prefix
from .judges import _fill


@dataclass(frozen=True)
class JudgedExample:
    """One labelled judging example: the answer is "Yes" when ``positive``."""

    prompt: Text | None
    response: str
    positive: bool
    #: index of the pair (or item) it came from, so a pair's two halves can be kept together
    source: int = 0


def judged_examples(
    who: str, examples: Any, *, label_key: str = "label", allow_empty: bool = False
) -> list[JudgedExample]:
    """Examples from preference pairs or labelled pointwise items (module docstring)."""
    if isinstance(examples, (str, bytes)) or not hasattr(examples, "__len__"):
        raise ScorerConfigError(
            f"{who}: expected `examples` to be a list of PreferencePair or labelled "
            f"PointwiseItem records (got {type(examples).__name__})"
        )
    out: list[JudgedExample] = []
    for k, item in enumerate(examples):
        if isinstance(item, PreferencePair):
            if item.label == "tie":
                continue
            chosen = JudgedExample(item.prompt, _text(item.chosen), True, k)
            rejected = JudgedExample(item.prompt, _text(item.rejected), False, k)
            out.extend((chosen, rejected) if k % 2 == 0 else (rejected, chosen))
        elif isinstance(item, PointwiseItem):
            value = (item.human or {}).get(label_key)
            if isinstance(value, bool) or value in (0, 1):
                out.append(JudgedExample(item.prompt, _text(item.response), bool(value), k))
            else:
                raise ScorerConfigError(
                    f"{who}: example {k} is a PointwiseItem whose human[{label_key!r}] is "
                    f"{value!r}; expected 0 or 1 (1: the answer is Yes)"
                )
        else:
            raise ScorerConfigError(
                f"{who}: example {k} is a {type(item).__name__}; expected a PreferencePair or "
                "a PointwiseItem with a 0/1 human label"
            )
    if not out and not allow_empty:
        raise ScorerConfigError(
            f"{who}: no usable example in `examples` ({len(examples)} given; pairs judged a tie "
            "are left out)"
        )
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)


def examples_digest(examples: Sequence[JudgedExample]) -> str:
    """SHA-256 (16 hex characters) of the examples' prompts, responses and answers, in order."""
    digest = hashlib.sha256()
    for ex in examples:
        record = [flat_prompt(ex.prompt), ex.response, ex.positive]
        digest.update(json.dumps(record, ensure_ascii=False).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def fill(template: str, prompt: Text | None, response: str) -> str:
    """The judging question for one (prompt, response), filled as ``lm_judge`` fills it."""
    return _fill(template, {"prompt": flat_prompt(prompt), "response": response})


def example_turns(
    template: str, examples: Sequence[JudgedExample], answers: tuple[str, str]
) -> list[dict[str, str]]:
    """Examples as alternating user questions and assistant answers (``answers`` = yes, no)."""
    turns: list[dict[str, str]] = []
    for ex in examples:
        turns.append({"role": "user", "content": fill(template, ex.prompt, ex.response)})
        turns.append({"role": "assistant", "content": answers[0] if ex.positive else answers[1]})
    return turns


def dialogue_prefix(
    tokenizer: Any, mode: str, plain: PlainFormat, turns: list[dict[str, str]], question: str
) -> str:
    """Text of ``turns`` followed by ``question`` as a user turn and the opening of the
    assistant's answer."""
    return render_prefix(tokenizer, mode, turns + [{"role": "user", "content": question}], plain)
