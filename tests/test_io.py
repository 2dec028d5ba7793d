"""Result tables: exact round-trips in CSV, JSONL and Parquet; atomic writes; clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metricrm as mr
from metricrm.core.results_io import read_table, table_format, write_table

FORMATS = ["csv", "jsonl", "parquet"]

# Floats whose shortest decimal form is long, tiny, huge, subnormal or negative zero.
TRICKY = [0.1 + 0.2, 1 / 3, 2 / 3 * 1e-7, 1e-300, -2.5e300, 5e-324, -0.0, 123456789.12345679]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = len(TRICKY)
    return pd.DataFrame(
        {
            "id": ["a", "NA", "null", 'say "hi", then go', "x\ny", "é ü", "None", "0"],
            "score": TRICKY,
            "noise": rng.standard_normal(n),
            "with_nan": [np.nan if i % 3 == 0 else rng.random() for i in range(n)],
            "count": np.arange(n, dtype=np.int64) * 1_000_003,
            "flag": [bool(i % 2) for i in range(n)],
        }
    )


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(tmp_path, fmt):
    frame = _frame()
    path = write_table(frame, tmp_path / f"t.{fmt}")
    back = read_table(path)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    for column in ("score", "noise"):
        assert _same_bits(back[column], frame[column])  # bit for bit, -0.0 included
    assert np.isnan(back["with_nan"]).tolist() == np.isnan(frame["with_nan"]).tolist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_records_round_trip(tmp_path, fmt):
    records = [{"id": f"r{i}", "score": v} for i, v in enumerate(TRICKY)]
    back = read_table(write_table(records, tmp_path / f"r.{fmt}"))
    assert list(back.columns) == ["id", "score"]
    assert back["id"].tolist() == [r["id"] for r in records]
    assert _same_bits(back["score"], [r["score"] for r in records])


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_score_result_round_trips(tmp_path, fmt):
    items = mr.load_sample("reference")
    result = mr.get_scorer("token_f1").score(
        [it.response for it in items], references=[it.references for it in items]
    )
    frame = result.to_frame()
    back = read_table(write_table(frame, tmp_path / f"s.{fmt}"))
    assert _same_bits(back["token_f1"], result.scores)


def test_dataclass_records_keep_nested_fields_in_jsonl(tmp_path):
    items = mr.load_sample("reference")[:4]
    back = read_table(write_table(items, tmp_path / "items.jsonl"))
    assert back["response"].tolist() == [it.response for it in items]
    assert back["references"].tolist() == [list(it.references) for it in items]
    assert back["human"].tolist() == [dict(it.human) for it in items]


def test_csv_refuses_nested_values_and_writes_nothing(tmp_path):
    items = mr.load_sample("reference")[:2]
    with pytest.raises(mr.DataFormatError, match="column 'references' holds nested values"):
        write_table(items, tmp_path / "items.csv")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    records = [{"x": 1.5}, {"x": 2.5}, {"x": object()}]  # fails on the third row
    target = tmp_path / "out.jsonl"
    with pytest.raises(mr.DataFormatError, match="cannot write a object value"):
        write_table(records, target)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file

    write_table([{"x": 0.25}], target)
    before = target.read_bytes()
    with pytest.raises(mr.DataFormatError):
        write_table(records, target)
    assert target.read_bytes() == before
    assert list(tmp_path.iterdir()) == [target]


def test_jsonl_refuses_infinity(tmp_path):
    with pytest.raises(mr.DataFormatError, match="infinite value"):
        write_table([{"x": float("inf")}], tmp_path / "inf.jsonl")
    assert list(tmp_path.iterdir()) == []
    # CSV and Parquet hold infinities exactly
    for fmt in ("csv", "parquet"):
        path = write_table([{"x": float("inf")}, {"x": -float("inf")}], tmp_path / f"i.{fmt}")
        back = read_table(path)
        assert back["x"].tolist() == [float("inf"), -float("inf")]


def test_unknown_suffix_and_format(tmp_path):
    expected = r"suffix '\.txt'; expected \.csv, \.jsonl, \.parquet"
    with pytest.raises(mr.DataFormatError, match=expected):
        write_table([{"x": 1.0}], tmp_path / "out.txt")
    with pytest.raises(mr.DataFormatError, match="suffix '\\(none\\)'"):
        read_table(tmp_path / "out")
    with pytest.raises(mr.DataFormatError, match="unknown table format 'xlsx'"):
        table_format("out.csv", "xlsx")
    assert list(tmp_path.iterdir()) == []
    # an explicit format overrides the suffix
    path = write_table([{"x": 0.1}], tmp_path / "out.txt", format="jsonl")
    assert path.read_text() == '{"x": 0.1}\n'
    assert read_table(path, format="jsonl")["x"].tolist() == [0.1]


def test_suffix_is_case_insensitive_and_missing_folder_is_reported(tmp_path):
    assert table_format("RESULTS.CSV") == "csv"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_table([{"x": 1.0}], tmp_path / "missing" / "out.csv")


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"x": 1}\n\n{"x": 2\n', encoding="utf-8")
    with pytest.raises(mr.DataFormatError, match=r"bad\.jsonl: line 3: invalid JSON"):
        read_table(path)
    path.write_text('{"x": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(mr.DataFormatError, match="line 2: expected a JSON object"):
        read_table(path)
