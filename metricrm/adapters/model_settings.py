"""One frozen settings object for every scorer built on a transformers model.

Reward models, causal-LM scorers and LM judges share how a model is loaded (revision, dtype,
device, remote code), how text is formatted (chat template or plain turns) and truncated, and
how items are batched. :class:`ModelSettings` holds those settings once, checks them once, and
:func:`expose_model_settings` lists them in each scorer's constructor signature, so
``get_scorer`` and ``metricrm list`` know them without each constructor repeating the list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..core.errors import ScorerConfigError
from ..core.settings import build_settings, expose_settings
from ..core.token_batching import DEFAULT_MAX_TOKENS_PER_BATCH, check_budget
from ..core.validation import check_choice, check_flag, check_integer
from .chat_format import TEMPLATE_MODES, PlainFormat

DTYPES = ("float32", "float16", "bfloat16", "auto")
T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class ModelSettings:
    """Loading, formatting, truncation and batching settings of a transformers-model scorer.

    ``device``, ``max_tokens_per_batch`` and ``max_batch_size`` cannot change a score
    (:data:`SCORE_NEUTRAL`); every other setting is in the scorer's signature.
    ``allow_untrained_head=True`` lets a checkpoint load that lacks some of the model's weights
    (its head, typically: a plain encoder loaded as a reward model); transformers draws them at
    random, a warning says so, and the model's identity in the signature carries
    ``+untrained:<names>@<digest of the random weights>``. By default such a checkpoint is
    refused.
    """

    revision: str | None = None
    dtype: Any = None
    device: str | None = None
    max_length: int | None = None
    truncation: bool = True
    truncation_side: str = "left"
    template: str = "auto"
    plain_format: str = "{role}: {content}"
    plain_separator: str = "\n\n"
    max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH
    max_batch_size: int | None = None
    trust_remote_code: bool = False
    allow_untrained_head: bool = False

    @classmethod
    def build(cls, who: str, settings: Mapping[str, Any], **defaults: Any) -> ModelSettings:
        """Settings from keyword arguments over ``defaults``; unknown names and bad values are
        refused with the scorer's name."""
        return build_settings(cls, who, settings, **defaults)

    def check(self, who: str) -> ModelSettings:
        if self.revision is not None and not isinstance(self.revision, str):
            raise ScorerConfigError(f"{who}: `revision` must be a string (got {self.revision!r})")
        dtype_name(who, self.dtype)
        if self.device is not None and (not isinstance(self.device, str) or not self.device):
            raise ScorerConfigError(
                f"{who}: `device` must be a string such as 'cpu' (got {self.device!r})"
            )
        if self.max_length is not None:
            check_integer(who, "max_length", self.max_length, minimum=2)
        check_flag(who, "truncation", self.truncation)
        check_choice(who, "truncation_side", self.truncation_side, ("left", "right"))
        check_choice(who, "template", self.template, TEMPLATE_MODES)
        self.plain.check(who)
        check_budget(who, self.max_tokens_per_batch, self.max_batch_size)
        check_flag(who, "trust_remote_code", self.trust_remote_code)
        check_flag(who, "allow_untrained_head", self.allow_untrained_head)
        return self

    @property
    def plain(self) -> PlainFormat:
        return PlainFormat(self.plain_format, self.plain_separator)


#: settings that change how fast a score is computed, never its value
SCORE_NEUTRAL = frozenset({"device", "max_tokens_per_batch", "max_batch_size"})


def dtype_name(who: str, dtype: Any) -> str:
    """``dtype`` (None, a name, or a ``torch.dtype``) as one of :data:`DTYPES`.

    None means float32: scores are then reproducible across batch sizes to about 1e-6.
    """
    if dtype is None:
        return "float32"
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ScorerConfigError(
            f"{who}: `dtype` must be one of {', '.join(DTYPES)} (got {dtype!r})"
        )
    return name


def expose_model_settings(**defaults: Any) -> Callable[[T], T]:
    """Class decorator: the constructor's signature lists every :class:`ModelSettings` field
    (``defaults`` applied) instead of ``**settings``; ``cls.model_defaults`` keeps the
    defaults for :meth:`ModelSettings.build`."""

    def decorate(cls: T) -> T:
        expose_settings(ModelSettings, **defaults)(cls)
        cls.model_defaults = dict(defaults)  # type: ignore[attr-defined]
        return cls

    return decorate
