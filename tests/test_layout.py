"""The package layout stays what the contributors' guide says: rooms in layers, no upward
imports, no import cycles (function-level imports included), a light ``import metricrm``, ruff
clean, one version, and thin aliases for modules that moved."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import metricrm as mr

PACKAGE = Path(mr.__file__).resolve().parent
ROOT = PACKAGE.parent

#: room -> layer; a module may import its own room or a lower layer only
LAYERS = {
    "core": 1,
    "adapters": 2,
    "data": 2,
    "meta": 2,
    "training": 3,
    "study": 3,
    "weighting": 3,
    "probes": 3,
    "engines": 3,
    "plotting": 4,
    "report": 4,
    "cli": 5,
}
#: the public entry points: they may import anything, and only the CLI may import them
FACADES = {"metricrm", "metricrm.io", "metricrm.offline_models"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every metricrm module the file imports, anywhere in it: ``(line, module)``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import sub` imports the submodule
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else target))
    return [(line, mod) for line, mod in found if mod == "metricrm" or mod.startswith("metricrm.")]


def _room(module: str) -> str:
    if module in FACADES:
        return "facade"
    room = module.split(".")[1]
    return "core" if room == "_version" else room  # the version file belongs with core


def _graph() -> dict[str, list[tuple[int, str]]]:
    return {
        _module_name(path): _imports(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if "sample" not in path.relative_to(PACKAGE).parts[:-1]
    }


def test_every_room_has_a_layer():
    rooms = {_room(m) for m in _graph()} - {"facade"}
    assert rooms <= set(LAYERS), sorted(rooms - set(LAYERS))


def test_no_module_imports_a_higher_layer():
    bad = []
    for module, imports in _graph().items():
        source = _room(module)
        for line, target in imports:
            room = _room(target)
            if source == "facade" or room == source:
                continue
            if room == "facade":
                if not (source == "cli" and target == "metricrm"):
                    bad.append(f"{module}:{line} imports the public facade {target}")
            elif LAYERS[room] >= LAYERS[source]:
                bad.append(f"{module}:{line} ({source}) imports {target} ({room})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = {m: sorted({t for _, t in imps if t != m}) for m, imps in _graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    """The checks above would miss an upward import hidden in a function if the walker did."""
    imports = dict((t, line) for line, t in _imports(PACKAGE / "cli" / "demo.py"))
    assert "metricrm.training" in imports  # imported inside a function
    assert "metricrm.core.batching" in imports  # relative, module level


def test_import_metricrm_is_light():
    code = (
        "import sys, metricrm\n"
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib', 'pandas', 'scipy',"
        " 'sacrebleu') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dir_lists_the_lazy_names():
    names = dir(mr)
    for name in ("meta_evaluate", "load_sample", "score_pairs", "training", "write_table"):
        assert name in names
    assert set(mr.__all__) <= set(names)


def test_one_version_source():
    from importlib import metadata

    from metricrm._version import __version__

    assert mr.__version__ == __version__ == metadata.version("metricrm")
    assert f"metricrm:{__version__}" in mr.get_scorer("length_chars").signature.split("|")


@pytest.mark.parametrize(
    "alias, target, names",
    [
        ("metricrm.io", "metricrm.core.results_io", ["read_table", "write_table", "table_format"]),
        ("metricrm.offline_models", "metricrm.adapters.offline_models", ["smollm2_path"]),
    ],
)
def test_moved_modules_keep_thin_aliases(alias, target, names):
    old, new = importlib.import_module(alias), importlib.import_module(target)
    for name in names:
        assert getattr(old, name) is getattr(new, name)


def test_empty_rooms_state_their_contract():
    for room, words in [
        ("weighting", ["fitted", "frozen", "Scorers"]),
        ("plotting", ["from_frame", "ax=None", "matplotlib is imported inside"]),
        ("report", ["result frames"]),
        ("probes", ["seeded"]),
    ]:
        doc = importlib.import_module(f"metricrm.{room}").__doc__
        for word in words:
            assert word in doc, (room, word)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_is_clean(command):
    pytest.importorskip("ruff")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "metricrm", "tests", "benchmarks",
         "studies"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_errors_are_in_one_module_and_exported():
    from metricrm.core import errors

    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent.name == "core":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not (bases & (classes | {"Exception", "ValueError", "RuntimeError"})), (
                    f"{path}: exception class {node.name} outside core/errors.py"
                )
    for name in ("ScorerConfigError", "ScorerInputError", "DataFormatError"):
        assert getattr(mr, name) is getattr(errors, name)
    assert issubclass(errors.ScorerConfigError, ValueError)  # a bad setting value
    assert issubclass(errors.ScorerConfigError, TypeError)  # an unknown setting


def test_data_loaders_raise_metricrm_errors(tmp_path):
    from metricrm.core.errors import DataNotFoundError, MetricRMError

    with pytest.raises(DataNotFoundError):
        mr.data.load_llmbar(tmp_path / "missing")
    with pytest.raises(MetricRMError, match="expected a path, a hub dataset id"):
        mr.load_preference_pairs(42)
    with pytest.raises(MetricRMError, match="unknown format"):
        mr.load_preference_pairs(tmp_path / "x.jsonl", format="nope")


def test_one_dataset_format_table():
    from metricrm.data import DATASET_FORMATS, format_loader
    from metricrm.study.config import parse_dataset_spec

    assert format_loader("rm-bench") is mr.data.load_rm_bench
    assert format_loader("preference") is mr.load_preference_pairs
    for name in DATASET_FORMATS:
        kind = "reference" if name == "sample" else "x.json"
        assert parse_dataset_spec(f"{name}:{kind}").format == name


#: the modules a user imports: the package and the rooms it exposes by name (``mr.meta``, ...)
PUBLIC_MODULES = {"metricrm"} | {
    f"metricrm.{name}" for name, target in mr._LAZY.items() if target == f"metricrm.{name}"
}


def _public_api_misuse(path: Path) -> list[str]:
    """Imports of non-public metricrm modules, and ``mr.X`` names metricrm does not export."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "metricrm"
    }
    exported = set(dir(mr))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("metricrm"):
            if node.module not in PUBLIC_MODULES:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.startswith("metricrm.") and a.name not in PUBLIC_MODULES
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr not in exported
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("script", ["run.py", "figures.py"])
def test_trench_coat_study_uses_the_public_api(script):
    """The study is written as a user would write it: ``metricrm`` and its public rooms only."""
    assert {"metricrm.training", "metricrm.plotting", "metricrm.report"} <= PUBLIC_MODULES
    assert _public_api_misuse(ROOT / "studies" / "trench_coat" / script) == []


def test_public_api_check_sees_internal_imports(tmp_path):
    script = tmp_path / "study.py"
    script.write_text(
        "import metricrm as mr\n"
        "from metricrm.adapters.causal_lm import PairwiseJudge\n"
        "from metricrm.training import train_bt_head\n"
        "import metricrm.core.versions\n"
        "judge = mr.PairwiseJudge\n"
        "version = mr.no_such_name\n",
        encoding="utf-8",
    )
    assert _public_api_misuse(script) == [
        "line 2: from metricrm.adapters.causal_lm import ...",
        "line 4: import metricrm.core.versions",
        "line 6: mr.no_such_name",
    ]


def test_study_names_are_exported_lazily():
    from metricrm.adapters.causal_lm import PairwiseJudge
    from metricrm.core.results_io import read_metadata
    from metricrm.core.versions import package_version

    assert mr.PairwiseJudge is PairwiseJudge
    assert mr.read_metadata is read_metadata
    assert mr.package_version is package_version
    assert mr.package_version("metricrm") == mr.__version__
