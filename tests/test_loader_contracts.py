"""Exact contracts of the data loaders on small synthetic files (written into tmp_path).

Written while reviewing mutation-testing survivors (docs/testing.md): every error names the
loader or the file, the place in it (item, line, row, column) and what was expected; every
record carries the documented fields, ids and meta, and nothing else.
"""

from __future__ import annotations

import gzip
import json
import os
import re

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
    assert pair.meta == {
        "statistic": "tau_like",
        "chosen_system": "A",
        "chosen_score": 0.5,
        "rejected_system": "B",
    }
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


# --------------------------------------------------------------------------- generic loaders


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def _raises_any(kind, call, message):
    with pytest.raises(kind) as err:
        call()
    assert str(err.value) == message


def test_preference_pairs_references_source_and_missing_cells(tmp_path):
    from metricrm.data import load_preference_pairs

    rows = [
        {"prompt": "q", "chosen": "a", "rejected": "b", "references": ["r1", "r2"], "source": "s",
         "ref2": "r3", "id": 4, "subset": "x"},
        {"prompt": "q", "chosen": "a", "rejected": "b", "references": "only", "source": None,
         "ref2": "", "id": None, "subset": None},
    ]  # fmt: skip
    path = _jsonl(tmp_path / "p.jsonl", rows)
    first, second = load_preference_pairs(path)
    assert (first.references, first.source, first.id, first.subset) == (("r1", "r2"), "s", "4", "x")
    assert (second.references, second.source, second.id, second.subset) == (
        ("only",),
        None,
        None,
        None,
    )
    assert first.meta == {"ref2": "r3", "label": None} or first.meta == {"ref2": "r3"}
    both = load_preference_pairs(path, columns={"references": ["references", "ref2"]})
    assert [p.references for p in both] == [("r1", "r2", "r3"), ("only",)]
    # an optional field mapped to None is left empty; a required one cannot be
    assert load_preference_pairs(path, columns={"source": None})[0].source is None
    _raises_any(
        ValueError,
        lambda: load_preference_pairs(path, columns={"chosen": None}),
        "load_preference_pairs: the required field 'chosen' cannot be mapped to None",
    )


def test_generic_cell_errors_name_file_line_and_column(tmp_path):
    from metricrm.data import load_pointwise_items, load_preference_pairs

    base = {
        "prompt": "q",
        "chosen": "a",
        "rejected": "b",
        "source": "s",
        "id": 1,
        "references": "r",
    }
    path = tmp_path / "p.jsonl"
    cases = [
        ({"source": 3}, "column 'source': expected text (got 3)"),
        ({"id": 1.5}, "column 'id': expected a string or an integer (got 1.5)"),
        ({"id": True}, "column 'id': expected a string or an integer (got True)"),
        ({"references": [1]}, "column 'references': expected a reference text or a list of texts "
                              "(got [1])"),
        ({"references": 7}, "column 'references': expected a reference text or a list of texts "
                            "(got 7)"),
        ({"prompt": "x" * 100}, None),
        ({"chosen": ["y" * 100]}, "column 'chosen': expected text or a list of chat messages "
                                  f"(got {repr(['y' * 100])[:77]}...)"),
        ({"chosen": ["y" * 74]}, "column 'chosen': expected text or a list of chat messages "
                                 f"(got {['y' * 74]!r})"),
    ]  # fmt: skip
    for change, expected in cases:
        _jsonl(path, [base, {**base, **change}])
        if expected is None:
            assert load_preference_pairs(path)[1].prompt == "x" * 100
            continue
        _raises(load_preference_pairs, path, f"{path}: line 2: {expected}")
    _jsonl(path, [{"response": "a", "prompt": 5}])
    _raises(
        load_pointwise_items,
        path,
        f"{path}: line 1: column 'prompt': expected text or a list of chat messages (got 5)",
    )
    _jsonl(path, [{"response": "a", "human": {"fluency": "good"}}])
    _raises(
        load_pointwise_items,
        path,
        f"{path}: line 1: column 'human.fluency': expected a numeric human score (got 'good')",
    )
    _jsonl(path, [{"response": "a", "s1": "x"}])
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(path, columns={"human": {"quality": "s1"}})
    assert str(err.value).endswith("column 's1': expected a numeric human score (got 'x')")
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(path, columns={"human": ["s1"]})
    assert str(err.value).endswith("column 's1': expected a numeric human score (got 'x')")


def test_pointwise_fields_and_human_scores(tmp_path):
    from metricrm.data import load_pointwise_items

    rows = [
        {"response": "a", "prompt": "p", "source": "s", "id": 3, "system": "A", "group": 1,
         "human": {"fluency": 4, "adequacy": "NA"}, "s1": "2.5", "s2": "nan", "extra": 1},
        {"response": "b", "prompt": None, "source": None, "id": "x", "system": None, "group": None,
         "human": 3, "s1": " null ", "s2": 1, "extra": 2},
    ]  # fmt: skip
    path = _jsonl(tmp_path / "i.jsonl", rows)
    first, second = load_pointwise_items(path)
    assert (first.prompt, first.source, first.id, first.system, first.group) == (
        "p",
        "s",
        "3",
        "A",
        "1",
    )
    assert (second.prompt, second.source, second.id, second.system, second.group) == (
        None,
        None,
        "x",
        None,
        None,
    )
    assert first.human == {"fluency": 4.0, "adequacy": None} and second.human == {"human": 3.0}
    assert first.meta == {"s1": "2.5", "s2": "nan", "extra": 1}
    named = load_pointwise_items(path, columns={"human": {"q1": "s1", "q2": "s2"}})
    assert [i.human for i in named] == [{"q1": 2.5, "q2": None}, {"q1": None, "q2": 1.0}]
    assert named[0].meta == {"human": {"fluency": 4, "adequacy": "NA"}, "extra": 1}
    listed = load_pointwise_items(path, columns={"human": ["s1", "s2"]})
    assert [i.human for i in listed] == [{"s1": 2.5, "s2": None}, {"s1": None, "s2": 1.0}]
    _raises_any(
        TypeError,
        lambda: load_pointwise_items(path, columns={"human": 5}),
        "a column mapping must be a name, a list of names or a dict (got int)",
    )
    by_id = load_pointwise_items(path, columns={"id": "extra", "prompt": None})
    assert [(i.id, i.prompt) for i in by_id] == [("1", None), ("2", None)]


