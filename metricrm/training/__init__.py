"""Training reward models on preference pairs: splits by prompt, the Bradley-Terry objective,
a Bradley-Terry head on frozen embeddings (with cross-validation), fine-tuning a small
sequence classifier, fitting an activation reward model on a few examples, and training an
energy-based refinement of a frozen reward. The trained models are ordinary scorers
(``bt_head``, ``reward_model``, ``activation_rm``, ``ebrm``).

>>> from metricrm.training import train_bt_head, split_by_prompt   # doctest: +SKIP
>>> head = train_bt_head(pairs, validation=0.1, seed=0)            # doctest: +SKIP

torch is imported inside the functions that train.
"""

from ..core.records import TrainingHistory
from .activation_rm import ActivationFit, ActivationFitSettings, fit_activation_rm
from .bt_head import TrainSettings, fit_head, train_bt_head
from .cross_validation import CrossValidationResult, FoldResult, cross_validate_bt_head
from .ebrm import EBRMSettings, conflict_filter, fit_energy, fit_energy_on_pairs, train_ebrm
from .fine_tune import FineTuneResult, fine_tune_reward_model
from .objectives import EarlyStopping, bt_loss, pair_accuracy
from .pairs import TIE_POLICIES, check_pairs, pair_targets, pairs_digest, prompt_groups, prompt_key
from .splits import Split, kfold_by_prompt, split_by_prompt

__all__ = [
    "ActivationFit",
    "ActivationFitSettings",
    "EBRMSettings",
    "TIE_POLICIES",
    "CrossValidationResult",
    "EarlyStopping",
    "FineTuneResult",
    "FoldResult",
    "Split",
    "TrainSettings",
    "TrainingHistory",
    "bt_loss",
    "check_pairs",
    "conflict_filter",
    "cross_validate_bt_head",
    "fine_tune_reward_model",
    "fit_activation_rm",
    "fit_energy",
    "fit_energy_on_pairs",
    "fit_head",
    "kfold_by_prompt",
    "pair_accuracy",
    "pair_targets",
    "pairs_digest",
    "prompt_groups",
    "prompt_key",
    "split_by_prompt",
    "train_bt_head",
    "train_ebrm",
]
