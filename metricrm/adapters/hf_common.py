"""Loading shared by the transformers-model scorers (reward models, causal-LM scorers).

torch and transformers are imported inside the functions. Model locations are checked by
:func:`~metricrm.adapters.model_location.resolve_model_location` (local folder or hub id, with a
clear message when the hub is offline); remote code runs only when the user passes
``trust_remote_code=True``. A loaded model is identified in signatures by
:func:`~metricrm.adapters.model_location.model_identity` (a digest of its weights).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..core.errors import ScorerConfigError
from ..core.optional import require
from ..core.token_batching import select_device
from .model_identity import tensors_digest
from .model_location import (
    MODEL_HINT,
    local_files_only,
    model_identity,
    model_load_errors,
    resolve_model_location,
)
from .model_settings import ModelSettings, dtype_name


def import_torch_transformers(who: str) -> tuple[Any, Any]:
    torch = require("torch", who=who, extra="models")
    transformers = require("transformers", who=who, extra="models")
    return torch, transformers


def load_tokenizer(
    who: str, location: str, *, revision: str | None, trust_remote_code: bool
) -> Any:
    _, transformers = import_torch_transformers(who)
    offline = {"local_files_only": True} if local_files_only(location) else {}
    with model_load_errors(who, location):
        return transformers.AutoTokenizer.from_pretrained(
            location, revision=revision, trust_remote_code=trust_remote_code, **offline
        )


class Checkpoint(NamedTuple):
    """A model loaded by :func:`load_model`, in eval mode on the CPU, with its tokenizer, its
    resolved ``location`` and the names of the weights the checkpoint lacked (``untrained``:
    transformers initialised them at random, e.g. a classification head on a plain encoder)."""

    model: Any
    tokenizer: Any
    location: str
    untrained: tuple[str, ...]


def load_model(
    who: str,
    auto_class: str,
    id_or_path: Any,
    *,
    revision: str | None,
    dtype: str,
    trust_remote_code: bool,
    **extra: Any,
) -> Checkpoint:
    """Load a local folder, offline alias or hub id with ``transformers.<auto_class>``."""
    location = resolve_model_location(id_or_path, who=who)  # fails fast, before the imports
    torch, transformers = import_torch_transformers(who)
    if not isinstance(trust_remote_code, bool):
        raise ScorerConfigError(
            f"{who}: trust_remote_code must be True or False (got {trust_remote_code!r})"
        )
    cls = getattr(transformers, auto_class)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    tokenizer = load_tokenizer(
        who, location, revision=revision, trust_remote_code=trust_remote_code
    )
    if local_files_only(location):
        extra = {**extra, "local_files_only": True}
    with model_load_errors(who, location):
        model, info = cls.from_pretrained(
            location,
            revision=revision,
            dtype=torch_dtype,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **extra,
        )
    model.eval()
    return Checkpoint(model, tokenizer, location, _untrained_names(info))


def _untrained_names(info: dict[str, Any]) -> tuple[str, ...]:
    """Weights transformers initialised itself: missing from the checkpoint, or of another
    shape there (``mismatched_keys`` holds ``(name, shape, shape)`` tuples)."""
    names = {str(k) for k in info.get("missing_keys") or ()}
    for entry in info.get("mismatched_keys") or ():
        names.add(str(entry[0] if isinstance(entry, (tuple, list)) else entry))
    return tuple(sorted(names))


def check_untrained(
    who: str, checkpoint: Checkpoint, allow: bool, *, setting: str = "allow_untrained_head"
) -> str:
    """Refuse a checkpoint that lacks weights of the model (its head, typically), unless
    ``allow``; then warn and return the mark for its identity (``""`` when nothing is missing):
    ``+untrained:<names>@<digest of the random tensors>``, so that two random draws never
    share a signature or cache entries."""
    names = checkpoint.untrained
    if not names:
        return ""
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    kind = type(checkpoint.model).__name__
    if not allow:
        raise ScorerConfigError(
            f"{who}: the checkpoint at {checkpoint.location!r} does not hold every weight of "
            f"{kind}: {len(names)} weight(s) are not in the checkpoint and would be newly "
            f"initialised at random: {shown}; its scores would be noise. Use a checkpoint "
            f"trained for this model class, or pass {setting}=True if random weights are "
            "intended (e.g. plumbing tests)"
        )
    warnings.warn(
        f"{who}: {shown} of {checkpoint.location!r} are not in the checkpoint: transformers "
        f"initialised them at random, so the scores are random too (allowed by {setting}=True; "
        "marked in the signature and in details['untrained_head'])",
        UserWarning,
        stacklevel=4,
    )
    label = ",".join(names) if len(names) <= 3 else f"{names[0]},...({len(names)})"
    return f"+untrained:{label}@{tensors_digest(checkpoint.model, names)}"


@dataclass
class LoadedModel:
    """A model in eval mode on its device, its tokenizer, what identifies it in signatures
    (``identity``), the name of its weights' dtype and the weights its checkpoint lacked
    (``untrained``, only when ``allow_untrained_head=True`` let it load)."""

    model: Any
    tokenizer: Any
    identity: str
    dtype: str
    untrained: tuple[str, ...] = ()


def load_or_wrap(
    who: str, auto_class: str, model: Any, tokenizer: Any, settings: ModelSettings
) -> LoadedModel:
    """Load a folder / alias / hub id with ``settings`` (revision, dtype, remote code, whether
    an untrained head is allowed), or wrap an already loaded model (which then needs its
    ``tokenizer``), in eval mode on ``settings.device``."""
    untrained: tuple[str, ...] = ()
    if model is None:
        raise ScorerConfigError(
            f"{who}: `model` must be {MODEL_HINT}, or a loaded model (got None)"
        )
    if isinstance(model, (str, os.PathLike)):
        given_tokenizer = tokenizer
        checkpoint = load_model(
            who,
            auto_class,
            model,
            revision=settings.revision,
            dtype=dtype_name(who, settings.dtype),
            trust_remote_code=settings.trust_remote_code,
        )
        mark = check_untrained(who, checkpoint, settings.allow_untrained_head)
        model, untrained = checkpoint.model, checkpoint.untrained
        tokenizer = checkpoint.tokenizer if tokenizer is None else tokenizer
        identity = model_identity(
            checkpoint.location, model=model, revision=settings.revision, tokenizer=given_tokenizer
        )
        identity += mark
    else:
        if tokenizer is None:
            raise ScorerConfigError(
                f"{who}: a loaded model needs its `tokenizer` too (got tokenizer=None)"
            )
        model.eval()
        identity = model_identity(None, model=model, tokenizer=tokenizer)
    model.to(select_device(settings.device))
    dtype_used = str(next(model.parameters()).dtype).removeprefix("torch.")
    return LoadedModel(model, tokenizer, identity, dtype_used, untrained)


def ensure_pad_token(who: str, tokenizer: Any, model: Any) -> tuple[int, str]:
    """Make sure tokenizer and model agree on a pad token id; return ``(pad_id, how)``.

    ``how`` is ``"model"`` (the model config's own pad id), ``"tokenizer"`` (the tokenizer's,
    copied to the config), ``"eos"`` (no pad token anywhere: the end-of-sequence token is used
    and a warning says so) or ``"added"`` (no eos either: a new ``<|pad|>`` token is added and
    the embeddings grow by one row). Sequence classifiers pool at the last token that is not
    the pad id, so the choice can matter and goes into the signature.
    """
    config = model.config
    pad = getattr(config, "pad_token_id", None)
    if isinstance(pad, (list, tuple)):
        pad = pad[0] if pad else None
    if pad is not None:
        how = "model"
    elif tokenizer.pad_token_id is not None:
        pad, how = tokenizer.pad_token_id, "tokenizer"
    else:
        eos = tokenizer.eos_token_id
        if eos is None:
            eos = getattr(config, "eos_token_id", None)
            eos = eos[0] if isinstance(eos, (list, tuple)) and eos else eos
        if eos is not None:
            pad, how = int(eos), "eos"
            warnings.warn(
                f"{who}: the model and tokenizer define no pad token; using the end-of-sequence "
                f"token (id {pad}) for padding (padding is masked out)",
                UserWarning,
                stacklevel=3,
            )
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            model.resize_token_embeddings(len(tokenizer))
            pad, how = tokenizer.pad_token_id, "added"
            warnings.warn(
                f"{who}: the model and tokenizer define neither a pad nor an end-of-sequence "
                f"token; added a pad token '<|pad|>' (id {pad}) and one embedding row",
                UserWarning,
                stacklevel=3,
            )
    config.pad_token_id = int(pad)
    if tokenizer.pad_token_id != pad:
        tokenizer.pad_token_id = int(pad)
    return int(pad), how


def context_limit(tokenizer: Any, model: Any) -> int | None:
    """The longest input the model takes: tokenizer ``model_max_length`` and config positions."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 10**7:
        limits.append(tok_max)
    config = (
        model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    )
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    return min(limits) if limits else None


def resolve_max_length(who: str, max_length: Any, tokenizer: Any, model: Any) -> int:
    """``max_length`` as given (checked against the model's limit) or the model's limit."""
    limit = context_limit(tokenizer, model)
    if max_length is None:
        if limit is None:
            raise ScorerConfigError(
                f"{who}: cannot tell the model's maximum input length from its config or "
                "tokenizer; pass max_length"
            )
        return limit
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ScorerConfigError(f"{who}: max_length must be an integer >= 2 (got {max_length!r})")
    if limit is not None and max_length > limit:
        raise ScorerConfigError(
            f"{who}: max_length={max_length} exceeds the model's limit of {limit} tokens"
        )
    return max_length


def warn_truncated(who: str, truncated: list[int], n: int, max_length: int, side: str) -> None:
    """One warning naming how many items (and which) were truncated."""
    if not truncated:
        return
    shown = ", ".join(map(str, truncated[:10])) + (", ..." if len(truncated) > 10 else "")
    warnings.warn(
        f"{who}: truncated {len(truncated)} of {n} items to max_length={max_length} tokens "
        f"(truncation_side={side!r}; items {shown}); see details['truncated']",
        UserWarning,
        stacklevel=4,
    )
