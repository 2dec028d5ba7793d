"""sacrebleu metrics: sentence and corpus BLEU, chrF / chrF++, TER.

Every scorer builds its sacrebleu metric object once, in ``__init__``. Scoring follows sacrebleu's
own habit: per-item sufficient statistics first (with sacrebleu's segment code, the same calls
its ``sentence_score`` and significance tests make), scores second. Per-item scores therefore
equal ``sacrebleu.sentence_bleu`` / ``sentence_chrf`` / ``sentence_ter`` exactly, the statistics
go into ``details`` (one integer or float array per statistic, named in ``stat_keys``), and
``corpus_from_details`` sums them into sacrebleu's corpus score, so bootstrap can resample
statistics instead of text.

Multiple references: each item may have its own number of references. Statistics of an item
depend only on its own references, which is what sacrebleu computes when reference streams are
padded with ``None`` for items with fewer references; the corpus score over variable reference
counts equals ``corpus_*(hyps, streams)`` with such padded streams.

Large inputs are scored on every core (``n_jobs``, see :mod:`metricrm.core.parallel`): each item
gets the same calls in whichever process scores it, so scores and statistics are bit-identical
to one process and come back in input order.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..core.errors import MissingDependencyError, ScorerConfigError, ScorerInputError
from ..core.optional import require
from ..core.parallel import ParallelItems, check_n_jobs
from ..core.types import BaseScorer, ScoreOutput


def _check_bool(who: str, setting: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ScorerConfigError(f"{who}: setting {setting} must be True or False (got {value!r})")
    return bool(value)


def _check_int(who: str, setting: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ScorerConfigError(
            f"{who}: setting {setting} must be an integer >= {minimum} (got {value!r})"
        )
    return int(value)


def _build(who: str, factory: Any, **kwargs: Any) -> Any:
    """Create a sacrebleu metric, turning a missing tokenizer dependency into a clear error."""
    try:
        return factory(**kwargs)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{who}: the sacrebleu metric with settings {kwargs} needs a package that is not "
            f"installed ({exc})"
        ) from exc


class _SacreScorer(ParallelItems, BaseScorer):
    """Shared machinery: statistics per item, scores from statistics, corpus from summed stats."""

    requires_references = True
    uses_inputs = frozenset({"references"})
    accepts_empty_responses = True  # an empty hypothesis scores 0 (TER: its edit rate)
    backends: ClassVar[tuple[str, ...]] = ("sacrebleu",)
    score_neutral = frozenset({"n_jobs"})

    #: names of the per-item statistics in ``details``, in sacrebleu's order
    stat_keys: tuple[str, ...] = ()
    _metric: Any = None  # sacrebleu metric for statistics and per-item scores
    _corpus_metric: Any = None  # sacrebleu metric for the corpus score (None: no corpus score)

    def _statistics(self, responses: list[str], references: list[list[str]]) -> list[list]:
        # The segment-level calls sacrebleu's own ``sentence_score`` and significance tests make
        # (underscored but stable across sacrebleu 2.x); one metric object serves every item.
        # A reference set's information (its n-grams, words) is computed once per call and
        # reused by every item with the same references: WMT systems share each reference.
        # sacrebleu only reads it, so each item gets the statistics its own call would.
        metric = self._metric
        prep = metric._preprocess_segment
        ref_info = metric._extract_reference_info
        segment = metric._compute_segment_statistics
        infos: dict[tuple[str, ...], Any] = {}
        stats = []
        for hyp, refs in zip(responses, references):
            key = tuple(refs)
            info = infos.get(key)
            if info is None:
                info = infos[key] = ref_info([prep(r) for r in refs])
            stats.append(segment(prep(hyp), info))
        return stats

    def _item_rows(self, responses: list[str], references: list[list[str]]) -> list[tuple]:
        """``(statistics, score)`` of each item: the per-item work a worker process does."""
        stats = self._statistics(responses, references)
        from_stats = self._metric._compute_score_from_stats
        return [(s, from_stats(s).score) for s in stats]

    def _rows(self, responses: list[str], references: list[list[str]]) -> tuple[list, list]:
        rows = self.map_items("_item_rows", responses, references)
        return [r[0] for r in rows], [r[1] for r in rows]

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        stats, scores = self._rows(responses, references)
        table = np.asarray(stats)
        details = {key: table[:, j] for j, key in enumerate(self.stat_keys)}
        return ScoreOutput(scores, details)

    def corpus_from_details(self, details: Mapping[str, np.ndarray]) -> float | None:
        """sacrebleu's corpus score from the per-item statistics, summed in item order."""
        if self._corpus_metric is None:
            return None
        missing = [k for k in self.stat_keys if k not in details]
        if missing:
            raise ScorerInputError(
                f"{self.name}: cannot compute the corpus score; details lack the statistics "
                f"{', '.join(missing)} (expected {', '.join(self.stat_keys)})"
            )
        summed = []
        for key in self.stat_keys:
            column = np.asarray(details[key])
            if np.issubdtype(column.dtype, np.integer):
                summed.append(int(column.sum()))
            else:  # left-to-right like sacrebleu, so float sums match it bit for bit
                summed.append(sum(column.tolist()))
        return float(self._corpus_metric._compute_score_from_stats(summed).score)


