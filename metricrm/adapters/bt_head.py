"""A Bradley-Terry reward head on frozen sentence embeddings, as a scorer: features, scoring,
save and load. Training and cross-validation are in :mod:`metricrm.training`.

A (prompt, response) becomes a feature vector built from sentence embeddings (see
``sentence_encoder``; default all-MiniLM-L6-v2, mean pooling, normalised, 256 tokens):
``features`` picks blocks among ``response`` (e_r), ``prompt`` (e_p), ``product`` (e_p * e_r)
and ``absdiff`` (|e_p - e_r|). Prompts are cut on the left (the latest turns are kept),
responses on the right. The features are standardised with the training mean and spread and
go through a linear layer (``hidden=0``) or a one-hidden-layer ReLU MLP, giving the reward.

>>> from metricrm.training import train_bt_head   # doctest: +SKIP
>>> head = train_bt_head(pairs, validation=0.1, seed=0)   # doctest: +SKIP
>>> head.save("my-head"); get_scorer("bt_head", path="my-head")  # doctest: +SKIP
"""

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import (
    DataFormatError,
    ScorerConfigError,
    ScorerInputError,
)
from ..core.records import PreferencePair, TrainingHistory, prompt_text, response_text
from ..core.results_io import atomic_write
from ..core.token_batching import DEFAULT_MAX_TOKENS_PER_BATCH
from ..core.types import BaseScorer, ScoreOutput
from ..core.versions import package_version
from .embedding import EmbeddingScorer
from .hf_common import warn_truncated
from .model_location import default_encoder_path
from .saved_folder import read_saved_config
from .sentence_encoder import SentenceEncoder

FEATURES = ("response", "prompt", "product", "absdiff")
DEFAULT_FEATURES = ("response", "product")
CONFIG_FILE = "bt_head.json"
WEIGHTS_FILE = "head.safetensors"
FORMAT = "metricrm.bt_head/1"
NAME = "bt_head"


# ------------------------------------------------------------------------------------ features


def _text(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)


def _prompt(value: Any) -> str:
    return "" if value is None else prompt_text(value)


class PairFeaturizer:
    """Feature vectors of (prompt, response) from a frozen encoder (see the module docstring)."""

    def __init__(self, encoder: SentenceEncoder, features: Sequence[str]) -> None:
        features = tuple(features)
        bad = [f for f in features if f not in FEATURES]
        if not features or bad or len(set(features)) != len(features):
            raise ScorerConfigError(
                f"{NAME}: features must be distinct names among {', '.join(FEATURES)} "
                f"(got {list(features)!r})"
            )
        self.encoder, self.features = encoder, features
        self.needs_prompt = any(f != "response" for f in features)

    def transform(
        self, responses: Sequence[str], prompts: Sequence[str] | None, memo: dict | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(features (n, d) float64, response truncated, prompt truncated)``."""
        r, r_cut = self.encoder.embed(responses, side="right", memo=memo)
        if not self.needs_prompt:
            return r.astype(np.float64), r_cut, np.zeros(len(r_cut), dtype=bool)
        if prompts is None:
            raise ScorerInputError(
                f"{NAME}: expected `prompts` (one per response): this head's features "
                f"{list(self.features)} use the prompt; got none"
            )
        p, p_cut = self.encoder.embed(prompts, side="left", memo=memo)
        blocks = {"response": r, "prompt": p, "product": p * r, "absdiff": np.abs(p - r)}
        x = np.concatenate([blocks[f] for f in self.features], axis=1).astype(np.float64)
        return x, r_cut, p_cut

    def pairs(self, pairs: Sequence[PreferencePair], memo: dict | None = None):
        """``(chosen features, rejected features, number of truncated texts)``."""
        n = len(pairs)
        responses = [_text(p.chosen) for p in pairs] + [_text(p.rejected) for p in pairs]
        prompts = [_prompt(p.prompt) for p in pairs] * 2
        x, r_cut, p_cut = self.transform(responses, prompts, memo)
        cut = len({t for t, c in zip(responses, r_cut) if c})
        cut += len({t for t, c in zip(prompts, p_cut) if c}) if self.needs_prompt else 0
        return x[:n], x[n:], cut


# ---------------------------------------------------------------------------------------- head


def apply_head(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Rewards of feature rows ``x`` under head ``params`` (float64, row by row independent)."""
    h = (np.asarray(x, dtype=np.float64) - params["input_mean"]) / params["input_scale"]
    h = h @ params["0.weight"].astype(np.float64).T + params["0.bias"]
    if "2.weight" in params:
        h = np.maximum(h, 0.0) @ params["2.weight"].astype(np.float64).T + params["2.bias"]
    return h[:, 0]


def weights_digest(params: dict[str, np.ndarray]) -> str:
    """SHA-256 (12 hex characters) of the head's tensors, by name."""
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name], dtype=np.float32).tobytes())
    return digest.hexdigest()[:12]


# ------------------------------------------------------------------------------------- scorer


def make_encoder(
    encoder: Any = None,
    *,
    max_length: int = 256,
    pooling: str = "mean",
    normalize: bool = True,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
) -> SentenceEncoder:
    """``encoder`` as given when it is a :class:`SentenceEncoder`, else one built on that model
    location (None: the offline all-MiniLM-L6-v2) with these settings."""
    if isinstance(encoder, SentenceEncoder):
        return encoder
    return SentenceEncoder(
        encoder,
        max_length=max_length,
        pooling=pooling,
        normalize=normalize,
        device=device,
        cache_dir=cache_dir,
        max_tokens_per_batch=max_tokens_per_batch,
        who=NAME,
    )