def test_generic_argument_errors(tmp_path):
    from metricrm.data import load_pointwise_items, load_preference_pairs

    path = _jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    for loader, fields in (
        (load_preference_pairs, "prompt, chosen, rejected, label, subset, id, references, source"),
        (load_pointwise_items, "response, prompt, source, references, human, system, group, id"),
    ):
        name = loader.__name__
        _raises_any(
            ValueError,
            lambda loader=loader: loader(path, columns={"answer": "chosen"}),
            f"{name}: unknown field(s) ['answer'] in `columns` (valid: {fields})",
        )
        with pytest.raises(ValueError) as err:
            loader(path, format="xml")
        assert str(err.value).startswith(f"{name}: unknown format 'xml' (valid: jsonl, json, ")
    _raises_any(
        ValueError,
        lambda: load_preference_pairs(path, format="llmbar", columns={"prompt": "input"}),
        "format 'llmbar' has a fixed layout; `columns` cannot be used with it",
    )
    _raises_any(
        ValueError,
        lambda: load_pointwise_items(path, format="summeval", columns={"response": "x"}),
        "format 'summeval' has a fixed layout; `columns` cannot be used with it",
    )
    _raises(
        lambda p: load_preference_pairs(p, columns={"prompt": ["q1", "q2"]}),
        path,
        f"{path}: missing column(s) 'q1', 'q2' for field 'prompt' "
        "(columns present: 'prompt', 'chosen', 'rejected')",
    )
    _jsonl(path, [{"prompt": "q", "chosen": "a", "rejected": "b", "label": "better"}])
    _raises(
        lambda p: load_preference_pairs(p, labels={"good": "chosen", 2: "rejected"}),
        path,
        f"{path}: line 1: column 'label': invalid label 'better' (expected one of 'good', 2)",
    )
    _jsonl(path, [{"prompt": "q", "chosen": "a", "rejected": "b", "label": ["x"]}])
    with pytest.raises(DataFormatError, match=r"invalid label \['x'\] \(expected one of "):
        load_preference_pairs(path)


def test_benchmark_formats_pass_their_arguments(tmp_path):
    from metricrm.data import load_preference_pairs

    entry = {"src": "s", "ref": "r", "better": {"sys": "b", "sys_name": "B"},
             "worse": {"sys": "w", "sys_name": "W"}}  # fmt: skip
    path = _write(tmp_path / "de-en.json", {"1": entry})
    (pair,) = load_preference_pairs(path, format="wmt-darr", lang_pair="xx")
    assert (pair.subset, pair.chosen) == ("xx", "b")


# ------------------------------------------------------------------------ tables (sources)


def test_table_sources_and_their_names(tmp_path):
    pandas = pytest.importorskip("pandas")
    from metricrm.data import load_pointwise_items, load_preference_pairs

    frame = pandas.DataFrame({"response": ["only"], "score": [2]})
    assert [(i.response, i.human) for i in load_pointwise_items(frame)] == [
        ("only", {"score": 2.0})
    ]
    _raises_any(DataFormatError, lambda: load_pointwise_items(frame.iloc[:0]), "DataFrame: no rows")
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(frame.rename(columns={"score": "response"})),
        "DataFrame: repeated column names ['response', 'response']",
    )
    bad = pandas.DataFrame({"response": [3]})
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(bad),
        "DataFrame: row 0: column 'response': expected text or a list of chat messages (got 3)",
    )
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(42),
        "load_pointwise_items: expected a path, a hub dataset id, a pandas DataFrame or a "
        "datasets.Dataset (got int)",
    )

    class Columns:  # has `columns` but is no DataFrame
        columns = ["response"]

    with pytest.raises(DataFormatError, match=r"\(got Columns\)$"):
        load_pointwise_items(Columns())
    tsv = tmp_path / "i.tsv"
    tsv.write_text("response\tscore\na, b\t1\n\nc\t2\n", "utf-8")
    assert [(i.response, i.human["score"]) for i in load_pointwise_items(tsv)] == [
        ("a, b", 1.0),
        ("c", 2.0),
    ]
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"prompt": "q", "chosen": "a", "rejected": "b"}\n'))
    assert load_preference_pairs(gz)[0].chosen == "a"
    data = tmp_path / "p.data"
    data.write_text('[{"prompt": "q", "chosen": "a", "rejected": "b"}]', "utf-8")
    assert load_preference_pairs(data, format="json")[0].rejected == "b"
    with pytest.raises(DataFormatError) as err:
        load_preference_pairs(data)
    assert str(err.value) == (
        f"load_preference_pairs: cannot tell the format of {data}; "
        "pass format= one of jsonl, json, csv, tsv, parquet"
    )


