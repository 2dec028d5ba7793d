"""Loaders that turn files, DataFrames and hub datasets into pointwise items and preference pairs.

Generic: :func:`load_preference_pairs`, :func:`load_pointwise_items`. Published formats:
:func:`load_rm_bench`, :func:`load_llmbar`, :func:`load_hh_rlhf`, :func:`load_evalbiasbench`,
:func:`load_wmt_darr` (pairs); :func:`load_wmt_mqm`, :func:`load_summeval` (items). Built-in
sample: :func:`load_sample`. Every format name is in one table, :data:`DATASET_FORMATS`.
pandas and datasets are imported only when a source needs them.
"""

from .benchmarks import (
    RM_BENCH_STYLES,
    load_evalbiasbench,
    load_llmbar,
    load_rm_bench,
    load_wmt_darr,
    rm_bench_difficulty,
)
from .formats import DATASET_FORMATS, SAMPLE_KINDS, DatasetFormat
from .generic import (
    DEFAULT_LABELS,
    POINTWISE_FORMATS,
    PREFERENCE_FORMATS,
    format_loader,
    load_pointwise_items,
    load_preference_pairs,
)
from .hh_rlhf import load_hh_rlhf, split_transcript
from .sample import load_sample
from .scored import (
    SUMMEVAL_ASPECTS,
    load_summeval,
    load_wmt_mqm,
    mqm_error_weight,
    strip_error_markers,
)

__all__ = [
    "DATASET_FORMATS",
    "DEFAULT_LABELS",
    "SAMPLE_KINDS",
    "DatasetFormat",
    "format_loader",
    "POINTWISE_FORMATS",
    "PREFERENCE_FORMATS",
    "RM_BENCH_STYLES",
    "SUMMEVAL_ASPECTS",
    "load_evalbiasbench",
    "load_hh_rlhf",
    "load_llmbar",
    "load_pointwise_items",
    "load_preference_pairs",
    "load_rm_bench",
    "load_sample",
    "load_summeval",
    "load_wmt_darr",
    "load_wmt_mqm",
    "mqm_error_weight",
    "rm_bench_difficulty",
    "split_transcript",
    "strip_error_markers",
]
