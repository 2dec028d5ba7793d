"""Versions of installed distributions, for signatures and reports."""

from __future__ import annotations

from functools import cache
from importlib import metadata

from .._version import __version__


@cache
def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (``"metricrm"``: this code's own version), or
    None when it is not installed."""
    if distribution == "metricrm":
        return __version__
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version_label(distribution: str) -> str:
    """``package_version`` as text for a signature: the version, or ``"missing"``."""
    return package_version(distribution) or "missing"
