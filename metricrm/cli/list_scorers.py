"""``metricrm list``: every registered scorer, what it needs, and its description."""

from __future__ import annotations

import argparse
from typing import Any

import metricrm as mr

from .common import format_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="list every registered scorer")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in mr.list_scorers():
        try:
            spec = mr.scorer_spec(name)
        except ImportError as exc:  # e.g. a plugin whose module cannot be imported
            rows.append((name, "?", "?", f"(unavailable: {exc})"))
            continue
        preset = ", ".join(f"{k}={v!r}" for k, v in spec.preset.items())
        description = spec.description + (f" [{preset}]" if preset else "")
        yes_no = lambda flag: "yes" if flag else "no"  # noqa: E731
        rows.append(
            (name, yes_no(spec.requires_references), yes_no(spec.requires_model), description)
        )
    header = ("name", "needs references", "needs model", "description")
    print(format_table(header, rows, right=len(header)))
    return 0
