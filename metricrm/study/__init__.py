"""Studies: :func:`meta_evaluate` (score scorers on datasets with human judgments and measure
agreement, through :mod:`metricrm.meta`) and study configs (YAML/TOML files naming scorers,
datasets and settings)."""

from .config import (
    DatasetEntry,
    ScorerEntry,
    StudyConfig,
    build_scorers,
    load_dataset,
    load_study_config,
    parse_dataset_spec,
    parse_scorer_spec,
    parse_study_config,
)
from .meta_evaluate import (
    COLUMNS,
    CONVENTION_SETTINGS,
    LEVELS,
    POINTWISE_STATISTICS,
    PREFERENCE_STATISTICS,
    MetaEvalConfig,
    meta_evaluate,
)

__all__ = [
    "COLUMNS",
    "CONVENTION_SETTINGS",
    "LEVELS",
    "POINTWISE_STATISTICS",
    "PREFERENCE_STATISTICS",
    "DatasetEntry",
    "MetaEvalConfig",
    "ScorerEntry",
    "StudyConfig",
    "build_scorers",
    "load_dataset",
    "load_study_config",
    "meta_evaluate",
    "parse_dataset_spec",
    "parse_scorer_spec",
    "parse_study_config",
]
