"""Export a composite to training and evaluation code, with the same frozen normalizers.

- :func:`trl_reward_function`: a callable with TRL's reward-function contract,
  ``fn(prompts, completions, **kwargs) -> list[float]``. Completions may be plain text or
  conversational (lists of messages); extra dataset columns arrive as keyword arguments
  (references, sources, the label that ``by_label`` weights key on). Given TRL's ``log_metric``
  it logs the mean normalised score of each component under ``<name>/<component>``.
  Any other scorer (a :class:`~metricrm.adapters.remote.RemoteScorer` on a reward server, say)
  becomes a reward function too: its scores, negated when lower is better.
- :func:`trl_reward_functions`: one reward function per component (its normalised score) and
  the composite's weights, for ``GRPOConfig(reward_weights=...)``: TRL's weighted sum is then
  the composite's reward (only for composites without gates or label-dependent weights).
- :func:`evaluate_module` / :func:`write_evaluate_module`: the composite as a Hugging Face
  ``evaluate`` metric (through :mod:`metricrm.adapters.hf_evaluate`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.batching import score_in_chunks, score_with_cache
from ..core.errors import ScorerConfigError, ScorerInputError
from .composite import Component, Composite


def _column(who: str, kwargs: dict[str, Any], column: str | None, n: int, needed: bool):
    if column is None:
        return None
    if column not in kwargs:
        if needed:
            shown = sorted(
                k
                for k in kwargs
                if k not in ("trainer_state", "log_extra", "log_metric", "completion_ids")
            )
            raise ScorerInputError(
                f"{who}: the composite needs the dataset column {column!r}; the reward function "
                f"got columns {shown}"
            )
        return None
    values = list(kwargs[column])
    if len(values) != n:
        raise ScorerInputError(
            f"{who}: column {column!r} has {len(values)} entries for {n} completions"
        )
    return values


class CompositeReward:
    """A composite as a TRL reward function (see :func:`trl_reward_function`)."""

    def __init__(
        self,
        composite: Composite,
        *,
        name: str = "composite",
        references: str | None = "references",
        sources: str | None = None,
        labels: str | None = None,
        log_components: bool = True,
    ) -> None:
        if not isinstance(composite, Composite):
            raise ScorerConfigError(
                f"trl_reward_function: expected a Composite (got {type(composite).__name__})"
            )
        self.composite = composite
        self.__name__ = name
        self.references, self.sources, self.labels = references, sources, labels
        self.log_components = log_components

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any):
        who = f"reward function {self.__name__!r}"
        n = len(completions)
        c = self.composite
        result = c.score(
            list(completions),
            references=_column(who, kwargs, self.references, n, c.requires_references),
            prompts=None if prompts is None else list(prompts),
            sources=_column(who, kwargs, self.sources, n, False),
            labels=_column(who, kwargs, self.labels, n, bool(c.by_label)),
        )
        log_metric = kwargs.get("log_metric")
        if self.log_components and callable(log_metric):
            for label in c.labels:
                log_metric(
                    f"{self.__name__}/{label}", float(np.mean(result.details[f"{label}.norm"]))
                )
                log_metric(
                    f"{self.__name__}/{label}_raw", float(np.mean(result.details[f"{label}.raw"]))
                )
        return result.scores.tolist()


class ScorerReward:
    """Any scorer as a TRL reward function (see :func:`trl_reward_function`)."""

    def __init__(
        self,
        scorer: Any,
        *,
        name: str | None = None,
        references: str | None = "references",
        sources: str | None = None,
    ) -> None:
        if not callable(getattr(scorer, "score", None)):
            raise ScorerConfigError(
                "trl_reward_function: expected a Composite, a composite file or a Scorer "
                f"(got {type(scorer).__name__})"
            )
        self.scorer = scorer
        self.__name__ = name or str(getattr(scorer, "name", "reward"))
        self.references, self.sources = references, sources
        self.sign = 1.0 if getattr(scorer, "higher_is_better", True) else -1.0

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any):
        who = f"reward function {self.__name__!r}"
        n = len(completions)
        needs = bool(getattr(self.scorer, "requires_references", False))
        result = self.scorer.score(
            list(completions),
            references=_column(who, kwargs, self.references, n, needs),
            prompts=None if prompts is None else list(prompts),
            sources=_column(who, kwargs, self.sources, n, False),
        )
        return (self.sign * result.scores).tolist()


def trl_reward_function(
    composite: Composite | str | os.PathLike | Any, **options: Any
) -> CompositeReward | ScorerReward:
    """The composite (or a composite file) as one TRL reward function; ``options``: ``name``
    (TRL logs ``rewards/<name>/mean``), the dataset columns holding ``references``, ``sources``
    and ``labels``, and ``log_components``. Any other Scorer gives its scores as rewards
    (negated when lower is better); its ``options`` are ``name``, ``references``, ``sources``."""
    if isinstance(composite, (Composite, str, os.PathLike)):
        return CompositeReward(_composite(composite), **options)
    return ScorerReward(composite, **options)


class ComponentReward:
    """One component's normalised score as a TRL reward function."""

    def __init__(self, component: Component, composite: Composite, *, references: str | None):
        self.component, self.composite = component, composite
        self.__name__ = component.label
        self.references = references

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any):
        who = f"reward function {self.__name__!r}"
        c = self.component
        n = len(completions)
        needs = bool(getattr(c.scorer, "requires_references", False))
        refs = _column(who, kwargs, self.references, n, needs)
        opts = dict(
            references=refs, prompts=None if prompts is None else list(prompts), progress=False
        )
        cache = self.composite.cache
        if cache is None:
            raw = score_in_chunks(c.scorer, list(completions), **opts).scores
        else:
            raw = score_with_cache(c.scorer, list(completions), cache=cache, **opts).scores
        return c.normalizer.transform(raw, who=f"{who}").tolist()


def trl_reward_functions(
    composite: Composite | str | os.PathLike, *, references: str | None = "references"
) -> tuple[list[ComponentReward], list[float]]:
    """``(reward functions, reward_weights)``: one function per component (its normalised
    score, named by its label) and the weights, for ``GRPOConfig(reward_weights=...)``."""
    c = _composite(composite)
    if c.gates or c.by_label:
        raise ScorerConfigError(
            "trl_reward_functions: this composite has gates or label-dependent weights, which a "
            "weighted sum of separate reward functions cannot express; use trl_reward_function"
        )
    funcs = [ComponentReward(comp, c, references=references) for comp in c.components]
    return funcs, [c.weights[comp.label] for comp in c.components]


def _composite(value: Any) -> Composite:
    if isinstance(value, Composite):
        return value
    if isinstance(value, (str, os.PathLike)):
        from .files import load_composite

        return load_composite(value)
    raise ScorerConfigError(
        f"expected a Composite or a composite file (got {type(value).__name__})"
    )


def evaluate_module(composite: Composite | str | os.PathLike) -> Any:
    """The composite as a Hugging Face ``evaluate`` metric: ``compute(predictions=...,
    references=..., prompts=...)`` returns the mean reward and per-item rewards."""
    from ..adapters.hf_evaluate import as_evaluate_module

    return as_evaluate_module(_composite(composite))


def write_evaluate_module(
    composite_file: str | os.PathLike, folder: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write an ``evaluate`` module folder that loads the composite file (by absolute path):
    ``evaluate.load(str(folder))`` is then the same metric as :func:`evaluate_module`."""
    from ..adapters.hf_evaluate import write_evaluate_module as write

    path = Path(composite_file).expanduser().resolve()
    _composite(path)  # fails now on a bad file
    return write("composite", folder, overwrite=overwrite, path=str(path))