class _BLEUBase(_SacreScorer):
    parallel_min_items = 4_000  # 0.08 ms per DARR sentence; a cold worker costs 0.18 s CPU

    def __init__(
        self,
        *,
        tokenize: str,
        lowercase: bool,
        smooth_method: str,
        smooth_value: float | None,
        max_ngram_order: int,
        effective_order: bool,
        n_jobs: int | None,
    ) -> None:
        who = type(self).name
        self.n_jobs = check_n_jobs(who, n_jobs)
        sacrebleu = require("sacrebleu", who=who, extra="metrics")
        bleu = sacrebleu.metrics.BLEU
        if tokenize not in bleu.TOKENIZERS:
            raise ScorerConfigError(
                f"{who}: unknown tokenize {tokenize!r}; valid: {', '.join(bleu.TOKENIZERS)}"
            )
        if smooth_method not in bleu.SMOOTH_DEFAULTS:
            raise ScorerConfigError(
                f"{who}: unknown smooth_method {smooth_method!r}; "
                f"valid: {', '.join(bleu.SMOOTH_DEFAULTS)}"
            )
        default_value = bleu.SMOOTH_DEFAULTS[smooth_method]
        if smooth_value is not None:
            if default_value is None:
                raise ScorerConfigError(
                    f"{who}: smooth_method {smooth_method!r} takes no smooth_value "
                    f"(got {smooth_value!r}); use 'floor' or 'add-k'"
                )
            if isinstance(smooth_value, bool) or not isinstance(smooth_value, numbers.Real):
                raise ScorerConfigError(
                    f"{who}: smooth_value must be a number (got {smooth_value!r})"
                )
        self.tokenize = tokenize
        self.lowercase = _check_bool(who, "lowercase", lowercase)
        self.smooth_method = smooth_method
        self.smooth_value = default_value if smooth_value is None else smooth_value
        self.max_ngram_order = _check_int(who, "max_ngram_order", max_ngram_order, 1)
        self.effective_order = _check_bool(who, "effective_order", effective_order)
        order = self.max_ngram_order
        self.stat_keys = (
            "sys_len",
            "ref_len",
            *(f"counts_{n}" for n in range(1, order + 1)),
            *(f"totals_{n}" for n in range(1, order + 1)),
        )
        self._bleu_class = bleu

    def _make_bleu(self, effective_order: bool) -> Any:
        return _build(
            type(self).name,
            self._bleu_class,
            tokenize=self.tokenize,
            lowercase=self.lowercase,
            smooth_method=self.smooth_method,
            smooth_value=self.smooth_value,
            max_ngram_order=self.max_ngram_order,
            effective_order=effective_order,
        )

    def settings(self) -> dict[str, Any]:
        return {
            "tokenize": self.tokenize,
            "lowercase": self.lowercase,
            "smooth_method": self.smooth_method,
            "smooth_value": self.smooth_value,
            "max_ngram_order": self.max_ngram_order,
            "effective_order": self.effective_order,
        }


class SentenceBLEU(_BLEUBase):
    """Sentence BLEU per item (sacrebleu ``sentence_bleu``: effective order, ``exp`` smoothing).

    Scale 0-100. ``details`` holds each item's statistics (``sys_len``, ``ref_len``,
    ``counts_n``, ``totals_n``); there is no corpus score (use ``corpus_bleu`` for that).
    """

    name = "bleu"

    def __init__(
        self,
        tokenize: str = "13a",
        lowercase: bool = False,
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        max_ngram_order: int = 4,
        effective_order: bool = True,
        n_jobs: int | None = None,
    ) -> None:
        super().__init__(
            tokenize=tokenize,
            lowercase=lowercase,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            max_ngram_order=max_ngram_order,
            effective_order=effective_order,
            n_jobs=n_jobs,
        )
        self._metric = self._make_bleu(self.effective_order)


class CorpusBLEU(_BLEUBase):
    """Corpus BLEU (sacrebleu ``corpus_bleu``) from summed per-item statistics.

    ``corpus_score`` is sacrebleu's corpus BLEU with the given settings (``effective_order``
    applies to it; off by default as in ``corpus_bleu``). Per-item ``scores`` are sentence BLEU
    with the same tokenizer and smoothing and effective order always on, i.e.
    ``sacrebleu.sentence_bleu(hyp, refs, smooth_method=..., smooth_value=..., tokenize=...,
    lowercase=...)``. ``details`` holds the statistics the corpus score is summed from.
    """

    name = "corpus_bleu"

    def __init__(
        self,
        tokenize: str = "13a",
        lowercase: bool = False,
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        max_ngram_order: int = 4,
        effective_order: bool = False,
        n_jobs: int | None = None,
    ) -> None:
        super().__init__(
            tokenize=tokenize,
            lowercase=lowercase,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            max_ngram_order=max_ngram_order,
            effective_order=effective_order,
            n_jobs=n_jobs,
        )
        self._metric = self._make_bleu(True)
        self._corpus_metric = self._make_bleu(self.effective_order)


