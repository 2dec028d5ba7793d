"""Energy-based reward refinement (EBRM; Energy-Based Reward Models for Robust Language Model
Alignment, 2025) as a scorer wrapping a frozen base scorer.

The base scorer (any :class:`~metricrm.adapters.embedding.EmbeddingScorer`: ``bt_head``,
``reward_model``, ``lm_judge``, ``activation_rm``) gives each item a reward ``r0`` and the
embedding ``e`` it was read from. A small energy model ``E(e, r)`` - trained post hoc on
preference data, see :mod:`metricrm.training.ebrm` - says how plausible reward ``r`` is for
``e`` (low energy = plausible). The refined reward is found by descending the energy in ``r``
from ``r0`` (the paper's "hybrid initialisation": start at the base reward, not at random):

    r <- r - step * dE/dr,   kept only if it lowers E; otherwise step <- step * shrink,

for ``steps`` iterations, each item with its own step size (so items never interact and scores
do not depend on batching). Rewards and embeddings are standardised with the training means and
spreads before they enter the energy model, and the refined reward is mapped back to the base
reward's units.

The energy model (our sizes; the paper's is wider and deeper for 4k-dimensional embeddings):
``phi(r) = tanh(w_r * r + b_r)`` (``reward_features`` units), then
``h_1 = tanh(A e + B phi(r) + c)``, further ``tanh`` layers, and a linear output ``E``.
Saved as ``energy.safetensors`` (the weights and standardisation) and ``ebrm.json`` (base
scorer, training choices, refinement settings, digest). The signature carries the base
scorer's name and a digest of its signature, the embedding kind, the energy digest, and every
choice: filtering margin, noise rate, proposal spreads, negatives, network, optimisation and
seed, a digest of the training pairs, refinement steps, step size and shrink factor.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataFormatError, ScorerConfigError
from ..core.results_io import atomic_write
from ..core.types import BaseScorer, ScoreOutput
from ..core.validation import check_integer, check_number
from ..core.versions import package_version
from .embedding import check_embedding_scorer
from .saved_folder import read_saved_config

NAME = "ebrm"
FORMAT = "metricrm.ebrm/1"
CONFIG_FILE = "ebrm.json"
WEIGHTS_FILE = "energy.safetensors"
_STATS = ("embedding_mean", "embedding_scale", "reward_mean", "reward_scale")


@dataclass(frozen=True)
class RefineSettings:
    """How far and how finely the reward is moved down the energy (module docstring)."""

    steps: int = 50
    step_size: float = 0.1
    shrink: float = 0.5

    def check(self, who: str = NAME) -> RefineSettings:
        check_integer(who, "steps", self.steps, minimum=0)
        check_number(who, "step_size", self.step_size, above=0)
        check_number(who, "shrink", self.shrink, above=0, maximum=1)
        if self.shrink >= 1:
            raise ScorerConfigError(f"{who}: `shrink` must be below 1 (got {self.shrink!r})")
        return self


# ------------------------------------------------------------------------------ energy model


def layer_count(params: Mapping[str, Any]) -> int:
    """Number of hidden layers of the energy model ``params``."""
    return 1 + sum(1 for k in params if k.startswith("hidden.") and k.endswith(".weight"))


def energy(params: Mapping[str, Any], e: Any, r: Any, *, dropout: float = 0.0) -> Any:
    """Energy ``(b, m)`` of standardised rewards ``r`` ``(b, m)`` for standardised embeddings
    ``e`` ``(b, d)`` (torch tensors). The embedding's first-layer term is computed once per
    row and shared by its ``m`` rewards."""
    import torch

    phi = torch.tanh(r[..., None] * params["reward.weight"] + params["reward.bias"])
    h = (e @ params["hidden0.embed"].T)[:, None, :] + phi @ params["hidden0.reward"].T
    h = torch.tanh(h + params["hidden0.bias"])
    for j in range(1, layer_count(params)):
        if dropout:
            h = torch.nn.functional.dropout(h, dropout, training=True)
        h = torch.tanh(h @ params[f"hidden.{j}.weight"].T + params[f"hidden.{j}.bias"])
    if dropout:
        h = torch.nn.functional.dropout(h, dropout, training=True)
    return h @ params["out.weight"] + params["out.bias"]


def refine(
    energy_fn: Callable[[Any], Any], r0: np.ndarray, settings: RefineSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each reward in ``r0`` down ``energy_fn`` (a function of a ``(n,)`` float64 tensor
    returning the ``(n,)`` energies) by adaptive gradient steps (module docstring).

    Returns ``(refined rewards, energy at r0, energy at the refined rewards)``.
    """
    import torch

    r = torch.as_tensor(np.asarray(r0, dtype=np.float64)).clone()
    step = torch.full_like(r, settings.step_size)
    with torch.no_grad():
        start = energy_fn(r).clone()
    current = start.clone()
    for _ in range(settings.steps):
        x = r.clone().requires_grad_(True)
        with torch.enable_grad():
            value = energy_fn(x)
            (grad,) = torch.autograd.grad(value.sum(), x)
        with torch.no_grad():
            trial = r - step * grad
            trial_value = energy_fn(trial)
            better = trial_value < current
            r = torch.where(better, trial, r)
            current = torch.where(better, trial_value, current)
            step = torch.where(better, step, step * settings.shrink)
    return r.numpy(), start.numpy(), current.numpy()


