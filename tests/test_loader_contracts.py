"""Exact contracts of the data loaders on small synthetic files (written into tmp_path).

Written while reviewing mutation-testing survivors (docs/testing.md): every error names the
loader or the file, the place in it (item, line, row, column) and what was expected; every
record carries the documented fields, ids and meta, and nothing else.
"""

from __future__ import annotations

import json

import pytest

from metricrm.core.errors import DataFormatError
from metricrm.data.benchmarks import (
    load_evalbiasbench,
    load_llmbar,
    load_rm_bench,
    load_wmt_darr,
    rm_bench_difficulty,
)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), "utf-8")
    return path


def _raises(loader, path, message):
    """``loader(path)`` raises DataFormatError whose message is exactly ``message``."""
    with pytest.raises(DataFormatError) as err:
        loader(path)
    assert str(err.value) == message


# ------------------------------------------------------------------------- benchmark loaders


@pytest.mark.parametrize("loader", [load_rm_bench, load_llmbar, load_evalbiasbench, load_wmt_darr])
def test_a_missing_path_names_the_loader(tmp_path, loader):
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError) as err:
        loader(missing)
    assert str(err.value) == f"{loader.__name__}: no such file or folder: {missing}"


def test_rm_bench_difficulty_cells():
    cells = {(i, j): rm_bench_difficulty(i, j) for i in range(3) for j in range(3)}
    assert cells == {
        (0, 0): "normal", (0, 1): "hard", (0, 2): "hard",
        (1, 0): "easy", (1, 1): "normal", (1, 2): "hard",
        (2, 0): "easy", (2, 1): "easy", (2, 2): "normal",
    }  # fmt: skip


def test_rm_bench_pairs_ids_and_meta(tmp_path):
    item = {
        "id": 7,
        "subset": "alpacaeval",
        "prompt": "q",
        "chosen": ["c0", "c1", "c2"],
        "rejected": ["r0", "r1", "r2"],
        "language": "en",
        "error_key": "k",
    }
    path = _write(tmp_path / "chat_filtered.json", [item])
    _write(tmp_path / "notes.json", [])  # not a *_filtered.json file: ignored
    pairs = load_rm_bench(tmp_path)
    assert [(p.chosen, p.rejected) for p in pairs] == [
        (f"c{i}", f"r{j}") for i in range(3) for j in range(3)
    ]
    assert [p.id for p in pairs] == [f"chat/7/{i}{j}" for i in range(3) for j in range(3)]
    assert {p.subset for p in pairs} == {"chat"} and {p.prompt for p in pairs} == {"q"}
    assert pairs[5].meta == {
        "prompt_id": 7,
        "chosen_style": 1,
        "rejected_style": 2,
        "difficulty": "hard",
        "item_subset": "alpacaeval",
        "language": "en",
        "error_key": "k",
    }
    assert load_rm_bench(path) == pairs
    del item["subset"]
    _write(path, [item])
    assert load_rm_bench(path)[0].meta["item_subset"] is None


def test_rm_bench_errors(tmp_path):
    with pytest.raises(DataFormatError) as err:
        load_rm_bench(tmp_path)
    assert str(err.value) == f"load_rm_bench: no *_filtered.json file in {tmp_path}"
    path = tmp_path / "code_filtered.json"
    good = {"id": 1, "prompt": "q", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}
    _write(path, {"id": 1})
    _raises(load_rm_bench, path, f"{path}: expected the top-level value to be list (got dict)")
    _write(path, [good, {"id": 2, "prompt": "q", "chosen": []}])
    _raises(
        load_rm_bench,
        path,
        f"{path}: item 1: missing field(s) 'rejected' (fields present: 'id', 'prompt', 'chosen')",
    )
    _write(path, [{**good, "prompt": 5}])
    _raises(load_rm_bench, path, f"{path}: item 0: expected `prompt` to be str (got int)")
    _write(path, [{**good, "rejected": "text"}])
    _raises(
        load_rm_bench,
        path,
        f"{path}: item 0: expected `rejected` to be a list of 3 responses (got str)",
    )
    _write(path, [{**good, "chosen": ["a", "b"]}])
    _raises(
        load_rm_bench,
        path,
        f"{path}: item 0: expected `chosen` to be a list of 3 responses (got 2 entries)",
    )
    _write(path, [{**good, "chosen": ["a", None, "c"]}])
    _raises(load_rm_bench, path, f"{path}: item 0: expected `chosen[1]` to be str (got NoneType)")


