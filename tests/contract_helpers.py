"""Shared by the contract tests: an error is checked by its whole message."""

from __future__ import annotations

import re
from typing import Any

import pytest


def raises_exactly(exc: type[Exception], message: str) -> Any:
    """``pytest.raises`` matching the whole message, not a part of it."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")