def test_file_level_errors(tmp_path):
    from metricrm.data import load_pointwise_items, load_preference_pairs

    path = tmp_path / "d.json"
    path.write_text('{"prompt": "q"}', "utf-8")
    _raises(
        load_preference_pairs,
        path,
        f"{path}: expected a JSON list of records (got dict); use JSON Lines or a "
        "format-specific loader",
    )
    path.write_text('[{"response": "a"}, "text"]', "utf-8")
    _raises(load_pointwise_items, path, f"{path}: item 1: expected a JSON object (got str)")
    path.write_text('[{"response": "a"}, {"response": 1}]', "utf-8")
    _raises(
        load_pointwise_items,
        path,
        f"{path}: item 1: column 'response': expected text or a list of chat messages (got 1)",
    )
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("", "utf-8")
    _raises(
        load_pointwise_items, csv_path, f"{csv_path}: the file is empty (expected a header line)"
    )
    csv_path.write_text("response,response\na,b\n", "utf-8")
    _raises(
        load_pointwise_items,
        csv_path,
        f"{csv_path}: line 1: repeated column names in the header ['response', 'response']",
    )
    csv_path.write_bytes(b"response\nok\na\rb\n")
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(csv_path)
    assert str(err.value).startswith(f"{csv_path}: line 3: malformed CSV (new-line character")
    pq = tmp_path / "d.parquet"
    pq.write_bytes(b"not parquet")
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(pq)
    assert str(err.value).startswith(f"{pq}: cannot read Parquet (")
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"response": "a"}\n')[:-6])
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(gz)
    assert str(err.value).startswith(f"{gz}: cannot read the file (")
    lines = tmp_path / "l.jsonl"
    lines.write_text('{"response": "a"}\n\n  \n{"response": "b"}\n', "utf-8")
    assert [i.response for i in load_pointwise_items(lines)] == ["a", "b"]
    lines.write_text('{"response": "a"}\n\n{"response": 2}\n', "utf-8")
    _raises(
        load_pointwise_items,
        lines,
        f"{lines}: line 3: column 'response': expected text or a list of chat messages (got 2)",
    )


def test_datasets_sources(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from metricrm.data import load_pointwise_items

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    one = datasets.Dataset.from_dict({"response": ["a", "b"], "score": [1, 2]})
    single = datasets.DatasetDict({"train": one})
    assert [i.response for i in load_pointwise_items(single)] == ["a", "b"]
    both = datasets.DatasetDict({"train": one, "test": one.select([1])})
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(both, split="dev"),
        "load_pointwise_items: Dataset has splits train, test; pass split= one of them (got 'dev')",
    )
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(both),
        "load_pointwise_items: Dataset has splits train, test; pass split= one of them",
    )
    _raises_any(DataFormatError, lambda: load_pointwise_items(one.select([])), "Dataset: no rows")
    bad = datasets.Dataset.from_dict({"response": ["a", "b"], "score": ["1", "x"]})
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(datasets.DatasetDict({"dev": bad}), split="dev"),
        "Dataset [dev]: row 1: column 'score': expected a numeric human score (got 'x')",
    )
    both.save_to_disk(str(tmp_path / "saved"))
    assert [i.response for i in load_pointwise_items(tmp_path / "saved", split="test")] == ["b"]
    folder = tmp_path / "files"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", [{"response": "x", "score": 1}, {"response": "y", "score": 2}])
    items = load_pointwise_items(folder, split="train")
    assert [i.response for i in items] == ["x", "y"]
    bad_rows = tmp_path / "bad_rows"
    bad_rows.mkdir()
    _jsonl(bad_rows / "train.jsonl", [{"response": 1}])
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(bad_rows, split="train")
    assert str(err.value).startswith(f"{bad_rows} [train]: row 0: column 'response'")


def test_a_missing_optional_package_names_the_extra(tmp_path, monkeypatch):
    import sys

    from metricrm.core.errors import MissingDependencyError
    from metricrm.data import load_pointwise_items

    pq = tmp_path / "d.parquet"
    pq.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "pandas", None)
    monkeypatch.setitem(sys.modules, "datasets", None)
    _raises_any(
        MissingDependencyError,
        lambda: load_pointwise_items(pq),
        "load_pointwise_items: needs the `pandas` package, which is not installed; install it "
        'with `pip install "metricrm[io]"`',
    )
    _raises_any(
        MissingDependencyError,
        lambda: load_pointwise_items(tmp_path),
        "load_pointwise_items: needs the `datasets` package, which is not installed; install it "
        'with `pip install "metricrm[hf]"`',
    )
    monkeypatch.chdir(tmp_path)
    _raises_any(
        MissingDependencyError,
        lambda: load_pointwise_items("someone/data"),
        "load_pointwise_items: needs the `datasets` package, which is not installed; install it "
        'with `pip install "metricrm[hf]"`',
    )


# ---------------------------------------------------------------------- scored data loaders


def test_mqm_error_weights():
    from metricrm.data import mqm_error_weight

    cases = {
        ("Non-translation!", "Major"): 25.0,
        ("Non-translation!", " major "): 25.0,
        ("Accuracy/Mistranslation", "Major"): 5.0,
        ("Non-translation!", "Minor"): 1.0,
        ("Fluency/Punctuation", "Minor"): 0.1,
        ("Fluency/Punctuation", "Major"): 5.0,
        ("Fluency/Grammar", "minor"): 1.0,
        ("Style/Awkward", "Neutral"): 0.0,
        ("No-error", "No-error"): 0.0,
    }
    assert {k: mqm_error_weight(*k) for k in cases} == cases
    with pytest.raises(ValueError) as err:
        mqm_error_weight("Accuracy", "Critical")
    assert str(err.value) == (
        "unknown MQM severity 'Critical' (expected Major, Minor, Neutral or No-error)"
    )


