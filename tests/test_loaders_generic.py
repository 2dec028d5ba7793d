"""Generic loaders: JSONL/JSON/CSV/Parquet files, DataFrames, datasets, hub ids, and bad input."""

from __future__ import annotations

import json

import pytest

import metricrm as mr
from metricrm.core.errors import DataFormatError
from metricrm.data import load_llmbar, load_pointwise_items, load_preference_pairs, load_rm_bench

CHAT = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "2+2?"},
]
PAIRS = [
    {
        "prompt": "Capital of France?",
        "chosen": "Paris.",
        "rejected": "Lyon.",
        "label": "chosen",
        "subset": "qa",
        "id": "a",
    },
    {
        "prompt": CHAT,
        "chosen": "4",
        "rejected": "5",
        "label": "tie",
        "subset": "math",
        "id": "b",
        "note": "x",
    },
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_round_trip(tmp_path):
    pairs = mr.load_preference_pairs(write_jsonl(tmp_path / "p.jsonl", PAIRS))
    assert [p.prompt for p in pairs] == ["Capital of France?", tuple(CHAT)]
    assert [(p.chosen, p.rejected, p.label, p.subset, p.id) for p in pairs] == [
        ("Paris.", "Lyon.", "chosen", "qa", "a"),
        ("4", "5", "tie", "math", "b"),
    ]
    assert pairs[1].meta == {"note": "x", "label": "tie"}  # unmapped columns are kept
    assert load_preference_pairs(tmp_path / "p.jsonl", format="jsonl") == pairs


def test_json_list_and_no_label_column(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in PAIRS])
    )
    pairs = load_preference_pairs(path)
    assert [p.label for p in pairs] == ["chosen", "chosen"] and pairs[0].meta == {}


def test_csv_with_column_mapping_and_numeric_labels(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        'question,answer_a,answer_b,pref\n"Say hi, please",hi,bye,1\nq2,a2,b2,0\nq3,"multi\nline",b3,0.5\n',
        encoding="utf-8",
    )
    columns = {"prompt": "question", "chosen": "answer_a", "rejected": "answer_b", "label": "pref"}
    pairs = load_preference_pairs(path, columns=columns)
    assert [(p.prompt, p.chosen, p.rejected, p.label) for p in pairs] == [
        ("Say hi, please", "hi", "bye", "chosen"),
        ("q2", "b2", "a2", "chosen"),  # 0 = the second column is better: swapped
        ("q3", "multi\nline", "b3", "tie"),
    ]
    assert pairs[1].meta == {"label": "0", "swapped": True}


def test_custom_label_values_reproduce_llmbar_loader(shared_data):
    path = shared_data / "preference/llmbar/Natural/dataset.json"
    generic = load_preference_pairs(
        path,
        columns={"prompt": "input", "chosen": "output_1", "rejected": "output_2"},
        labels={1: "chosen", 2: "rejected"},
    )
    dedicated = load_llmbar(path)
    texts = lambda ps: [(p.prompt, p.chosen, p.rejected) for p in ps]  # noqa: E731
    assert texts(generic) == texts(dedicated)


def test_benchmark_format_dispatch(shared_data):
    path = shared_data / "preference/rm-bench/safety-response_filtered.json"
    assert load_preference_pairs(path, format="rm-bench") == load_rm_bench(path)
    items = load_pointwise_items(shared_data / "scored/summeval/summeval.json", format="summeval")
    assert len(items) == 1600
    with pytest.raises(ValueError, match=r"unknown format 'rm-bench' \(valid: jsonl, .*summeval\)"):
        load_pointwise_items(path, format="rm-bench")
    with pytest.raises(ValueError, match="fixed layout"):
        load_preference_pairs(path, format="rm-bench", columns={"prompt": "x"})


