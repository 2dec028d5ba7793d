"""Import optional dependencies with an error that names the scorer and the install extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def require(module: str, *, who: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{who}: needs the `{module}` package, which is not installed; "
            f'install it with `pip install "metricrm[{extra}]"`'
        ) from exc