class BradleyTerryHead(BaseScorer, EmbeddingScorer):
    """Reward from a Bradley-Terry head trained on frozen sentence embeddings of prompt and
    response. Create with :func:`metricrm.training.train_bt_head` or :meth:`load`
    (``get_scorer("bt_head", path=...)``)."""

    name = NAME
    requires_model = True
    backends = ("torch", "transformers")
    embedding_kind = "features"
    uses_inputs = frozenset({"prompts"})
    accepts_empty_responses = True
    #: ``encoder`` may only name the model the head was trained on (checked on load)
    score_neutral = frozenset({"encoder", "device", "cache_dir", "max_tokens_per_batch"})

    def __init__(
        self,
        featurizer: PairFeaturizer,
        params: dict[str, np.ndarray],
        config: dict[str, Any] | None = None,
        history: TrainingHistory | None = None,
    ) -> None:
        self.featurizer, self.params = featurizer, params
        self.config = dict(config or {})
        self.history = history
        self.requires_prompts = featurizer.needs_prompt
        self.weights_sha = weights_digest(params)

    @property
    def encoder(self) -> SentenceEncoder:
        return self.featurizer.encoder

    @property
    def head_shape(self) -> str:
        d = self.params["0.weight"].shape[1]
        if "2.weight" in self.params:
            return f"mlp:{d}-{self.params['0.weight'].shape[0]}-1:relu"
        return f"linear:{d}-1"

    def settings(self) -> dict[str, Any]:
        return {
            **self.encoder.settings(),
            "features": "+".join(self.featurizer.features),
            "truncation": "prompt-left,response-right",
            "head": self.head_shape,
            "weights": self.weights_sha,
        }

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        x, r_cut, p_cut = self.featurizer.transform(responses, prompts)
        self._emit_embeddings(x)
        cut = np.flatnonzero(r_cut | p_cut).tolist()
        warn_truncated(
            self.name, cut, len(responses), self.encoder.max_length, "prompt-left,response-right"
        )
        return ScoreOutput(
            apply_head(self.params, x),
            {"truncated": r_cut, "prompt_truncated": p_cut},
        )

    # -- training -----------------------------------------------------------------------------

    # -- persistence --------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``head.safetensors`` (weights) and ``bt_head.json`` (encoder, features, head
        shape, training settings, data hashes, history) into ``folder``; return it."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        enc = self.encoder
        config = {
            "format": FORMAT,
            "metricrm_version": package_version("metricrm"),
            "encoder": {
                "label": enc.label,
                "location": None if enc.is_default else str(enc.location),
                "default": enc.is_default,
                "pooling": enc.pooling,
                "normalize": enc.normalize,
                "max_length": enc.max_length,
            },
            "features": list(self.featurizer.features),
            "head": self.head_shape,
            "weights_sha256_12": self.weights_sha,
            "training": self.config.get("training"),
            "history": self.history.to_dict() if self.history is not None else None,
        }
        tensors = {k: np.ascontiguousarray(v) for k, v in self.params.items()}
        atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        *,
        encoder: Any = None,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
    ) -> "BradleyTerryHead":
        """A head saved with :meth:`save`. The encoder is the one it was trained on (the offline
        MiniLM, or the saved location); ``encoder`` overrides the location, and must be the same
        model (same label)."""
        from safetensors.numpy import load_file

        folder = Path(folder).expanduser()
        config, weights_file = read_saved_config(
            NAME,
            folder,
            what="a saved head",
            writer="BradleyTerryHead.save",
            config=CONFIG_FILE,
            weights=WEIGHTS_FILE,
            format=FORMAT,
        )
        saved = config["encoder"]
        location = encoder
        if location is None:
            location = default_encoder_path() if saved["default"] else saved["location"]
        enc = SentenceEncoder(
            location,
            max_length=saved["max_length"],
            pooling=saved["pooling"],
            normalize=saved["normalize"],
            device=device,
            cache_dir=cache_dir,
            max_tokens_per_batch=max_tokens_per_batch,
            who=NAME,
        )
        if enc.label != saved["label"]:
            raise ScorerConfigError(
                f"{NAME}: the head in {str(folder)!r} was trained on encoder {saved['label']!r}, "
                f"but {enc.label!r} was given; pass the same encoder"
            )
        params = {k: v for k, v in load_file(str(weights_file)).items()}
        if weights_digest(params) != config["weights_sha256_12"]:
            raise DataFormatError(
                f"{weights_file}: weights hash {weights_digest(params)} does not match "
                f"{config['weights_sha256_12']} in {CONFIG_FILE}; the folder is corrupt or mixed"
            )
        history = TrainingHistory.from_dict(config["history"]) if config.get("history") else None
        head = cls(PairFeaturizer(enc, config["features"]), params, config, history)
        return head


def load_bt_head(
    path: str | os.PathLike,
    *,
    encoder: Any = None,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
) -> BradleyTerryHead:
    """Bradley-Terry reward head on frozen sentence embeddings, loaded from a folder saved by
    ``BradleyTerryHead.save`` (``path``)."""
    return BradleyTerryHead.load(
        path,
        encoder=encoder,
        device=device,
        cache_dir=cache_dir,
        max_tokens_per_batch=max_tokens_per_batch,
    )


load_bt_head.requires_model = True  # type: ignore[attr-defined]
load_bt_head.setting_hints = {  # type: ignore[attr-defined]
    "path": "the folder of a head saved by BradleyTerryHead.save (see "
    "metricrm.training.train_bt_head)"
}