def test_pointwise_dataframe_with_score_columns():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "hyp": ["a cat", "the dog"],
            "ref": ["a cat sat", "a dog"],
            "ref2": ["cat", None],
            "fluency": [4.5, float("nan")],
            "adequacy": [3, 2],
            "system": ["s1", "s2"],
            "seg": [7, 8],
            "extra": ["x", "y"],
        }
    )
    items = load_pointwise_items(
        frame,
        columns={
            "response": "hyp",
            "references": ["ref", "ref2"],
            "human": ["fluency", "adequacy"],
            "group": "seg",
        },
    )
    assert [i.response for i in items] == ["a cat", "the dog"]
    assert [i.references for i in items] == [("a cat sat", "cat"), ("a dog",)]
    assert items[0].human == {"fluency": 4.5, "adequacy": 3.0}
    assert items[1].human == {"fluency": None, "adequacy": 2.0}  # NaN = unscored
    assert [(i.system, i.group, i.meta) for i in items] == [
        ("s1", "7", {"extra": "x"}),
        ("s2", "8", {"extra": "y"}),
    ]


def test_pointwise_jsonl_defaults(tmp_path):
    records = [
        {
            "response": "r1",
            "references": ["x", "y"],
            "human": {"mqm": -1.5, "da": None},
            "system": "A",
            "group": 1,
        },
        {
            "response": "r2",
            "references": "z",
            "human": {"mqm": 0, "da": 70},
            "system": "B",
            "group": 1,
        },
    ]
    items = load_pointwise_items(write_jsonl(tmp_path / "i.jsonl", records))
    assert [i.references for i in items] == [("x", "y"), ("z",)]
    assert [i.human for i in items] == [{"mqm": -1.5, "da": None}, {"mqm": 0.0, "da": 70.0}]
    scored = load_pointwise_items(
        write_jsonl(tmp_path / "s.jsonl", [{"response": "r", "score": "0.25"}])
    )
    assert scored[0].human == {"score": 0.25}


def test_parquet_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {"response": ["a", "b"], "references": [["r1", "r2"], ["r3"]], "score": [0.5, 1.0]}
    )
    frame.to_parquet(tmp_path / "i.parquet")
    items = load_pointwise_items(tmp_path / "i.parquet")
    assert [(i.response, i.references, i.human) for i in items] == [
        ("a", ("r1", "r2"), {"score": 0.5}),
        ("b", ("r3",), {"score": 1.0}),
    ]


