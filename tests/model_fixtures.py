"""Small local models for tests, built once per test process into a temporary folder.

Every builder returns the path of a folder written with ``save_pretrained``, so tests exercise
the real ``from_pretrained(path)`` code. Tiny models (random weights, MiniLM tokenizer) build in
about a second and are for plumbing; ``minilm_reward_model_path`` is the real MiniLM encoder
with a random classification head; ``smollm2_model_path`` is the real SmolLM2-135M-Instruct,
converted once into a cache folder. Under pytest, ``tests/conftest.py`` puts the models in a
session temporary folder and the SmolLM2 conversion in the ``METRICRM_CACHE`` the user set
(reused across runs) or else in the session's temporary cache, never in the home folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_root: Path | None = None
_smollm2_cache: Path | None = None


def use_root(folder: Path) -> None:
    """Build models in ``folder`` (a pytest temporary folder) instead of a private temp dir."""
    global _root
    _root = Path(folder)


def use_smollm2_cache(folder: Path) -> None:
    """Keep the converted SmolLM2 in ``folder/models`` instead of ``cache_root()``."""
    global _smollm2_cache
    _smollm2_cache = Path(folder)


def _folder(name: str) -> Path:
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="metricrm-test-models-"))
        atexit.register(shutil.rmtree, _root, ignore_errors=True)
    return _root / name


def scratch_folder(name: str) -> Path:
    """A fresh folder for a test artefact (e.g. a trained head) next to the tiny models."""
    folder = _folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@cache
def tiny_reward_model_path(
    num_labels: int = 1,
    architecture: str = "llama",
    chat_template: bool = True,
    pad_token: bool = True,
    max_positions: int = 512,
    labels: tuple[str, ...] | None = None,
) -> str:
    """A tiny random sequence classifier (decoder with last-token pooling, or BERT)."""
    from metricrm.adapters.offline_models import TINY_CHAT_TEMPLATE, build_tiny_model

    name = f"rm-{architecture}-{num_labels}-{int(chat_template)}{int(pad_token)}-{max_positions}-{labels}"
    folder = build_tiny_model(
        _folder(name),
        kind="sequence_classification",
        architecture=architecture,
        num_labels=num_labels,
        chat_template=TINY_CHAT_TEMPLATE if chat_template else None,
        pad_token=pad_token,
        max_positions=max_positions,
    )
    if labels is not None:
        _set_labels(folder, labels)
    return str(folder)


def _set_labels(folder: Path, labels: tuple[str, ...]) -> None:
    import json

    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    config["id2label"] = {str(i): label for i, label in enumerate(labels)}
    config["label2id"] = {label: i for i, label in enumerate(labels)}
    config_file.write_text(json.dumps(config, indent=1))


@cache
def tiny_causal_lm_path(
    chat_template: bool = True,
    pad_token: bool = True,
    max_positions: int = 512,
    seed: int = 0,
) -> str:
    """A tiny random Llama causal LM with the MiniLM tokenizer."""
    from metricrm.adapters.offline_models import TINY_CHAT_TEMPLATE, build_tiny_model

    name = f"lm-{int(chat_template)}{int(pad_token)}-{max_positions}-{seed}"
    return str(
        build_tiny_model(
            _folder(name),
            kind="causal_lm",
            chat_template=TINY_CHAT_TEMPLATE if chat_template else None,
            pad_token=pad_token,
            max_positions=max_positions,
            seed=seed,
        )
    )


@cache
def minilm_reward_model_path(seed: int = 0) -> str:
    """The real all-MiniLM-L6-v2 encoder with a random one-output head (seeded)."""
    from metricrm.adapters.model_location import default_encoder_path
    from metricrm.adapters.offline_models import build_classifier_on

    return str(build_classifier_on(default_encoder_path(), _folder(f"minilm-rm-{seed}"), seed=seed))


@cache
def smollm2_model_path() -> str:
    """SmolLM2-135M-Instruct as a safetensors folder (converted once into the cache folder)."""
    from metricrm.adapters.offline_models import smollm2_path

    return str(smollm2_path(_smollm2_cache))


@cache
def tiny_base_model_path(architecture: str = "llama") -> str:
    """A tiny random model *without* any head (``AutoModel``), untied, with the MiniLM
    tokenizer: loading it as a classifier or causal LM leaves the head newly initialised."""
    import torch
    from transformers import AutoModel, AutoTokenizer, BertConfig, LlamaConfig

    from metricrm.adapters.model_location import default_encoder_path

    folder = _folder(f"base-{architecture}")
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    tokenizer.eos_token = tokenizer.sep_token
    common = dict(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    if architecture == "llama":
        config = LlamaConfig(
            num_key_value_heads=2, tie_word_embeddings=False, num_labels=1, **common
        )
    else:
        config = BertConfig(num_labels=1, **common)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
