"""Composite rewards (layer 3: uses core, adapters, data and meta).

Contract for what lands here:

- **Normalizers are fitted, then frozen.** A normalizer (z-score, robust, min-max, rank, or
  Bradley-Terry calibration) is fitted explicitly on calibration data and saved with the
  composite, so one item's reward never depends on the other items of its batch.
- **Composites are Scorers.** A composite is a registered ``BaseScorer`` usable everywhere a
  scorer is (meta-evaluation, the score cache, the CLI); its signature names each component's
  signature, the weights and a digest of the fitted normalizers, and ``details`` holds every
  component's raw and normalised score.
- Weight learning, Pareto analysis and export to trainers build on those two.

Modules: :mod:`.normalizers`, :mod:`.composite` (the scorer), :mod:`.files` (the YAML/JSON
composite file), :mod:`.tables` (component scores as arrays, scored once through the cache),
:mod:`.learning` (weights with scikit-learn / scipy.optimize, :func:`fit_composite`),
:mod:`.evaluation` (held-out folds by group, intervals and permutation tests from
:mod:`metricrm.meta`), :mod:`.pareto`, :mod:`.export` (TRL reward functions, ``evaluate``)
and :mod:`.workflow` (:func:`compose`: records to a validated composite, as
``metricrm compose fit`` runs it).

>>> import metricrm as mr                                                  # doctest: +SKIP
>>> from metricrm.weighting import Component, score_pair_table, fit_composite  # doctest: +SKIP
>>> parts = [Component.build("chrf", "chrf"), Component.build("bleu", "bleu")]  # doctest: +SKIP
>>> table = score_pair_table(parts, pairs, group_by="source")              # doctest: +SKIP
>>> composite = fit_composite(parts, table, "logistic")                    # doctest: +SKIP
>>> composite.save("reward.yaml"); mr.get_scorer("composite", path="reward.yaml")  # doctest: +SKIP
"""

from .composite import FORMAT, Component, Composite, Gate, composite_to_dict, write_composite
from .evaluation import HeldOut, cross_validate_weights, held_out_table
from .export import (
    evaluate_module,
    trl_reward_function,
    trl_reward_functions,
    write_evaluate_module,
)
from .files import composite_from_dict, load_composite, read_composite_file
from .learning import (
    WeightMethod,
    fit_composite,
    learn_item_weights,
    learn_pair_weights,
    learn_weights,
)
from .normalizers import (
    BradleyTerryNormalizer,
    IdentityNormalizer,
    MinMaxNormalizer,
    Normalizer,
    RankNormalizer,
    RobustNormalizer,
    ZScoreNormalizer,
    make_normalizer,
    reliability_table,
)
from .pareto import PairObjective, length_bias_objective, pareto_mask, pareto_sweep, simplex_grid
from .tables import (
    ItemTable,
    PairTable,
    fit_normalizers,
    group_folds,
    group_split,
    score_item_table,
    score_pair_table,
)
from .workflow import ComposeResult, compose

__all__ = [
    "FORMAT",
    "BradleyTerryNormalizer",
    "ComposeResult",
    "Component",
    "Composite",
    "Gate",
    "HeldOut",
    "IdentityNormalizer",
    "ItemTable",
    "MinMaxNormalizer",
    "Normalizer",
    "PairObjective",
    "PairTable",
    "RankNormalizer",
    "RobustNormalizer",
    "WeightMethod",
    "ZScoreNormalizer",
    "compose",
    "composite_from_dict",
    "composite_to_dict",
    "cross_validate_weights",
    "evaluate_module",
    "fit_composite",
    "fit_normalizers",
    "group_folds",
    "group_split",
    "held_out_table",
    "learn_item_weights",
    "learn_pair_weights",
    "learn_weights",
    "length_bias_objective",
    "load_composite",
    "make_normalizer",
    "pareto_mask",
    "pareto_sweep",
    "reliability_table",
    "score_item_table",
    "score_pair_table",
    "simplex_grid",
    "trl_reward_function",
    "trl_reward_functions",
    "read_composite_file",
    "write_composite",
    "write_evaluate_module",
]
