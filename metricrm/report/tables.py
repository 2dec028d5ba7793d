"""Result tables for papers: a ``meta_evaluate`` frame as Markdown or LaTeX, each cell the value
with its interval, cells of the top significance cluster in bold.

>>> print(to_markdown(table, columns="dataset", statistic="accuracy"))  # doctest: +SKIP
| scorer | llmbar | hh-rlhf |
|---|---|---|
| **lm_judge** | **0.560** [0.470, 0.660] | ... |
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..core.validation import check_integer
from ..study.frames import ResultGrid, pivot_results

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _grid(who: str, frame: Any, rows: str, columns: Any, filters: dict) -> ResultGrid:
    return pivot_results(who, frame, rows=rows, columns=columns, filters=filters)


def _cells(grid: ResultGrid, digits: int) -> list[list[tuple[str, str, bool]]]:
    """Per cell ``(value, interval, top cluster)`` as text; empty strings where no row."""
    out = []
    for i in range(grid.values.shape[0]):
        row = []
        for j in range(grid.values.shape[1]):
            v = grid.values.iat[i, j]
            lo, hi, k = grid.ci_low.iat[i, j], grid.ci_high.iat[i, j], grid.cluster.iat[i, j]
            if math.isnan(v):
                row.append(("", "", False))
                continue
            ci = "" if math.isnan(lo) or math.isnan(hi) else f"[{lo:.{digits}f}, {hi:.{digits}f}]"
            row.append((f"{v:.{digits}f}", ci, k == 1))
        out.append(row)
    return out


def to_markdown(
    frame: Any,
    *,
    rows: str = "scorer",
    columns: str | Sequence[str] = ("dataset", "statistic"),
    statistic: str | None = None,
    dataset: str | None = None,
    subset: str | None = "all",
    human: str | None = None,
    level: str | None = None,
    digits: int = 3,
    bold_top: bool = True,
) -> str:
    """A Markdown (GitHub) table: one row per ``rows`` value, one column per ``columns``
    value (several columns joined with " / "), cells ``value [ci_low, ci_high]``; with
    ``bold_top``, the values of cells in significance cluster 1 are bold. The other
    arguments pick rows (one per cell, or an error that says which column to fix)."""
    who = "to_markdown"
    check_integer(who, "digits", digits, minimum=0)
    filters = {"statistic": statistic, "dataset": dataset, "subset": subset, "human": human,
               "level": level}  # fmt: skip
    grid = _grid(who, frame, rows, columns, filters)
    cells = _cells(grid, digits)
    escape = lambda s: str(s).replace("|", r"\|")  # noqa: E731
    lines = [
        "| " + " | ".join([escape(rows)] + [escape(c) for c in grid.values.columns]) + " |",
        "|" + "---|" + "---:|" * grid.values.shape[1],
    ]
    for name, row in zip(grid.values.index, cells):
        texts = []
        for value, ci, top in row:
            bold = bold_top and top
            shown = f"**{value}**" if bold and value else value
            texts.append(f"{shown} {ci}".strip())
        lines.append("| " + " | ".join([escape(name)] + texts) + " |")
    return "\n".join(lines) + "\n"


def to_latex(
    frame: Any,
    *,
    rows: str = "scorer",
    columns: str | Sequence[str] = ("dataset", "statistic"),
    statistic: str | None = None,
    dataset: str | None = None,
    subset: str | None = "all",
    human: str | None = None,
    level: str | None = None,
    digits: int = 3,
    bold_top: bool = True,
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """A LaTeX table (booktabs rules: ``\\usepackage{booktabs}``): cells ``value {\\scriptsize
    [ci_low, ci_high]}``, values of cluster 1 in ``\\textbf``. With ``caption`` or ``label``
    the tabular is wrapped in a ``table`` environment. Arguments as :func:`to_markdown`."""
    who = "to_latex"
    check_integer(who, "digits", digits, minimum=0)
    filters = {"statistic": statistic, "dataset": dataset, "subset": subset, "human": human,
               "level": level}  # fmt: skip
    grid = _grid(who, frame, rows, columns, filters)
    cells = _cells(grid, digits)
    n = grid.values.shape[1]
    body = [
        r"\begin{tabular}{l" + "r" * n + "}",
        r"\toprule",
        " & ".join([latex_escape(rows)] + [latex_escape(c) for c in grid.values.columns]) + r" \\",
        r"\midrule",
    ]
    for name, row in zip(grid.values.index, cells):
        texts = []
        for value, ci, top in row:
            if not value:
                texts.append("--")
                continue
            shown = rf"\textbf{{{value}}}" if bold_top and top else value
            texts.append(shown + (rf" {{\scriptsize {ci}}}" if ci else ""))
        body.append(" & ".join([latex_escape(name)] + texts) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(body) + "\n"
    wrapped = [r"\begin{table}", r"\centering", *body]
    if caption is not None:
        wrapped.append(rf"\caption{{{latex_escape(caption)}}}")
    if label is not None:
        wrapped.append(rf"\label{{{label}}}")
    wrapped.append(r"\end{table}")
    return "\n".join(wrapped) + "\n"
