"""k-fold cross-validation of the Bradley-Terry head, folds by prompt: every pair is scored by
a head that never saw its prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters.bt_head import DEFAULT_FEATURES, NAME, PairFeaturizer, apply_head
from ..core.records import PreferencePair
from ..core.settings import build_settings, expose_settings
from ..core.validation import check_number
from ..meta import pairwise_outcomes
from .bt_head import TrainSettings, fit_head
from .objectives import pair_accuracy
from .pairs import check_pairs, pair_targets, prompt_groups
from .splits import kfold_by_prompt, split_by_prompt


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
        return pairwise_outcomes(
            self.chosen, self.rejected, score_ties=score_ties, human_ties=self.human_ties
        )

    @property
    def accuracy(self) -> float:
        """Pooled held-out pairwise accuracy (human ties excluded, score ties count half)."""
        return float(np.nanmean(self.outcomes()))


@expose_settings(TrainSettings)
def cross_validate_bt_head(
    pairs: Sequence[PreferencePair],
    *,
    k: int = 5,
    validation: float = 0.1,
    encoder: Any = None,
    features: Sequence[str] = DEFAULT_FEATURES,
    memo: dict | None = None,
    **settings: Any,
) -> CrossValidationResult:
    """k-fold cross-validation of the head with folds by prompt (:func:`kfold_by_prompt`).

    For each fold a head is trained on the other folds, with ``validation`` (a fraction of
    their prompts) held out for early stopping, and scores the fold's pairs. Every distinct
    text is embedded once for all folds. ``settings`` are the fields of
    :class:`~metricrm.training.bt_head.TrainSettings` (``seed`` also seeds the folds).
    """
    opts: TrainSettings = build_settings(TrainSettings, NAME, settings)
    seed = opts.seed
    pairs = check_pairs(NAME, pairs, "pairs", allow_empty=False)
    check_number(NAME, "validation", validation, minimum=0)
    folds = kfold_by_prompt(pairs, k, seed=seed)
    enc = opts.encoder(encoder)
    featurizer = PairFeaturizer(enc, features)
    memo = {} if memo is None else memo
    xc_all, xr_all, _ = featurizer.pairs(pairs, memo)
    targets = pair_targets(pairs, opts.ties, who=NAME)
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
        params, history = fit_head((xc_all[tr], xr_all[tr], targets[tr]), val_data, opts)
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
            **opts.optimisation(),
        },
    )
