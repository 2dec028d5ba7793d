"""Run probes against a scorer on preference pairs: score changes and hack rates, with intervals.

For every probe and every kept pair (``chosen`` better than ``rejected``), the rejected
response - and with ``sides="both"`` the chosen one too - is perturbed and scored again. Per
probe, in the scorer's own direction (a lower-is-better scorer's values are negated first):

- ``score_change``: mean change of the perturbed responses' scores, in units of the scorer's
  spread (the standard deviation, ddof 0, of its scores on the untouched responses of the
  sample, chosen and rejected pooled); recomputed in every resample.
- ``rise_rate``: share of perturbed responses whose score rises (strictly).
- ``hack_rate``: share of pairs where the perturbed rejected response now beats the untouched
  chosen one (strictly: a tie does not count), the PreferenceHack-style measure.
- ``hack_rate_untouched``: the same share without the perturbation (one minus the scorer's
  accuracy when a score tie counts as correct), and ``hack_gain`` = hack rate minus it, per pair.

A pairwise judge (an object with ``compare(prompts, a, b) -> P(a better than b)`` instead of
``score``) is compared instead of scored: ``preference`` (mean P(perturbed better than the
original)) replaces ``score_change``, a rise is P > 0.5 and "beats" is P > 0.5.

Every value has a percentile bootstrap interval over pairs from :func:`metricrm.meta.bootstrap`
with one ``numpy.random.Generator`` per row, seeded by ``seed`` and the row's identity (so
adding a scorer or a probe moves no other interval). Scoring goes through the score cache.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core.batching import record_inputs, score_in_chunks, score_pairs, score_with_cache
from ..core.cache import ScoreCache, resolve_cache
from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.records import PointwiseItem, PreferencePair, response_text
from ..core.types import ScoreResult
from ..core.validation import check_choice, check_flag, check_integer, check_number
from ..core.versions import version_label
from ..meta.resampling import bootstrap
from ._statistics import RATIO, STANDARDISED
from .perturbations import Probe, resolve_probes

SIDES = ("both", "rejected")
COLUMNS = (
    "dataset", "scorer", "probe", "statistic", "value", "ci_low", "ci_high", "n", "n_changed",
    "n_excluded", "signature", "probe_signature", "run_signature",
)  # fmt: skip
SCORER_STATISTICS = (
    "score_change", "rise_rate", "hack_rate", "hack_rate_untouched", "hack_gain",
)  # fmt: skip
JUDGE_STATISTICS = ("preference", "rise_rate", "hack_rate", "hack_rate_untouched", "hack_gain")


# ------------------------------------------------------------------------------- comparisons


class PairComparison:
    """A pairwise judge as a per-item scorer: the "response" is compared with the text given
    as its ``source``; the score is P(response better than source). Lets comparisons go
    through the score cache, keyed on the prompt and both texts."""

    higher_is_better = True
    accepts_empty_responses = False
    uses_inputs = frozenset({"prompts", "sources"})
    preferred_chunk_size = 8

    def __init__(self, judge: Any) -> None:
        self.judge = judge
        self.name = getattr(judge, "name", type(judge).__name__)

    @property
    def signature(self) -> str:
        return f"{self.judge.signature}|compared_with:source"

    def score(self, responses, *, references=None, prompts=None, sources=None) -> ScoreResult:
        if sources is None:
            raise ScorerInputError(f"{self.name}: a comparison needs the other texts as sources")
        p = np.asarray(self.judge.compare(prompts, list(responses), list(sources)), np.float64)
        return ScoreResult(self.name, p, True, self.signature, {})


def is_pairwise_judge(scorer: Any) -> bool:
    return callable(getattr(scorer, "compare", None)) and not callable(
        getattr(scorer, "score", None)
    )


# ------------------------------------------------------------------------------------ inputs


def _text(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)


def _check_pairs(who: str, pairs: Any) -> list[PreferencePair]:
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__len__"):
        raise ScorerInputError(
            f"{who}: expected a list of PreferencePair (got {type(pairs).__name__})"
        )
    pairs = list(pairs)
    if not pairs:
        raise ScorerInputError(f"{who}: expected at least one preference pair (got none)")
    for i, p in enumerate(pairs):
        if not isinstance(p, PreferencePair):
            raise ScorerInputError(
                f"{who}: pair {i} must be a PreferencePair (got {type(p).__name__})"
            )
    return pairs


def _check_needs(who: str, probes: Sequence[Probe], pairs: Sequence[PreferencePair]) -> None:
    for probe in probes:
        for need in probe.needs:
            field = "references" if need == "references" else need
            for i, p in enumerate(pairs):
                if not getattr(p, field):
                    raise ScorerInputError(
                        f"{who}: probe {probe.name} needs the `{need}` of every pair; "
                        f"pair {i} ({p.id or 'no id'}) has none"
                    )


def perturb(probe: Probe, pair: PreferencePair, text: Any, seed: int) -> str:
    """``probe`` applied to one response of ``pair`` (with its prompt, source, references)."""
    return probe(
        _text(text),
        prompt=pair.prompt,
        source=pair.source,
        references=list(pair.references) or None,
        seed=seed,
    )


def perturbed_pairs(
    pairs: Sequence[PreferencePair], probe: Probe | str, *, seed: int = 0, sides: str = "both"
) -> list[PreferencePair]:
    """Copies of ``pairs`` with the rejected (``sides="both"``: and the chosen) response
    perturbed by ``probe``, exactly as :func:`probe` scores them."""
    check_choice("perturbed_pairs", "sides", sides, SIDES)
    (p,) = resolve_probes([probe], who="perturbed_pairs")
    pairs = _check_pairs("perturbed_pairs", pairs)
    _check_needs("perturbed_pairs", [p], pairs)
    return [
        replace(
            pair,
            rejected=perturb(p, pair, pair.rejected, seed),
            chosen=perturb(p, pair, pair.chosen, seed) if sides == "both" else pair.chosen,
        )
        for pair in pairs
    ]


# ----------------------------------------------------------------------------------- scoring


@dataclass
class _Runner:
    scorer: Any
    cache: ScoreCache | None
    chunk_size: int | None
    progress: bool
    who: str = "probe"

    def score(self, pairs: Sequence[PreferencePair], texts: Sequence[str], desc: str) -> np.ndarray:
        """Scores of ``texts[i]`` as a response to ``pairs[i]`` (its prompt, references, source)."""
        if not texts:
            return np.zeros(0)
        items = [
            PointwiseItem(response=t, prompt=p.prompt, source=p.source, references=p.references)
            for p, t in zip(pairs, texts)
        ]
        inputs = record_inputs(items, who=self.who)
        del inputs["responses"]
        return self._run(list(texts), inputs, desc)

    def compare(
        self, pairs: Sequence[PreferencePair], a: Sequence[str], b: Sequence[str], desc: str
    ) -> np.ndarray:
        """P(a[i] better than b[i]) for the prompt of ``pairs[i]``."""
        if not a:
            return np.zeros(0)
        inputs = {"prompts": [p.prompt for p in pairs], "references": None, "sources": list(b)}
        return self._run(list(a), inputs, desc)

    def _run(self, responses: list[str], inputs: dict[str, Any], desc: str) -> np.ndarray:
        options = dict(chunk_size=self.chunk_size, progress=self.progress, desc=desc)
        if self.cache is None:
            return score_in_chunks(self.scorer, responses, **inputs, **options).scores
        result = score_with_cache(self.scorer, responses, **inputs, cache=self.cache, **options)
        return result.scores


def _fill(changed: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    out = np.array(old, dtype=np.float64, copy=True)
    out[changed] = new
    return out


def _changed_scores(
    run: _Runner,
    kept: Sequence[PreferencePair],
    new: Sequence[str],
    old: Sequence[str],
    old_values: np.ndarray,
    desc: str,
    against: Sequence[str] | None = None,
) -> np.ndarray:
    """Scores of the perturbed texts ``new`` (or P(new better than ``against``)); texts the
    probe left unchanged keep ``old_values`` without being scored again."""
    changed = np.array([a != b for a, b in zip(new, old)], dtype=bool)
    idx = np.flatnonzero(changed)
    sub = [kept[i] for i in idx]
    texts = [new[i] for i in idx]
    if against is None:
        values = run.score(sub, texts, desc)
    else:
        values = run.compare(sub, texts, [against[i] for i in idx], desc)
    return _fill(changed, values, old_values)


def _scorer_outcomes(run, kept, originals, new_c, new_r, desc):
    """Per pair: hack indicator, oriented score changes (n, sides) and the change statistic."""
    s_c, s_r, sign, rejected, chosen = originals
    new_s_r = _changed_scores(run, kept, new_r, rejected, s_r, desc)
    hack = (sign * (new_s_r - s_c) > 0).astype(np.float64)
    moves = [sign * (new_s_r - s_r)]
    if new_c:
        moves.append(sign * (_changed_scores(run, kept, new_c, chosen, s_c, desc) - s_c))
    deltas = np.stack(moves, axis=1)
    n = len(kept)
    feats = np.stack(
        [deltas.sum(axis=1), np.full(n, deltas.shape[1]), s_c + s_r, s_c**2 + s_r**2,
         np.full(n, 2.0)],
        axis=1,
    )  # fmt: skip
    return hack, deltas, ("score_change", STANDARDISED, feats)


def _judge_outcomes(run, kept, chosen, rejected, new_c, new_r, base_p, desc):
    """Per pair: hack indicator (P(rejected' better than chosen) > 0.5), P(perturbed better
    than original) - 0.5 for each perturbed side, and the preference statistic."""
    n = len(kept)
    half = np.full(n, 0.5)
    p_hack = _changed_scores(run, kept, new_r, rejected, base_p, desc, against=chosen)
    hack = (p_hack > 0.5).astype(np.float64)
    moves = [_changed_scores(run, kept, new_r, rejected, half, desc, against=rejected) - 0.5]
    if new_c:
        moves.append(_changed_scores(run, kept, new_c, chosen, half, desc, against=chosen) - 0.5)
    deltas = np.stack(moves, axis=1)
    feats = np.stack([(deltas + 0.5).sum(axis=1), np.full(n, deltas.shape[1])], axis=1)
    return hack, deltas, ("preference", RATIO, feats)


# -------------------------------------------------------------------------------- statistics


def _row_rng(seed: int, *key: Any) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(repr(key).encode("utf-8"))])


# ------------------------------------------------------------------------------------- probe


def probe(
    scorer: Any,
    pairs: Sequence[PreferencePair],
    probes: Any = None,
    *,
    seed: int = 0,
    sides: str = "both",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    cache: Any = None,
    chunk_size: int | None = None,
    progress: bool = True,
    label: str | None = None,
    dataset: str = "dataset",
) -> Any:
    """Run ``probes`` (names, ``Probe`` objects or ``{name: settings}``; default: every general
    probe) against ``scorer`` (a Scorer, or a pairwise judge with ``compare``) on ``pairs``.

    Returns a tidy pandas frame (:data:`COLUMNS`), one row per probe and statistic (see the
    module docstring), with bootstrap intervals over pairs. Pairs humans tied are left out,
    and so are pairs with an empty response when the scorer cannot score one (``n_excluded``).
    ``n_changed`` counts the perturbed responses that differ from the original. ``label``
    names the scorer's rows (default: its name); ``dataset`` names the data.
    """
    who = "probe"
    check_integer(who, "seed", seed, minimum=0)
    check_integer(who, "n_resamples", n_resamples, minimum=1)
    check_number(who, "confidence", confidence, above=0.0, maximum=1.0)
    if confidence >= 1.0:
        raise ScorerConfigError(f"{who}: `confidence` must be a number in (0, 1) (got 1.0)")
    check_choice(who, "sides", sides, SIDES)
    check_flag(who, "progress", progress)
    pairs = _check_pairs(who, pairs)
    probe_list = resolve_probes(probes, who=who)
    _check_needs(who, probe_list, pairs)

    judge = is_pairwise_judge(scorer)
    if not judge and not callable(getattr(scorer, "score", None)):
        raise ScorerConfigError(
            f"{who}: expected a Scorer (with `score`) or a pairwise judge (with `compare`) "
            f"(got {type(scorer).__name__})"
        )
    if getattr(scorer, "requires_references", False):
        missing = next((i for i, p in enumerate(pairs) if not p.references), None)
        if missing is not None:
            raise ScorerInputError(
                f"{who}: {getattr(scorer, 'name', 'the scorer')} needs references and pair "
                f"{missing} ({pairs[missing].id or 'no id'}) has none"
            )
    runner_scorer = PairComparison(scorer) if judge else scorer
    name = label or getattr(scorer, "name", type(scorer).__name__)
    accepts_empty = not judge and bool(getattr(scorer, "accepts_empty_responses", False))
    kept = [
        p
        for p in pairs
        if p.label != "tie"
        and (accepts_empty or (_text(p.chosen).strip() and _text(p.rejected).strip()))
    ]
    n_excluded = len(pairs) - len(kept)
    if not kept:
        raise ScorerInputError(
            f"{who}: no pair left to probe {name} on ({n_excluded} tied or with an empty response)"
        )
    store = resolve_cache(cache, who)
    run = _Runner(runner_scorer, store, chunk_size, progress)
    chosen = [_text(p.chosen) for p in kept]
    rejected = [_text(p.rejected) for p in kept]
    if judge:
        base_p = run.compare(kept, rejected, chosen, f"{name}: originals")
        base = (base_p > 0.5).astype(np.float64)
        originals: tuple = ()
    else:
        both = score_pairs(
            scorer,
            [replace(p, chosen=c, rejected=r) for p, c, r in zip(kept, chosen, rejected)],
            cache=store,
            chunk_size=chunk_size,
            progress=progress,
            desc=f"{name}: originals",
        )
        sign = 1.0 if both.result.higher_is_better else -1.0
        s_c, s_r = both.chosen, both.rejected
        base = (sign * (s_r - s_c) > 0).astype(np.float64)
        originals = (s_c, s_r, sign, rejected, chosen)
        base_p = base

    signature = scorer.signature
    run_signature = (
        f"probe|metricrm:{version_label('metricrm')}|seed:{seed}|sides:{sides}"
        f"|n_resamples:{n_resamples}|confidence:{confidence}"
    )
    rows: list[dict[str, Any]] = []
    for pr in probe_list:
        new_r = [perturb(pr, p, r, seed) for p, r in zip(kept, rejected)]
        new_c = [perturb(pr, p, c, seed) for p, c in zip(kept, chosen)] if sides == "both" else []
        ch_r = np.array([a != b for a, b in zip(new_r, rejected)])
        ch_c = np.array([a != b for a, b in zip(new_c, chosen)], dtype=bool)
        desc = f"{name}: {pr.name}"
        if judge:
            hack, deltas, change = _judge_outcomes(run, kept, chosen, rejected, new_c, new_r,
                                                   base_p, desc)  # fmt: skip
        else:
            hack, deltas, change = _scorer_outcomes(run, kept, originals, new_c, new_r, desc)
        rises = (deltas > 0).sum(axis=1).astype(np.float64)
        n_changed = int(ch_r.sum() + ch_c.sum())
        one = np.ones(len(kept))
        statistics = [
            change,
            ("rise_rate", RATIO, np.stack([rises, np.full(len(kept), deltas.shape[1])], 1)),
            ("hack_rate", RATIO, np.stack([hack, one], 1)),
            ("hack_rate_untouched", RATIO, np.stack([base, one], 1)),
            ("hack_gain", RATIO, np.stack([hack - base, one], 1)),
        ]
        for stat_name, statistic, feats in statistics:
            # the untouched hack rate does not depend on the probe: one interval for all rows
            key = "" if stat_name == "hack_rate_untouched" else pr.signature
            rng = _row_rng(seed, dataset, name, key, stat_name)
            ci = bootstrap(
                statistic, feats, rng=rng, n_resamples=n_resamples, confidence=confidence
            )
            rows.append(
                {
                    "dataset": dataset,
                    "scorer": name,
                    "probe": pr.name,
                    "statistic": stat_name,
                    "value": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "n": len(kept),
                    "n_changed": n_changed,
                    "n_excluded": n_excluded,
                    "signature": signature,
                    "probe_signature": pr.signature,
                    "run_signature": run_signature,
                }
            )
    import pandas as pd

    return pd.DataFrame(rows, columns=list(COLUMNS))
