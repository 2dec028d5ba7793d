"""A Bradley-Terry reward head on frozen sentence embeddings: train, save, load, cross-validate.

A (prompt, response) becomes a feature vector built from sentence embeddings (see
``sentence_encoder``; default all-MiniLM-L6-v2, mean pooling, normalised, 256 tokens):
``features`` picks blocks among ``response`` (e_r), ``prompt`` (e_p), ``product`` (e_p * e_r)
and ``absdiff`` (|e_p - e_r|). Prompts are cut on the left (the latest turns are kept),
responses on the right. The features are standardised with the training mean and spread and
go through a linear layer (``hidden=0``) or a one-hidden-layer ReLU MLP, giving the reward.

Training minimises the Bradley-Terry loss ``-log sigmoid(r_chosen - r_rejected)`` with AdamW
(decoupled weight decay: each step shrinks the weights by ``lr * weight_decay``, 0.1% with the
defaults lr=1e-4, weight_decay=10), mini-batches of 64 pairs in a seeded order, and keeps the
weights of the epoch with the lowest validation loss (early stopping with ``patience``). A
pair humans judged a tie gets target 0.5 (``ties="half"``, the default) or is left out
(``ties="exclude"``, counted in the history). Everything is seeded: on the CPU the same data
and seed give identical weights. Each distinct text is embedded once per training run.

>>> head = BradleyTerryHead.train(pairs, validation=0.1, seed=0)   # doctest: +SKIP
>>> head.history.best_epoch, head.score(responses, prompts=prompts).scores  # doctest: +SKIP
>>> head.save("my-head"); get_scorer("bt_head", path="my-head")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import DataFormatError, ScorerConfigError, ScorerInputError
from ..core.records import PreferencePair, prompt_text, response_text
from ..core.token_batching import DEFAULT_MAX_TOKENS_PER_BATCH
from ..core.types import BaseScorer, ScoreOutput
from ..models import ModelUnavailableError, default_encoder_path
from ..training import (
    EarlyStopping,
    TrainingHistory,
    bt_loss,
    check_pairs,
    kfold_by_prompt,
    pair_accuracy,
    pair_targets,
    pairs_digest,
    prompt_groups,
    split_by_prompt,
)
from .hf_common import check_choice, warn_truncated
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


def _check_number(name: str, value: Any, low: float, *, integer: bool = False, above: bool = False):
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = not isinstance(value, bool) and isinstance(value, kind)
    ok = ok and math.isfinite(value) and (value > low if above else value >= low)
    if not ok:
        what = "an integer" if integer else "a number"
        raise ScorerConfigError(
            f"{NAME}: `{name}` must be {what} {'>' if above else '>='} {low} (got {value!r})"
        )
    return value


@dataclass
class TrainSettings:
    """Head shape and optimisation settings (saved with the head)."""

    hidden: int = 0
    epochs: int = 500
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 10.0
    patience: int = 10
    seed: int = 0
    ties: str = "half"

    def check(self) -> "TrainSettings":
        _check_number("hidden", self.hidden, 0, integer=True)
        _check_number("epochs", self.epochs, 1, integer=True)
        _check_number("batch_size", self.batch_size, 1, integer=True)
        _check_number("lr", self.lr, 0, above=True)
        _check_number("weight_decay", self.weight_decay, 0)
        _check_number("patience", self.patience, 0, integer=True)
        _check_number("seed", self.seed, 0, integer=True)
        check_choice(NAME, "ties", self.ties, ("half", "exclude"))
        return self


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


def _check_pairs(pairs: Any, what: str) -> list[PreferencePair]:
    return check_pairs(NAME, pairs, what, allow_empty=False)


def _usable(pairs: list[PreferencePair], ties: str) -> tuple[list[PreferencePair], np.ndarray, int]:
    targets = pair_targets(pairs, ties, who=NAME)
    keep = ~np.isnan(targets)
    return [p for p, k in zip(pairs, keep) if k], targets[keep], int((~keep).sum())


class BradleyTerryHead(BaseScorer):
    """Reward from a Bradley-Terry head trained on frozen sentence embeddings of prompt and
    response. Create with :meth:`train` or :meth:`load` (``get_scorer("bt_head", path=...)``)."""

    name = NAME
    requires_model = True
    backends = ("torch", "transformers")

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
        cut = np.flatnonzero(r_cut | p_cut).tolist()
        warn_truncated(
            self.name, cut, len(responses), self.encoder.max_length, "prompt-left,response-right"
        )
        return ScoreOutput(
            apply_head(self.params, x),
            {"truncated": r_cut, "prompt_truncated": p_cut},
        )

    # -- training -----------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        pairs: Sequence[PreferencePair],
        *,
        validation: float | Sequence[PreferencePair] | None = 0.1,
        encoder: Any = None,
        features: Sequence[str] = DEFAULT_FEATURES,
        hidden: int = 0,
        epochs: int = 500,
        batch_size: int = 64,
        lr: float = 1e-4,
        weight_decay: float = 10.0,
        patience: int = 10,
        seed: int = 0,
        ties: str = "half",
        max_length: int = 256,
        pooling: str = "mean",
        normalize: bool = True,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        memo: dict | None = None,
    ) -> "BradleyTerryHead":
        """Train a head on ``pairs``; the result's ``history`` holds losses and accuracies per
        epoch and ``best_epoch``.

        ``validation`` is a fraction of the prompts held out from ``pairs`` (split by prompt
        with ``seed``), a separate list of pairs, or None (no early stopping: all ``epochs``
        run). ``encoder`` is a :class:`SentenceEncoder` or a model location (None: offline
        MiniLM, built with ``max_length``, ``pooling``, ``normalize``, ``device`` and
        ``cache_dir`` for an on-disk embedding cache). ``memo`` is an optional dict that keeps
        embeddings in memory across calls.
        """
        settings = TrainSettings(
            hidden, epochs, batch_size, lr, weight_decay, patience, seed, ties
        ).check()
        pairs = _check_pairs(pairs, "pairs")
        if (
            validation is None
            or isinstance(validation, (int, float))
            and not isinstance(validation, bool)
        ):
            if validation:
                split = split_by_prompt(pairs, validation=float(validation), seed=seed)
                train_pairs, val_pairs = split.take(pairs, "train"), split.take(pairs, "validation")
            else:
                train_pairs, val_pairs = pairs, None
            val_how = "none" if val_pairs is None else f"fraction:{validation}"
        else:
            train_pairs, val_pairs = pairs, _check_pairs(validation, "validation")
            val_how = "given"
        enc = make_encoder(
            encoder,
            max_length=max_length,
            pooling=pooling,
            normalize=normalize,
            device=device,
            cache_dir=cache_dir,
        )
        featurizer = PairFeaturizer(enc, features)
        memo = {} if memo is None else memo
        used, targets, excluded = _usable(train_pairs, ties)
        if not used:
            raise ScorerConfigError(
                f"{NAME}: every training pair is a tie and ties='exclude'; nothing to train on"
            )
        xc, xr, cut = featurizer.pairs(used, memo)
        val_data, val_used, val_excluded, val_cut = None, [], 0, 0
        if val_pairs is not None:
            val_used, vt, val_excluded = _usable(val_pairs, ties)
            if val_used:
                vc, vr, val_cut = featurizer.pairs(val_used, memo)
                val_data = (vc, vr, vt)
        params, history = fit_head((xc, xr, targets), val_data, settings)
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
                **settings.__dict__,
                "validation": val_how,
                "train_data": pairs_digest(used),
                "validation_data": pairs_digest(val_used) if val_used else None,
            },
        }
        return cls(featurizer, params, config, history)

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
            "metricrm_version": _version("metricrm"),
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
        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.params.items()}, str(folder / WEIGHTS_FILE)
        )
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
        config_file, weights_file = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for file in (config_file, weights_file):
            if not file.is_file():
                raise ModelUnavailableError(
                    f"{NAME}: {str(folder)!r} is not a saved head: {file.name} is missing "
                    "(expected a folder written by BradleyTerryHead.save)"
                )
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"{config_file}: invalid JSON at line {exc.lineno}: {exc.msg}"
            ) from exc
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            got = config.get("format") if isinstance(config, dict) else type(config).__name__
            raise DataFormatError(f"{config_file}: expected format {FORMAT!r} (got {got!r})")
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


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


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


# ----------------------------------------------------------------------------- cross-validation


@dataclass
class FoldResult:
    """One fold: sizes, the held-out accuracy and how training went."""

    fold: int
    n_train: int
    n_validation: int
    n_test: int
    accuracy: float
    train_accuracy: float
    best_epoch: int | None
    epochs_run: int


@dataclass
class CrossValidationResult:
    """Held-out scores of every pair (each scored by the head that did not see its prompt).

    ``chosen``/``rejected`` are aligned with the input pairs; ``fold`` says which fold held each
    pair out; ``groups`` is the prompt id per pair (for a bootstrap over prompts);
    ``human_ties`` marks pairs labelled as ties.
    """

    chosen: np.ndarray
    rejected: np.ndarray
    fold: np.ndarray
    groups: np.ndarray
    human_ties: np.ndarray
    folds: list[FoldResult]
    settings: dict[str, Any] = field(default_factory=dict)

    def outcomes(self, score_ties: str = "half") -> np.ndarray:
        """Per-pair outcome (1, 0, 0.5; NaN for human ties), see ``meta.pairwise_outcomes``."""
        from ..meta import pairwise_outcomes

        return pairwise_outcomes(
            self.chosen, self.rejected, score_ties=score_ties, human_ties=self.human_ties
        )

    @property
    def accuracy(self) -> float:
        """Pooled held-out pairwise accuracy (human ties excluded, score ties count half)."""
        return float(np.nanmean(self.outcomes()))


def cross_validate_bt_head(
    pairs: Sequence[PreferencePair],
    *,
    k: int = 5,
    seed: int = 0,
    validation: float = 0.1,
    encoder: Any = None,
    features: Sequence[str] = DEFAULT_FEATURES,
    hidden: int = 0,
    epochs: int = 500,
    batch_size: int = 64,
    lr: float = 1e-4,
    weight_decay: float = 10.0,
    patience: int = 10,
    ties: str = "half",
    max_length: int = 256,
    pooling: str = "mean",
    normalize: bool = True,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    memo: dict | None = None,
) -> CrossValidationResult:
    """k-fold cross-validation of the head with folds by prompt (:func:`kfold_by_prompt`).

    For each fold a head is trained on the other folds, with ``validation`` (a fraction of
    their prompts) held out for early stopping, and scores the fold's pairs. Every distinct
    text is embedded once for all folds.
    """
    settings = TrainSettings(
        hidden, epochs, batch_size, lr, weight_decay, patience, seed, ties
    ).check()
    pairs = _check_pairs(pairs, "pairs")
    _check_number("validation", validation, 0)
    folds = kfold_by_prompt(pairs, k, seed=seed)
    enc = make_encoder(
        encoder,
        max_length=max_length,
        pooling=pooling,
        normalize=normalize,
        device=device,
        cache_dir=cache_dir,
    )
    featurizer = PairFeaturizer(enc, features)
    memo = {} if memo is None else memo
    xc_all, xr_all, _ = featurizer.pairs(pairs, memo)
    targets = pair_targets(pairs, ties, who=NAME)
    n = len(pairs)
    chosen, rejected, fold_of = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    results = []
    for f, test_idx in enumerate(folds):
        rest = np.setdiff1d(np.arange(n), test_idx)
        rest = rest[~np.isnan(targets[rest])]
        inner = (
            split_by_prompt([pairs[i] for i in rest], validation=validation, seed=seed)
            if validation
            else None
        )
        tr = rest if inner is None else rest[inner.train]
        va = None if inner is None else rest[inner.validation]
        val_data = None if va is None else (xc_all[va], xr_all[va], targets[va])
        params, history = fit_head((xc_all[tr], xr_all[tr], targets[tr]), val_data, settings)
        chosen[test_idx] = apply_head(params, xc_all[test_idx])
        rejected[test_idx] = apply_head(params, xr_all[test_idx])
        fold_of[test_idx] = f
        train_acc = pair_accuracy(
            apply_head(params, xc_all[tr]), apply_head(params, xr_all[tr]), targets[tr]
        )
        test_acc = pair_accuracy(
            chosen[test_idx],
            rejected[test_idx],
            np.where(np.isnan(targets[test_idx]), 0.5, targets[test_idx]),
        )
        results.append(
            FoldResult(
                f,
                len(tr),
                0 if va is None else len(va),
                len(test_idx),
                test_acc,
                train_acc,
                history.best_epoch,
                history.epochs_run,
            )
        )
    return CrossValidationResult(
        chosen=chosen,
        rejected=rejected,
        fold=fold_of,
        groups=prompt_groups(pairs),
        human_ties=np.asarray([p.label == "tie" for p in pairs]),
        folds=results,
        settings={
            "k": k,
            "validation": validation,
            **enc.settings(),
            "features": list(features),
            **settings.__dict__,
        },
    )
