"""One call from records to a validated composite: score the components once (through the
cache), evaluate the weighting on held-out folds against the equal-weight baseline, every
component and the best single one, then fit it on all the data (what ``metricrm compose fit``
runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ScorerConfigError
from ..core.records import PreferencePair
from .composite import Component, Composite
from .evaluation import HeldOut, cross_validate_weights, held_out_table
from .learning import fit_composite
from .tables import ItemTable, PairTable, score_item_table, score_pair_table


@dataclass
class ComposeResult:
    """The fitted composite, the component scores, the held-out scores and their table."""

    composite: Composite
    table: PairTable | ItemTable
    held_out: HeldOut
    frame: Any


def compose(
    components: Sequence[Component],
    records: Sequence[Any],
    *,
    method: Any = None,
    baselines: Mapping[str, Any] | None = None,
    k: int = 5,
    seed: int = 0,
    group_by: Any = None,
    category: Any = None,
    by_category: bool = False,
    human: str | None = None,
    statistic: str | None = None,
    level: str = "item",
    n_resamples: int = 1000,
    cache: Any = None,
    progress: bool = True,
    meta: Sequence[str] = (),
) -> ComposeResult:
    """Fit a composite on ``records`` (preference pairs or pointwise items) and measure it on
    held-out folds grouped by ``group_by`` (default: the prompt for pairs, ``group`` for
    items). ``method`` defaults to ``logistic`` (pairs) / ``least_squares`` (items);
    ``baselines`` default to equal weights. The statistic is ``accuracy`` (``tau_like`` for
    WMT DARR pairs, ``rmbench`` for RM-Bench pairs) or ``kendall`` at ``level``."""
    records = list(records)
    if not records:
        raise ScorerConfigError("compose: expected at least one record (got none)")
    pairs = isinstance(records[0], PreferencePair)
    if pairs:
        if statistic is None:
            statistic = _pair_statistic(records)
        if statistic == "rmbench" and "difficulty" not in meta:
            meta = (*meta, "difficulty")
        table = score_pair_table(
            components,
            records,
            cache=cache,
            group_by=group_by or "prompt",
            category=category,
            meta=meta,
            progress=progress,
        )
        method = method or "logistic"
    else:
        table = score_item_table(
            components,
            records,
            cache=cache,
            group_by=group_by or "group",
            category=category,
            progress=progress,
        )
        method = method or "least_squares"
    methods = {"composite": method, **(baselines if baselines is not None else {"equal": "equal"})}
    normalizers = [c.normalizer for c in components]
    held = cross_validate_weights(
        table,
        methods,
        normalizers=normalizers,
        k=k,
        seed=seed,
        human=human,
        by_category=by_category,
    )
    frame = held_out_table(
        held, statistic=statistic, level=level, n_resamples=n_resamples, seed=seed
    )
    composite = fit_composite(
        components,
        table,
        method,
        human=human,
        by_category=by_category,
        cache=cache,
        info={"held_out": _summary(frame), "k": k, "seed": seed, "records": len(records)},
    )
    return ComposeResult(composite, table, held, frame)


def _pair_statistic(pairs: Sequence[PreferencePair]) -> str:
    if all(p.meta.get("statistic") == "tau_like" for p in pairs):
        return "tau_like"
    if all("difficulty" in p.meta and "prompt_id" in p.meta for p in pairs):
        return "rmbench"
    return "accuracy"


def _summary(frame: Any) -> dict[str, Any]:
    """Held-out values of the composite and the best single component, for the file's info."""
    rows = frame[frame["subset"] == "all"].set_index("method")
    out = {}
    for m in ("composite", "best_single"):
        if m in rows.index:
            r = rows.loc[m]
            out[m] = {
                "statistic": str(r["statistic"]),
                "value": round(float(r["value"]), 6),
                "ci": [round(float(r["ci_low"]), 6), round(float(r["ci_high"]), 6)],
            }
    if "composite" in rows.index:
        out["p_value_vs_best_single"] = float(rows.loc["composite", "p_value"])
    return out
