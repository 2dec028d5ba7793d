"""What identifies a model in a signature: a digest of its weights and tokenizer, not its name.

A folder (local, or a Hugging Face hub snapshot) is identified by the SHA-256 of the files
``from_pretrained`` reads from it (weights, config, tokenizer, chat template, remote code), so
new weights saved into the same folder give a new identity. A model passed in memory is
identified by its state dict and its tokenizer, so a modified copy (negated weights, say) is
never mistaken for the original. File digests are cached by path, size and modification time
(in memory, and on disk under ``<cache root>/digests``), so each file is read once; files in a
hub cache are named by their SHA-256 already and are not read at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ModelUnavailableError
from ..core.paths import cache_root

#: files of a model folder that can change what a loaded model computes
MODEL_FILE_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".gguf", ".msgpack", ".h5",  # weights
    ".json", ".txt", ".model", ".jinja", ".tiktoken", ".py",  # config, tokenizer, code
)  # fmt: skip
DIGEST_LENGTH = 16
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int], str] = {}


def _digest_cache_file(key: tuple[str, int, int]) -> Path:
    name = hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:32]
    return cache_root() / "digests" / name


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, cached by (real path, size, modification time)."""
    path = Path(path)
    real = path.resolve()
    if real.parent.name == "blobs" and _HEX64.match(real.name):  # a hub cache blob
        return real.name
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    if key in _memo:
        return _memo[key]
    store = _digest_cache_file(key)
    try:
        cached = store.read_text(encoding="ascii").strip()
    except OSError:
        cached = ""
    if _HEX64.match(cached):
        _memo[key] = cached
        return cached
    digest = hashlib.sha256()
    with open(real, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    _memo[key] = value
    try:  # best effort: a read-only cache only costs a re-read next time
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f".{store.name}.{os.getpid()}.tmp")
        tmp.write_text(value + "\n", encoding="ascii")
        os.replace(tmp, store)
    except OSError:
        pass
    return value


def model_files(folder: str | os.PathLike) -> list[Path]:
    """The files of ``folder`` that enter its digest (top level, by suffix; metricrm's own
    metadata files such as ``metricrm_training.json`` and hidden files are left out)."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.suffix.lower() in MODEL_FILE_SUFFIXES
        and not p.name.startswith((".", "metricrm_"))
    )


def folder_digest(folder: str | os.PathLike) -> str:
    """Digest of a model folder: every file of :func:`model_files`, by name and content."""
    files = model_files(folder)
    if not files:
        raise ModelUnavailableError(
            f"model folder {str(folder)!r} holds no model files (expected config.json and "
            f"weights; looked for {', '.join(MODEL_FILE_SUFFIXES)})"
        )
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{file_digest(file)}\n".encode())
    return digest.hexdigest()[:DIGEST_LENGTH]


def state_dict_digest(model: Any) -> str:
    """Digest of an in-memory torch model: every tensor of its state dict (name, dtype, shape
    and bytes)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach()
        if t.device.type == "meta":
            raise ModelUnavailableError(
                f"cannot identify the in-memory model: tensor {name!r} has no data (meta "
                "device); load the model fully before scoring with it"
            )
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        flat = t.cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:DIGEST_LENGTH]


def tensors_digest(model: Any, names: Sequence[str]) -> str:
    """Digest of some tensors of an in-memory model's state dict (name, dtype, shape, bytes),
    e.g. the randomly initialised head of a checkpoint that lacked it."""
    import torch

    state = model.state_dict()
    digest = hashlib.sha256()
    for name in sorted(names):
        tensor = state.get(name)
        if tensor is None:  # tied or renamed on load: identify by name only
            digest.update(f"{name}\0absent\0".encode())
            continue
        t = tensor.detach()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:DIGEST_LENGTH]


def tokenizer_digest(tokenizer: Any) -> str:
    """Digest of an in-memory tokenizer: its full serialisation (fast tokenizers) or vocabulary,
    special tokens and chat template."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        digest.update(backend.to_str().encode("utf-8"))
    else:
        vocab = sorted(tokenizer.get_vocab().items())
        digest.update(json.dumps(vocab, ensure_ascii=False).encode("utf-8"))
    extra = {
        "special": getattr(tokenizer, "special_tokens_map", {}),
        "chat_template": getattr(tokenizer, "chat_template", None),
        "added": sorted(str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values()),
    }
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()[:DIGEST_LENGTH]


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The local hub-cache folder of ``repo_id`` at ``revision``, if it has been downloaded."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except ValueError:  # not a valid repo id
        return None
    return Path(found).parent if isinstance(found, str) else None