def test_datasets_objects_folders_and_json_builder(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {k: [r[k] for r in PAIRS] for k in ("prompt", "chosen", "rejected", "label")}
    rows["prompt"] = ["p1", "p2"]
    ds = datasets.Dataset.from_dict(rows)
    expected = [("p1", "Paris.", "Lyon.", "chosen"), ("p2", "4", "5", "tie")]
    as_tuples = lambda ps: [(p.prompt, p.chosen, p.rejected, p.label) for p in ps]  # noqa: E731
    assert as_tuples(load_preference_pairs(ds)) == expected
    ds.save_to_disk(str(tmp_path / "saved"))
    assert as_tuples(load_preference_pairs(tmp_path / "saved")) == expected
    dd = datasets.DatasetDict({"train": ds, "test": ds.select([1])})
    assert as_tuples(load_preference_pairs(dd, split="test")) == expected[1:]
    with pytest.raises(DataFormatError, match=r"has splits train, test; pass split="):
        load_preference_pairs(dd)
    jsonl = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    built = datasets.load_dataset("json", data_files=str(jsonl), split="train")
    assert [(p.prompt, p.chosen) for p in load_preference_pairs(built)] == [
        ("Capital of France?", "Paris."),
        (tuple(CHAT), "4"),
    ]


def test_hub_id_goes_through_load_dataset(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(name, split=None, **kwargs):
        calls.append((name, split, kwargs))
        return datasets.Dataset.from_dict({"response": ["hello"], "score": [3]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.chdir(tmp_path)  # make sure no local folder of that name exists
    items = load_pointwise_items("someone/some-data", split="test", revision="main")
    assert calls == [("someone/some-data", "test", {"revision": "main"})]
    assert [(i.response, i.human) for i in items] == [("hello", {"score": 3.0})]
    with pytest.raises(FileNotFoundError, match="not a hub dataset id: missing/file.jsonl"):
        load_pointwise_items("missing/file.jsonl")
    assert calls == [("someone/some-data", "test", {"revision": "main"})]


# ---- bad input: every error names the file and the place ---------------------------------


def test_malformed_and_truncated_jsonl(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps(PAIRS[0]),
        json.dumps(PAIRS[0]),
        '{"prompt": "x", "chosen": ',
        json.dumps(PAIRS[0]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{path.name}: line 3: invalid or truncated JSON"):
        load_preference_pairs(path)
    path.write_text(json.dumps(PAIRS[0]) + "\n" + json.dumps(PAIRS[0])[:-9], encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{path.name}: line 2: invalid or truncated JSON"):
        load_preference_pairs(path)
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=rf"{path.name}: line 1: expected a JSON object \(got list\)",
    ):
        load_preference_pairs(path)


def test_truncated_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(PAIRS, indent=1)[:-40], encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"bad\.json: invalid or truncated JSON at line \d+, column \d+",
    ):
        load_preference_pairs(path)


def test_missing_column_names_file_and_columns(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "a", "other": 1}])
    with pytest.raises(
        DataFormatError,
        match=rf"{path.name}: missing column 'rejected' \(columns present: 'prompt', 'chosen', 'other'\)",
    ):
        load_preference_pairs(path)
    with pytest.raises(
        DataFormatError,
        match=r"missing column\(s\) 'answer' for field 'response' \(columns present: 'prompt', 'chosen', 'other'\)",
    ):
        load_pointwise_items(path, columns={"response": "answer"})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['answer'\]"):
        load_pointwise_items(path, columns={"answer": "chosen"})
    # A column that only some JSONL lines carry is missing on the others.
    path = write_jsonl(tmp_path / "q.jsonl", [{"response": "a", "system": "s"}, {"response": "b"}])
    with pytest.raises(
        DataFormatError,
        match=rf"{path.name}: line 2: missing column 'system' \(columns present: 'response'\)",
    ):
        load_pointwise_items(path)


def test_invalid_label_names_file_line_and_value(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [PAIRS[0], {**PAIRS[0], "label": "better"}])
    with pytest.raises(
        DataFormatError,
        match=rf"{path.name}: line 2: column 'label': invalid label 'better'",
    ):
        load_preference_pairs(path)
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("prompt,chosen,rejected,label\nq,a,b,chosen\nq,a,b,2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"p\.csv: line 3: column 'label': invalid label '2'"):
        load_preference_pairs(csv_path)
    with pytest.raises(ValueError, match="`labels` values must be"):
        load_preference_pairs(csv_path, labels={"a": "better"})


def test_empty_files(tmp_path):
    for name, text in [
        ("e.jsonl", "\n\n"),
        ("e.json", ""),
        ("e.csv", ""),
        ("h.csv", "prompt,chosen,rejected\n"),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(
            DataFormatError,
            match=rf"{path.name}: (the file is empty|no data rows)",
        ):
            load_preference_pairs(path)
    (tmp_path / "l.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"l\.json: the JSON list is empty"):
        load_preference_pairs(tmp_path / "l.json")


def test_bad_cells_name_line_and_column(tmp_path):
    csv_path = tmp_path / "i.csv"
    csv_path.write_text("response,score\na,1.5\nb,\nc,good\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"i\.csv: line 4: column 'score': expected a numeric human score \(got 'good'\)",
    ):
        load_pointwise_items(csv_path)
    csv_path.write_text("response,score\na,1.5\nb\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"i\.csv: line 3: expected 2 fields as in the header \(got 1\)",
    ):
        load_pointwise_items(csv_path)
    csv_path.write_text("response,score\na,1.5\nb,\n", encoding="utf-8")
    assert [i.human for i in load_pointwise_items(csv_path)] == [{"score": 1.5}, {"score": None}]
    path = write_jsonl(tmp_path / "t.jsonl", [{"response": "ok"}, {"response": 5}])
    with pytest.raises(
        DataFormatError,
        match=r"t\.jsonl: line 2: column 'response': expected text or a list of chat messages \(got 5\)",
    ):
        load_pointwise_items(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"cannot tell the format of .*data\.txt; pass format=",
    ):
        load_preference_pairs(path)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_preference_pairs(tmp_path / "absent.jsonl")


def test_tsv_mixing_tabs_and_spaces_is_refused_with_what_was_found(tmp_path, shared_data):
    """The WMT MQM averaged-score files separate the system by a tab and the score from the
    segment id by a space (header all spaces). Text fields hold spaces, so splitting at any
    whitespace would silently misread ordinary TSVs: the loader says what it found instead."""
    avg = tmp_path / "avg.tsv"
    avg.write_text(
        "system mqm_avg_score seg_id\nFacebook-AI\t-1.000000 1\nFacebook-AI\tNone 2\n",
        encoding="utf-8",
    )
    published = shared_data / "scored/wmt-mqm-ted-ende/mqm_ted_ende.avg_seg_scores.tsv"
    for path in (avg, published):
        with pytest.raises(
            DataFormatError,
            match=rf"{path.name}: line 2: expected 1 tab-separated field as in the header, got 2; "
            r"the line mixes tabs and spaces \(3 fields when split at both\); the header has no "
            r"tab but 3 space-separated names \(system, mqm_avg_score, seg_id\).*"
            r"convert the file to tabs only.*second path of the wmt-mqm format",
        ):
            load_pointwise_items(path)
    # A tab header whose rows use a space for one separator.
    avg.write_text("response\tscore\tid\nfine\t0.5 a\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"avg\.tsv: line 2: expected 3 tab-separated fields as in the header, got 2; "
        r"the line mixes tabs and spaces \(3 fields when split at both\)\. A TSV",
    ):
        load_pointwise_items(avg)
    # A text line that only lacks a field is not called mixed.
    avg.write_text("response\tscore\tid\nsome fine text\t0.5\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_pointwise_items(avg)
    assert str(info.value).endswith(
        "avg.tsv: line 2: expected 3 tab-separated fields as in the header, got 2"
    )
    # Spaces inside tab-separated text are fine.
    avg.write_text("response\tscore\nfine text here\t0.5\n", encoding="utf-8")
    assert [(i.response, i.human) for i in load_pointwise_items(avg)] == [
        ("fine text here", {"score": 0.5})
    ]


def test_pandas_missing_markers_count_as_missing_in_a_row():
    """pandas' NA and NaT (nullable columns, dates) are missing values like None and NaN."""
    import pandas as pd

    from metricrm.data.generic import _Row

    row = _Row("t", "row 0", {"na": pd.NA, "nat": pd.NaT, "nan": float("nan"), "ref": "r"})
    assert [row.missing(c) for c in ("na", "nat", "nan", "ref")] == [True, True, True, False]
    assert row.optional_str("na") is None and row.ident("na") is None
    assert row.score("na", pd.NA) is None and row.score("nat", pd.NaT) is None
    assert row.references(["na", "ref", "nat"]) == ("r",)


def test_a_folder_of_data_files_takes_the_split_through_load_dataset(tmp_path):
    """A folder of raw files goes to ``datasets.load_dataset(folder, split=split)``, so the
    split may be any split expression it accepts, such as a slice."""
    pytest.importorskip("datasets")
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [{"response": "a", "score": 1}, {"response": "b", "score": 2}]
    write_jsonl(folder / "train.jsonl", rows)
    assert [i.response for i in load_pointwise_items(folder)] == ["a", "b"]
    assert [i.response for i in load_pointwise_items(folder, split="train[1:]")] == ["b"]