class ChrF(_SacreScorer):
    """chrF (``word_order=0``) or chrF++ (``word_order=2``), sacrebleu ``sentence_chrf`` per item.

    Scale 0-100. ``details`` holds per-order ``hyp``/``ref``/``match`` n-gram counts of the best
    reference (``char{n}_*``, then ``word{n}_*``); ``corpus_score`` equals ``corpus_chrf``.
    ``whitespace=False`` (sacrebleu's default) drops spaces before extracting character n-grams.
    """

    name = "chrf"
    parallel_min_items = 1_000  # 0.29 ms (chrF++ 0.35 ms) per DARR sentence

    def __init__(
        self,
        char_order: int = 6,
        word_order: int = 0,
        beta: float = 2,
        lowercase: bool = False,
        whitespace: bool = False,
        eps_smoothing: bool = False,
        n_jobs: int | None = None,
    ) -> None:
        who = "chrf++" if word_order == 2 else "chrf"
        self.name = who
        self.n_jobs = check_n_jobs(who, n_jobs)
        sacrebleu = require("sacrebleu", who=who, extra="metrics")
        self.char_order = _check_int(who, "char_order", char_order, 0)
        self.word_order = _check_int(who, "word_order", word_order, 0)
        if self.char_order + self.word_order == 0:
            raise ScorerConfigError(f"{who}: char_order and word_order cannot both be 0")
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0:
            raise ScorerConfigError(f"{who}: setting beta must be a positive number (got {beta!r})")
        self.beta = beta
        self.lowercase = _check_bool(who, "lowercase", lowercase)
        self.whitespace = _check_bool(who, "whitespace", whitespace)
        self.eps_smoothing = _check_bool(who, "eps_smoothing", eps_smoothing)
        orders = [f"char{n}" for n in range(1, self.char_order + 1)]
        orders += [f"word{n}" for n in range(1, self.word_order + 1)]
        self.stat_keys = tuple(f"{o}_{part}" for o in orders for part in ("hyp", "ref", "match"))
        self._metric = _build(
            who,
            sacrebleu.metrics.CHRF,
            char_order=self.char_order,
            word_order=self.word_order,
            beta=self.beta,
            lowercase=self.lowercase,
            whitespace=self.whitespace,
            eps_smoothing=self.eps_smoothing,
        )
        self._corpus_metric = self._metric

    def settings(self) -> dict[str, Any]:
        return {
            "char_order": self.char_order,
            "word_order": self.word_order,
            "beta": self.beta,
            "lowercase": self.lowercase,
            "whitespace": self.whitespace,
            "eps_smoothing": self.eps_smoothing,
        }


class TER(_SacreScorer):
    """Translation edit rate, sacrebleu ``sentence_ter`` per item (0-100+, lower is better).

    ``details``: ``edits`` (fewest edits over the references) and ``ref_len`` (mean reference
    length in words); ``corpus_score`` equals ``corpus_ter``. Case-insensitive by default.
    """

    name = "ter"
    higher_is_better = False
    parallel_min_items = 100  # 3.9 ms per DARR sentence

    def __init__(
        self,
        normalized: bool = False,
        no_punct: bool = False,
        asian_support: bool = False,
        case_sensitive: bool = False,
        n_jobs: int | None = None,
    ) -> None:
        who = type(self).name
        self.n_jobs = check_n_jobs(who, n_jobs)
        sacrebleu = require("sacrebleu", who=who, extra="metrics")
        self.normalized = _check_bool(who, "normalized", normalized)
        self.no_punct = _check_bool(who, "no_punct", no_punct)
        self.asian_support = _check_bool(who, "asian_support", asian_support)
        self.case_sensitive = _check_bool(who, "case_sensitive", case_sensitive)
        self.stat_keys = ("edits", "ref_len")
        self._metric = _build(who, sacrebleu.metrics.TER, **self.settings())
        self._corpus_metric = self._metric

    def settings(self) -> dict[str, Any]:
        return {
            "normalized": self.normalized,
            "no_punct": self.no_punct,
            "asian_support": self.asian_support,
            "case_sensitive": self.case_sensitive,
        }

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        stats, scores = self._rows(responses, references)
        edits = np.fromiter((s[0] for s in stats), dtype=np.int64, count=len(stats))
        ref_len = np.fromiter((s[1] for s in stats), dtype=np.float64, count=len(stats))
        return ScoreOutput(scores, {"edits": edits, "ref_len": ref_len})


__all__ = ["SentenceBLEU", "CorpusBLEU", "ChrF", "TER"]
