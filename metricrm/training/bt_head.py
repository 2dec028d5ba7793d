"""Training a Bradley-Terry reward head on frozen sentence embeddings (the scorer itself, its
features and its saved format are in :mod:`metricrm.adapters.bt_head`).

Training minimises the Bradley-Terry loss ``-log sigmoid(r_chosen - r_rejected)`` with AdamW
(decoupled weight decay: each step shrinks the weights by ``lr * weight_decay``, 0.1% with the
defaults lr=1e-4, weight_decay=10), mini-batches of 64 pairs in a seeded order, and keeps the
weights of the epoch with the lowest validation loss (early stopping with ``patience``). A
pair humans judged a tie gets target 0.5 (``ties="half"``, the default) or is left out
(``ties="exclude"``, counted in the history). Everything is seeded: on the CPU the same data
and seed give identical weights. Each distinct text is embedded once per training run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..adapters.bt_head import (
    DEFAULT_FEATURES,
    NAME,
    BradleyTerryHead,
    PairFeaturizer,
    make_encoder,
)
from ..core.errors import ScorerConfigError
from ..core.records import PreferencePair, TrainingHistory
from ..core.settings import build_settings, expose_settings
from ..core.validation import check_choice, check_integer, check_number
from .objectives import EarlyStopping, bt_loss, pair_accuracy
from .pairs import TIE_POLICIES, check_pairs, pair_targets, pairs_digest
from .splits import split_by_prompt


@dataclass(frozen=True)
class TrainSettings:
    """Head shape, optimisation and encoder settings of one training run (saved with the head,
    except the score-neutral ``device`` and ``cache_dir``)."""

    hidden: int = 0
    epochs: int = 500
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 10.0
    patience: int = 10
    seed: int = 0
    ties: str = "half"
    max_length: int = 256
    pooling: str = "mean"
    normalize: bool = True
    device: str | None = None
    cache_dir: str | os.PathLike | None = None

    def check(self, who: str = NAME) -> TrainSettings:
        check_integer(who, "hidden", self.hidden, minimum=0)
        check_integer(who, "epochs", self.epochs, minimum=1)
        check_integer(who, "batch_size", self.batch_size, minimum=1)
        check_number(who, "lr", self.lr, above=0)
        check_number(who, "weight_decay", self.weight_decay, minimum=0)
        check_integer(who, "patience", self.patience, minimum=0)
        check_integer(who, "seed", self.seed, minimum=0)
        check_choice(who, "ties", self.ties, TIE_POLICIES)
        return self

    def optimisation(self) -> dict[str, Any]:
        """The settings that shape the head and its training (saved in the head's config)."""
        keep = ("hidden", "epochs", "batch_size", "lr", "weight_decay", "patience", "seed", "ties")
        return {k: v for k, v in asdict(self).items() if k in keep}

    def encoder(self, encoder: Any) -> Any:
        return make_encoder(
            encoder,
            max_length=self.max_length,
            pooling=self.pooling,
            normalize=self.normalize,
            device=self.device,
            cache_dir=self.cache_dir,
        )


def fit_head(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    settings: TrainSettings,
) -> tuple[dict[str, np.ndarray], TrainingHistory]:
    """Train a head on ``(chosen features, rejected features, targets)``; keep the epoch with
    the lowest validation loss (the last epoch without validation)."""
    import torch

    xc, xr, t = train
    both = np.concatenate([xc, xr])
    mean = both.mean(axis=0)
    spread = both.std(axis=0)
    scale = np.where(spread > 1e-8, spread, 1.0)

    def tensor(a: np.ndarray) -> Any:
        return torch.as_tensor(((a - mean) / scale).astype(np.float32))

    tc, tr, tt = tensor(xc), tensor(xr), torch.as_tensor(t.astype(np.float32))
    val = None
    if validation is not None:
        val = (
            tensor(validation[0]),
            tensor(validation[1]),
            torch.as_tensor(validation[2].astype(np.float32)),
        )
    d = xc.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        if settings.hidden:
            head = torch.nn.Sequential(
                torch.nn.Linear(d, settings.hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(settings.hidden, 1),
            )
        else:
            head = torch.nn.Sequential(torch.nn.Linear(d, 1))
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    rng = np.random.default_rng(settings.seed)
    history = TrainingHistory(monitor="validation_loss" if val is not None else "none")
    stopper = EarlyStopping(settings.patience)
    best = None
    n = tc.shape[0]

    def evaluate(c: Any, r: Any, target: Any) -> tuple[float, float]:
        with torch.no_grad():
            sc, sr = head(c)[:, 0], head(r)[:, 0]
            loss = float(bt_loss(sc, sr, target))
        return loss, pair_accuracy(sc.numpy(), sr.numpy(), target.numpy())

    for epoch in range(1, settings.epochs + 1):
        head.train()
        order = torch.as_tensor(rng.permutation(n))
        for start in range(0, n, settings.batch_size):
            idx = order[start : start + settings.batch_size]
            loss = bt_loss(head(tc[idx])[:, 0], head(tr[idx])[:, 0], tt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        loss, acc = evaluate(tc, tr, tt)
        history.train_loss.append(loss)
        history.train_accuracy.append(acc)
        history.epochs_run = epoch
        if val is None:
            continue
        vloss, vacc = evaluate(*val)
        history.validation_loss.append(vloss)
        history.validation_accuracy.append(vacc)
        if stopper.update(vloss, epoch):
            best = {k: v.detach().clone() for k, v in head.state_dict().items()}
        if stopper.should_stop:
            history.stopped_early = True
            break
    if best is not None:
        head.load_state_dict(best)
        history.best_epoch = stopper.best_epoch
    else:
        history.best_epoch = history.epochs_run
    params = {k: v.detach().numpy().astype(np.float32) for k, v in head.state_dict().items()}
    params["input_mean"] = mean.astype(np.float32)
    params["input_scale"] = scale.astype(np.float32)
    return params, history


def usable_pairs(
    pairs: list[PreferencePair], ties: str
) -> tuple[list[PreferencePair], np.ndarray, int]:
    """Pairs that enter training, their targets, and how many human ties were left out."""
    targets = pair_targets(pairs, ties, who=NAME)
    keep = ~np.isnan(targets)
    return [p for p, k in zip(pairs, keep) if k], targets[keep], int((~keep).sum())


def split_validation(
    who: str, pairs: list[PreferencePair], validation: Any, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair] | None, str]:
    """Training pairs, validation pairs (or None) and how validation was chosen: a fraction of
    the prompts held out (split by prompt with ``seed``), a separate list, or None."""
    if validation is None or (
        isinstance(validation, (int, float)) and not isinstance(validation, bool)
    ):
        if not validation:
            return pairs, None, "none"
        split = split_by_prompt(pairs, validation=float(validation), seed=seed)
        return split.take(pairs, "train"), split.take(pairs, "validation"), f"fraction:{validation}"
    return pairs, check_pairs(who, validation, "validation", allow_empty=False), "given"


@expose_settings(TrainSettings)
def train_bt_head(
    pairs: Sequence[PreferencePair],
    *,
    validation: float | Sequence[PreferencePair] | None = 0.1,
    encoder: Any = None,
    features: Sequence[str] = DEFAULT_FEATURES,
    memo: dict | None = None,
    **settings: Any,
) -> BradleyTerryHead:
    """Train a Bradley-Terry head on ``pairs``; the result's ``history`` holds losses and
    accuracies per epoch and ``best_epoch``.

    ``validation`` is a fraction of the prompts held out from ``pairs`` (split by prompt with
    ``seed``), a separate list of pairs, or None (no early stopping: all ``epochs`` run).
    ``encoder`` is a :class:`~metricrm.adapters.sentence_encoder.SentenceEncoder` or a model
    location (None: offline MiniLM), built with the encoder settings (``max_length``,
    ``pooling``, ``normalize``, ``device``, ``cache_dir`` for an on-disk embedding cache).
    ``settings`` are the fields of :class:`TrainSettings`. ``memo`` is an optional dict that
    keeps embeddings in memory across calls.
    """
    opts: TrainSettings = build_settings(TrainSettings, NAME, settings)
    pairs = check_pairs(NAME, pairs, "pairs", allow_empty=False)
    train_pairs, val_pairs, val_how = split_validation(NAME, pairs, validation, opts.seed)
    featurizer = PairFeaturizer(opts.encoder(encoder), features)
    memo = {} if memo is None else memo
    used, targets, excluded = usable_pairs(train_pairs, opts.ties)
    if not used:
        raise ScorerConfigError(
            f"{NAME}: every training pair is a tie and ties='exclude'; nothing to train on"
        )
    xc, xr, cut = featurizer.pairs(used, memo)
    val_data, val_used, val_excluded, val_cut = None, [], 0, 0
    if val_pairs is not None:
        val_used, vt, val_excluded = usable_pairs(val_pairs, opts.ties)
        if val_used:
            vc, vr, val_cut = featurizer.pairs(val_used, memo)
            val_data = (vc, vr, vt)
    params, history = fit_head((xc, xr, targets), val_data, opts)
    history.counts = {
        "train_pairs": len(used),
        "validation_pairs": len(val_used),
        "excluded_ties": excluded + val_excluded,
        "train_ties": int((targets != 1.0).sum()),
        "truncated_texts": cut + val_cut,
    }
    config = {
        "features": list(featurizer.features),
        "training": {
            **opts.optimisation(),
            "validation": val_how,
            "train_data": pairs_digest(used),
            "validation_data": pairs_digest(val_used) if val_used else None,
        },
    }
    return BradleyTerryHead(featurizer, params, config, history)