def energy_digest(params: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (12 hex characters) of the energy model's tensors, by name."""
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name], dtype=np.float32).tobytes())
    return digest.hexdigest()[:12]


def settings_digest(settings: Mapping[str, Any]) -> str:
    """SHA-256 (12 hex characters) of a scorer's settings, for checking a base on load."""
    text = json.dumps({str(k): str(v) for k, v in settings.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------ scorer


class EnergyRefinedReward(BaseScorer):
    """A base reward moved to a low-energy value for its embedding (module docstring). Create
    with :func:`metricrm.training.train_ebrm` or :meth:`load` (``get_scorer("ebrm",
    path=...)``)."""

    name = NAME
    requires_model = True
    backends = ("torch",)
    #: ``base`` may only be the scorer it was trained on (checked); ``device`` moves nothing
    score_neutral = frozenset({"base", "device"})

    def __init__(
        self,
        base: Any,
        params: Mapping[str, np.ndarray],
        config: Mapping[str, Any] | None = None,
        refine_settings: RefineSettings | None = None,
    ) -> None:
        self.base = check_embedding_scorer(NAME, base)
        self.params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        missing = [k for k in (*_STATS, "reward.weight", "hidden0.embed", "out.weight")
                   if k not in self.params]  # fmt: skip
        if missing:
            raise ScorerConfigError(f"{NAME}: the energy model lacks tensor(s) {missing}")
        self.config = dict(config or {})
        self.refine_settings = (refine_settings or RefineSettings()).check()
        self.digest = energy_digest(self.params)
        self.dim = int(self.params["hidden0.embed"].shape[1])
        # the wrapper takes its inputs the way the base does
        self.uses_inputs = base.uses_inputs
        self.accepts_empty_responses = base.accepts_empty_responses
        self.keep_prompt_messages = base.keep_prompt_messages
        self.requires_prompts = base.requires_prompts
        self.requires_references = base.requires_references
        self.higher_is_better = base.higher_is_better
        self.preferred_chunk_size = base.preferred_chunk_size
        self._torch_params: dict[str, Any] | None = None

    def settings(self) -> dict[str, Any]:
        training = self.config.get("training") or {}
        out = {
            "base": self.base.name,
            "base_signature": hashlib.sha256(self.base.signature.encode()).hexdigest()[:12],
            "embedding": self.base.embedding_kind,
            "energy": f"{self.digest}:{self.shape}",
            **{f"refine_{k}": v for k, v in asdict(self.refine_settings).items()},
        }
        for key, value in sorted(training.items()):  # every training choice, and the data
            out[key] = "+".join(f"{v:g}" for v in value) if isinstance(value, list) else value
        return out

    @property
    def shape(self) -> str:
        widths = [self.params["hidden0.embed"].shape[0]]
        widths += [self.params[f"hidden.{j}.weight"].shape[0]
                   for j in range(1, layer_count(self.params))]  # fmt: skip
        return f"{self.dim}+{self.params['reward.weight'].shape[0]}-" + "-".join(
            str(w) for w in widths
        )

    def _tensors(self) -> dict[str, Any]:
        import torch

        if self._torch_params is None:
            self._torch_params = {
                k: torch.as_tensor(v.astype(np.float64)) for k, v in self.params.items()
            }
        return self._torch_params

    def standardise(self, embeddings: np.ndarray, rewards: np.ndarray) -> tuple[Any, Any]:
        import torch

        p = self.params
        e = (np.asarray(embeddings, dtype=np.float64) - p["embedding_mean"]) / p["embedding_scale"]
        z = (np.asarray(rewards, dtype=np.float64) - p["reward_mean"][0]) / p["reward_scale"][0]
        return torch.as_tensor(e), torch.as_tensor(z)

    def refine_rewards(
        self, embeddings: np.ndarray, rewards: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(refined rewards, energy at the base rewards, energy at the refined ones)``."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise ScorerConfigError(
                f"{NAME}: the base scorer gave embeddings of shape {embeddings.shape}, but the "
                f"energy model was trained on {self.dim}-dimensional ones; is this the base "
                "it was trained with?"
            )
        e, z0 = self.standardise(embeddings, rewards)
        params = self._tensors()

        def fn(z: Any) -> Any:
            return energy(params, e, z[:, None])[:, 0]

        z, before, after = refine(fn, z0.numpy(), self.refine_settings)
        p = self.params
        scale, mean = float(p["reward_scale"][0]), float(p["reward_mean"][0])
        return z * scale + mean, before, after

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        result, embeddings = self.base.score_with_embeddings(
            responses, references=references, prompts=prompts, sources=sources
        )
        refined, before, after = self.refine_rewards(embeddings, result.scores)
        details = {
            "base_score": result.scores,
            "energy_base": before,
            "energy_refined": after,
        }
        for key in ("truncated",):
            if key in result.details:
                details[key] = result.details[key]
        return ScoreOutput(refined, details)

    # -- persistence --------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``energy.safetensors`` and ``ebrm.json`` into ``folder``; return it."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            **self.config,
            "format": FORMAT,
            "metricrm_version": package_version("metricrm"),
            "base_name": self.base.name,
            "base_settings_sha256_12": settings_digest(self.base.settings()),
            "embedding": self.base.embedding_kind,
            "refine": asdict(self.refine_settings),
            "energy_sha256_12": self.digest,
        }
        tensors = {k: np.ascontiguousarray(v) for k, v in self.params.items()}
        atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(
        cls, folder: str | os.PathLike, *, base: Any = None, device: str | None = None
    ) -> EnergyRefinedReward:
        """A model saved with :meth:`save`. The base scorer is rebuilt from the saved
        ``base_spec`` (registered name and settings) unless ``base`` is given; either way its
        settings must be those it was trained with."""
        from safetensors.numpy import load_file

        del device  # the energy model is small and runs on the CPU
        folder = Path(folder).expanduser()
        config, weights_file = read_saved_config(
            NAME,
            folder,
            what="a saved energy-based refinement",
            writer="EnergyRefinedReward.save",
            config=CONFIG_FILE,
            weights=WEIGHTS_FILE,
            format=FORMAT,
        )
        if base is None:
            spec = config.get("base_spec")
            if not spec:
                raise ScorerConfigError(
                    f"{NAME}: {str(folder)!r} was trained on a base scorer given as an object, "
                    "so it cannot be rebuilt; pass base= (the same scorer)"
                )
            from ..core.registry import get_scorer

            base = get_scorer(spec["name"], **spec["settings"])
        check_embedding_scorer(NAME, base)
        if settings_digest(base.settings()) != config["base_settings_sha256_12"]:
            raise ScorerConfigError(
                f"{NAME}: the base scorer's settings differ from those the energy model in "
                f"{str(folder)!r} was trained with (base {base.name!r}: {base.signature})"
            )
        params = dict(load_file(str(weights_file)))
        if energy_digest(params) != config["energy_sha256_12"]:
            raise DataFormatError(
                f"{weights_file}: digest {energy_digest(params)} does not match "
                f"{config['energy_sha256_12']} in {CONFIG_FILE}; the folder is corrupt or mixed"
            )
        keep = {k: v for k, v in config.items() if k in ("training", "history", "base_spec")}
        return cls(base, params, keep, RefineSettings(**config["refine"]))


def load_ebrm(
    path: str | os.PathLike, *, base: Any = None, device: str | None = None
) -> EnergyRefinedReward:
    """Energy-based refinement of a base reward (EBRM): the base scorer's reward moved to a
    low-energy value for its embedding; loaded from a folder saved by
    ``EnergyRefinedReward.save``."""
    return EnergyRefinedReward.load(path, base=base, device=device)


load_ebrm.requires_model = True  # type: ignore[attr-defined]
load_ebrm.setting_hints = {  # type: ignore[attr-defined]
    "path": "the folder of a refinement saved by EnergyRefinedReward.save (see "
    "metricrm.training.train_ebrm)"
}