def test_llmbar_ids_subsets_and_errors(tmp_path):
    items = [{"input": "q", "output_1": "a", "output_2": "b", "label": 1}] * 2
    _write(tmp_path / "Natural" / "dataset.json", items)
    _write(tmp_path / "Adversarial" / "Neighbor" / "dataset.json", items[:1])
    pairs = load_llmbar(tmp_path)
    assert [(p.id, p.subset) for p in pairs] == [
        ("Adversarial-Neighbor/0", "Adversarial-Neighbor"),
        ("Natural/0", "Natural"),
        ("Natural/1", "Natural"),
    ]
    assert [(p.prompt, p.chosen, p.rejected, p.meta) for p in pairs[:1]] == [
        ("q", "a", "b", {"label": 1})
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFormatError) as err:
        load_llmbar(empty)
    assert str(err.value) == f"load_llmbar: no dataset.json file below {empty}"
    path = tmp_path / "Natural" / "dataset.json"
    _write(path, {"a": 1})
    _raises(load_llmbar, path, f"{path}: expected the top-level value to be list (got dict)")
    _write(path, [{"input": "q", "output_1": "a", "label": 1}])
    _raises(
        load_llmbar,
        path,
        f"{path}: item 0: missing field(s) 'output_2' "
        "(fields present: 'input', 'output_1', 'label')",
    )
    _write(path, [{"input": "q", "output_1": "a", "output_2": 2, "label": 1}])
    _raises(load_llmbar, path, f"{path}: item 0: expected `output_2` to be str (got int)")
    _write(path, [{"input": ["q"], "output_1": "a", "output_2": "b", "label": 1}])
    _raises(load_llmbar, path, f"{path}: item 0: expected `input` to be str (got list)")


def test_evalbiasbench_ids_meta_and_errors(tmp_path):
    item = {"bias": "b", "instruction": "q", "response1": "a", "response2": "c", "label": 1}
    path = _write(tmp_path / "biasbench.json", {"length bias": [item, item], "other": [item]})
    pairs = load_evalbiasbench(path)
    assert [(p.id, p.subset) for p in pairs] == [
        ("length bias/0", "length bias"),
        ("length bias/1", "length bias"),
        ("other/0", "other"),
    ]
    assert (pairs[0].prompt, pairs[0].chosen, pairs[0].rejected) == ("q", "a", "c")
    assert pairs[0].meta == {"label": 1, "bias": "b"}
    _write(path, [item])
    _raises(load_evalbiasbench, path, f"{path}: expected the top-level value to be dict (got list)")
    _write(path, {"length bias": {"x": item}})
    _raises(
        load_evalbiasbench,
        path,
        f"{path}: bias 'length bias': expected the entry to be list (got dict)",
    )
    _write(path, {"length bias": [{**item, "response1": None}]})
    _raises(
        load_evalbiasbench,
        path,
        f"{path}: bias 'length bias', item 0: expected `response1` to be str (got NoneType)",
    )
    _write(path, {"length bias": [{**item, "instruction": 1}]})
    _raises(
        load_evalbiasbench,
        path,
        f"{path}: bias 'length bias', item 0: expected `instruction` to be str (got int)",
    )


def test_wmt_darr_pairs_meta_and_errors(tmp_path):
    entry = {
        "src": "Labas",
        "ref": "Hello",
        "better": {"sys": "Hi", "sys_name": "A", "score": 0.5},
        "worse": {"sys": "Yo", "sys_name": "B"},
    }
    path = _write(tmp_path / "lt-en.json", {"17": entry})
    (pair,) = load_wmt_darr(path)
    assert (pair.prompt, pair.source, pair.references) == ("Labas", "Labas", ("Hello",))
    assert (pair.chosen, pair.rejected, pair.subset, pair.id) == ("Hi", "Yo", "lt-en", "17")
    assert pair.meta == {"chosen_system": "A", "chosen_score": 0.5, "rejected_system": "B"}
    assert load_wmt_darr(path, lang_pair="xx-yy")[0].subset == "xx-yy"
    _write(path, [entry])
    _raises(load_wmt_darr, path, f"{path}: expected the top-level value to be dict (got list)")
    _write(path, {"17": {**entry, "ref": None}})
    _raises(load_wmt_darr, path, f"{path}: entry '17': expected `ref` to be str (got NoneType)")
    _write(path, {"17": {**entry, "src": 3}})
    _raises(load_wmt_darr, path, f"{path}: entry '17': expected `src` to be str (got int)")
    _write(path, {"17": {k: v for k, v in entry.items() if k != "worse"}})
    _raises(
        load_wmt_darr,
        path,
        f"{path}: entry '17': missing field(s) 'worse' (fields present: 'src', 'ref', 'better')",
    )
    _write(path, {"17": {**entry, "worse": {"sys": "Yo"}}})
    _raises(
        load_wmt_darr,
        path,
        f"{path}: entry '17', `worse`: missing field(s) 'sys_name' (fields present: 'sys')",
    )
    _write(path, {"17": {**entry, "better": {"sys": 1, "sys_name": "A"}}})
    message = f"{path}: entry '17', `better`: expected `sys` to be str (got int)"
    _raises(load_wmt_darr, path, message)
