"""Token embeddings of texts, kept so that each distinct text is encoded once per model and layer.

BERTScore compares every response with every one of its references token by token; the token
embeddings of a text do not depend on what it is compared with. An :class:`EmbeddingStore`
keeps them for one (model, layer, dtype): in memory, least recently used first out once the
store holds more than its byte budget, and optionally in an SQLite file keyed by the model's
digest, the layer, the dtype and the SHA-256 of the text, shared by later runs and processes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    namespace TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    ids BLOB NOT NULL,
    vectors BLOB NOT NULL,
    PRIMARY KEY (namespace, text_hash)
) WITHOUT ROWID
"""
STORE_FILE = "embeddings.sqlite"


@dataclass(frozen=True)
class TextEmbedding:
    """A text's token ids (with special tokens) and their unit-length embeddings
    (a float32 torch tensor, one row per token)."""

    ids: tuple[int, ...]
    vectors: Any

    @property
    def nbytes(self) -> int:
        return int(self.vectors.numel()) * self.vectors.element_size() + 8 * len(self.ids)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class StoreStats:
    """Where the embeddings of a store's lookups came from."""

    memory: int = 0
    disk: int = 0
    computed: int = 0


class EmbeddingStore:
    """Text -> :class:`TextEmbedding` for one model, layer and dtype.

    ``max_bytes`` bounds what the memory part keeps between calls (0 keeps nothing). With a
    ``folder``, embeddings are also written to ``<folder>/embeddings.sqlite`` under
    ``namespace`` (a string naming the model digest, layer and dtype), and read back from it.
    """

    def __init__(
        self, max_bytes: int, folder: str | os.PathLike | None = None, namespace: str = ""
    ) -> None:
        self.max_bytes = max_bytes
        self.folder = None if folder is None else Path(folder).expanduser()
        self.namespace = namespace
        self.stats = StoreStats()
        self._memory: OrderedDict[str, TextEmbedding] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._memory)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def lookup(self, texts: Iterable[str]) -> dict[str, TextEmbedding]:
        """The stored embeddings of ``texts`` (memory first, then disk); absent texts are left
        out of the answer."""
        found: dict[str, TextEmbedding] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            entry = self._memory.get(text)
            if entry is None:
                missing.append(text)
            else:
                self._memory.move_to_end(text)
                found[text] = entry
        self.stats.memory += len(found)
        if missing and self.folder is not None:
            from_disk = self._read(missing)
            self.stats.disk += len(from_disk)
            self._keep(from_disk)
            found.update(from_disk)
        return found

    def add(self, entries: Mapping[str, TextEmbedding]) -> None:
        """Keep newly computed embeddings (and write them to disk when there is a folder)."""
        self.stats.computed += len(entries)
        self._keep(entries)
        if entries and self.folder is not None:
            self._write(entries)

    def clear(self) -> None:
        """Empty the memory part (the disk file is left alone)."""
        self._memory.clear()
        self._bytes = 0

    # -- memory ----------------------------------------------------------------------------
    def _keep(self, entries: Mapping[str, TextEmbedding]) -> None:
        for text, entry in entries.items():
            old = self._memory.pop(text, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._memory[text] = entry
            self._bytes += entry.nbytes
        while self._memory and self._bytes > self.max_bytes:
            _, dropped = self._memory.popitem(last=False)
            self._bytes -= dropped.nbytes

    # -- disk ------------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to the store file inside one transaction, closed afterwards."""
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.folder / STORE_FILE, timeout=60.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.execute(_SCHEMA)
                yield conn
        finally:
            conn.close()

    def _read(self, texts: list[str]) -> dict[str, TextEmbedding]:
        import torch

        by_hash = {text_hash(t): t for t in texts}
        found: dict[str, TextEmbedding] = {}
        hashes = list(by_hash)
        with self._connect() as conn:
            for start in range(0, len(hashes), 500):
                part = hashes[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    "SELECT text_hash, ids, vectors FROM embeddings "
                    f"WHERE namespace = ? AND text_hash IN ({marks})",
                    [self.namespace, *part],
                ).fetchall()
                for key, ids, vectors in rows:
                    id_array = np.frombuffer(ids, dtype=np.int64)
                    flat = np.frombuffer(vectors, dtype=np.float32)
                    matrix = flat.reshape(len(id_array), -1).copy()
                    found[by_hash[key]] = TextEmbedding(
                        tuple(id_array.tolist()), torch.from_numpy(matrix)
                    )
        return found

    def _write(self, entries: Mapping[str, TextEmbedding]) -> None:
        rows = [
            (
                self.namespace,
                text_hash(text),
                np.asarray(entry.ids, dtype=np.int64).tobytes(),
                entry.vectors.detach().cpu().numpy().astype(np.float32, copy=False).tobytes(),
            )
            for text, entry in entries.items()
        ]
        with self._connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
