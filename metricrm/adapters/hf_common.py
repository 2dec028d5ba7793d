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
from typing import Any

from ..core.errors import ScorerConfigError
from ..core.optional import require
from ..core.token_batching import select_device
from .model_location import model_identity, model_load_errors, resolve_model_location
from .model_settings import ModelSettings, dtype_name


def import_torch_transformers(who: str) -> tuple[Any, Any]:
    torch = require("torch", who=who, extra="models")
    transformers = require("transformers", who=who, extra="models")
    return torch, transformers


def load_tokenizer(
    who: str, location: str, *, revision: str | None, trust_remote_code: bool
) -> Any:
    _, transformers = import_torch_transformers(who)
    with model_load_errors(who, location):
        return transformers.AutoTokenizer.from_pretrained(
            location, revision=revision, trust_remote_code=trust_remote_code
        )


def load_model(
    who: str,
    auto_class: str,
    id_or_path: Any,
    *,
    revision: str | None,
    dtype: str,
    trust_remote_code: bool,
    **extra: Any,
) -> tuple[Any, Any, str]:
    """``(model, tokenizer, location)`` for a local folder or hub id, in eval mode on the CPU."""
    torch, transformers = import_torch_transformers(who)
    location = resolve_model_location(id_or_path, who=who)
    if not isinstance(trust_remote_code, bool):
        raise ScorerConfigError(
            f"{who}: trust_remote_code must be True or False (got {trust_remote_code!r})"
        )
    cls = getattr(transformers, auto_class)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    tokenizer = load_tokenizer(
        who, location, revision=revision, trust_remote_code=trust_remote_code
    )
    with model_load_errors(who, location):
        model = cls.from_pretrained(
            location,
            revision=revision,
            dtype=torch_dtype,
            trust_remote_code=trust_remote_code,
            **extra,
        )
    model.eval()
    return model, tokenizer, location


@dataclass
class LoadedModel:
    """A model in eval mode on its device, its tokenizer, what identifies it in signatures
    (``identity``) and the name of its weights' dtype."""

    model: Any
    tokenizer: Any
    identity: str
    dtype: str


def load_or_wrap(
    who: str, auto_class: str, model: Any, tokenizer: Any, settings: ModelSettings
) -> LoadedModel:
    """Load a folder / hub id with ``settings`` (revision, dtype, remote code), or wrap an
    already loaded model (which then needs its ``tokenizer``), in eval mode on
    ``settings.device``."""
    if isinstance(model, (str, os.PathLike)):
        given_tokenizer = tokenizer
        model, loaded_tok, location = load_model(
            who,
            auto_class,
            model,
            revision=settings.revision,
            dtype=dtype_name(who, settings.dtype),
            trust_remote_code=settings.trust_remote_code,
        )
        tokenizer = loaded_tok if tokenizer is None else tokenizer
        identity = model_identity(
            location, model=model, revision=settings.revision, tokenizer=given_tokenizer
        )
    else:
        if tokenizer is None:
            raise ScorerConfigError(
                f"{who}: a loaded model needs its `tokenizer` too (got tokenizer=None)"
            )
        model.eval()
        identity = model_identity(None, model=model, tokenizer=tokenizer)
    model.to(select_device(settings.device))
    dtype_used = str(next(model.parameters()).dtype).removeprefix("torch.")
    return LoadedModel(model, tokenizer, identity, dtype_used)


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
