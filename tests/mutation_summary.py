"""Summarise a mutmut run per module, counting the mutants reviewed as equivalent.

    mutmut run                                  # writes mutants/**.meta
    python -m tests.mutation_scope meta         # or one part: see that module
    python -m tests.mutation_summary            # the table for docs/testing.md
    python -m tests.mutation_summary --survivors  # surviving mutants not yet reviewed
    python -m tests.mutation_summary --survivors metricrm.meta.resampling.  # of one module

Equivalent mutants are the names listed in docs/testing.md (one per line, in the equivalent
section, as ``- `name`: reason``). A surviving mutant listed there counts as equivalent; one
listed under "Killed after the run" (``- `name`: test``) counts as killed, by a later test; one
not listed is an open survivor; "no tests" mutants (no selected test reaches the function) count
as survivors too. Mutants without a result (the run was stopped) count as not run. Runs are
merged oldest first: a survivor that a later run (a fresh copy with newer tests, given the
survivors' names) kills counts as killed by a later test, with no need to list it.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"

KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # failing test, pytest error, timeout, type check
SURVIVED = {0}
NO_TESTS = {5, 33}


def listed_names(heading: str, doc: Path | None = None) -> set[str]:
    """Mutant names listed (``- `name`: ...``) in the section of ``doc`` under ``heading``."""
    doc = DOC if doc is None else doc
    if not doc.is_file():
        return set()
    text = doc.read_text("utf-8")
    start = text.find(f"\n{heading}\n")
    if start < 0:
        return set()
    end = text.find("\n#", start + len(heading) + 2)
    section = text[start : None if end < 0 else end]
    return set(re.findall(r"^- `([\w.]+__mutmut_\d+)`", section, re.M))


def equivalent_names(doc: Path | None = None) -> set[str]:
    return listed_names("### Equivalent mutants", doc)


def killed_later_names(doc: Path | None = None) -> set[str]:
    """Survivors of a run killed since by a new test (checked by planting the mutant's change)."""
    return listed_names("### Killed after the run", doc)


def _runs(root: Path) -> list[tuple[str, dict[str, int | None]]]:
    """(module, exit codes) of every ``.meta`` file, oldest first: the whole-checkout run in
    ``mutants/`` and one-part runs in ``mutants/<part>-run*/mutants/`` (``tests.mutation_scope``)."""
    out = []
    metas = sorted((root / "mutants").rglob("*.py.meta"), key=lambda p: (p.stat().st_mtime, p))
    for meta in metas:
        parts = meta.relative_to(root / "mutants").parts
        if "mutants" in parts:  # a one-part run: keep the path inside its own mutants/
            parts = parts[len(parts) - parts[::-1].index("mutants") :]
        module = "/".join(parts).removesuffix(".meta")
        out.append((module, json.loads(meta.read_text("utf-8")).get("exit_code_by_key", {})))
    return out


def results(root: Path = ROOT) -> dict[str, dict[str, int | None]]:
    """Module name -> {mutant name: exit code}, merged over every run: a later run's result
    replaces an earlier one, and a mutant a run did not reach keeps its earlier result."""
    out: dict[str, dict[str, int | None]] = {}
    for module, codes in _runs(root):
        merged = out.setdefault(module, {})
        for name, code in codes.items():
            if code is not None or name not in merged:
                merged[name] = code
    return dict(sorted(out.items()))


def rerun_kills(root: Path = ROOT) -> set[str]:
    """Mutants that survived a run and were killed when a later run (with newer tests) ran them
    again (``mutmut run <names>`` in a fresh copy)."""
    survived: set[str] = set()
    killed: set[str] = set()
    for _, codes in _runs(root):
        for name, code in codes.items():
            if code in SURVIVED or code in NO_TESTS:
                survived.add(name)
                killed.discard(name)
            elif code in KILLED and name in survived:
                killed.add(name)
    return killed


def table(root: Path = ROOT) -> tuple[str, list[str]]:
    equivalent, killed_later = equivalent_names(), killed_later_names()
    rerun = rerun_kills(root)
    rows, open_survivors = [], []
    total: Counter[str] = Counter()
    for module, codes in results(root).items():
        if not codes:
            continue
        c: Counter[str] = Counter()
        for name, code in codes.items():
            if code in KILLED:
                c["killed"] += 1
                if name in rerun:
                    c["killed later"] += 1
            elif code in SURVIVED or code in NO_TESTS:
                if name in equivalent:
                    c["equivalent"] += 1
                elif name in killed_later:
                    c["killed"] += 1
                    c["killed later"] += 1
                else:
                    c["survived"] += 1
                    open_survivors.append(name)
                    if code in NO_TESTS:
                        c["no tests"] += 1
            else:
                c["other"] += 1
        total += c
        rows.append((module, c))
    lines = [
        "| module | mutants | killed (by a later test) | survived (no test) | equivalent | not run "
        "| killed / non-equivalent |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, c in [*rows, ("**all**", total)]:
        n = sum(c[k] for k in ("killed", "survived", "equivalent", "other"))
        checked = c["killed"] + c["survived"]
        rate = f"{100 * c['killed'] / checked:.1f}%" if checked else "-"  # nothing run yet
        lines.append(
            f"| {module} | {n} | {c['killed']} ({c['killed later']}) | {c['survived']} "
            f"({c['no tests']}) | {c['equivalent']} | {c['other']} | {rate} |"
        )
    return "\n".join(lines), open_survivors


def main(argv: list[str], root: Path = ROOT) -> int:
    text, open_survivors = table(root)
    if "--survivors" in argv:
        # an optional name prefix keeps one module's, e.g. metricrm.meta.resampling.
        prefix = argv[argv.index("--survivors") + 1] if argv[-1] != "--survivors" else ""
        print("\n".join(n for n in open_survivors if n.startswith(prefix)))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
