"""Turn a prompt and a response into model text: chat template, plain-text turns, or a text pair.

Modes:

- ``"chat"``: the tokenizer's own chat template (the prompt as user/system/assistant messages,
  the response as the final assistant message).
- ``"plain"``: one line per turn from ``turn_format`` (default ``"{role}: {content}"`` with
  roles ``User``/``Assistant``/``System``), turns joined by ``separator`` (default a blank line).
  ``"{content}"`` alone with separator ``"\n"`` gives the bare prompt and response, one per line.
- ``"pair"``: prompt and response as a tokenizer text pair (``[CLS] prompt [SEP] response
  [SEP]`` for BERT-like encoders); only for sequence classifiers.
- ``"auto"``: ``"chat"`` when the tokenizer has a chat template, else ``"plain"``.

The resolved mode (and the plain format when used) goes into every scorer's signature, so a
silent fallback from chat to plain text cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ScorerConfigError
from ..core.records import prompt_text

TEMPLATE_MODES = ("auto", "chat", "plain", "pair")
DEFAULT_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}


def as_messages(prompt: Any) -> list[dict[str, str]]:
    """A prompt as chat messages: ``None`` -> no message, a string -> one user message."""
    if prompt is None:
        return []
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_mode(who: str, tokenizer: Any, mode: str, *, allow_pair: bool = True) -> str:
    """The concrete mode for ``tokenizer``: ``auto`` becomes ``chat`` or ``plain``."""
    valid = TEMPLATE_MODES if allow_pair else tuple(m for m in TEMPLATE_MODES if m != "pair")
    if mode not in valid:
        raise ScorerConfigError(f"{who}: template must be one of {', '.join(valid)} (got {mode!r})")
    if mode == "auto":
        return "chat" if has_chat_template(tokenizer) else "plain"
    if mode == "chat" and not has_chat_template(tokenizer):
        raise ScorerConfigError(
            f"{who}: template='chat' but the tokenizer has no chat template; "
            "use template='plain' (or 'auto' to fall back to plain text)"
        )
    return mode


@dataclass(frozen=True)
class PlainFormat:
    """Plain-text rendering of a conversation, one ``turn_format`` per message."""

    turn_format: str = "{role}: {content}"
    separator: str = "\n\n"
    roles: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLES))

    def check(self, who: str) -> None:
        if self.turn_format.count("{content}") != 1:
            raise ScorerConfigError(
                f"{who}: plain_format must contain exactly one '{{content}}' (and optionally "
                f"'{{role}}'; got {self.turn_format!r})"
            )
        try:
            self.turn_format.format(role="", content="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ScorerConfigError(
                f"{who}: plain_format may only use the fields {{role}} and {{content}} "
                f"(got {self.turn_format!r}: {exc!r})"
            ) from exc

    def _role(self, role: str) -> str:
        return self.roles.get(role, role.capitalize())

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        return self.separator.join(
            self.turn_format.format(role=self._role(m["role"]), content=m["content"])
            for m in messages
        )

    def prefix(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The conversation so far plus the start of an assistant turn, up to its content."""
        head = self.turn_format.split("{content}")[0].format(role=self._role("assistant"))
        return (self.render(messages) + self.separator if messages else "") + head

    def describe(self) -> str:
        return repr(self.turn_format + "|" + self.separator)


def render_chat(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )
    if not isinstance(text, str):  # some versions return a list for batched input
        raise ScorerConfigError(f"chat template returned {type(text).__name__}, expected text")
    return text


def render_conversation(
    tokenizer: Any, mode: str, prompt: Any, response: str, plain: PlainFormat
) -> str:
    """Whole text of prompt + response for a classifier (modes ``chat`` and ``plain``)."""
    messages = as_messages(prompt) + [{"role": "assistant", "content": response}]
    if mode == "chat":
        return render_chat(tokenizer, messages, generation_prompt=False)
    return plain.render(messages)


def render_prefix(tokenizer: Any, mode: str, prompt: Any, plain: PlainFormat) -> str:
    """Text that comes before the response: the prompt and the opening of the assistant turn."""
    messages = as_messages(prompt)
    if mode == "chat":
        return render_chat(tokenizer, messages, generation_prompt=True)
    return plain.prefix(messages)


def render_user_turn(tokenizer: Any, mode: str, question: str, plain: PlainFormat) -> str:
    """A single user question followed by the opening of the assistant's answer (for judges)."""
    return render_prefix(tokenizer, mode, [{"role": "user", "content": question}], plain)


def flat_prompt(prompt: Any) -> str:
    """Plain text of a prompt (``""`` for none), for templates with a ``{prompt}`` field."""
    if prompt is None:
        return ""
    return prompt_text(prompt)


def describe_mode(mode: str, plain: PlainFormat) -> str:
    """The template part of a signature: ``chat``, ``pair`` or ``plain'<format>'``."""
    return f"plain{plain.describe()}" if mode == "plain" else mode
