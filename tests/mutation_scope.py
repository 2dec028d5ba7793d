"""Prepare a mutmut run over one part of the library, in its own copy of the checkout.

    python -m tests.mutation_scope meta          # writes mutants/meta-run/ (git-ignored)
    cd mutants/meta-run && nice -n 10 mutmut run --max-children 2
    cd ../.. && python -m tests.mutation_summary # reads every run under mutants/

``[tool.mutmut]`` in pyproject.toml covers every part in one run, and mutmut's first step runs
every selected test once to learn which tests reach which function. One part's copy mutates only
that part's modules and selects only the tests that cover them, so that first step costs a
fraction of the whole. The copy sits inside ``mutants/`` so that the tests still find
``shared/data`` beside the checkout.

A module of ``metricrm/meta/`` is a part of its own (``resampling``, ``pairwise``, ...): only
that module is mutated, and only the fast test files that reach its functions are selected
(found with coverage's per-test contexts over the fast ``meta`` tests), so a surviving mutant
runs a few seconds of tests rather than every meta test that happens to reach it.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: part -> (modules to mutate, fast tests that cover them)
PARTS: dict[str, tuple[list[str], list[str]]] = {
    "meta": (
        ["metricrm/meta/*"],
        [
            "tests/test_planted_bugs.py",
            "tests/test_meta_checks_contracts.py",
            "tests/test_meta_clusters_contracts.py",
            "tests/test_meta_conventions_contracts.py",
            "tests/test_meta_correlation.py",
            "tests/test_meta_darr_subsample_contracts.py",
            "tests/test_meta_evaluate.py",
            "tests/test_meta_evaluate_conventions.py",
            "tests/test_meta_fixes.py",
            "tests/test_meta_levels_contracts.py",
            "tests/test_meta_pairwise.py",
            "tests/test_meta_pairwise_contracts.py",
            "tests/test_meta_pairwise_perm_contracts.py",
            "tests/test_meta_peers_mtme.py",
            "tests/test_meta_peers_rewardbench.py",
            "tests/test_meta_peers_rmbench.py",
            "tests/test_meta_procedures.py",
            "tests/test_meta_resampling.py",
            "tests/test_meta_resampling_contracts.py",
            "tests/test_meta_rewardbench_contracts.py",
            "tests/test_meta_spa_contracts.py",
            "tests/test_meta_stratified.py",
            "tests/test_meta_stratified_contracts.py",
            "tests/test_meta_tasks_contracts.py",
            "tests/test_meta_williams_contracts.py",
            "tests/test_probe_intervals.py",
            "tests/test_wmt_darr_agreement.py",
        ],
    ),
    **{
        name: ([f"metricrm/meta/{name}.py"], [f"tests/{t}.py" for t in tests])
        for name, tests in {
            # module -> fast test files whose tests run its functions (not only import it);
            # test_meta_evaluate.py (real data through meta_evaluate, 14 s) is left to "meta"
            "resampling": [
                "test_planted_bugs",
                "test_meta_resampling",
                "test_meta_resampling_contracts",
                "test_meta_procedures",
                "test_meta_stratified",
                "test_meta_fixes",
                "test_meta_peers_mtme",
                "test_meta_evaluate_conventions",
                "test_probe_intervals",
            ],
            "pairwise": [
                "test_meta_pairwise_contracts",
                "test_meta_pairwise",
                "test_meta_peers_rewardbench",
                "test_meta_peers_rmbench",
                "test_meta_peers_mtme",
                "test_meta_procedures",
                "test_meta_stratified",
                "test_meta_fixes",
                "test_meta_evaluate_conventions",
            ],
            "pairwise_perm": [
                "test_meta_pairwise_perm_contracts",
                "test_meta_procedures",
                "test_meta_peers_mtme",
                "test_meta_evaluate_conventions",
            ],
            "clusters": [
                "test_meta_clusters_contracts",
                "test_meta_resampling",
                "test_meta_procedures",
                "test_meta_fixes",
                "test_meta_peers_mtme",
                "test_meta_evaluate_conventions",
            ],
            "correlation": [
                "test_planted_bugs",
                "test_meta_correlation",
                "test_meta_resampling",
                "test_meta_procedures",
                "test_meta_peers_mtme",
                "test_meta_evaluate_conventions",
            ],
            "levels": [
                "test_meta_levels_contracts",
                "test_meta_correlation",
                "test_meta_resampling",
                "test_meta_procedures",
                "test_meta_fixes",
                "test_meta_peers_mtme",
                "test_meta_evaluate_conventions",
            ],
            "williams": [
                "test_meta_williams_contracts",
                "test_meta_procedures",
                "test_meta_peers_mtme",
            ],
            "stratified": [
                "test_meta_stratified_contracts",
                "test_meta_stratified",
                "test_meta_evaluate_conventions",
            ],
            "spa": [
                "test_meta_spa_contracts",
                "test_meta_correlation",
                "test_meta_fixes",
                "test_meta_peers_mtme",
            ],
            # the input checks: every contract file states the messages in full
            "_checks": [
                "test_meta_checks_contracts",
                "test_meta_clusters_contracts",
                "test_meta_conventions_contracts",
                "test_meta_darr_subsample_contracts",
                "test_meta_levels_contracts",
                "test_meta_pairwise_contracts",
                "test_meta_pairwise_perm_contracts",
                "test_meta_resampling_contracts",
                "test_meta_rewardbench_contracts",
                "test_meta_spa_contracts",
                "test_meta_stratified_contracts",
                "test_meta_tasks_contracts",
                "test_meta_williams_contracts",
            ],
            "darr": [
                "test_meta_darr_subsample_contracts",
                "test_meta_procedures",
                "test_meta_peers_mtme",
            ],
            "subsample": [
                "test_meta_darr_subsample_contracts",
                "test_meta_procedures",
                "test_meta_peers_mtme",
            ],
            "tasks": ["test_meta_tasks_contracts", "test_meta_procedures", "test_meta_peers_mtme"],
            "rewardbench": [
                "test_meta_rewardbench_contracts",
                "test_meta_peers_rewardbench",
                "test_meta_stratified",
                "test_meta_evaluate_conventions",
            ],
            "conventions": [
                "test_meta_conventions_contracts",
                "test_meta_evaluate_conventions",
                "test_meta_peers_rewardbench",
                "test_meta_peers_rmbench",
                "test_meta_peers_mtme",
                "test_meta_procedures",
                "test_meta_stratified",
                "test_meta_fixes",
            ],
        }.items()
    },
    "core": (
        ["metricrm/core/types.py", "metricrm/core/validation.py"],
        [
            "tests/test_core.py",
            "tests/test_core_contracts.py",
            "tests/test_core_validation_contracts.py",
            "tests/test_sacrebleu_contracts.py",
            "tests/test_properties.py",
        ],
    ),
}

_SKIP = shutil.ignore_patterns(".git", "mutants", "__pycache__", ".hypothesis", "*.egg-info")


def _toml_list(values: list[str]) -> str:
    return "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"


def mutmut_table(part: str, tests: list[str] | None = None) -> str:
    """The ``[tool.mutmut]`` table of one part's copy (its own tests unless ``tests``)."""
    modules, own_tests = PARTS[part]
    tests = own_tests if tests is None else tests
    return (
        "[tool.mutmut]\n"
        'source_paths = ["metricrm"]\n'
        f"only_mutate = {_toml_list(modules)}\n"
        "use_git_change_detection = false\n"
        'pytest_add_cli_args = ["-m", "not slow", "-p", "no:cacheprovider", "-o", "addopts="]\n'
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
    )