MQM_HEADER = "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\tcomment"


def _mqm(path, *rows):
    path.write_text("\n".join([MQM_HEADER, *("\t".join(r) for r in rows)]) + "\n", "utf-8")
    return path


def test_wmt_mqm_file_errors_and_quotes(tmp_path):
    from metricrm.data import load_wmt_mqm

    path = tmp_path / "m.tsv"
    row = [
        "sysA",
        "d",
        "1",
        "3",
        "r1",
        "Hallo <v>Welt</v>",
        '"Hi" world',
        "No-error",
        "No-error",
        "",
    ]
    ref = ["ref", "d", "1", "3", "r1", "Hallo Welt", "Hello world", "No-error", "No-error", ""]
    (item,) = load_wmt_mqm(_mqm(path, row, ref))
    assert (item.response, item.source, item.references) == (
        '"Hi" world',
        "Hallo Welt",
        ("Hello world",),
    )
    assert (item.system, item.group, item.id, item.human) == ("sysA", "3", "sysA/3", {"mqm": 0.0})
    other = [*row[:5], "Hallo Erde", *row[6:]]
    _mqm(path, row, ref, other)
    _raises(
        load_wmt_mqm,
        path,
        f"{path}: line 4: segment 3 has a different source text than on line 2 "
        "(after removing <v> markers)",
    )
    path.write_text("", "utf-8")
    _raises(load_wmt_mqm, path, f"{path}: the file is empty (expected an MQM header line)")
    path.write_text("system\tdoc\tseg_id\nA\td\t1\n", "utf-8")
    _raises(
        load_wmt_mqm,
        path,
        f"{path}: missing column(s) doc_id, rater, source, target, category, severity "
        "(columns present: system, doc, seg_id)",
    )


def test_summeval_fields_and_errors(tmp_path):
    from metricrm.data import load_summeval

    doc = {
        "src": "article",
        "ref_summ": "first",
        "ref_summs": ["r1", "r2"],
        "sys_summs": {"M1": {"sys_summ": "summary", "scores": {"coherence": 4, "fluency": 4.5}}},
    }
    path = _write(tmp_path / "s.json", {"d1": doc})
    (item,) = load_summeval(path)
    assert item.references == ("first", "r1", "r2")  # ref_summ absent from ref_summs: first
    assert (item.response, item.source, item.system, item.group, item.id) == (
        "summary",
        "article",
        "M1",
        "d1",
        "d1/M1",
    )
    assert item.human == {"coherence": 4.0, "fluency": 4.5}
    _write(path, {"d1": {**doc, "ref_summ": "r2"}})
    assert load_summeval(path)[0].references == ("r1", "r2")
    where = f"{path}: document 'd1'"
    for change, message in [
        ({"ref_summs": "r1"}, f"{where}: expected `ref_summs` to be list (got str)"),
        ({"ref_summs": ["r1", 2]}, f"{where}: expected `ref_summs[1]` to be str (got int)"),
        ({"ref_summ": 5}, f"{where}: expected `ref_summ` to be str (got int)"),
        ({"src": None}, f"{where}: expected `src` to be str (got NoneType)"),
        ({"sys_summs": []}, f"{where}: expected `sys_summs` to be dict (got list)"),
        ({"sys_summs": {"M1": {"sys_summ": "s"}}},
         f"{where}, system 'M1': missing field(s) 'scores' (fields present: 'sys_summ')"),
        ({"sys_summs": {"M1": {"sys_summ": "s", "scores": [1]}}},
         f"{where}, system 'M1': expected `scores` to be dict (got list)"),
        ({"sys_summs": {"M1": {"sys_summ": 3, "scores": {}}}},
         f"{where}, system 'M1': expected `sys_summ` to be str (got int)"),
        ({"sys_summs": {"M1": {"sys_summ": "s", "scores": {"fluency": True}}}},
         f"{where}, system 'M1': score 'fluency' must be a number (got True)"),
    ]:  # fmt: skip
        _write(path, {"d1": {**doc, **change}})
        _raises(load_summeval, path, message)
    _write(path, {"d1": {"src": "a"}})
    _raises(
        load_summeval,
        path,
        f"{where}: missing field(s) 'ref_summs', 'sys_summs' (fields present: 'src')",
    )
    _write(path, [doc])
    _raises(load_summeval, path, f"{path}: expected the top-level value to be dict (got list)")


@pytest.mark.parametrize("loader", ["load_wmt_mqm", "load_summeval", "load_hh_rlhf"])
def test_scored_loaders_name_themselves_for_a_missing_file(tmp_path, loader):
    import metricrm.data as data

    with pytest.raises(FileNotFoundError) as err:
        getattr(data, loader)(tmp_path / "absent")
    assert str(err.value) == f"{loader}: no such file or folder: {tmp_path / 'absent'}"


# ------------------------------------------------------------------------------- HH-RLHF


