"""Meta-evaluation statistics: how well do scores agree with human judgments, and how sure are we?

Pure numpy/scipy functions over arrays; randomness only through an explicit
``numpy.random.Generator``; no I/O.

- :mod:`.pairwise`: preference pairs (accuracy and its tie policies, RewardBench sections,
  best-of-n, RM-Bench style matrix, WMT DARR tau-like).
- :mod:`.correlation`: Pearson, Spearman, Kendall tau-b/tau-c, tie-calibrated accuracy (acc23).
- :mod:`.levels`: one wrapper lifting a correlation to flat / item / system level.
- :mod:`.spa`: soft pairwise accuracy of system rankings (WMT24).
- :mod:`.resampling`: vectorised bootstrap intervals and paired permutation tests.
- :mod:`.clusters`: WMT-style significance clusters.
- :mod:`.rewardbench`: RewardBench's published section weights and its v2 Ties score.
- :mod:`.conventions`: each peer's choices (ties, weighting, totals, clusters) as named data.
"""

from __future__ import annotations

from .clusters import ClusterResult, rank_scorers, significance_clusters
from .conventions import CONVENTIONS, Convention, get_convention, list_conventions
from .correlation import (
    CorrelationResult,
    TieCalibrationResult,
    kendall_tau_b,
    kendall_tau_c,
    pearson,
    pearson_rows,
    spearman,
    spearman_rows,
    tie_calibrated_accuracy,
)
from .levels import LevelResult, correlate, system_segment_matrix
from .pairwise import (
    RMBENCH_DOMAIN_MERGE,
    AccuracyResult,
    RMBenchTotals,
    SectionScores,
    StyleMatrixResult,
    TauLikeResult,
    best_of_n_accuracy,
    best_of_n_outcomes,
    kendall_tau_like,
    pairwise_accuracy,
    pairwise_outcomes,
    rmbench_matrix,
    rmbench_totals,
    section_scores,
    subset_accuracies,
    tau_like_outcomes,
)
from .resampling import (
    MEAN,
    PEARSON,
    SPEARMAN,
    BootstrapResult,
    EarlyStopping,
    PermutationResult,
    RowStatistic,
    SumStatistic,
    bootstrap,
    bootstrap_distribution,
    bootstrap_indices,
    paired_permutation_test,
    percentile_interval,
    permutation_distribution,
    permutation_masks,
    permutation_pvalue_matrix,
    system_level,
)
from .rewardbench import (
    REWARDBENCH_EXAMPLE_COUNTS,
    REWARDBENCH_PRIOR_SETS,
    REWARDBENCH_SECTIONS,
    TiesScore,
    rewardbench2_ties_score,
    rewardbench_section_scores,
)
from .spa import SPAResult, pairwise_system_pvalues, permutation_signs, soft_pairwise_accuracy

__all__ = [
    "CONVENTIONS",
    "MEAN",
    "PEARSON",
    "REWARDBENCH_EXAMPLE_COUNTS",
    "REWARDBENCH_PRIOR_SETS",
    "REWARDBENCH_SECTIONS",
    "RMBENCH_DOMAIN_MERGE",
    "SPEARMAN",
    "AccuracyResult",
    "BootstrapResult",
    "ClusterResult",
    "Convention",
    "CorrelationResult",
    "EarlyStopping",
    "LevelResult",
    "PermutationResult",
    "RMBenchTotals",
    "RowStatistic",
    "SPAResult",
    "SectionScores",
    "StyleMatrixResult",
    "SumStatistic",
    "TauLikeResult",
    "TieCalibrationResult",
    "TiesScore",
    "best_of_n_accuracy",
    "best_of_n_outcomes",
    "bootstrap",
    "bootstrap_distribution",
    "bootstrap_indices",
    "correlate",
    "get_convention",
    "kendall_tau_b",
    "kendall_tau_c",
    "kendall_tau_like",
    "list_conventions",
    "paired_permutation_test",
    "pairwise_accuracy",
    "pairwise_outcomes",
    "pairwise_system_pvalues",
    "pearson",
    "pearson_rows",
    "percentile_interval",
    "permutation_distribution",
    "permutation_masks",
    "permutation_pvalue_matrix",
    "permutation_signs",
    "rank_scorers",
    "rewardbench2_ties_score",
    "rewardbench_section_scores",
    "rmbench_matrix",
    "rmbench_totals",
    "section_scores",
    "significance_clusters",
    "soft_pairwise_accuracy",
    "spearman",
    "spearman_rows",
    "subset_accuracies",
    "system_level",
    "system_segment_matrix",
    "tau_like_outcomes",
    "tie_calibrated_accuracy",
]