def prepare(part: str, root: Path = ROOT, suffix: str = "", tests: list[str] | None = None) -> Path:
    """Copy the checkout to ``mutants/<part>-run<suffix>`` with the part's mutmut table.

    A second copy (``suffix`` "2", ...) made after new tests were written reruns the first
    run's survivors (``mutmut run <names>``); ``tests.mutation_summary`` merges the runs. The
    survivors already passed the part's tests, so the rerun may select only the new test
    files (``tests``), which keeps each mutant's run short.
    """
    for t in tests or []:
        if not (root / t).is_file():
            raise SystemExit(f"mutation_scope: no test file {t} in {root}")
    if part not in PARTS:
        raise SystemExit(f"mutation_scope: unknown part {part!r}; expected one of {sorted(PARTS)}")
    if not re.fullmatch(r"[\w-]*", suffix):
        raise SystemExit(
            f"mutation_scope: expected a suffix of letters, digits, - or _ (got {suffix!r})"
        )
    dest = root / "mutants" / f"{part}-run{suffix}"
    if dest.exists():
        raise SystemExit(f"mutation_scope: {dest} exists; remove it to start a fresh run")
    shutil.copytree(root, dest, ignore=_SKIP)
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    # the table runs from its header to the next table header (or the end of the file)
    table = re.compile(r"^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", re.M | re.S)
    if not table.search(text):
        raise SystemExit(f"mutation_scope: no [tool.mutmut] table in {pyproject}")
    new_table = mutmut_table(part, tests) + "\n"
    pyproject.write_text(table.sub(lambda _: new_table, text, count=1), "utf-8")
    return dest


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    suffix = argv[1] if len(argv) > 1 else ""
    print(prepare(argv[0], suffix=suffix, tests=argv[2:] or None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
