"""Text helpers for the probes: protected code, sentences, paragraphs and per-item generators.

Code is never edited by a probe that promises to leave it alone. Two kinds count as code:

- fenced blocks: from a line opening with three or more backticks or tildes (up to three
  spaces of indentation) to the matching closing fence, or to the end of the text when the
  fence is never closed;
- inline code spans: text between single backticks on one line, outside fenced blocks.

:func:`split_fenced` cuts a text into prose and fenced segments; :func:`mask_inline` swaps
inline spans for placeholder characters (from Unicode's private use area, which real text
does not contain) so that sentence-level edits cannot reach inside them, and
:func:`unmask_inline` puts them back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import numpy as np

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE = re.compile(r"`[^`\n]+`")
_MASK_OPEN, _MASK_CLOSE = "\ue000", "\ue001"
_MASKED = re.compile(f"{_MASK_OPEN}(\\d+){_MASK_CLOSE}")
#: a sentence ends at . ! or ? (closing quotes or brackets may follow) before whitespace and
#: a capital letter, a digit, a quote or an opening bracket
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]]*)(\s+)(?=[A-Z0-9\"'(\[\ue000])")


def split_fenced(text: str) -> list[tuple[bool, str]]:
    """``[(is_code, segment), ...]`` whose segments join back to ``text`` exactly; fenced code
    blocks (fence lines included) are the code segments."""
    segments: list[tuple[bool, str]] = []
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        if fence is None:
            m = _FENCE.match(line)
            if m:
                if prose:
                    segments.append((False, "".join(prose)))
                    prose = []
                fence = m.group(1)
                code = [line]
            else:
                prose.append(line)
            continue
        code.append(line)
        closing = line.strip()
        if closing.startswith(fence[0] * len(fence)) and set(closing) == {fence[0]}:
            segments.append((True, "".join(code)))
            code, fence = [], None
    if fence is not None:
        segments.append((True, "".join(code)))
    if prose:
        segments.append((False, "".join(prose)))
    return segments


def code_segments(text: str) -> list[str]:
    """Every protected piece of ``text`` in order: fenced blocks, then inline spans of the
    prose between them (what the probes that keep code must leave unchanged)."""
    out: list[str] = []
    for is_code, segment in split_fenced(text):
        out += [segment] if is_code else _INLINE.findall(segment)
    return out


def mask_inline(prose: str) -> tuple[str, list[str]]:
    """``prose`` with each inline code span replaced by a placeholder, and the spans."""
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"{_MASK_OPEN}{len(spans) - 1}{_MASK_CLOSE}"

    return _INLINE.sub(keep, prose), spans


def unmask_inline(text: str, spans: list[str]) -> str:
    return _MASKED.sub(lambda m: spans[int(m.group(1))], text)


def edit_prose(text: str, edit: Callable[[str], str]) -> str:
    """Apply ``edit`` to every prose segment (inline code masked), leaving code untouched."""
    out = []
    for is_code, segment in split_fenced(text):
        if is_code:
            out.append(segment)
            continue
        masked, spans = mask_inline(segment)
        out.append(unmask_inline(edit(masked), spans))
    return "".join(out)


def sentence_spans(prose: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``prose`` (surrounding whitespace excluded)."""
    spans = []
    start = 0
    for m in _SENTENCE_END.finditer(prose):
        end = m.start(2)
        spans.append((start, end))
        start = m.end(2)
    spans.append((start, len(prose)))
    out = []
    for s, e in spans:
        piece = prose[s:e]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if piece.strip():
            out.append((s + lead, s + trail))
    return out


def split_sentences(prose: str) -> list[str]:
    return [prose[s:e] for s, e in sentence_spans(prose)]


def item_rng(seed: int, *parts: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``parts`` (e.g. the probe's name, the
    prompt and the response), so a perturbation does not depend on the item's position."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed, *words])
