"""The probes: small deterministic perturbations of a response that should not make it better.

Each probe is a function of (prompt, response) - for the reference-based ones also of the
source or the references - and of a seed. The randomness of one application comes from
:func:`~metricrm.probes.text.item_rng` (seed, probe name, prompt, response), so a response gets
the same perturbation wherever it sits in a list. What each probe leaves untouched:

========================  =====================================================================
probe                     change / what stays exactly as it was
========================  =====================================================================
``pad_filler``            appends paragraphs of fluent, irrelevant filler sentences until the
                          text has ``budget_chars`` characters and ``factor`` x its length;
                          the response is an exact prefix of the result
``repeat_sentence``       repeats one prose sentence ``copies`` more times right after itself;
                          every other character, and all code, is unchanged
``markdown``              adds a ``##`` header, turns prose paragraphs of two or more sentences
                          into ``-`` bullets and bolds the first words; words and code unchanged
``sycophantic_opener``    puts a flattering opener first; the response is an exact suffix
``assertive``             deletes hedges ("I think", "perhaps", ...) and hardens "might" to
                          "will" in prose; code (fenced blocks and inline spans) unchanged
``copy_prompt``           puts the prompt (its last user turn) first; the response is a suffix
``refusal_prefix``        puts a refusal sentence first; the response is an exact suffix
``copy_source``           appends the source (``mode="replace"``: becomes the source)
``scrambled_reference``   replaces the response with the first reference's word n-grams in a
                          shuffled order (``mode="append"``: appends them)
========================  =====================================================================

``assertive`` and ``copy_prompt`` use no randomness; the seed does not change them. A probe
that finds nothing to change (no hedge, no prose sentence) returns the response unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.records import Text, is_messages, prompt_text, response_text
from ..core.validation import check_choice, check_integer, check_number
from . import phrases
from .text import (
    code_segments,
    edit_prose,
    item_rng,
    mask_inline,
    sentence_spans,
    split_fenced,
    unmask_inline,
)

NEEDS = ("prompt", "source", "references")


# -------------------------------------------------------------------------------- helpers


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


_STRUCTURED = re.compile(r"^\s*(?:#{1,6}\s|[-*+>|]\s?|\d+[.)]\s|`{3}|~{3})")


def _joiner(first_line: str) -> str:
    """Separator after an added opener: a space before plain prose, a blank line before a
    header, list, quote, table or code fence (or an empty response)."""
    if not first_line.strip() or _STRUCTURED.match(first_line):
        return "\n\n"
    return " "


def _prepend(head: str, response: str) -> str:
    if not response.strip():
        return head + response
    first = response.lstrip("\n").split("\n", 1)[0]
    sep = _joiner(first) if not response.startswith("\n") else ""
    return head + sep + response


def last_user_turn(prompt: Text) -> str:
    """The prompt's text: a string as is; for chat messages the last user turn's content."""
    if isinstance(prompt, str):
        return prompt
    if is_messages(prompt):
        users = [m for m in prompt if m.get("role") == "user"]
        return str(users[-1]["content"]) if users else prompt_text(prompt)
    return str(prompt)


# --------------------------------------------------------------------------------- probes


def pad_filler(
    response: str, *, rng: np.random.Generator, budget_chars: int = 4096, factor: float = 1.5
) -> str:
    """Append filler paragraphs (five sentences each) until the text is at least
    ``budget_chars`` long and at least ``factor`` times its original length (at least one
    sentence is always added). Sentences come from a seeded shuffle of the filler bank,
    reshuffled when it runs out."""
    target = max(budget_chars, math.ceil(factor * len(response)), len(response) + 1)
    sep = "\n\n"[: max(0, 2 - _trailing_newlines(response))] if response.strip() else ""
    bank = phrases.FILLER_SENTENCES
    paragraphs: list[list[str]] = [[]]
    length = len(response) + len(sep)
    order: list[int] = []
    while length < target:
        if not order:
            order = list(rng.permutation(len(bank)))
        sentence = bank[order.pop(0)]
        if len(paragraphs[-1]) == 5:
            paragraphs.append([])
            length += 2
        length += len(sentence) + (1 if paragraphs[-1] else 0)
        paragraphs[-1].append(sentence)
    return response + sep + "\n\n".join(" ".join(p) for p in paragraphs)


def repeat_sentence(response: str, *, rng: np.random.Generator, copies: int = 2) -> str:
    """Repeat one prose sentence (of three or more words, without inline code) ``copies``
    more times right after itself, separated by spaces."""
    segments = split_fenced(response)
    candidates: list[tuple[int, int, int]] = []  # (segment, start, end) in the masked text
    masked_segments: list[tuple[str, list[str]]] = []
    for k, (is_code, segment) in enumerate(segments):
        masked, spans = mask_inline(segment) if not is_code else (segment, [])
        masked_segments.append((masked, spans))
        if is_code:
            continue
        for s, e in sentence_spans(masked):
            sentence = masked[s:e]
            if "\ue000" not in sentence and len(sentence.split()) >= 3:
                candidates.append((k, s, e))
    if not candidates:
        return response
    k, s, e = candidates[int(rng.integers(len(candidates)))]
    out = []
    for j, (_, segment) in enumerate(segments):
        if j != k:
            out.append(segment)
            continue
        masked, spans = masked_segments[j]
        sentence = masked[s:e]
        edited = masked[:e] + (" " + sentence) * copies + masked[e:]
        out.append(unmask_inline(edited, spans))
    return "".join(out)


_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n)")
_BOLDABLE = re.compile(r"^[\w'’,;:()-]+$")


def _bulletise(paragraph: str) -> str:
    body = paragraph.strip()
    if not body or "\n" in body or _STRUCTURED.match(body):
        return paragraph
    spans = sentence_spans(body)
    if len(spans) < 2:
        return paragraph
    lead = paragraph[: len(paragraph) - len(paragraph.lstrip())]
    trail = paragraph[len(paragraph.rstrip()) :]
    return lead + "\n".join("- " + body[s:e] for s, e in spans) + trail


def _bold_first_words(prose: str, k: int) -> tuple[str, bool]:
    """Bold the first ``k`` words of the first plain sentence of ``prose``."""
    for m in re.finditer(r"(?m)^(- )?([^\n]+)", prose):
        line = m.group(2)
        if _STRUCTURED.match(line) and not m.group(1):
            continue
        words = line.split(" ")
        if len(words) <= k or not all(_BOLDABLE.match(w) for w in words[:k]):
            continue
        head = " ".join(words[:k])
        start = m.start(2)
        return prose[:start] + f"**{head}**" + prose[start + len(head) :], True
    return prose, False


def markdown(response: str, *, rng: np.random.Generator) -> str:
    """Dress the response in markdown: a ``##`` header first, each prose paragraph of two or
    more sentences as a bullet list (one sentence per bullet), and the first two to four
    words of the first plain line in bold. Existing headers, lists, quotes, tables and code
    are left as they are."""
    title = phrases.HEADERS[int(rng.integers(len(phrases.HEADERS)))]
    k = int(rng.integers(2, 5))
    bolded = False

    def dress(prose: str) -> str:
        nonlocal bolded
        parts = _PARAGRAPH_BREAK.split(prose)
        out = [p if i % 2 else _bulletise(p) for i, p in enumerate(parts)]
        text = "".join(out)
        if not bolded:
            text, bolded = _bold_first_words(text, k)
        return text

    body = edit_prose(response, dress)
    return f"## {title}\n\n" + body.lstrip("\n") if body.strip() else f"## {title}\n"


def sycophantic_opener(response: str, *, rng: np.random.Generator) -> str:
    """Put a flattering, enthusiastic opener before the response."""
    return _prepend(phrases.OPENERS[int(rng.integers(len(phrases.OPENERS)))], response)


def refusal_prefix(response: str, *, rng: np.random.Generator) -> str:
    """Put a refusal sentence before the (otherwise unchanged) response."""
    return _prepend(phrases.REFUSALS[int(rng.integers(len(phrases.REFUSALS)))], response)


_HEDGE = re.compile(
    r"(,\s*)?\b(?:" + "|".join(phrases.HEDGES) + r")(?![\w'])\s*(.?)", re.IGNORECASE
)
_MODALS = [(re.compile(rf"\b{pattern}\b", re.IGNORECASE), firm) for pattern, firm in phrases.MODALS]
_SENTENCE_START = re.compile(r"(?:^|[.!?][\"')\]]*\s+|\n\s*(?:[-*+]\s+|\d+[.)]\s+)?)$")


def _match_case(found: str, firm: str) -> str:
    return firm[0].upper() + firm[1:] if found[:1].isupper() else firm


def _firm(prose: str) -> str:
    def drop(m: re.Match[str]) -> str:
        comma, nxt = m.group(1), m.group(2)
        at_start = bool(_SENTENCE_START.search(prose[: m.start()]))
        if at_start and nxt.isalpha():
            return nxt.upper()
        if comma and nxt and (nxt.isalnum() or nxt in "\"'(`\ue000"):
            return " " + nxt
        return nxt

    prose = _HEDGE.sub(drop, prose)
    for pattern, firm in _MODALS:
        prose = pattern.sub(lambda m, firm=firm: _match_case(m.group(0), firm), prose)
    return prose


def assertive(response: str) -> str:
    """Remove hedges (:data:`~metricrm.probes.phrases.HEDGES`) and replace hedged modals
    (:data:`~metricrm.probes.phrases.MODALS`) in prose; a sentence that started with a hedge
    starts with a capital letter afterwards. Deterministic: no seed is used."""
    return edit_prose(response, _firm)


def copy_prompt(response: str, *, prompt: Text) -> str:
    """Put the prompt (for a conversation: its last user turn) before the response."""
    text = last_user_turn(prompt).strip()
    if not text:
        return response
    return text + "\n\n" + response if response.strip() else text


def copy_source(response: str, *, source: str, mode: str = "append") -> str:
    """Append the source text to the response, or (``mode="replace"``) return the source."""
    if mode == "replace":
        return source
    sep = "\n\n" if "\n" in response or "\n" in source else " "
    return response + sep + source if response.strip() else source


def scrambled_reference(
    response: str,
    *,
    references: Sequence[str],
    rng: np.random.Generator,
    n: int = 2,
    mode: str = "replace",
) -> str:
    """The first reference cut into consecutive word n-grams, in a seeded shuffled order
    (never the original order when there are two or more n-grams); ``mode="append"`` puts
    them after the response instead of replacing it."""
    words = references[0].split()
    chunks = [" ".join(words[i : i + n]) for i in range(0, len(words), n)]
    order = rng.permutation(len(chunks))
    if len(chunks) > 1 and (order == np.arange(len(chunks))).all():
        order = np.roll(order, 1)
    salad = " ".join(chunks[j] for j in order)
    if mode == "replace" or not response.strip():
        return salad
    return response + " " + salad


# ------------------------------------------------------------------------------- the Probe


@dataclass(frozen=True)
class Probe:
    """A named perturbation with its settings. ``probe(response, prompt=..., seed=...)``
    returns the perturbed response; ``needs`` lists the inputs it uses besides the response
    (``prompt``, ``source``, ``references``); ``keeps_code`` says fenced blocks and inline
    code spans come out unchanged."""

    name: str
    function: Callable[..., str]
    settings: Mapping[str, Any] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()
    seeded: bool = True
    keeps_code: bool = True
    reference_based: bool = False

    @property
    def signature(self) -> str:
        """``name`` and every setting, e.g. ``pad_filler|budget_chars:4096|factor:1.5``."""
        return "|".join([self.name] + [f"{k}:{v}" for k, v in sorted(self.settings.items())])

    @property
    def description(self) -> str:
        return " ".join((self.function.__doc__ or "").split())

    def __call__(
        self,
        response: Text,
        *,
        prompt: Text | None = None,
        source: str | None = None,
        references: Sequence[str] | str | None = None,
        seed: int = 0,
    ) -> str:
        check_integer(f"probe {self.name}", "seed", seed, minimum=0)
        text = response if isinstance(response, str) else response_text(response)
        if isinstance(references, str):
            references = [references]
        given = {"prompt": prompt, "source": source, "references": references}
        for need in self.needs:
            if given[need] is None or (need == "references" and not given[need]):
                raise ScorerInputError(
                    f"probe {self.name}: expected a `{need}` for this response (got none)"
                )
        kwargs: dict[str, Any] = {k: given[k] for k in self.needs}
        if self.seeded:
            flat = None if prompt is None else prompt_text(prompt)
            kwargs["rng"] = item_rng(seed, self.name, flat, text)
        return self.function(text, **kwargs, **self.settings)


def _check_mode(who: str, settings: dict[str, Any]) -> None:
    if "mode" in settings:
        check_choice(who, "mode", settings["mode"], ("append", "replace"))


def _check_pad(who: str, settings: dict[str, Any]) -> None:
    if "budget_chars" in settings:
        check_integer(who, "budget_chars", settings["budget_chars"], minimum=0)
    if "factor" in settings:
        check_number(who, "factor", settings["factor"], minimum=1.0)


def _check_copies(who: str, settings: dict[str, Any]) -> None:
    if "copies" in settings:
        check_integer(who, "copies", settings["copies"], minimum=1)


def _check_ngrams(who: str, settings: dict[str, Any]) -> None:
    _check_mode(who, settings)
    if "n" in settings:
        check_integer(who, "n", settings["n"], minimum=1)


@dataclass(frozen=True)
class _Spec:
    function: Callable[..., str]
    defaults: Mapping[str, Any]
    needs: frozenset[str] = frozenset()
    seeded: bool = True
    keeps_code: bool = True
    reference_based: bool = False
    check: Callable[[str, dict[str, Any]], None] | None = None


_SPECS: dict[str, _Spec] = {
    "pad_filler": _Spec(pad_filler, {"budget_chars": 4096, "factor": 1.5}, check=_check_pad),
    "repeat_sentence": _Spec(repeat_sentence, {"copies": 2}, check=_check_copies),
    "markdown": _Spec(markdown, {}),
    "sycophantic_opener": _Spec(sycophantic_opener, {}),
    "assertive": _Spec(assertive, {}, seeded=False),
    "copy_prompt": _Spec(copy_prompt, {}, needs=frozenset({"prompt"}), seeded=False),
    "refusal_prefix": _Spec(refusal_prefix, {}),
    "copy_source": _Spec(
        copy_source,
        {"mode": "append"},
        needs=frozenset({"source"}),
        seeded=False,
        keeps_code=False,
        reference_based=True,
        check=_check_mode,
    ),
    "scrambled_reference": _Spec(
        scrambled_reference,
        {"n": 2, "mode": "replace"},
        needs=frozenset({"references"}),
        keeps_code=False,
        reference_based=True,
        check=_check_ngrams,
    ),
}

GENERAL_PROBES: tuple[str, ...] = tuple(n for n, s in _SPECS.items() if not s.reference_based)
"""Probes for any preference data: they need at most the prompt."""
REFERENCE_PROBES: tuple[str, ...] = tuple(n for n, s in _SPECS.items() if s.reference_based)
"""Probes for reference-based metrics: they need the source or the references."""


def list_probes() -> list[str]:
    """Names of every probe, general ones first."""
    return [*GENERAL_PROBES, *REFERENCE_PROBES]


def get_probe(name: str, **settings: Any) -> Probe:
    """The probe ``name`` with ``settings`` over its defaults; unknown names or settings are
    refused with the valid ones listed."""
    if name not in _SPECS:
        raise ScorerConfigError(
            f"get_probe: unknown probe {name!r}; valid names: {', '.join(list_probes())}"
        )
    spec = _SPECS[name]
    unknown = sorted(set(settings) - set(spec.defaults))
    if unknown:
        valid = ", ".join(spec.defaults) or "(none)"
        raise ScorerConfigError(
            f"probe {name}: unknown setting(s) {', '.join(unknown)}; valid settings: {valid}"
        )
    if spec.check is not None:
        spec.check(f"probe {name}", settings)
    return Probe(
        name,
        spec.function,
        {**spec.defaults, **settings},
        spec.needs,
        spec.seeded,
        spec.keeps_code,
        spec.reference_based,
    )


def resolve_probes(probes: Any, *, who: str = "probe") -> list[Probe]:
    """Probe objects from names, ``Probe`` instances or ``{name: settings}``; None gives
    every general probe. Two probes with one name are refused."""
    if probes is None:
        probes = list(GENERAL_PROBES)
    elif isinstance(probes, (str, Probe)):
        probes = [probes]
    if isinstance(probes, Mapping):
        built = [get_probe(name, **dict(settings or {})) for name, settings in probes.items()]
    else:
        built = []
        for p in probes:
            if isinstance(p, Probe):
                built.append(p)
            elif isinstance(p, str):
                built.append(get_probe(p))
            else:
                raise ScorerConfigError(
                    f"{who}: `probes` must hold probe names or Probe objects "
                    f"(got {type(p).__name__})"
                )
    if not built:
        raise ScorerConfigError(f"{who}: expected at least one probe (got none)")
    names = [p.name for p in built]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScorerConfigError(f"{who}: probe(s) {', '.join(dupes)} given more than once")
    return built


__all__ = [
    "GENERAL_PROBES",
    "REFERENCE_PROBES",
    "Probe",
    "assertive",
    "code_segments",
    "copy_prompt",
    "copy_source",
    "get_probe",
    "last_user_turn",
    "list_probes",
    "markdown",
    "pad_filler",
    "refusal_prefix",
    "repeat_sentence",
    "resolve_probes",
    "scrambled_reference",
    "sycophantic_opener",
]
