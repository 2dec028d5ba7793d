"""The helpers of the mutation runs: one part's copy and the per-module summary."""

from __future__ import annotations

import json
import os

import pytest
import tomllib

from tests import mutation_scope, mutation_summary


def _meta(path, codes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}), "utf-8")


def test_summary_reads_whole_and_one_part_runs(tmp_path):
    _meta(tmp_path / "mutants/metricrm/core/cache.py.meta", {"c_1": 1, "c_2": 0})
    _meta(tmp_path / "mutants/meta-run/mutants/metricrm/meta/spa.py.meta", {"s_1": 0, "s_2": 33})
    assert mutation_summary.results(tmp_path) == {
        "metricrm/core/cache.py": {"c_1": 1, "c_2": 0},
        "metricrm/meta/spa.py": {"s_1": 0, "s_2": 33},
    }


def test_summary_counts_listed_mutants_by_section(tmp_path, monkeypatch):
    doc = tmp_path / "testing.md"
    doc.write_text(
        "## Mutation testing\n\n- `m.x_f__mutmut_9`: not in a section\n\n"
        "### Killed after the run\n\n- `m.x_f__mutmut_2`: test_f\n\n"
        "### Equivalent mutants\n\n- `m.x_f__mutmut_3`: same value\n",
        "utf-8",
    )
    assert mutation_summary.equivalent_names(doc) == {"m.x_f__mutmut_3"}
    assert mutation_summary.killed_later_names(doc) == {"m.x_f__mutmut_2"}
    codes = {f"m.x_f__mutmut_{i}": c for i, c in enumerate([1, 0, 0, 0, 33, None, 0], 1)}
    codes["m.x_f__mutmut_9"] = 0
    _meta(tmp_path / "mutants/metricrm/m.py.meta", codes)
    monkeypatch.setattr(mutation_summary, "DOC", doc)
    text, open_survivors = mutation_summary.table(tmp_path)
    assert text.splitlines()[2] == "| metricrm/m.py | 8 | 2 (1) | 4 (1) | 1 | 1 | 33.3% |"
    assert sorted(open_survivors) == [f"m.x_f__mutmut_{i}" for i in (4, 5, 7, 9)]
    _meta(tmp_path / "mutants/metricrm/n.py.meta", {"n.x_g__mutmut_1": None})
    text, _ = mutation_summary.table(tmp_path)
    assert text.splitlines()[3] == "| metricrm/n.py | 1 | 0 (0) | 0 (0) | 0 | 1 | - |"


def test_scope_copies_the_checkout_with_the_part_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.mutmut]\nonly_mutate = ["a"]\n\n[tool.other]\nk = 1\n',
        "utf-8",
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("x = 1\n", "utf-8")
    (tmp_path / "mutants").mkdir()
    (tmp_path / "mutants" / "old").write_text("", "utf-8")
    dest = mutation_scope.prepare("meta", tmp_path)
    assert dest == tmp_path / "mutants" / "meta-run"
    assert (dest / "tests" / "t.py").read_text("utf-8") == "x = 1\n"
    assert not (dest / "mutants").exists()  # earlier runs are not copied
    config = tomllib.loads((dest / "pyproject.toml").read_text("utf-8"))
    modules, tests = mutation_scope.PARTS["meta"]
    assert config["tool"]["mutmut"]["only_mutate"] == modules
    assert config["tool"]["mutmut"]["pytest_add_cli_args_test_selection"] == tests
    assert config["tool"]["other"] == {"k": 1} and config["project"] == {"name": "x"}
    with pytest.raises(SystemExit, match="meta-run exists; remove it"):
        mutation_scope.prepare("meta", tmp_path)
    with pytest.raises(SystemExit, match="unknown part 'x'; expected one of"):
        mutation_scope.prepare("x", tmp_path)


def test_each_meta_module_is_a_part_with_existing_fast_test_files():
    root = mutation_scope.ROOT
    modules = sorted(p.stem for p in (root / "metricrm" / "meta").glob("*.py"))
    # every module with functions to mutate has its own part (constants and re-exports need none)
    expected = sorted(set(modules) - {"__init__", "rewardbench_constants"})
    assert sorted(n for n in mutation_scope.PARTS if n not in {"meta", "core"}) == expected
    fast_meta = set(mutation_scope.PARTS["meta"][1])
    for name in expected:
        mutate, tests = mutation_scope.PARTS[name]
        assert mutate == [f"metricrm/meta/{name}.py"], name
        assert tests and len(set(tests)) == len(tests), name
        assert set(tests) <= fast_meta, (name, set(tests) - fast_meta)
        assert all((root / t).is_file() for t in tests), name


