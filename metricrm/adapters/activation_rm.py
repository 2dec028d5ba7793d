"""Activation reward model (Activation Reward Models, 2025): a causal-LM judge whose chosen
attention heads are patched with mean activations learned from a few labelled examples.

Scoring. Each response is put to the model as a zero-shot Yes/No judging question (the
``lm_judge`` template, as a user turn). While the model reads it, the output of each selected
attention head (the head's slice of the input of that layer's ``o_proj``, before the heads are
mixed) at the last token - the position the answer is predicted from - is replaced by the
stored mean activation of that head. The reward is the log-odds of the positive answer,
``log P(Yes) - log P(No)``, each side summing the one-token spellings of ``yes_words`` /
``no_words`` (as ``lm_judge`` does). No weight changes: with no head selected the score is
``logit(lm_judge)``.

Fitting (head selection and the mean activations) is in :mod:`metricrm.training.activation_rm`;
this module scores, saves and loads. A saved model is ``activation_rm.safetensors`` (``heads``:
(n, 2) int64 layer/head indices; ``mean_activations``: (n, head_dim) float32) and
``activation_rm.json`` (model, settings, judge template, fit settings, digest). The signature
carries the model identity, every judge setting, the number of heads and a digest of the head
indices and mean activations, and the fit settings.

Patching needs a decoder whose layers have ``self_attn.o_proj`` (Llama - SmolLM2 is one -,
Mistral, Qwen2, Gemma, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataFormatError, ScorerConfigError
from ..core.results_io import atomic_write
from ..core.types import ScoreOutput
from ..core.versions import package_version
from .causal_lm.engine import DEFAULT_LM_TOKENS_PER_BATCH
from .causal_lm.judges import DEFAULT_JUDGE_TEMPLATE, LMJudge
from .model_location import MODEL_ALIASES, MODEL_HINT
from .model_settings import SCORE_NEUTRAL, expose_model_settings
from .saved_folder import read_saved_config

NAME = "activation_rm"
FORMAT = "metricrm.activation_rm/1"
CONFIG_FILE = "activation_rm.json"
WEIGHTS_FILE = "activation_rm.safetensors"
#: model settings a saved model keeps (they change scores); the rest are score-neutral
SAVED_SETTINGS = (
    "revision",
    "dtype",
    "max_length",
    "truncation",
    "truncation_side",
    "template",
    "plain_format",
    "plain_separator",
    "trust_remote_code",
    "allow_untrained_head",
)


# --------------------------------------------------------------------------- attention heads


class AttentionHeads:
    """Read, overwrite or differentiate the per-head attention outputs of a decoder at one
    position per sequence (the input of each layer's ``o_proj``, shape ``heads * head_dim``).

    ``positions`` (one token index per batch row) must be set before each forward pass; the
    engine's ``on_batch`` callback does that for scoring.
    """

    def __init__(self, who: str, model: Any) -> None:
        decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
        layers = getattr(decoder, "layers", None)
        projections = []
        for layer in layers if layers is not None else []:
            projections.append(getattr(getattr(layer, "self_attn", None), "o_proj", None))
        if not projections or any(p is None for p in projections):
            raise ScorerConfigError(
                f"{who}: activation patching needs a decoder whose layers have "
                f"`self_attn.o_proj` (Llama, Mistral, Qwen2, ...); {type(model).__name__} has "
                "no such layers"
            )
        self.projections = projections
        self.n_layers = len(projections)
        self.n_heads = int(model.config.num_attention_heads)
        width = int(projections[0].in_features)
        if width % self.n_heads:
            raise ScorerConfigError(
                f"{who}: o_proj takes {width} features, not a multiple of the "
                f"{self.n_heads} attention heads"
            )
        self.head_dim = width // self.n_heads
        self.positions: list[int] | None = None

    def set_positions(self, positions: Sequence[int]) -> None:
        self.positions = [int(p) for p in positions]

    def _index(self, x: Any) -> tuple[Any, Any]:
        import torch

        if self.positions is None or len(self.positions) != x.shape[0]:
            raise ScorerConfigError(
                "activation patching: positions were not set for this batch (a bug)"
            )
        rows = torch.arange(x.shape[0], device=x.device)
        return rows, torch.tensor(self.positions, device=x.device)

    @contextmanager
    def patched(self, heads: np.ndarray, values: np.ndarray) -> Iterator[None]:
        """Within the block, head ``heads[j] = (layer, head)`` outputs ``values[j]`` at the set
        positions; every other head and position is left as computed."""
        import torch

        by_layer: dict[int, list[int]] = {}
        for j, (layer, _) in enumerate(np.asarray(heads, dtype=np.int64).reshape(-1, 2)):
            by_layer.setdefault(int(layer), []).append(j)
        handles = []

        def hook_for(rows_of: list[int]):
            head_ids = [int(heads[j][1]) for j in rows_of]
            table = torch.as_tensor(np.asarray(values)[rows_of])

            def hook(_module: Any, args: tuple) -> tuple:
                x = args[0]
                rows, cols = self._index(x)
                picked = x[rows, cols].reshape(x.shape[0], self.n_heads, self.head_dim).clone()
                picked[:, head_ids] = table.to(device=x.device, dtype=x.dtype)
                x = x.index_put((rows, cols), picked.reshape(x.shape[0], -1))
                return (x, *args[1:])

            return hook

        try:
            for layer, rows_of in sorted(by_layer.items()):
                proj = self.projections[layer]
                handles.append(proj.register_forward_pre_hook(hook_for(rows_of)))
            yield
        finally:
            for handle in handles:
                handle.remove()

    @contextmanager
    def captured(self, layers: Sequence[int]) -> Iterator[list[dict[int, Any]]]:
        """Within the block, each forward pass appends ``{layer: (batch, heads, head_dim)}``
        (float32, detached) of the heads' outputs at the set positions."""
        store: list[dict[int, Any]] = []
        handles = []

        def hook_for(layer: int):
            def hook(_module: Any, args: tuple) -> None:
                x = args[0]
                rows, cols = self._index(x)
                value = x[rows, cols].detach().float().reshape(x.shape[0], self.n_heads, -1)
                if not store or layer in store[-1]:
                    store.append({})
                store[-1][layer] = value

            return hook

        try:
            for layer in sorted(set(int(v) for v in layers)):
                handles.append(self.projections[layer].register_forward_pre_hook(hook_for(layer)))
            yield store
        finally:
            for handle in handles:
                handle.remove()

    @contextmanager
    def probed(self, layers: Sequence[int]) -> Iterator[dict[int, Any]]:
        """Within the block, each forward pass adds a zero leaf tensor ``delta[layer]`` of shape
        ``(batch, heads * head_dim)`` to the heads' outputs at the set positions, so that after
        ``backward`` its ``.grad`` is the gradient with respect to those outputs; the dict also
        keeps the clean outputs under ``("value", layer)``."""
        import torch

        deltas: dict[Any, Any] = {}
        handles = []

        def hook_for(layer: int):
            def hook(_module: Any, args: tuple) -> tuple:
                x = args[0]
                rows, cols = self._index(x)
                clean = x[rows, cols]
                delta = torch.zeros_like(clean, requires_grad=True)
                deltas[layer] = delta
                deltas[("value", layer)] = clean.detach()
                return (x.index_put((rows, cols), clean + delta), *args[1:])

            return hook

        try:
            for layer in sorted(set(int(v) for v in layers)):
                handles.append(self.projections[layer].register_forward_pre_hook(hook_for(layer)))
            yield deltas
        finally:
            for handle in handles:
                handle.remove()


def heads_digest(heads: np.ndarray, means: np.ndarray) -> str:
    """SHA-256 (12 hex characters) of the head indices (int64) and mean activations (float32)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(heads, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(means, dtype=np.float32).tobytes())
    return digest.hexdigest()[:12]


def _saved_location(model: Any) -> str | None:
    """What to write as the model's location: an alias or hub id as given, a folder as an
    absolute path, nothing for a loaded model object."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    text = str(model)
    if text.strip().lower() in MODEL_ALIASES:
        return text
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text


# ------------------------------------------------------------------------------------ scorer


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class ActivationRewardModel(LMJudge):
    """Reward = log-odds of "Yes" to a judging question while selected attention heads output
    their few-shot mean activations (module docstring). Create with
    :func:`metricrm.training.fit_activation_rm` or :meth:`load`
    (``get_scorer("activation_rm", path=...)``)."""

    name = NAME
    embedding_kind = "final_hidden@answer:patched"
    #: besides the batching settings, the loader's ``model``/``tokenizer``: they may only name
    #: the weights the heads were fitted on (checked on load)
    score_neutral = SCORE_NEUTRAL | {"model", "tokenizer"}

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        heads: Any = (),
        means: Any = None,
        fit: dict[str, Any] | None = None,
        judge_template: str = DEFAULT_JUDGE_TEMPLATE,
        yes_words: Sequence[str] = ("Yes",),
        no_words: Sequence[str] = ("No",),
        **settings: Any,
    ) -> None:
        super().__init__(
            model,
            tokenizer,
            judge_template=judge_template,
            yes_words=yes_words,
            no_words=no_words,
            **settings,
        )
        self.location = _saved_location(model)
        self.heads_access = AttentionHeads(self.name, self.lm.model)
        self.fit_settings = dict(fit or {})
        self.set_heads(heads, means)

    def set_heads(self, heads: Any, means: Any) -> None:
        """Install ``heads`` ((n, 2) layer/head indices) and ``means`` ((n, head_dim))."""
        access = self.heads_access
        heads = np.asarray(heads, dtype=np.int64).reshape(-1, 2)
        n = heads.shape[0]
        means = np.zeros((0, access.head_dim)) if means is None and n == 0 else means
        means = np.asarray(means, dtype=np.float32)
        if means.shape != (n, access.head_dim):
            raise ScorerConfigError(
                f"{self.name}: expected mean activations of shape ({n}, {access.head_dim}) for "
                f"{n} heads; got {means.shape}"
            )
        bad = [
            (int(a), int(b))
            for a, b in heads
            if not (0 <= a < access.n_layers and 0 <= b < access.n_heads)
        ]
        if bad:
            raise ScorerConfigError(
                f"{self.name}: head(s) {bad} outside the model's {access.n_layers} layers x "
                f"{access.n_heads} heads"
            )
        if len({(int(a), int(b)) for a, b in heads}) != n:
            raise ScorerConfigError(f"{self.name}: a head is listed twice in {heads.tolist()}")
        if not np.isfinite(means).all():
            raise ScorerConfigError(f"{self.name}: mean activations must be finite")
        self.heads, self.means = heads, means
        self.digest = heads_digest(heads, means)

    def settings(self) -> dict[str, Any]:
        fit = ",".join(f"{k}={v}" for k, v in sorted(self.fit_settings.items()))
        return {
            **super().settings(),
            "heads": f"{self.heads.shape[0]}@{self.digest}",
            "fit": fit or "none",
        }

    def judge_outputs(
        self, responses: Sequence[str], prompts: Sequence[Any] | None, *, hidden: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list, np.ndarray | None]:
        """``(log-odds, label log-probabilities, encoded items, hidden states or None)`` with
        the selected heads patched."""
        e = self.engine
        items = self.encode_questions(responses, prompts)
        e.on_batch = self.heads_access.set_positions
        try:
            with self.heads_access.patched(self.heads, self.means):
                logp, states = e.next_token_outputs(
                    items, self.yes_ids + self.no_ids, hidden=hidden
                )
        finally:
            e.on_batch = None
        k = len(self.yes_ids)
        log_odds = np.logaddexp.reduce(logp[:, :k], axis=1) - np.logaddexp.reduce(
            logp[:, k:], axis=1
        )
        return log_odds, logp, items, states

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        log_odds, logp, items, states = self.judge_outputs(
            responses, prompts, hidden=self.wants_embeddings
        )
        if states is not None:
            self._emit_embeddings(states)
        k = len(self.yes_ids)
        details = self._report(items)
        del details["boundary"]
        details.update(p_yes=np.exp(logp[:, :k]).sum(axis=1), p_no=np.exp(logp[:, k:]).sum(axis=1))
        return ScoreOutput(log_odds, details)

    # -- persistence --------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the heads and mean activations (safetensors) and the config (JSON)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        options = {k: getattr(self.options, k) for k in SAVED_SETTINGS}
        options["dtype"] = None if options["dtype"] is None else str(options["dtype"])
        config = {
            "format": FORMAT,
            "metricrm_version": package_version("metricrm"),
            "model": {"label": self.lm.label, "location": self.location},
            "model_settings": options,
            "judge_template": self.judge_template,
            "yes_words": list(self.yes_words),
            "no_words": list(self.no_words),
            "fit": self.fit_settings,
            "heads_sha256_12": self.digest,
        }
        tensors = {
            "heads": np.ascontiguousarray(self.heads, dtype=np.int64),
            "mean_activations": np.ascontiguousarray(self.means, dtype=np.float32),
        }
        atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        *,
        model: Any = None,
        tokenizer: Any = None,
        device: str | None = None,
        max_tokens_per_batch: int = DEFAULT_LM_TOKENS_PER_BATCH,
        max_batch_size: int | None = None,
    ) -> ActivationRewardModel:
        """A model saved with :meth:`save`, on the causal LM it was fitted on (the saved
        location, or ``model``, which must be the same weights)."""
        from safetensors.numpy import load_file

        folder = Path(folder).expanduser()
        config, weights_file = read_saved_config(
            NAME,
            folder,
            what="a saved activation reward model",
            writer="ActivationRewardModel.save",
            config=CONFIG_FILE,
            weights=WEIGHTS_FILE,
            format=FORMAT,
        )
        saved = config["model"]
        location = model if model is not None else saved["location"]
        if location is None:
            raise ScorerConfigError(
                f"{NAME}: the model in {str(folder)!r} was fitted on a loaded model object, "
                f"so no location was saved; pass model= ({MODEL_HINT})"
            )
        tensors = load_file(str(weights_file))
        heads, means = tensors["heads"], tensors["mean_activations"]
        if heads_digest(heads, means) != config["heads_sha256_12"]:
            raise DataFormatError(
                f"{weights_file}: digest {heads_digest(heads, means)} does not match "
                f"{config['heads_sha256_12']} in {CONFIG_FILE}; the folder is corrupt or mixed"
            )
        scorer = cls(
            location,
            tokenizer,
            heads=heads,
            means=means,
            fit=config.get("fit"),
            judge_template=config["judge_template"],
            yes_words=tuple(config["yes_words"]),
            no_words=tuple(config["no_words"]),
            device=device,
            max_tokens_per_batch=max_tokens_per_batch,
            max_batch_size=max_batch_size,
            **config["model_settings"],
        )
        if scorer.lm.label != saved["label"]:
            raise ScorerConfigError(
                f"{NAME}: the model in {str(folder)!r} was fitted on {saved['label']!r}, but "
                f"{scorer.lm.label!r} was given; pass the same model"
            )
        if model is not None:
            scorer.location = saved["location"]
        return scorer


def load_activation_rm(
    path: str | os.PathLike,
    *,
    model: Any = None,
    tokenizer: Any = None,
    device: str | None = None,
    max_tokens_per_batch: int = DEFAULT_LM_TOKENS_PER_BATCH,
    max_batch_size: int | None = None,
) -> ActivationRewardModel:
    """Activation reward model (few-shot attention-head patching of a causal-LM judge; reward =
    log-odds of Yes), loaded from a folder saved by ``ActivationRewardModel.save``."""
    return ActivationRewardModel.load(
        path,
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_tokens_per_batch=max_tokens_per_batch,
        max_batch_size=max_batch_size,
    )


load_activation_rm.requires_model = True  # type: ignore[attr-defined]
load_activation_rm.setting_hints = {  # type: ignore[attr-defined]
    "path": "the folder of a model saved by ActivationRewardModel.save (see "
    "metricrm.training.fit_activation_rm)"
}
