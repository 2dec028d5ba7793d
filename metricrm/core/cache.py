"""Persistent score cache: SQLite keyed by scorer signature and a hash of each item's inputs.

A second run of the same study, or a run interrupted half-way, recomputes nothing that
finished: scores are written chunk by chunk as they complete. SQLite in WAL mode with a busy
timeout lets concurrent runs share one cache file without corrupting it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ScorerConfigError
from .paths import cache_root

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    signature TEXT NOT NULL,
    item TEXT NOT NULL,
    score REAL NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (signature, item)
) WITHOUT ROWID
"""


def default_cache_dir() -> Path:
    """The score cache's default folder: :func:`~metricrm.core.paths.cache_root`."""
    return cache_root()


def item_key(response: Any, references: Any = None, prompt: Any = None, source: Any = None) -> str:
    """Stable hash of everything a scorer sees for one item."""
    payload = json.dumps(
        [response, references, prompt, source], ensure_ascii=False, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@dataclass
class CacheStats:
    """How many items a cached scoring call found and how many it computed."""

    hits: int = 0
    computed: int = 0


class ScoreCache:
    """Per-item scores and details for any scorer, stored in ``<folder>/scores.sqlite``."""

    def __init__(self, folder: str | os.PathLike | None = None, *, timeout: float = 60.0) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "scores.sqlite"
        self._timeout = timeout
        self._set_up()

    def _set_up(self) -> None:
        """Switch to WAL and create the table, retrying while another process does the same.

        SQLite refuses a journal-mode switch at once (without waiting for the busy timeout)
        when two connections race to convert a fresh file, so this step retries with jittered
        back-off until ``timeout`` has passed.
        """
        deadline = time.monotonic() + self._timeout
        delay = 0.01
        while True:
            con = self._connect()
            try:
                if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    con.execute("PRAGMA journal_mode=WAL")
                with con:
                    con.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError(
                        f"score cache {self.path}: still locked by another process after "
                        f"{self._timeout:g} s ({error})"
                    ) from error
            finally:
                con.close()
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self._timeout)
        con.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
        return con

    def get_many(self, signature: str, items: Sequence[str]) -> dict[str, tuple[float, dict]]:
        """Cached ``(score, details)`` for the given item keys that are present."""
        found: dict[str, tuple[float, dict]] = {}
        unique = list(dict.fromkeys(items))
        con = self._connect()
        try:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    "SELECT item, score, details FROM scores "
                    f"WHERE signature=? AND item IN ({marks})",
                    [signature, *chunk],
                )
                for item, score, details in rows:
                    found[item] = (score, json.loads(details))
        finally:
            con.close()
        return found

    def put_many(
        self, signature: str, rows: Iterable[tuple[str, float, Mapping[str, Any]]]
    ) -> None:
        """Store ``(item, score, details)`` rows in one transaction (idempotent)."""
        data = [
            (signature, item, float(score), json.dumps({k: _to_jsonable(v) for k, v in d.items()}))
            for item, score, d in rows
        ]
        con = self._connect()
        try:
            with con:
                con.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", data)
        finally:
            con.close()

    def count(self, signature: str | None = None) -> int:
        con = self._connect()
        try:
            if signature is None:
                return con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
            return con.execute(
                "SELECT COUNT(*) FROM scores WHERE signature=?", (signature,)
            ).fetchone()[0]
        finally:
            con.close()

    def clear(self, signature: str | None = None) -> None:
        con = self._connect()
        try:
            with con:
                if signature is None:
                    con.execute("DELETE FROM scores")
                else:
                    con.execute("DELETE FROM scores WHERE signature=?", (signature,))
        finally:
            con.close()


def resolve_cache(cache: Any, who: str) -> ScoreCache | None:
    """The score cache a ``cache=`` argument asks for: a ScoreCache as given, a folder, None or
    True for the default folder, False for none."""
    if cache is False:
        return None
    if cache is None or cache is True:
        return ScoreCache()
    if isinstance(cache, ScoreCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return ScoreCache(cache)
    raise ScorerConfigError(
        f"{who}: `cache` must be a ScoreCache, a folder, None (default folder) or False "
        f"(got {type(cache).__name__})"
    )
