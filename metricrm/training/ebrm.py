"""Training the energy model of an energy-based reward refinement (EBRM) on preference pairs;
the scorer, the energy model and the refinement are in :mod:`metricrm.adapters.ebrm`.

Following the paper (Energy-Based Reward Models for Robust Language Model Alignment, 2025):

1. **Data.** The frozen base scorer scores the chosen and rejected response of every pair and
   gives their embeddings. Each response becomes one sample ``(embedding, base reward)``: the
   energy model learns which rewards are plausible for an embedding.
2. **Conflict-aware filtering.** A pair whose base rewards contradict the human label -
   ``r(chosen) - r(rejected) <= filter_margin`` (in units of the base reward's standard
   deviation) - is dropped with both its responses: its rewards are the base model's errors,
   and learning them would teach the energy model to reproduce them. ``filter_margin=0`` is
   the paper's rule (keep the pairs the base ranks right); a positive margin also drops pairs
   it ranks right only barely. Human ties are dropped.
3. **Label-noise-aware contrastive loss** (NCE+, as in the paper): the observed reward is
   treated as noisy. For each sample the positive is the standardised reward plus noise
   ``nu ~ (1/K) sum_k N(0, (noise_rate * sigma_k)^2)``, and ``negatives`` rewards are drawn
   from the proposal ``q(y | r) = (1/K) sum_k N(r, sigma_k^2)``; the loss is the cross-entropy
   of picking the positive among them with logits ``-E(e, y) - log q(y | r)``, plus
   ``l2_energy * mean(E^2)`` to keep energies near zero. AdamW, seeded mini-batches, dropout
   in the hidden layers, a fixed number of epochs.
4. **Refinement** settings (``steps``, ``step_size``, ``shrink``) are stored with the model;
   scoring descends the energy from the base reward (see the adapter).

The defaults are ours, sized for small CPU runs on a few thousand pairs with 384- to
768-dimensional embeddings; the paper's own run used a wider network on 4k-dimensional
embeddings, a single proposal spread and hundreds of negatives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..adapters.ebrm import NAME, EnergyRefinedReward, RefineSettings, energy
from ..adapters.embedding import check_embedding_scorer
from ..core.errors import ScorerConfigError
from ..core.records import PreferencePair, TrainingHistory, response_text
from ..core.registry import get_scorer
from ..core.settings import build_settings, expose_settings
from ..core.validation import check_integer, check_number
from .pairs import check_pairs, pairs_digest


@dataclass(frozen=True)
class EBRMSettings:
    """Filtering, loss, network, optimisation and refinement settings (module docstring)."""

    filter_margin: float = 0.0
    noise_rate: float = 0.1
    sigmas: tuple[float, ...] = (0.25, 0.5, 1.0)
    negatives: int = 64
    l2_energy: float = 0.05
    reward_features: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.2
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    steps: int = 50
    step_size: float = 0.1
    shrink: float = 0.5

    def check(self, who: str = NAME) -> EBRMSettings:
        check_number(who, "filter_margin", self.filter_margin)
        check_number(who, "noise_rate", self.noise_rate, minimum=0)
        if isinstance(self.sigmas, (str, bytes)) or not self.sigmas:
            raise ScorerConfigError(
                f"{who}: `sigmas` must be a non-empty list of positive numbers "
                f"(got {self.sigmas!r})"
            )
        for s in self.sigmas:
            check_number(who, "sigmas", s, above=0)
        check_integer(who, "negatives", self.negatives, minimum=1)
        check_number(who, "l2_energy", self.l2_energy, minimum=0)
        check_integer(who, "reward_features", self.reward_features, minimum=1)
        if isinstance(self.hidden, (str, bytes)) or not self.hidden:
            raise ScorerConfigError(
                f"{who}: `hidden` must be a non-empty list of layer widths (got {self.hidden!r})"
            )
        for width in self.hidden:
            check_integer(who, "hidden", width, minimum=1)
        check_number(who, "dropout", self.dropout, minimum=0, maximum=0.9)
        check_integer(who, "epochs", self.epochs, minimum=1)
        check_integer(who, "batch_size", self.batch_size, minimum=1)
        check_number(who, "lr", self.lr, above=0)
        check_number(who, "weight_decay", self.weight_decay, minimum=0)
        check_integer(who, "seed", self.seed, minimum=0)
        self.refinement().check(who)
        return self

    def refinement(self) -> RefineSettings:
        return RefineSettings(self.steps, self.step_size, self.shrink)

    def training(self) -> dict[str, Any]:
        """The choices saved with the model (and shown in its signature)."""
        keep = asdict(self)
        for key in ("steps", "step_size", "shrink"):
            keep.pop(key)
        keep["sigmas"] = [float(s) for s in self.sigmas]
        keep["hidden"] = [int(w) for w in self.hidden]
        return keep


def conflict_filter(
    chosen: np.ndarray, rejected: np.ndarray, margin: float, scale: float
) -> np.ndarray:
    """Pairs kept: ``chosen - rejected > margin * scale`` (module docstring)."""
    return (np.asarray(chosen) - np.asarray(rejected)) > margin * scale


def init_energy(dim: int, opts: EBRMSettings, generator: Any) -> dict[str, Any]:
    """Fresh energy-model parameters (uniform +-1/sqrt(fan-in), as torch's Linear)."""
    import torch

    def uniform(shape: tuple[int, ...], fan_in: int) -> Any:
        bound = 1.0 / np.sqrt(fan_in)
        return ((torch.rand(shape, generator=generator) * 2 - 1) * bound).requires_grad_(True)

    widths = list(opts.hidden)
    r = opts.reward_features
    params = {
        "reward.weight": uniform((r,), 1),
        "reward.bias": uniform((r,), 1),
        "hidden0.embed": uniform((widths[0], dim), dim + r),
        "hidden0.reward": uniform((widths[0], r), dim + r),
        "hidden0.bias": uniform((widths[0],), dim + r),
    }
    for j in range(1, len(widths)):
        params[f"hidden.{j}.weight"] = uniform((widths[j], widths[j - 1]), widths[j - 1])
        params[f"hidden.{j}.bias"] = uniform((widths[j],), widths[j - 1])
    params["out.weight"] = uniform((widths[-1],), widths[-1])
    params["out.bias"] = uniform((1,), widths[-1])
    return params


def proposal_log_density(y: Any, z: Any, sigmas: Any) -> Any:
    """``log q(y | z)`` of the mixture ``(1/K) sum_k N(z, sigma_k^2)``; ``y`` (b, m), ``z`` (b,)."""
    import torch

    diff = (y[..., None] - z[:, None, None]) / sigmas  # (b, m, K)
    log_terms = -0.5 * diff**2 - torch.log(sigmas) - 0.5 * np.log(2 * np.pi)
    return torch.logsumexp(log_terms, dim=-1) - np.log(sigmas.shape[0])


def nce_plus_loss(
    params: dict[str, Any], e: Any, z: Any, opts: EBRMSettings, generator: Any
) -> Any:
    """NCE+ loss of one mini-batch (module docstring); ``e`` (b, d) and ``z`` (b,) standardised."""
    import torch

    b = z.shape[0]
    sigmas = torch.tensor(opts.sigmas, dtype=z.dtype)
    k = sigmas.shape[0]
    pick = torch.randint(k, (b,), generator=generator)
    positive = z + opts.noise_rate * sigmas[pick] * torch.randn(b, generator=generator)
    pick_neg = torch.randint(k, (b, opts.negatives), generator=generator)
    noise = torch.randn(b, opts.negatives, generator=generator, dtype=z.dtype)
    negatives = z[:, None] + sigmas[pick_neg] * noise
    y = torch.cat([positive[:, None], negatives], dim=1)  # (b, 1 + M)
    log_q = proposal_log_density(y, z, sigmas)
    e_values = energy(params, e, y, dropout=opts.dropout)
    logits = -e_values - log_q
    loss = -(logits[:, 0] - torch.logsumexp(logits, dim=1)).mean()
    return loss + opts.l2_energy * (e_values**2).mean()


def fit_energy(
    embeddings: np.ndarray, rewards: np.ndarray, opts: EBRMSettings
) -> tuple[dict[str, np.ndarray], TrainingHistory]:
    """Train an energy model on samples ``(embedding, reward)``; return its parameters (with
    the standardisation) and the per-epoch training loss."""
    import torch

    x = np.asarray(embeddings, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != r.shape[0] or x.shape[0] < 2:
        raise ScorerConfigError(
            f"{NAME}: expected embeddings (n, d) and rewards (n,) with n >= 2; got "
            f"{x.shape} and {r.shape}"
        )
    mean, spread = x.mean(axis=0), x.std(axis=0)
    scale = np.where(spread > 1e-8, spread, 1.0)
    r_mean, r_scale = float(r.mean()), float(r.std()) if r.std() > 1e-8 else 1.0
    e = torch.as_tensor(((x - mean) / scale).astype(np.float32))
    z = torch.as_tensor(((r - r_mean) / r_scale).astype(np.float32))
    generator = torch.Generator().manual_seed(opts.seed)
    params = init_energy(x.shape[1], opts, generator)
    optimizer = torch.optim.AdamW(params.values(), lr=opts.lr, weight_decay=opts.weight_decay)
    order_rng = np.random.default_rng(opts.seed)
    history = TrainingHistory(monitor="none")
    n = x.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(opts.seed)  # dropout
        for epoch in range(1, opts.epochs + 1):
            total = 0.0
            order = torch.as_tensor(order_rng.permutation(n))
            for start in range(0, n, opts.batch_size):
                idx = order[start : start + opts.batch_size]
                loss = nce_plus_loss(params, e[idx], z[idx], opts, generator)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            history.train_loss.append(total / n)
            history.epochs_run = epoch
    history.best_epoch = history.epochs_run
    out = {k: v.detach().numpy().astype(np.float32) for k, v in params.items()}
    out["embedding_mean"] = mean.astype(np.float32)
    out["embedding_scale"] = scale.astype(np.float32)
    out["reward_mean"] = np.array([r_mean], dtype=np.float32)
    out["reward_scale"] = np.array([r_scale], dtype=np.float32)
    return out, history


def fit_energy_on_pairs(
    chosen_embeddings: np.ndarray,
    rejected_embeddings: np.ndarray,
    chosen_rewards: np.ndarray,
    rejected_rewards: np.ndarray,
    opts: EBRMSettings,
) -> tuple[dict[str, np.ndarray], TrainingHistory]:
    """Conflict-aware filtering of the pairs, then :func:`fit_energy` on the kept pairs'
    responses (both of each pair). Arrays are aligned by pair (human ties already removed);
    ``history.counts`` has the numbers of pairs, kept and filtered out."""
    chosen_r = np.asarray(chosen_rewards, dtype=np.float64)
    rejected_r = np.asarray(rejected_rewards, dtype=np.float64)
    n = chosen_r.shape[0]
    if rejected_r.shape != (n,) or len(chosen_embeddings) != n or len(rejected_embeddings) != n:
        raise ScorerConfigError(
            f"{NAME}: expected aligned arrays, one row per pair; got rewards "
            f"{chosen_r.shape} and {rejected_r.shape}, embeddings "
            f"{np.shape(chosen_embeddings)} and {np.shape(rejected_embeddings)}"
        )
    scale = float(np.concatenate([chosen_r, rejected_r]).std())
    keep = conflict_filter(chosen_r, rejected_r, opts.filter_margin, scale)
    if keep.sum() < 1:
        raise ScorerConfigError(
            f"{NAME}: the conflict filter (filter_margin={opts.filter_margin}) left no pair: "
            f"the base ranks none of the {n} pairs right by that margin"
        )
    emb = np.concatenate(
        [np.asarray(chosen_embeddings)[keep], np.asarray(rejected_embeddings)[keep]]
    )
    rewards = np.concatenate([chosen_r[keep], rejected_r[keep]])
    params, history = fit_energy(emb, rewards, opts)
    history.counts = {
        "pairs": n,
        "kept_pairs": int(keep.sum()),
        "filtered_pairs": int((~keep).sum()),
    }
    return params, history


def _base_from(base: Any, base_settings: dict | None) -> tuple[Any, dict | None]:
    """The base scorer and how to rebuild it on load (None when given as an object)."""
    if isinstance(base, str):
        settings = dict(base_settings or {})
        for key, value in list(settings.items()):
            if isinstance(value, os.PathLike) or (
                key == "path" and isinstance(value, str) and os.path.exists(value)
            ):
                settings[key] = os.path.abspath(os.fspath(value))
        return get_scorer(base, **settings), {"name": base, "settings": settings}
    if base_settings is not None:
        raise ScorerConfigError(
            f"{NAME}: `base_settings` goes with a registered scorer name as `base`; "
            f"got a {type(base).__name__} object"
        )
    return base, None


@expose_settings(EBRMSettings)
def train_ebrm(
    pairs: Sequence[PreferencePair],
    *,
    base: Any,
    base_settings: dict | None = None,
    **settings: Any,
) -> EnergyRefinedReward:
    """Train an energy-based refinement of ``base`` on ``pairs`` (module docstring).

    ``base`` is a scorer exposing embeddings, or a registered scorer name with
    ``base_settings`` (then the saved model can rebuild it: ``get_scorer("ebrm", path=...)``
    alone loads it). ``settings`` are the fields of :class:`EBRMSettings`. The result's
    ``history`` has the loss per epoch and ``counts`` (pairs used, filtered out, ties).
    """
    opts: EBRMSettings = build_settings(EBRMSettings, NAME, settings)
    pairs = check_pairs(NAME, pairs, "pairs", allow_empty=False)
    scorer, spec = _base_from(base, base_settings)
    check_embedding_scorer(NAME, scorer)
    used = [p for p in pairs if p.label != "tie"]
    if not used:
        raise ScorerConfigError(f"{NAME}: every pair is a human tie; nothing to train on")
    n = len(used)
    responses = [_text(p.chosen) for p in used] + [_text(p.rejected) for p in used]
    prompts = [p.prompt for p in used] * 2
    result, emb = scorer.score_with_embeddings(responses, prompts=prompts)
    rewards = result.scores
    params, history = fit_energy_on_pairs(emb[:n], emb[n:], rewards[:n], rewards[n:], opts)
    history.counts["excluded_ties"] = len(pairs) - n
    config = {
        "training": {**opts.training(), "train_data": pairs_digest(used)},
        "history": history.to_dict(),
        "base_spec": spec,
    }
    model = EnergyRefinedReward(scorer, params, config, opts.refinement())
    model.history = history
    return model


def _text(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)
