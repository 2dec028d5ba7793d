"""Anthropic HH-RLHF loader: whole transcripts split into a shared prompt and two final turns."""

from __future__ import annotations

import re
import warnings
from typing import Any, Literal

from ..core.errors import DataFormatError
from ..core.records import PreferencePair
from ..core.validation import check_choice
from ._io import PathLike, existing_path, expect_text, read_jsonl, require_keys

_TURN = re.compile(r"\n\n(Human|Assistant):")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def split_transcript(text: str, where: str = "transcript") -> list[dict[str, str]]:
    """Split ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` into chat messages.

    Turns start at ``"\\n\\nHuman:"`` or ``"\\n\\nAssistant:"``; each content is stripped of
    surrounding whitespace. Text that does not start with a turn marker is an error.
    """
    parts = _TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise DataFormatError(
            f"{where}: expected a transcript starting with '\\n\\nHuman:' (got {text[:60]!r})"
        )
    return [
        {"role": _ROLES[role], "content": content.strip()}
        for role, content in zip(parts[1::2], parts[2::2])
    ]


def load_hh_rlhf(
    path: PathLike,
    *,
    on_mismatch: Literal["flag", "skip", "raise"] = "flag",
    subset: str | None = None,
) -> list[PreferencePair]:
    """Load an HH-RLHF ``.jsonl`` / ``.jsonl.gz`` file of ``{"chosen", "rejected"}`` transcripts.

    ``prompt`` is the conversation before the last assistant turn of ``chosen`` (a tuple of
    ``{"role": "user"|"assistant", "content"}`` messages); ``chosen``/``rejected`` are the texts
    of the last assistant turn of each transcript, without the ``Assistant:`` marker.

    Some transcripts differ earlier than the last turn (5 of 2312 in ``harmless-base`` test,
    where a turn was glued inline as ``"  Human: ..."``). ``on_mismatch`` decides what happens:
    ``"flag"`` (default) keeps them with ``meta["prompt_mismatch"] = True`` and the rejected
    transcript's own prompt in ``meta["rejected_prompt"]``; ``"skip"`` leaves them out and warns
    with their count and line numbers; ``"raise"`` raises ``DataFormatError`` at the first one.
    ``meta`` also holds ``line`` (1-based). ``subset`` defaults to the file name without
    ``.jsonl``/``.gz``; ``id`` is ``"{subset}/{line}"``. Empty final turns are kept as ``""``.
    """
    check_choice("load_hh_rlhf", "on_mismatch", on_mismatch, ("flag", "skip", "raise"))
    file = existing_path(path, who="load_hh_rlhf")
    name = subset or file.name.removesuffix(".gz").removesuffix(".jsonl")
    pairs: list[PreferencePair] = []
    skipped: list[int] = []
    for line, record in read_jsonl(file):
        where = f"{file}: line {line}"
        require_keys(record, ("chosen", "rejected"), where)
        chosen = _conversation(expect_text(record, "chosen", where), f"{where}, `chosen`")
        rejected = _conversation(expect_text(record, "rejected", where), f"{where}, `rejected`")
        meta: dict[str, Any] = {"line": line, "prompt_mismatch": chosen[:-1] != rejected[:-1]}
        if meta["prompt_mismatch"]:
            if on_mismatch == "raise":
                raise DataFormatError(
                    f"{where}: `chosen` and `rejected` differ before their last assistant turn "
                    f"({len(chosen) - 1} vs {len(rejected) - 1} earlier turns); pass "
                    "on_mismatch='flag' or 'skip' to load the file anyway"
                )
            if on_mismatch == "skip":
                skipped.append(line)
                continue
            meta["rejected_prompt"] = tuple(rejected[:-1])
        pairs.append(
            PreferencePair(
                prompt=tuple(chosen[:-1]),
                chosen=chosen[-1]["content"],
                rejected=rejected[-1]["content"],
                subset=name,
                id=f"{name}/{line}",
                meta=meta,
            )
        )
    if skipped:
        warnings.warn(
            f"load_hh_rlhf: skipped {len(skipped)} of {len(skipped) + len(pairs)} pairs in {file} "
            f"whose transcripts differ before the last turn (lines {', '.join(map(str, skipped))})",
            UserWarning,
            stacklevel=2,
        )
    return pairs


def _conversation(text: str, where: str) -> list[dict[str, str]]:
    """Messages of a transcript that ends with an assistant turn after at least one other turn."""
    messages = split_transcript(text, where)
    if messages[-1]["role"] != "assistant" or len(messages) < 2:
        raise DataFormatError(
            f"{where}: expected at least one turn followed by a final assistant turn "
            f"(got roles {[m['role'] for m in messages]})"
        )
    return messages
