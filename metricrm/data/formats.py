"""The one table of dataset formats: every name a loader's ``format=``, the command line's
``--dataset FORMAT:PATH`` and a study file's ``format:`` accept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .benchmarks import load_evalbiasbench, load_llmbar, load_rm_bench, load_wmt_darr
from .hh_rlhf import load_hh_rlhf
from .sample import load_sample
from .scored import load_summeval, load_wmt_mqm

RECORD_KINDS = ("preference", "pointwise")


@dataclass(frozen=True)
class DatasetFormat:
    """A named dataset format: the record kind it gives (``preference``, ``pointwise``, or
    ``sample`` for the built-in sample, whose "path" is the sample kind), its loader (None: the
    generic loader of its kind, which reads any table) and how many paths it takes."""

    name: str
    kind: str
    loader: Callable[..., list] | None
    max_paths: int = 1
    takes_path: bool = True
    description: str = ""


DATASET_FORMATS: dict[str, DatasetFormat] = {
    f.name: f
    for f in (
        DatasetFormat("rm-bench", "preference", load_rm_bench,
                      description="RM-Bench *_filtered.json file or folder"),
        DatasetFormat("llmbar", "preference", load_llmbar,
                      description="LLMBar dataset.json file or folder"),
        DatasetFormat("hh-rlhf", "preference", load_hh_rlhf,
                      description="Anthropic HH-RLHF .jsonl(.gz) transcripts"),
        DatasetFormat("evalbiasbench", "preference", load_evalbiasbench,
                      description="EvalBiasBench biasbench.json"),
        DatasetFormat("wmt-darr", "preference", load_wmt_darr,
                      description="WMT DARR relative-ranking JSON"),
        DatasetFormat("wmt-mqm", "pointwise", load_wmt_mqm, max_paths=2,
                      description="WMT MQM TSV [and averaged segment scores TSV]"),
        DatasetFormat("summeval", "pointwise", load_summeval, description="SummEval JSON"),
        DatasetFormat("preference", "preference", None,
                      description="any table of preference pairs (JSONL, JSON, CSV, Parquet, ...)"),
        DatasetFormat("pointwise", "pointwise", None,
                      description="any table of scored items (JSONL, JSON, CSV, Parquet, ...)"),
        DatasetFormat("sample", "sample", load_sample, takes_path=False,
                      description="the built-in sample: sample:preference or sample:reference"),
    )
}  # fmt: skip
SAMPLE_KINDS = ("preference", "reference")
