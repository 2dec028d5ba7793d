"""``metricrm demo``: score the built-in sample with metrics, SmolLM2 and a trained head, and
compare each with the human judgments (statistics from :mod:`metricrm.meta`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

import metricrm as mr

from .. import meta
from ..core.batching import record_inputs, score_pairs
from ..core.errors import MetricRMError
from .common import add_progress_flag, format_number, format_table

DEMO_REFERENCE_SCORERS = (
    "bleu", "chrf", "chrf++", "ter", "rougeL", "token_f1", "length_tokens", "bertscore_f1",
)  # fmt: skip
DEMO_PREFERENCE_SCORERS = ("length_chars", "length_tokens")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="score the built-in sample and compare with human judgments")
    p.add_argument(
        "--scorers", nargs="+", metavar="NAME", help="scorers to show instead of the defaults"
    )
    p.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (no model load)")
    p.add_argument(
        "--no-models",
        action="store_true",
        help="skip every model: BERTScore, the SmolLM2 judge and log-prob, the trained head",
    )
    add_progress_flag(p)
    p.set_defaults(func=cmd_demo)


def _scorer(name: str, **settings: Any) -> Any:
    """A fresh scorer, or None (with a note) when an optional dependency is missing."""
    try:
        return mr.get_scorer(name, **settings)
    except ImportError as exc:  # MissingDependencyError, or an adapter that is not installed
        print(f"note: {name} skipped ({exc})")
        return None


def _needs(name: str, what: str) -> bool:
    """Whether the scorer registered as ``name`` needs ``what`` (references, prompts)."""
    try:
        return bool(getattr(mr.scorer_spec(name).factory, f"requires_{what}", False))
    except ImportError:
        return False  # scored (and reported as skipped) like the other scorers


def _system_means(values: np.ndarray, items: Sequence[Any]) -> list[float]:
    systems = [it.system for it in items]
    groups = [it.group for it in items]
    matrix, _, _ = meta.system_segment_matrix(values, systems, groups)
    return np.nanmean(matrix, axis=1).tolist()


def _demo_reference(names: Sequence[str], progress: bool, signatures: dict) -> None:
    items = mr.load_sample("reference")
    human = np.array([it.human["da"] for it in items])
    systems = sorted({it.system for it in items})
    rows = [("human (da)", "+", *map(format_number, _system_means(human, items)), "", "")]
    inputs = record_inputs(items)
    for name in names:
        if _needs(name, "prompts"):
            print(f"note: {name} skipped (it needs prompts; the reference set has sources only)")
            continue
        scorer = _scorer(name)
        if scorer is None:
            continue
        try:
            result = mr.score_in_chunks(scorer, **inputs, progress=progress)
        except ImportError as exc:
            print(f"note: {name} skipped ({exc})")
            continue
        signatures[name] = result.signature
        pearson = meta.pearson(human, result.scores).statistic  # NaN for a constant column
        kendall = meta.kendall_tau_b(human, result.scores).statistic
        rows.append((name, "+" if result.higher_is_better else "-",
                     *map(format_number, _system_means(result.scores, items)),
                     format_number(pearson), format_number(kendall)))  # fmt: skip
    print(
        f"Reference set: {len(items)} outputs = {len({it.group for it in items})} sources x "
        f"{len(systems)} systems (translation, summarization)\n"
        f"human = direct assessment 0-100; pearson and kendall over the {len(items)} outputs; "
        "dir - = lower is better"
    )
    print(format_table(("metric", "dir", *[f"mean {s}" for s in systems],
                        "pearson", "kendall"), rows))  # fmt: skip


def _accuracy_row(label: str, margin: np.ndarray, subsets: np.ndarray) -> tuple:
    """Accuracy of "prefers chosen" overall and per subset (scorer ties count half)."""
    zeros = np.zeros_like(margin)
    overall = meta.pairwise_accuracy(margin, zeros).value
    per = meta.subset_accuracies(margin, zeros, subsets)
    return (label, f"{overall:.3f}", *[f"{per[s].value:.3f}" for s in sorted(per)])


def _demo_preference(
    names: Sequence[str], progress: bool, signatures: dict, models: bool = False
) -> None:
    pairs = mr.load_sample("preference")
    scored = [p for p in pairs if p.label != "tie"]
    subsets = np.array([p.subset for p in scored])
    names_of_subsets = sorted(set(subsets))
    has_refs = all(p.references for p in scored)
    usable = [n for n in names if has_refs or not _needs(n, "references")]
    print(
        f"Preference set: {len(pairs)} pairs, {len(scored)} scored "
        f"({len(pairs) - len(scored)} human ties excluded)\n"
        "accuracy = share of pairs where the scorer prefers the chosen response "
        "(scorer ties count half)"
    )
    if not usable:
        print("(no reference-free scorer selected; the sample pairs have no references)")
        return
    rows = []
    for name in usable:
        scorer = _scorer(name)
        if scorer is None:
            continue
        try:
            both = score_pairs(scorer, scored, progress=progress)
        except ImportError as exc:
            print(f"note: {name} skipped ({exc})")
            continue
        signatures[name] = both.result.signature
        rows.append(_accuracy_row(name, both.margin, subsets))
    if models:
        rows += _demo_model_rows(pairs, scored, subsets, progress, signatures)
    counts = {s: int((subsets == s).sum()) for s in names_of_subsets}
    header = ("scorer", f"all ({len(scored)})", *[f"{s} ({counts[s]})" for s in names_of_subsets])
    print(format_table(header, rows))
    if models:
        print(
            "lm_* = SmolLM2-135M-Instruct (offline); bt_head = Bradley-Terry head on MiniLM, "
            "trained on the sample itself with 5-fold cross-validation by prompt (held-out scores)"
        )


def _demo_model_rows(pairs, scored, subsets, progress: bool, signatures: dict) -> list:
    """A real causal LM (SmolLM2) as judge and log-prob scorer, and a trained reward head."""
    rows: list = []
    try:
        from ..adapters.offline_models import smollm2_path

        model = str(smollm2_path())
    except (ImportError, MetricRMError) as exc:
        print(f"note: SmolLM2 scorers skipped ({exc})")
    else:
        for name in ("lm_judge", "lm_logprob"):
            both = score_pairs(mr.get_scorer(name, model=model), scored, progress=progress)
            signatures[name] = both.result.signature
            rows.append(_accuracy_row(name, both.margin, subsets))
    try:
        from ..training import cross_validate_bt_head

        cv = cross_validate_bt_head(pairs, k=5, seed=0)
    except (ImportError, MetricRMError) as exc:
        print(f"note: bt_head skipped ({exc})")
        return rows
    keep = np.array([p.label != "tie" for p in pairs])
    margin = cv.chosen[keep] - cv.rejected[keep]
    rows.append(_accuracy_row("bt_head (held-out)", margin, subsets))
    return rows


def cmd_demo(args: argparse.Namespace) -> int:
    chosen = list(args.scorers) if args.scorers else None
    ref_names = chosen or list(DEMO_REFERENCE_SCORERS)
    pref_names = chosen or list(DEMO_PREFERENCE_SCORERS)
    if args.no_bertscore or args.no_models:
        ref_names = [n for n in ref_names if not n.startswith("bertscore")]
        pref_names = [n for n in pref_names if not n.startswith("bertscore")]
    models = not (args.no_models or chosen)
    for name in dict.fromkeys(ref_names + pref_names):
        try:
            mr.scorer_spec(name)  # unknown names fail before any scoring
        except ImportError:
            pass  # reported as skipped when scored
    progress = not args.no_progress
    signatures: dict[str, str] = {}
    print("metricrm demo on the built-in sample (original text written for metricrm)\n")
    _demo_reference(ref_names, progress, signatures)
    print()
    _demo_preference(pref_names, progress, signatures, models=models)
    print("\nSignatures:")
    for signature in signatures.values():
        print(f"  {signature}")
    return 0
