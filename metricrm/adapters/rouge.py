"""ROUGE-N / ROUGE-L / ROUGE-Lsum through Google's rouge-score package.

Scores are rouge-score's own values (scale 0-1). With several references an item takes
rouge-score's ``score_multi``: the reference with the highest F-measure, whose precision, recall
and F-measure are all reported (so ``output="recall"`` is the recall of the best-F reference, not
the best recall). ``rougeLsum`` splits texts into sentences at newlines only, exactly as
rouge-score does: put one sentence per line, otherwise it equals ``rougeL`` on the whole text.
rouge-score's default tokenizer lower-cases and keeps only ``[a-z0-9]`` runs, so text in other
scripts scores 0. ``use_stemmer`` defaults to False, the default of rouge-score and of HF
``evaluate``'s rouge. Large inputs are scored on every core (``n_jobs``, see
:mod:`metricrm.core.parallel`), with scores bit-identical to one process.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
from ..core.optional import require
from ..core.parallel import ParallelItems, check_n_jobs
from ..core.types import BaseScorer, ScoreOutput
from .lcs import lcs_length

_OUTPUTS = ("fmeasure", "precision", "recall")
_TYPE = re.compile(r"rouge[1-9]|rougeL|rougeLsum")


class Rouge(ParallelItems, BaseScorer):
    """ROUGE from rouge-score (F-measure by default); max over references by F-measure."""

    name = "rouge"
    requires_references = True
    uses_inputs = frozenset({"references"})
    accepts_empty_responses = True  # no token in common: 0
    backends = ("rouge-score",)
    score_neutral = frozenset({"n_jobs"})

    def __init__(
        self,
        rouge_type: str = "rougeL",
        use_stemmer: bool = False,
        output: str = "fmeasure",
        n_jobs: int | None = None,
    ) -> None:
        if not isinstance(rouge_type, str) or not _TYPE.fullmatch(rouge_type):
            raise ScorerConfigError(
                f"rouge: unknown rouge_type {rouge_type!r}; valid: rouge1 ... rouge9, rougeL, "
                "rougeLsum"
            )
        self.name = rouge_type
        if not isinstance(use_stemmer, (bool, np.bool_)):
            raise ScorerConfigError(
                f"{rouge_type}: setting use_stemmer must be True or False (got {use_stemmer!r})"
            )
        if output not in _OUTPUTS:
            raise ScorerConfigError(
                f"{rouge_type}: unknown output {output!r}; valid: {', '.join(_OUTPUTS)}"
            )
        self.n_jobs = check_n_jobs(rouge_type, n_jobs)
        # a worker imports rouge-score (and nltk): 1.5 s CPU, against 0.05 ms per DARR sentence
        # for ROUGE-1/2, 0.15-0.18 ms for ROUGE-Lsum and 0.012 ms for our ROUGE-L
        thresholds = {"rougeL": 200_000, "rougeLsum": 16_000}
        self.parallel_min_items = thresholds.get(rouge_type, 50_000)
        self.rouge_type = rouge_type
        self.use_stemmer = bool(use_stemmer)
        self.output = output
        require("rouge_score", who=rouge_type, extra="metrics")
        from rouge_score import rouge_scorer, scoring, tokenizers

        self._scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=self.use_stemmer)
        self._tokenizer = tokenizers.DefaultTokenizer(self.use_stemmer)  # the scorer's own kind
        self._fmeasure = scoring.fmeasure

    def settings(self) -> dict[str, Any]:
        return {
            "rouge_type": self.rouge_type,
            "use_stemmer": self.use_stemmer,
            "output": self.output,
        }

    def _item_rows(self, responses: list[str], references: list[list[str]]) -> list[tuple]:
        """``(fmeasure, precision, recall)`` of each item (best reference by F-measure)."""
        if self.rouge_type == "rougeL":
            return self._lcs_rows(responses, references)
        kind, one, multi = self.rouge_type, self._scorer.score, self._scorer.score_multi
        # score_multi on a single reference returns exactly score(); skip its list and argmax
        best = [
            (one(refs[0], hyp) if len(refs) == 1 else multi(refs, hyp))[kind]
            for hyp, refs in zip(responses, references)
        ]
        return [(s.fmeasure, s.precision, s.recall) for s in best]

    def _lcs_rows(self, responses: list[str], references: list[list[str]]) -> list[tuple]:
        """rouge-score's ``_score_lcs`` and ``score_multi`` with a bit-parallel LCS length:
        empty token lists score (0, 0, 0), and the first reference with the highest F-measure
        wins (``np.argmax``)."""
        tokens: dict[str, list[str]] = {}
        tokenize, fmeasure = self._tokenizer.tokenize, self._fmeasure
        rows = []
        for hyp, refs in zip(responses, references):
            pred = tokens.get(hyp)
            if pred is None:
                pred = tokens[hyp] = tokenize(hyp)
            best: tuple = ()
            for ref in refs:
                target = tokens.get(ref)
                if target is None:
                    target = tokens[ref] = tokenize(ref)
                if not target or not pred:
                    row: tuple = (0.0, 0.0, 0.0)
                else:
                    common = lcs_length(target, pred)
                    precision, recall = common / len(pred), common / len(target)
                    row = (fmeasure(precision, recall), precision, recall)
                if not best or row[0] > best[0]:
                    best = row
            rows.append(best)
        return rows

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        rows = self.map_items("_item_rows", responses, references)
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(_OUTPUTS))
        details = {key: table[:, j].copy() for j, key in enumerate(_OUTPUTS)}
        return ScoreOutput(details[self.output], details)
