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
- :mod:`.williams`: Williams test between two correlations sharing the human scores.
- :mod:`.pairwise_perm`: WMT23+ pairwise (comparison-swapping) permutation test for acc23.
- :mod:`.darr`: DARR relative-ranking pairs from direct-assessment scores.
- :mod:`.tasks`: averages and ranks across tasks, pooled (global) pairwise accuracy.
- :mod:`.subsample`: test-set subsampling for significance estimates.
- :mod:`.stratified`: benchmark totals as weighted means of cell means, and a bootstrap that
  resamples within strata (subsets, domains).
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
from .darr import darr_tau_like, relative_ranking_pairs
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
    rmbench_matrix_from_outcomes,
    rmbench_totals,
    section_scores,
    subset_accuracies,
    tau_like_outcomes,
)
from .pairwise_perm import (
    PairComparisons,
    PairwisePermutationResult,
    pairwise_comparisons,
    pairwise_permutation_test,
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
from .rewardbench import TiesScore, rewardbench2_ties_score, rewardbench_section_scores
from .rewardbench_constants import (
    REWARDBENCH_EXAMPLE_COUNTS,
    REWARDBENCH_PRIOR_SETS,
    REWARDBENCH_SECTIONS,
)
from .spa import SPAResult, pairwise_system_pvalues, permutation_signs, soft_pairwise_accuracy
from .stratified import stratified_bootstrap, weighted_cell_means
from .subsample import SubsampleSignificance, subsample_indices, subsampled_significance
from .tasks import (
    GlobalAccuracyResult,
    average_across_tasks,
    average_ranks,
    global_accuracy,
    task_weights,
)
from .williams import WilliamsResult, williams, williams_test

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
    "GlobalAccuracyResult",
    "LevelResult",
    "PairComparisons",
    "PairwisePermutationResult",
    "PermutationResult",
    "RMBenchTotals",
    "RowStatistic",
    "SPAResult",
    "SectionScores",
    "StyleMatrixResult",
    "SubsampleSignificance",
    "SumStatistic",
    "TauLikeResult",
    "TieCalibrationResult",
    "TiesScore",
    "WilliamsResult",
    "average_across_tasks",
    "average_ranks",
    "best_of_n_accuracy",
    "best_of_n_outcomes",
    "bootstrap",
    "bootstrap_distribution",
    "bootstrap_indices",
    "correlate",
    "darr_tau_like",
    "get_convention",
    "global_accuracy",
    "kendall_tau_b",
    "kendall_tau_c",
    "kendall_tau_like",
    "list_conventions",
    "paired_permutation_test",
    "pairwise_accuracy",
    "pairwise_comparisons",
    "pairwise_outcomes",
    "pairwise_permutation_test",
    "pairwise_system_pvalues",
    "pearson",
    "pearson_rows",
    "percentile_interval",
    "permutation_distribution",
    "permutation_masks",
    "permutation_pvalue_matrix",
    "permutation_signs",
    "rank_scorers",
    "relative_ranking_pairs",
    "rewardbench2_ties_score",
    "rewardbench_section_scores",
    "rmbench_matrix",
    "rmbench_matrix_from_outcomes",
    "rmbench_totals",
    "section_scores",
    "significance_clusters",
    "soft_pairwise_accuracy",
    "spearman",
    "spearman_rows",
    "stratified_bootstrap",
    "subsample_indices",
    "subsampled_significance",
    "subset_accuracies",
    "system_level",
    "system_segment_matrix",
    "task_weights",
    "tau_like_outcomes",
    "tie_calibrated_accuracy",
    "weighted_cell_means",
    "williams",
    "williams_test",
]