def _hh(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def test_hh_rlhf_transcripts(tmp_path):
    from metricrm.data import load_hh_rlhf, split_transcript

    assert split_transcript("\n\nHuman: hi") == [{"role": "user", "content": "hi"}]
    long = "x" * 70
    with pytest.raises(DataFormatError) as err:
        split_transcript(long)
    assert str(err.value) == (
        f"transcript: expected a transcript starting with '\\n\\nHuman:' (got {long[:60]!r})"
    )
    path = tmp_path / "h.jsonl"
    _hh(path, {"chosen": "\n\nAssistant: hi", "rejected": "\n\nHuman: a\n\nAssistant: b"})
    _raises(
        load_hh_rlhf,
        path,
        f"{path}: line 1, `chosen`: expected at least one turn followed by a final assistant "
        "turn (got roles ['assistant'])",
    )
    _hh(path, {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nHuman: b"})
    _raises(
        load_hh_rlhf,
        path,
        f"{path}: line 1, `rejected`: expected at least one turn followed by a final assistant "
        "turn (got roles ['user', 'user'])",
    )
    _hh(path, {"chosen": 1, "rejected": "x"})
    _raises(load_hh_rlhf, path, f"{path}: line 1: expected `chosen` to be str (got int)")
    _hh(path, {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": None})
    _raises(load_hh_rlhf, path, f"{path}: line 1: expected `rejected` to be str (got NoneType)")
    _hh(path, {"chosen": "\n\nHuman: a\n\nAssistant: b"})
    _raises(
        load_hh_rlhf,
        path,
        f"{path}: line 1: missing field(s) 'rejected' (fields present: 'chosen')",
    )
    with pytest.raises(ValueError) as err:
        load_hh_rlhf(path, on_mismatch="keep")
    assert str(err.value) == (
        "load_hh_rlhf: `on_mismatch` must be one of 'flag', 'skip', 'raise' (got 'keep')"
    )


def test_hh_rlhf_mismatched_prompts(tmp_path):
    import warnings

    from metricrm.data import load_hh_rlhf

    same = {
        "chosen": "\n\nHuman: q\n\nAssistant: good",
        "rejected": "\n\nHuman: q\n\nAssistant: bad",
    }
    odd = {
        "chosen": "\n\nHuman: q\n\nAssistant: a\n\nHuman: more\n\nAssistant: good",
        "rejected": "\n\nHuman: other\n\nAssistant: x\n\nHuman: again\n\nAssistant: bad",
    }
    path = _hh(tmp_path / "test.jsonl", same, odd, same)
    flagged = load_hh_rlhf(path)
    assert [p.id for p in flagged] == ["test/1", "test/2", "test/3"]
    assert flagged[1].meta == {
        "line": 2,
        "prompt_mismatch": True,
        "rejected_prompt": (
            {"role": "user", "content": "other"},
            {"role": "assistant", "content": "x"},
            {"role": "user", "content": "again"},
        ),
    }
    assert flagged[0].meta == {"line": 1, "prompt_mismatch": False}
    assert load_hh_rlhf(path, subset="s")[2].id == "s/3"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = load_hh_rlhf(path, on_mismatch="skip")
    assert [p.meta["line"] for p in kept] == [1, 3]
    (warning,) = caught
    assert str(warning.message) == (
        f"load_hh_rlhf: skipped 1 of 3 pairs in {path} whose transcripts differ before the "
        "last turn (lines 2)"
    )
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampoline adds a stack frame
        assert warning.filename == __file__  # attributed to the caller
    with pytest.raises(DataFormatError) as err:
        load_hh_rlhf(path, on_mismatch="raise")
    assert str(err.value) == (
        f"{path}: line 2: `chosen` and `rejected` differ before their last assistant turn "
        "(3 vs 3 earlier turns); pass on_mismatch='flag' or 'skip' to load the file anyway"
    )


# ------------------------------------------------------------------------ the built-in sample


@pytest.fixture
def sample_text(monkeypatch):
    """Replace the packaged sample files with given text: ``set(kind, lines)``."""
    import importlib

    import metricrm as mr

    module = importlib.import_module(mr.load_sample.__module__)
    texts: dict[str, str] = {}
    encodings: list[str] = []

    class File:
        def __init__(self, name):
            self.name = name

        def read_text(self, encoding=None):
            encodings.append(encoding)
            return texts[self.name]

    class Folder:
        def joinpath(self, *parts):
            assert parts[0] == "sample"
            return File(parts[-1])

    monkeypatch.setattr(module.resources, "files", lambda package: Folder())

    def set_text(name, records):
        texts[name] = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records)

    set_text.encodings = encodings
    return set_text


PAIR = {"prompt": "q", "chosen": "a", "rejected": "b", "label": "chosen", "subset": "s", "id": "1"}
ITEM = {
    "response": "r", "source": "src", "references": ["ref"], "human": {"da": 70},
    "system": "A", "group": "g", "id": "i", "task": "mt", "lang": "de-en",
}  # fmt: skip


def test_sample_records_are_built_from_every_field(sample_text):
    import metricrm as mr

    chat = [{"role": "user", "content": "hi"}]
    sample_text("preference.jsonl", [PAIR, "", "  ", {**PAIR, "prompt": chat, "label": "tie"}])
    first, second = mr.load_sample("preference")
    assert (first.prompt, first.chosen, first.rejected, first.label, first.subset, first.id) == (
        "q",
        "a",
        "b",
        "chosen",
        "s",
        "1",
    )
    assert second.prompt == ({"role": "user", "content": "hi"},) and second.label == "tie"
    sample_text("reference.jsonl", [ITEM])
    (item,) = mr.load_sample("reference")
    assert (item.response, item.source, item.references, item.human) == (
        "r",
        "src",
        ("ref",),
        {"da": 70.0},
    )
    assert (item.system, item.group, item.id, item.meta) == (
        "A",
        "g",
        "i",
        {"task": "mt", "lang": "de-en"},
    )
    assert {e.replace("-", "").lower() for e in sample_text.encodings} == {"utf8"}
    with pytest.raises(ValueError) as err:
        mr.load_sample("pairs")
    assert str(err.value) == (
        "load_sample: `kind` must be one of 'preference', 'reference' (got 'pairs')"
    )


@pytest.mark.parametrize(
    ("kind", "record", "message"),
    [
        ("preference", {**PAIR, "label": "x"}, "expected `label` 'chosen' or 'tie' (got 'x')"),
        ("preference", {**PAIR, "chosen": " "},
         "expected `chosen` to be non-empty text or a list of chat messages (got ' ')"),
        ("preference", {**PAIR, "rejected": None},
         "expected `rejected` to be non-empty text or a list of chat messages (got None)"),
        ("preference", {**PAIR, "prompt": 3},
         "expected `prompt` to be non-empty text or a list of chat messages (got 3)"),
        ("preference", {k: v for k, v in PAIR.items() if k != "subset"},
         "expected a field 'subset'"),
        ("reference", {**ITEM, "human": {"da": "high"}},
         "expected `human` to be {'da': number} (got {'da': 'high'})"),
        ("reference", {**ITEM, "human": 5}, "expected `human` to be {'da': number} (got 5)"),
        ("reference", {**ITEM, "references": "ref"},
         "expected `references` to be a non-empty list of strings (got 'ref')"),
        ("reference", {**ITEM, "references": []},
         "expected `references` to be a non-empty list of strings (got [])"),
        ("reference", {**ITEM, "references": ["ok", ""]},
         "expected `references` to be a non-empty list of strings (got ['ok', ''])"),
        ("reference", {**ITEM, "references": ["ok", 1]},
         "expected `references` to be a non-empty list of strings (got ['ok', 1])"),
        ("reference", {**ITEM, "source": None},
         "expected `source` to be non-empty text or a list of chat messages (got None)"),
        ("reference", {**ITEM, "response": ""},
         "expected `response` to be non-empty text or a list of chat messages (got '')"),
        ("reference", {k: v for k, v in ITEM.items() if k != "lang"}, "expected a field 'lang'"),
    ],
)  # fmt: skip
def test_sample_errors_name_file_line_and_field(sample_text, kind, record, message):
    import metricrm as mr

    good = PAIR if kind == "preference" else ITEM
    name = f"{kind}.jsonl"
    sample_text(name, [good, "", record])
    with pytest.raises(DataFormatError) as err:
        mr.load_sample(kind)
    assert str(err.value) == f"sample/{name}, line 3: {message}"


def test_sample_with_broken_json(sample_text):
    import metricrm as mr

    sample_text("preference.jsonl", [PAIR, '{"prompt": '])
    with pytest.raises(DataFormatError) as err:
        mr.load_sample("preference")
    assert str(err.value).startswith(
        "sample/preference.jsonl, line 2: expected a JSON object (Expecting value"
    )


# ----------------------------------------------------- second review of mutation survivors


def test_pandas_missing_values_are_missing():
    pandas = pytest.importorskip("pandas")
    from metricrm.data import load_pointwise_items

    frame = pandas.DataFrame(
        {
            "response": ["a", "b"],
            "source": pandas.array(["s", None], dtype="string"),
            "score": pandas.array([1.5, None], dtype="Float64"),
            "id": [pandas.NaT, pandas.NaT],
        }
    )
    items = load_pointwise_items(frame)
    assert [(i.source, i.human, i.id) for i in items] == [
        ("s", {"score": 1.5}, None),
        (None, {"score": None}, None),
    ]


def test_cell_edge_cases(tmp_path):
    from metricrm.data import load_pointwise_items, load_preference_pairs

    path = _jsonl(
        tmp_path / "i.jsonl",
        [{"response": "a", "score": "+nan", "r1": "", "r2": "x"},
         {"response": "b", "score": "-NaN", "r1": None, "r2": "y"}],
    )  # fmt: skip
    items = load_pointwise_items(path, columns={"references": ["r1", "r2"]})
    assert [(i.human, i.references) for i in items] == [
        ({"score": None}, ("x",)),
        ({"score": None}, ("y",)),
    ]
    exact = "y" * 76  # a list repr of exactly 80 characters is shown whole
    _jsonl(path, [{"response": [exact]}])
    _raises(
        load_pointwise_items,
        path,
        f"{path}: line 1: column 'response': expected text or a list of chat messages "
        f"(got {[exact]!r})",
    )
    _jsonl(path, [{"chosen": "a", "rejected": "b"}])
    _raises(
        load_preference_pairs,
        path,
        f"{path}: missing column 'prompt' (columns present: 'chosen', 'rejected')",
    )
    with pytest.raises(ValueError) as err:
        load_preference_pairs(path, labels={"a": "better"})
    assert str(err.value) == (
        "load_preference_pairs: `labels` values must be 'chosen', 'rejected' or 'tie' "
        "(got {'a': 'better'})"
    )
    gz = tmp_path / "p.v1.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"prompt": "q", "chosen": "a", "rejected": "b"}\n'))
    assert load_preference_pairs(gz)[0].prompt == "q"


def test_parquet_errors_name_the_file(tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from metricrm.data import load_pointwise_items

    path = tmp_path / "d.parquet"
    pandas.DataFrame({"response": [3]}).to_parquet(path)
    _raises(
        load_pointwise_items,
        path,
        f"{path}: row 0: column 'response': expected text or a list of chat messages (got 3)",
    )
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(path)
    assert re.match(
        rf"{re.escape(str(path))}: cannot read Parquet \((?!NoneType)\w+: ", str(err.value)
    )


def test_hub_ids_and_folders_pass_split_and_options(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from metricrm.data import load_pointwise_items, load_preference_pairs

    calls = []

    def fake_load_dataset(name, split=None, **kwargs):
        calls.append((name, split, kwargs))
        return datasets.Dataset.from_dict({"prompt": ["q"], "chosen": ["a"], "rejected": ["b"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.chdir(tmp_path)
    assert load_preference_pairs("org/pairs", split="test", revision="v1")[0].chosen == "a"
    assert calls == [("org/pairs", "test", {"revision": "v1"})]
    monkeypatch.undo()

    folder = tmp_path / "files"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", [{"response": "x"}])
    _jsonl(folder / "test.jsonl", [{"response": 5}])
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(folder),
        f"load_pointwise_items: {folder} has splits train, test; pass split= one of them",
    )
    _jsonl(folder / "other.jsonl", [{"response": "z"}])
    picked = load_pointwise_items(folder, split="dev", data_files={"dev": "other.jsonl"})
    assert [i.response for i in picked] == ["z"]
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {"a": datasets.Dataset.from_dict({"response": [1]}),
         "b": datasets.Dataset.from_dict({"response": ["ok"]})}
    ).save_to_disk(str(saved))  # fmt: skip
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(saved),
        f"load_pointwise_items: {saved} has splits a, b; pass split= one of them",
    )
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items(saved, split="a"),
        f"{saved} [a]: row 0: column 'response': expected text or a list of chat messages (got 1)",
    )


def test_wmt_mqm_average_score_files(tmp_path):
    from metricrm.data import load_pointwise_items, load_wmt_mqm

    row = ["sysA", "d", "1", "3", "r1", "Hallo", "Hi", "No-error", "No-error", ""]
    ref = ["ref", "d", "1", "3", "r1", "Hallo", "Hello", "No-error", "No-error", ""]
    tsv = _mqm(tmp_path / "m.tsv", row, ref)
    avg = tmp_path / "avg.tsv"
    avg.write_text("system\tmqm_avg_score\tseg_id\nsysA\t-1.5 3\n\nhuman-ref\t-0.5 3\n", "utf-8")
    items = load_wmt_mqm(tsv, avg, include_ref=True, avg_system_aliases={"ref": "human-ref"})
    assert [(i.system, i.human) for i in items] == [("ref", {"mqm": -0.5}), ("sysA", {"mqm": -1.5})]
    via_format = load_pointwise_items(tsv, format="wmt-mqm", avg_scores_path=avg,
                                      avg_system_aliases={"ref": "human-ref"})  # fmt: skip
    assert [i.human for i in via_format] == [{"mqm": -1.5}]
    long_header = "x" * 100
    for text, message in [
        (f"{long_header}\n", f"line 1: expected the header 'system mqm_avg_score seg_id' "
                              f"(got {long_header[:80]!r})"),
        ("system\tmqm_avg_score\tseg_id\nsysA\t-1 3 extra " + "y" * 90 + "\n",
         "line 2: expected 'SYSTEM<TAB>SCORE SEG_ID' (got "
         + repr(("sysA\t-1 3 extra " + "y" * 90)[:80]) + ")"),
        ("system\tmqm_avg_score\tseg_id\nsysA\t-1 3\nref-A\t0 3\nsysA\t-2 3\n",
         "line 4: system 'sysA', segment 3 repeats line 2"),
    ]:  # fmt: skip
        avg.write_text(text, "utf-8")
        _raises(lambda a: load_wmt_mqm(tsv, a), avg, f"{avg}: {message}")
    with pytest.raises(FileNotFoundError) as err:
        load_wmt_mqm(tsv, tmp_path / "absent.tsv")
    assert str(err.value) == f"load_wmt_mqm: no such file or folder: {tmp_path / 'absent.tsv'}"


def test_more_generic_paths(tmp_path, monkeypatch):
    from metricrm.data import load_pointwise_items

    odd = tmp_path / "items.data"
    odd.write_text('[{"response": "a"}]', "utf-8")
    assert load_pointwise_items(odd, format="json")[0].response == "a"
    path = _jsonl(tmp_path / "i.jsonl", [{"answer": "a", "x": 1}])
    _raises(load_pointwise_items, path, f"{path}: missing column 'response' (columns present: "
                                        "'answer', 'x')")  # fmt: skip
    _jsonl(path, [{"response": "a", "system": "s", "x": 1}, {"response": "b", "x": 2}])
    _raises(load_pointwise_items, path, f"{path}: line 2: missing column 'system' (columns "
                                        "present: 'response', 'x')")  # fmt: skip

    class Lookalike:  # has `column_names` but is no datasets object
        column_names = ["response"]

    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(Lookalike())
    assert str(err.value).endswith("(got Lookalike)")

    datasets = pytest.importorskip("datasets")

    def fake_load_dataset(name, split=None, **kwargs):
        bad = datasets.Dataset.from_dict({"response": [1]})
        return bad if split else datasets.DatasetDict({"a": bad, "b": bad})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.chdir(tmp_path)
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items("org/bad", split="test"),
        "hub dataset 'org/bad' [test]: row 0: column 'response': expected text or a list of "
        "chat messages (got 1)",
    )
    _raises_any(
        DataFormatError,
        lambda: load_pointwise_items("org/bad"),
        "load_pointwise_items: hub dataset 'org/bad' has splits a, b; pass split= one of them",
    )


def test_wmt_mqm_items_scores_order_and_errors(tmp_path):
    from metricrm.data import load_wmt_mqm

    def row(system, seg, rater, category="No-error", severity="No-error", comment="", tgt="T"):
        return [system, "doc", "7", seg, rater, f"S{seg}", f"{tgt}{seg}", category, severity,
                comment]  # fmt: skip

    rows = [
        row("sysB", "10", "r1", "Accuracy/Mistranslation", "Major", "bad", tgt="<v>T</v>"),
        row("sysB", "10", "r2", "Fluency/Punctuation", "Minor"),
        row("sysB", "10", "r2", "Fluency/Grammar", "Minor"),
        row("sysA", "10", "r1"),
        row("sysA", "9", "r1"),
        row("sysA", "x1", "r1"),
        *(row("ref", seg, "r1", tgt="R") for seg in ("10", "9", "x1")),
    ]
    path = _mqm(tmp_path / "m.tsv", *rows)
    items = load_wmt_mqm(path)
    assert [i.id for i in items] == ["sysA/9", "sysA/10", "sysB/10", "sysA/x1"]
    by_id = {i.id: i for i in items}
    sys_b = by_id["sysB/10"]
    # raters' summed weights 5 and 1.1, averaged over the two raters, negated
    assert sys_b.human == {"mqm": -(5 + 1.1) / 2}
    assert (sys_b.response, sys_b.source, sys_b.references) == ("T10", "S10", ("R10",))
    assert sys_b.meta == {
        "doc": "doc",
        "doc_id": "7",
        "annotations": (
            {"rater": "r1", "category": "Accuracy/Mistranslation", "severity": "Major",
             "comment": "bad", "target": "<v>T</v>10"},
            {"rater": "r2", "category": "Fluency/Punctuation", "severity": "Minor",
             "comment": "", "target": "T10"},
            {"rater": "r2", "category": "Fluency/Grammar", "severity": "Minor",
             "comment": "", "target": "T10"},
        ),
        "is_reference": False,
    }  # fmt: skip
    with_refs = load_wmt_mqm(path, include_ref=True)
    assert [i.id for i in with_refs][:3] == ["ref/9", "sysA/9", "ref/10"]
    assert with_refs[0].meta["is_reference"] is True and with_refs[0].references == ()

    _mqm(path, *rows[:6])
    _raises(
        lambda p: load_wmt_mqm(p, ref_system="ref"),
        path,
        f"{path}: ref_system 'ref' is not a system of the file; its systems are sysA, sysB "
        "(pass ref_system=None to load without references)",
    )
    _raises(
        load_wmt_mqm,
        path,
        f"{path}: no system is named like a human translation (ref, refA, ref-B, Human-A, ...; "
        "systems: sysA, sysB); pass ref_system=NAME for the system whose outputs are the "
        "references, or ref_system=None to load without references",
    )
    assert [i.references for i in load_wmt_mqm(path, ref_system=None)][:1] == [()]
    _mqm(path, row("sysA", "1", "r1", "Accuracy", "Critical"))
    _raises(
        lambda p: load_wmt_mqm(p, ref_system=None),
        path,
        f"{path}: line 2: unknown MQM severity 'Critical' "
        "(expected Major, Minor, Neutral or No-error)",
    )
    _mqm(path)
    _raises(load_wmt_mqm, path, f"{path}: no data rows after the header")

    _mqm(path, row("sysA", "1", "r1"), row("ref", "1", "r1", tgt="R"))
    avg = tmp_path / "avg.tsv"
    avg.write_text("system\tmqm_avg_score\tseg_id\nsysA\t-1 1\n", "utf-8")
    _raises(
        lambda a: load_wmt_mqm(path, a),
        avg,
        f"{avg}: no score for system 'ref', segment 1 (the file has no system 'ref' nor an alias "
        "of it; its systems are sysA; pass avg_system_aliases={'ref': NAME})",
    )
    avg.write_text("system\tmqm_avg_score\tseg_id\nsysA\t-1 1\nref-A\t0 1\nsysC\t-2 1\n", "utf-8")
    _raises(
        lambda a: load_wmt_mqm(path, a),
        avg,
        f"{avg}: line 4: score -2.0 for system 'sysC', segment 1 which has no row in the MQM file",
    )


def test_text_files_keep_newlines_and_drop_a_bom(tmp_path):
    from metricrm.data import load_pointwise_items, load_rm_bench

    text = '\ufeffresponse,score\n"two\r\nlines",1\n'
    plain = tmp_path / "b.csv"
    plain.write_bytes(text.encode("utf-8"))
    packed = tmp_path / "b.csv.gz"
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    for path in (plain, packed):
        assert [i.response for i in load_pointwise_items(path)] == ["two\r\nlines"]
    path = _write(tmp_path / "chat_filtered.json", ["not a record"])
    _raises(load_rm_bench, path, f"{path}: item 0: expected the record to be Mapping (got str)")
    broken = tmp_path / "t.json.gz"
    broken.write_bytes(gzip.compress(b'[{"response": "a"}]')[:-6])
    with pytest.raises(DataFormatError) as err:
        load_pointwise_items(broken)
    assert re.match(rf"{re.escape(str(broken))}: cannot read the file \((EOFError|BadGzipFile): ",
                    str(err.value))  # fmt: skip