def test_summary_merges_a_rerun_of_survivors_over_the_first_run(tmp_path, monkeypatch):
    first = tmp_path / "mutants/x-run2/mutants/metricrm/m.py.meta"  # sorts after x-run by name
    again = tmp_path / "mutants/x-run/mutants/metricrm/m.py.meta"
    _meta(first, {"m.f__mutmut_1": 0, "m.f__mutmut_2": 1, "m.f__mutmut_3": 0, "m.f__mutmut_4": 33})
    _meta(
        again, {"m.f__mutmut_1": 1, "m.f__mutmut_2": None, "m.f__mutmut_3": 0, "m.f__mutmut_4": 1}
    )
    os.utime(first, (1_000, 1_000))
    os.utime(again, (2_000, 2_000))  # the rerun is newer: its results win, its gaps do not
    assert mutation_summary.results(tmp_path) == {
        "metricrm/m.py": {
            "m.f__mutmut_1": 1,
            "m.f__mutmut_2": 1,
            "m.f__mutmut_3": 0,
            "m.f__mutmut_4": 1,
        }
    }
    assert mutation_summary.rerun_kills(tmp_path) == {"m.f__mutmut_1", "m.f__mutmut_4"}
    monkeypatch.setattr(mutation_summary, "DOC", tmp_path / "none.md")
    text, open_survivors = mutation_summary.table(tmp_path)
    assert text.splitlines()[2] == "| metricrm/m.py | 4 | 3 (2) | 1 (0) | 0 | 0 | 75.0% |"
    assert open_survivors == ["m.f__mutmut_3"]
    os.utime(first, (3_000, 3_000))  # the other way round: the old survivors stand again
    assert mutation_summary.results(tmp_path)["metricrm/m.py"]["m.f__mutmut_1"] == 0
    assert mutation_summary.rerun_kills(tmp_path) == set()


def test_scope_second_copy_for_a_rerun(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nonly_mutate = ["a"]\n', "utf-8")
    assert mutation_scope.prepare("spa", tmp_path, "2") == tmp_path / "mutants" / "spa-run2"
    config = tomllib.loads((tmp_path / "mutants/spa-run2/pyproject.toml").read_text("utf-8"))
    assert config["tool"]["mutmut"]["only_mutate"] == ["metricrm/meta/spa.py"]
    with pytest.raises(
        SystemExit, match=r"expected a suffix of letters, digits, - or _ \(got '../x'\)"
    ):
        mutation_scope.prepare("spa", tmp_path, "../x")


def test_scope_rerun_copy_selects_only_the_given_tests(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nonly_mutate = ["a"]\n', "utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_new.py").write_text("", "utf-8")
    dest = mutation_scope.prepare("spa", tmp_path, "2", ["tests/test_new.py"])
    config = tomllib.loads((dest / "pyproject.toml").read_text("utf-8"))
    assert config["tool"]["mutmut"]["pytest_add_cli_args_test_selection"] == ["tests/test_new.py"]
    assert config["tool"]["mutmut"]["only_mutate"] == ["metricrm/meta/spa.py"]
    with pytest.raises(SystemExit, match="no test file tests/test_old.py in"):
        mutation_scope.prepare("spa", tmp_path, "3", ["tests/test_old.py"])


def test_survivors_of_one_module(tmp_path, monkeypatch, capsys):
    _meta(tmp_path / "mutants/metricrm/a.py.meta", {"m.a.x_f__mutmut_1": 0, "m.a.x_f__mutmut_2": 1})
    _meta(tmp_path / "mutants/metricrm/b.py.meta", {"m.b.x_g__mutmut_2": 0})
    monkeypatch.setattr(mutation_summary, "DOC", tmp_path / "none.md")
    assert mutation_summary.main(["--survivors", "m.a."], tmp_path) == 0
    assert capsys.readouterr().out.split() == ["m.a.x_f__mutmut_1"]
    mutation_summary.main(["--survivors"], tmp_path)
    assert capsys.readouterr().out.split() == ["m.a.x_f__mutmut_1", "m.b.x_g__mutmut_2"]
