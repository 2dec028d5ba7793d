"""RM-Bench's 3x3 style matrix per domain: accuracy of chosen style i against rejected style j."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import meta
from ..core.errors import DataFormatError, ScorerInputError
from ..data.benchmarks import RM_BENCH_STYLES
from .base import Display, require_columns
from .heatmap import draw_matrix
from .style import SEQUENTIAL_CMAP, new_axes, paper_style

#: columns of the per-pair scores frame ``from_scores`` reads
SCORE_COLUMNS = ("domain", "prompt_id", "chosen_style", "rejected_style", "chosen", "rejected")
#: columns of the per-pair outcomes frame ``from_outcomes`` reads
OUTCOME_COLUMNS = ("domain", "prompt_id", "chosen_style", "rejected_style", "outcome")


class RMBenchMatrixDisplay(Display):
    """One 3x3 matrix per domain (rows: chosen style, columns: rejected style; hard cells above
    the diagonal, normal on it, easy below), from :func:`metricrm.meta.rmbench_matrix`.

    ``matrices_`` maps each domain to its ``StyleMatrixResult`` (``matrix``, ``hard``,
    ``normal``, ``easy``, ``average``). After :meth:`plot`: ``figure_``, ``ax_`` (one Axes per
    domain), ``images_`` and ``texts_`` (domain -> object array of Text).
    """

    def __init__(self, matrices: dict[str, Any], *, styles: Sequence[str] = RM_BENCH_STYLES,
                 title: str = "") -> None:  # fmt: skip
        self.matrices_, self.styles, self.title = matrices, tuple(styles), title

    @classmethod
    def from_scores(
        cls, frame: Any, *, score_ties: str = "loss", title: str = "", ax: Any = None
    ) -> RMBenchMatrixDisplay:
        """``frame``: one row per RM-Bench pair with columns ``domain, prompt_id, chosen_style,
        rejected_style`` (style indices 0-2: concise, detailed plain, detailed markdown) and the
        scorer's ``chosen`` and ``rejected`` scores (higher = better). Every prompt needs all
        its styles. ``score_ties``: "loss" (RM-Bench's rule), "half" or "drop"."""
        who = "RMBenchMatrixDisplay.from_scores"
        require_columns(who, frame, SCORE_COLUMNS)
        matrices = {}
        for domain in dict.fromkeys(frame["domain"].astype(str)):
            part = frame[frame["domain"].astype(str) == domain]
            chosen = _side(who, domain, part, "chosen_style", "chosen")
            rejected = _side(who, domain, part, "rejected_style", "rejected")
            matrices[domain] = meta.rmbench_matrix(chosen, rejected, score_ties=score_ties)
        return cls(matrices, title=title).plot(ax=ax)

    @classmethod
    def from_outcomes(cls, frame: Any, *, title: str = "", ax: Any = None) -> RMBenchMatrixDisplay:
        """For judges that compare two responses (``mr.PairwiseJudge``) instead of scoring
        each: ``frame`` has one row per RM-Bench pair with columns ``domain, prompt_id,
        chosen_style, rejected_style`` and ``outcome`` (1: the chosen response won, 0: it
        lost; a tie gets the credit you give it), e.g. from
        ``metricrm.meta.pairwise_outcomes``. Every prompt needs all its style pairs."""
        who = "RMBenchMatrixDisplay.from_outcomes"
        require_columns(who, frame, OUTCOME_COLUMNS)
        k = len(RM_BENCH_STYLES)
        matrices = {}
        for domain in dict.fromkeys(frame["domain"].astype(str)):
            part = frame[frame["domain"].astype(str) == domain]
            cells = part.groupby(["prompt_id", "chosen_style", "rejected_style"])["outcome"]
            if (cells.size() > 1).any():
                key = cells.size()[cells.size() > 1].index[0]
                raise DataFormatError(
                    f"{who}: domain {domain!r}: prompt {key[0]} has more than one row for "
                    f"chosen_style {key[1]}, rejected_style {key[2]}"
                )
            prompts = list(dict.fromkeys(part["prompt_id"]))
            out = np.full((len(prompts), k, k), np.nan)
            where = {pid: n for n, pid in enumerate(prompts)}
            styles = zip(part["chosen_style"].astype(int), part["rejected_style"].astype(int))
            for pid, (i, j), v in zip(part["prompt_id"], styles, part["outcome"]):
                if not (0 <= i < k and 0 <= j < k):
                    raise DataFormatError(
                        f"{who}: domain {domain!r}: prompt {pid}: expected styles 0..{k - 1} "
                        f"(got chosen_style {i}, rejected_style {j})"
                    )
                if not 0 <= float(v) <= 1:
                    raise ScorerInputError(
                        f"{who}: domain {domain!r}: prompt {pid}, chosen_style {i}, "
                        f"rejected_style {j}: expected an outcome between 0 and 1 (got {float(v)})"
                    )
                out[where[pid], i, j] = v
            missing = np.argwhere(np.isnan(out))
            if missing.size:
                n, i, j = missing[0]
                raise DataFormatError(
                    f"{who}: domain {domain!r}: prompt {prompts[n]} lacks the pair of "
                    f"chosen_style {i} and rejected_style {j}; every prompt needs all its pairs"
                )
            matrices[domain] = meta.rmbench_matrix_from_outcomes(out)
        return cls(matrices, title=title).plot(ax=ax)

    @classmethod
    def from_pairs(
        cls, pairs: Sequence[Any], chosen: Any, rejected: Any, *, score_ties: str = "loss",
        title: str = "", ax: Any = None,
    ) -> RMBenchMatrixDisplay:  # fmt: skip
        """From ``load_rm_bench`` pairs and one scorer's chosen and rejected scores (e.g. the
        ``chosen`` and ``rejected`` of :func:`metricrm.score_pairs`), in the pairs' order.
        Scores of a lower-is-better scorer should be negated first."""
        import pandas as pd

        who = "RMBenchMatrixDisplay.from_pairs"
        c, r = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
        if c.shape != (len(pairs),) or r.shape != (len(pairs),):
            raise ScorerInputError(
                f"{who}: expected one chosen and one rejected score per pair (got {len(pairs)} "
                f"pairs, {c.size} chosen, {r.size} rejected)"
            )
        rows = []
        for i, p in enumerate(pairs):
            m = getattr(p, "meta", {}) or {}
            if not {"prompt_id", "chosen_style", "rejected_style"} <= set(m):
                raise DataFormatError(
                    f"{who}: pair {i} is not an RM-Bench pair (its meta lacks prompt_id, "
                    "chosen_style or rejected_style; load the data with load_rm_bench)"
                )
            rows.append({"domain": p.subset, "prompt_id": m["prompt_id"],
                         "chosen_style": m["chosen_style"], "rejected_style": m["rejected_style"],
                         "chosen": c[i], "rejected": r[i]})  # fmt: skip
        return cls.from_scores(pd.DataFrame(rows), score_ties=score_ties, title=title, ax=ax)

    def plot(self, ax: Any = None) -> RMBenchMatrixDisplay:
        """Draw on ``ax`` (one Axes per domain) or a new figure; returns ``self``."""
        n = len(self.matrices_)
        ncols = min(n, 4)
        nrows = math.ceil(n / ncols)
        short = [s.replace("detailed ", "det. ") for s in self.styles]
        with paper_style():
            fig, axes = new_axes(ax, nrows=nrows if ax is None else 1,
                                 ncols=ncols if ax is None else n,
                                 figsize=(1.9 * ncols + 0.8, 2.1 * nrows + 0.3))  # fmt: skip
            self.images_, self.texts_ = {}, {}
            for axis, (domain, res) in zip(axes, self.matrices_.items()):
                texts = [["n/a" if np.isnan(v) else f"{v:.2f}" for v in row] for row in res.matrix]
                image, cells = draw_matrix(
                    axis, res.matrix, texts, row_labels=short, col_labels=short,
                    cmap=SEQUENTIAL_CMAP, vmin=0.0, vmax=1.0,
                )  # fmt: skip
                self.images_[domain], self.texts_[domain] = image, cells
                scores = f"hard {res.hard:.2f} · normal {res.normal:.2f} · easy {res.easy:.2f}"
                axis.set_title(f"{domain}\n{scores}", fontsize=8)
                axis.set_ylabel("chosen style")
                axis.set_xlabel("rejected style")
            for axis in axes[n:]:
                axis.set_visible(False)
            if self.title:
                fig.suptitle(self.title)
        self.figure_, self.ax_ = fig, axes
        return self


def _side(who: str, domain: str, part: Any, style_col: str, score_col: str) -> np.ndarray:
    """(n_prompts, n_styles) scores of one side: the score of each prompt's style-k response
    (the same in every row that uses it; differing copies are an error)."""
    styles = sorted(set(part[style_col].astype(int)))
    if styles != list(range(len(RM_BENCH_STYLES))):
        raise DataFormatError(
            f"{who}: domain {domain!r}: expected {style_col} values 0..{len(RM_BENCH_STYLES) - 1}"
            f" (got {styles})"
        )
    spread = part.groupby(["prompt_id", style_col])[score_col].agg(["min", "max", "count"])
    differs = spread[(spread["max"] - spread["min"]).abs() > 1e-12]
    if not differs.empty:
        key = differs.index[0]
        raise DataFormatError(
            f"{who}: domain {domain!r}: prompt {key[0]}, {style_col} {key[1]}: the rows give "
            "different scores for one response"
        )
    table = spread["min"].unstack(style_col)
    if table.isna().any().any():
        missing = table[table.isna().any(axis=1)].index[0]
        raise DataFormatError(
            f"{who}: domain {domain!r}: prompt {missing} lacks a {style_col}; every prompt "
            "needs all its styles"
        )
    return table.to_numpy(dtype=float)
