"""metricrm: evaluation metrics and reward models behind one interface.

>>> import metricrm as mr
>>> chrf = mr.get_scorer("chrf")
>>> r = chrf.score(["the cat sat"], references=["the cat sat down"])
>>> r.scores.shape
(1,)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._version import __version__
from .core import (
    BaseScorer,
    DataFormatError,
    MetricRMError,
    MissingDependencyError,
    PointwiseItem,
    PreferencePair,
    ScoreOutput,
    Scorer,
    ScorerConfigError,
    ScoreResult,
    ScorerInputError,
    ScorerOutputError,
    UnknownScorerError,
    get_scorer,
    list_scorers,
    register_scorer,
    scorer_spec,
    unregister_scorer,
)

# Names resolved on first use so that `import metricrm` loads no data or model libraries.
_LAZY = {
    "data": "metricrm.data",
    "load_sample": "metricrm.data:load_sample",
    "load_preference_pairs": "metricrm.data:load_preference_pairs",
    "load_pointwise_items": "metricrm.data:load_pointwise_items",
    "score_in_chunks": "metricrm.core.batching:score_in_chunks",
    "score_with_cache": "metricrm.core.batching:score_with_cache",
    "score_pairs": "metricrm.core.batching:score_pairs",
    "PairScores": "metricrm.core.batching:PairScores",
    "PartialScoringError": "metricrm.core.errors:PartialScoringError",
    "ModelUnavailableError": "metricrm.core.errors:ModelUnavailableError",
    "NotFittedError": "metricrm.core.errors:NotFittedError",
    "ScoreCache": "metricrm.core.cache:ScoreCache",
    "CacheStats": "metricrm.core.cache:CacheStats",
    "write_table": "metricrm.core.results_io:write_table",
    "read_table": "metricrm.core.results_io:read_table",
    "read_metadata": "metricrm.core.results_io:read_metadata",
    "package_version": "metricrm.core.versions:package_version",
    "PairwiseJudge": "metricrm.adapters.causal_lm:PairwiseJudge",
    "meta": "metricrm.meta",
    "meta_evaluate": "metricrm.study:meta_evaluate",
    "study": "metricrm.study",
    "training": "metricrm.training",
    "weighting": "metricrm.weighting",
    "probes": "metricrm.probes",
    "plotting": "metricrm.plotting",
    "report": "metricrm.report",
    "engines": "metricrm.engines",
    "score_dataset": "metricrm.engines:score_dataset",
    "read_shards": "metricrm.engines:read_shards",
    "RayEngine": "metricrm.engines:RayEngine",
    "RemoteScorer": "metricrm.adapters.remote:RemoteScorer",
    "RemoteScoringError": "metricrm.core.errors:RemoteScoringError",
    "BadRequestError": "metricrm.core.errors:BadRequestError",
    "serve_scorer": "metricrm.engines:serve_scorer",
    "use_engine": "metricrm.core.batching:use_engine",
}


def __dir__() -> list[str]:
    """Every public name, the lazily loaded ones included."""
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'metricrm' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    module = import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


__all__ = [
    "BaseScorer",
    "DataFormatError",
    "MetricRMError",
    "MissingDependencyError",
    "PointwiseItem",
    "PreferencePair",
    "ScoreOutput",
    "ScoreResult",
    "Scorer",
    "ScorerConfigError",
    "ScorerInputError",
    "ScorerOutputError",
    "UnknownScorerError",
    "__version__",
    "get_scorer",
    "list_scorers",
    "register_scorer",
    "scorer_spec",
    "unregister_scorer",
    *_LAZY,
]
