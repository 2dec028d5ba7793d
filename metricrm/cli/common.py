"""Pieces every subcommand shares: plain-text tables, number formatting, ``--set`` parsing and
warnings printed as one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from ..core.errors import ScorerConfigError


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, right: int = 1) -> str:
    """Plain-text table; columns from index ``right`` on are right-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if i >= right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def format_number(value: float) -> str:
    """Two decimals from 1 on, three below; ``n/a`` for NaN."""
    if value != value:  # NaN
        return "n/a"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def add_set_option(
    parser: Any, *, metavar: str = "SCORER.KEY=VALUE", what: str = "a scorer setting"
) -> None:
    """The repeatable ``--set`` option that :func:`parse_settings` reads."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar=metavar,
        help=f"{what}; VALUE is parsed as JSON when possible",
    )


def parse_settings(
    pairs: Sequence[str],
    scorers: Sequence[str],
    *,
    flag: str = "--set",
    kind: str = "scorer",
    example: str = "chrf.word_order=2",
) -> dict[str, dict[str, Any]]:
    """``["chrf.word_order=2"]`` -> ``{"chrf": {"word_order": 2}}``; values parsed as JSON
    when possible, else kept as strings. ``scorers`` are the valid names; ``flag``, ``kind``
    and ``example`` word the errors (``--dataset-option`` uses it for dataset names)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        name, dot, setting = key.rpartition(".")
        if not eq or not dot or not name or not setting:
            raise ScorerConfigError(
                f"{flag}: expected {kind.upper()}.SETTING=VALUE, e.g. {example} (got {pair!r})"
            )
        if name not in scorers:
            raise ScorerConfigError(
                f"{flag} {pair}: {kind} {name!r} is not among the --{kind} names "
                f"({', '.join(scorers)})"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(name, {})[setting] = value
    return out


def show_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``warnings.showwarning`` replacement: one ``metricrm: warning: ...`` line on stderr."""
    print(f"metricrm: warning: {message}", file=sys.stderr)


def add_progress_flag(parser: Any) -> None:
    """``--no-progress`` (alias ``--quiet``): no progress bars, ours or the model loaders'.
    Bars are off anyway when stderr is not a terminal (batch jobs, logs)."""
    parser.add_argument(
        "--no-progress",
        "--quiet",
        dest="no_progress",
        action="store_true",
        help="no progress bars (also off when stderr is not a terminal)",
    )
