"""Frozen settings objects instead of long keyword lists repeated across constructors.

A settings dataclass holds a family of settings once (say, how a model is loaded and batched);
functions and classes take them as ``**settings`` and build the object with
:func:`build_settings`, and :func:`expose_settings` lists the fields in their signature, so
``inspect.signature`` (and so ``get_scorer``'s check of setting names) still sees every one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from .errors import ScorerConfigError

F = TypeVar("F", bound=Callable[..., Any])


def build_settings(cls: type, who: str, settings: Mapping[str, Any], **defaults: Any) -> Any:
    """``cls(**defaults, **settings)``, refusing unknown names with ``who`` in the message, then
    ``.check(who)`` when the class has one."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(k for k in settings if k not in known)
    if unknown:
        raise ScorerConfigError(
            f"{who}: unknown setting(s) {', '.join(unknown)}; valid settings: "
            f"{', '.join(sorted(known))}"
        )
    built = replace(cls(), **{**defaults, **settings})
    return built.check(who) if hasattr(built, "check") else built


def expose_settings(settings_cls: type, **defaults: Any) -> Callable[[F], F]:
    """Decorator for a function or class taking ``**settings``: its signature lists its own
    parameters (for a class, the keyword-only ones of every ``__init__`` in its MRO too) and
    then each field of ``settings_cls`` as a keyword-only parameter, with ``defaults`` applied.
    The defaults are kept as ``obj.settings_defaults``."""

    def decorate(obj: F) -> F:
        target = obj.__init__ if isinstance(obj, type) else obj
        own = inspect.signature(target)
        params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
        if isinstance(obj, type):
            params = params[1:]  # self
        names = {p.name for p in params}
        if isinstance(obj, type):
            for base in obj.__mro__[1:]:
                if "__init__" not in vars(base) or base is object:
                    continue
                for p in inspect.signature(base.__init__).parameters.values():
                    if p.kind is p.KEYWORD_ONLY and p.name not in names:
                        params.append(p)
                        names.add(p.name)
        for f in fields(settings_cls):
            if f.name not in names:
                default = defaults.get(f.name, f.default)
                params.append(
                    inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default)
                )
        returns = inspect.Signature.empty if isinstance(obj, type) else own.return_annotation
        obj.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
        obj.settings_defaults = dict(defaults)  # type: ignore[attr-defined]
        return obj

    return decorate
