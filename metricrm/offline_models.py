"""Kept for imports written before 0.2: the offline models now live in
:mod:`metricrm.adapters.offline_models`."""

from .adapters.offline_models import (
    SMOLLM2_DISTRIBUTION,
    SMOLLM2_FOLDER,
    SMOLLM2_GGUF,
    TINY_CHAT_TEMPLATE,
    build_classifier_on,
    build_tiny_model,
    smollm2_gguf_folder,
    smollm2_path,
)
from .core.paths import cache_root

__all__ = [
    "SMOLLM2_DISTRIBUTION",
    "SMOLLM2_FOLDER",
    "SMOLLM2_GGUF",
    "TINY_CHAT_TEMPLATE",
    "build_classifier_on",
    "build_tiny_model",
    "cache_root",
    "smollm2_gguf_folder",
    "smollm2_path",
]
