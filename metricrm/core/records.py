"""The two record kinds every loader produces, chat-message helpers, and the training history
saved with a trained model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from .errors import DataFormatError

Message = Mapping[str, str]
"""One chat message: ``{"role": "user" | "assistant" | "system", "content": str}``."""

Text = Union[str, Sequence[Message]]  # noqa: UP007 (a runtime alias on Python 3.10)
"""A prompt or response: plain text or a list of chat messages."""


@dataclass(frozen=True)
class PointwiseItem:
    """One generated output with optional references and human score(s).

    ``human`` maps a judgment name (``"mqm"``, ``"relevance"``, ...) to a score; ``None``
    marks an unscored item (kept, and excluded explicitly by the statistics).
    """

    response: Text
    prompt: Text | None = None
    source: str | None = None
    references: tuple[str, ...] = ()
    human: Mapping[str, float | None] = field(default_factory=dict)
    system: str | None = None
    group: str | None = None
    id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreferencePair:
    """Two responses to one prompt and which one humans preferred.

    ``label`` is ``"chosen"`` when ``chosen`` is better (the normal case) or ``"tie"`` when
    humans judged both equal. ``subset`` names the benchmark slice (e.g. ``"chat"``).
    ``references``/``source`` serve reference-based pairs such as WMT DARR, where the
    "prompt" is the source sentence and both responses are translations of it.
    """

    prompt: Text
    chosen: Text
    rejected: Text
    label: str = "chosen"
    subset: str | None = None
    id: str | None = None
    references: tuple[str, ...] = ()
    source: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label not in ("chosen", "tie"):
            raise DataFormatError(
                f"PreferencePair {self.id!r}: label must be 'chosen' or 'tie' (got {self.label!r})"
            )


POINTWISE_FIELDS = ("response", "prompt", "source", "references", "human", "system", "group", "id")
"""Fields of a :class:`PointwiseItem` a table column can fill (``meta`` takes the rest)."""
PREFERENCE_FIELDS = (
    "prompt",
    "chosen",
    "rejected",
    "label",
    "subset",
    "id",
    "references",
    "source",
)
"""Fields of a :class:`PreferencePair` a table column can fill (``meta`` takes the rest)."""


def is_messages(value: object) -> bool:
    """True when ``value`` looks like a list of chat messages."""
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in value)
    )


def response_text(value: Text) -> str:
    """Plain text of a response: a string as is, or the contents of its messages joined."""
    if isinstance(value, str):
        return value
    return "\n".join(str(m["content"]) for m in value)


def prompt_text(value: Text) -> str:
    """Plain text of a prompt: a string as is; a single user message as its content;
    a longer conversation as ``role: content`` lines."""
    if isinstance(value, str):
        return value
    if len(value) == 1 and value[0].get("role") == "user":
        return str(value[0]["content"])
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in value)


@dataclass
class TrainingHistory:
    """Per-epoch (or per-evaluation) record of a training run; epochs are numbered from 1.

    ``best_epoch`` is the epoch whose weights were kept (the best validation value, or the last
    epoch without validation). ``counts`` holds how many pairs were used, excluded, truncated.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    monitor: str = "validation_loss"
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingHistory:
        return cls(**data)
