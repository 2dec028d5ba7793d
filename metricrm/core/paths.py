"""Where metricrm keeps files between runs: one cache root for scores, converted models and
weight digests."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """``override`` if given, else ``$METRICRM_CACHE``, else ``~/.cache/metricrm``.

    The score cache lives in ``<root>/scores.sqlite``, converted models in ``<root>/models/``
    and weight digests in ``<root>/digests/``; move the folder and point ``METRICRM_CACHE`` at
    its new place to keep them.
    """
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("METRICRM_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "metricrm"
