"""Scorer registry: built-ins resolved lazily, user registrations, and entry-point plugins.

A built-in is one line in ``BUILTIN_SCORERS``: ``name -> ("module:Class", preset settings)``.
The module is imported only when the scorer is described or created, and adapter modules
import their heavy libraries inside methods, so ``import metricrm`` stays light.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .errors import ScorerConfigError, UnknownScorerError

ENTRY_POINT_GROUP = "metricrm.scorers"

_SACRE = "metricrm.adapters.sacrebleu_metrics"
_ROUGE = "metricrm.adapters.rouge"
_BERT = "metricrm.adapters.bertscore"
_LEX = "metricrm.adapters.lexical"

BUILTIN_SCORERS: dict[str, tuple[str, dict[str, Any]]] = {
    "bleu": (f"{_SACRE}:SentenceBLEU", {}),
    "corpus_bleu": (f"{_SACRE}:CorpusBLEU", {}),
    "chrf": (f"{_SACRE}:ChrF", {}),
    "chrf++": (f"{_SACRE}:ChrF", {"word_order": 2}),
    "ter": (f"{_SACRE}:TER", {}),
    "rouge1": (f"{_ROUGE}:Rouge", {"rouge_type": "rouge1"}),
    "rouge2": (f"{_ROUGE}:Rouge", {"rouge_type": "rouge2"}),
    "rougeL": (f"{_ROUGE}:Rouge", {"rouge_type": "rougeL"}),
    "rougeLsum": (f"{_ROUGE}:Rouge", {"rouge_type": "rougeLsum"}),
    "bertscore_f1": (f"{_BERT}:BERTScore", {"output": "f1"}),
    "bertscore_precision": (f"{_BERT}:BERTScore", {"output": "precision"}),
    "bertscore_recall": (f"{_BERT}:BERTScore", {"output": "recall"}),
    "exact_match": (f"{_LEX}:ExactMatch", {}),
    "token_f1": (f"{_LEX}:TokenF1", {}),
    "length_chars": (f"{_LEX}:LengthChars", {}),
    "length_tokens": (f"{_LEX}:LengthTokens", {}),
    "hf_evaluate": ("metricrm.adapters.hf_evaluate:EvaluateScorer", {}),
    "reward_model": ("metricrm.adapters.reward_model:RewardModel", {}),
    "lm_logprob": ("metricrm.adapters.causal_lm:LMLogProb", {}),
    "lm_perplexity": ("metricrm.adapters.causal_lm:LMPerplexity", {}),
    "lm_judge": ("metricrm.adapters.causal_lm:LMJudge", {}),
    "dpo_reward": ("metricrm.adapters.causal_lm:DPOReward", {}),
    "bt_head": ("metricrm.adapters.bt_head:load_bt_head", {}),
    "composite": ("metricrm.weighting.files:load_composite", {}),
    "lm_icl_judge": ("metricrm.adapters.causal_lm:InContextJudge", {}),
    "lm_vote_judge": ("metricrm.adapters.causal_lm:VotingJudge", {}),
    "activation_rm": ("metricrm.adapters.activation_rm:load_activation_rm", {}),
    "ebrm": ("metricrm.adapters.ebrm:load_ebrm", {}),
    "remote": ("metricrm.adapters.remote:RemoteScorer", {}),
}


@dataclass(frozen=True)
class ScorerSpec:
    """How to build one registered scorer, and what it needs."""

    name: str
    factory: Callable[..., Any]
    preset: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "builtin"

    @property
    def description(self) -> str:
        text = getattr(self.factory, "description", "") or (inspect.getdoc(self.factory) or "")
        return " ".join(text.strip().split("\n\n")[0].split())

    @property
    def requires_references(self) -> bool:
        return bool(getattr(self.factory, "requires_references", False))

    @property
    def requires_model(self) -> bool:
        return bool(getattr(self.factory, "requires_model", False))

    def required(self) -> list[str]:
        """Settings without a default that the preset does not give (e.g. a model's ``model``)."""
        params = inspect.signature(self.factory).parameters.values()
        return [
            p.name
            for p in params
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is p.empty
            and p.name not in self.preset
        ]

    def settings(self) -> list[str]:
        """Names of the settings ``get_scorer`` accepts for this scorer."""
        params = inspect.signature(self.factory).parameters.values()
        return [
            p.name
            for p in params
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self",)
        ]


_user: dict[str, ScorerSpec] = {}
_plugins_loaded = False


def _import_target(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_SCORERS or ep.name in _user:
            continue
        _user[ep.name] = ScorerSpec(ep.name, _LazyEntryPoint(ep), origin=f"plugin:{ep.value}")


class _LazyEntryPoint:
    """Defers importing a plugin until its scorer is described or built."""

    def __init__(self, ep: metadata.EntryPoint) -> None:
        self._ep = ep
        self._target: Callable[..., Any] | None = None

    def target(self) -> Callable[..., Any]:
        if self._target is None:
            self._target = self._ep.load()
        return self._target


def _resolve(spec: ScorerSpec) -> ScorerSpec:
    if isinstance(spec.factory, _LazyEntryPoint):
        return ScorerSpec(spec.name, spec.factory.target(), spec.preset, spec.origin)
    return spec


def register_scorer(
    name: str,
    factory: Callable[..., Any] | None = None,
    *,
    overwrite: bool = False,
    **preset: Any,
):
    """Register ``factory`` (a Scorer class or a function returning a Scorer) under ``name``.

    Usable directly, ``register_scorer("mine", MyScorer)``, or as a class decorator,
    ``@register_scorer("mine")``. ``preset`` settings are passed to the factory every time.
    """

    def _register(f: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(f):
            raise ScorerConfigError(f"register_scorer: factory for {name!r} must be callable")
        if not overwrite and (name in BUILTIN_SCORERS or name in _user):
            raise ScorerConfigError(
                f"register_scorer: a scorer named {name!r} is already registered; "
                "pass overwrite=True to replace it"
            )
        _user[name] = ScorerSpec(name, f, dict(preset), origin="user")
        return f

    if not isinstance(name, str) or not name:
        raise ScorerConfigError(f"register_scorer: name must be a non-empty string (got {name!r})")
    return _register if factory is None else _register(factory)


def unregister_scorer(name: str) -> None:
    """Remove a user-registered scorer (built-ins cannot be removed)."""
    _user.pop(name, None)


def list_scorers() -> list[str]:
    """Names of every registered scorer: built-ins, user registrations and plugins."""
    _load_plugins()
    return sorted({*BUILTIN_SCORERS, *_user})


def scorer_spec(name: str) -> ScorerSpec:
    """The registration behind ``name``; unknown names raise an error listing valid ones."""
    _load_plugins()
    if name in _user:
        return _resolve(_user[name])
    if name in BUILTIN_SCORERS:
        target, preset = BUILTIN_SCORERS[name]
        return ScorerSpec(name, _import_target(target), dict(preset))
    raise UnknownScorerError(f"unknown scorer {name!r}; valid names: {', '.join(list_scorers())}")


def get_scorer(name: str, **config: Any):
    """A fresh scorer instance configured with ``config`` on top of the registered preset."""
    spec = scorer_spec(name)
    valid = spec.settings()
    accepts_any = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(spec.factory).parameters.values()
    )
    unknown = sorted(k for k in config if k not in valid)
    if unknown and not accepts_any:
        raise ScorerConfigError(
            f"{name}: unknown setting(s) {', '.join(unknown)}; "
            f"valid settings: {', '.join(valid) or '(none)'}"
        )
    fixed = sorted(k for k in config if k in spec.preset and config[k] != spec.preset[k])
    if fixed:
        raise ScorerConfigError(
            f"{name}: setting(s) {', '.join(fixed)} are fixed by this scorer's name "
            f"(preset {dict((k, spec.preset[k]) for k in fixed)}); use another registered name"
        )
    missing = [k for k in spec.required() if k not in config]
    if missing:
        hints = getattr(spec.factory, "setting_hints", None) or {}
        grouped: dict[str, list[str]] = {}
        for key in missing:
            if key in hints:
                grouped.setdefault(hints[key], []).append(f"`{key}`")
        described = "; ".join(f"{', '.join(keys)}: {hint}" for hint, keys in grouped.items())
        raise ScorerConfigError(
            f"{name}: missing setting(s) {', '.join(missing)}"
            + (f" ({described})" if described else "")
            + f"; pass get_scorer({name!r}, {missing[0]}=...) or, on the command line, "
            f"--set {name}.{missing[0]}=..."
        )
    scorer = spec.factory(**{**spec.preset, **config})
    try:
        scorer.name = name
    except AttributeError:  # a plugin with a read-only name keeps its own
        pass
    try:  # how to build it again elsewhere (a Ray actor) without pickling a loaded model
        scorer.recipe = (name, dict(config))
    except AttributeError:
        pass
    return scorer
