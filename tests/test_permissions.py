"""Files metricrm writes get the permissions any program's files get: those of ``open()``
under the process umask (a new file), or the existing file's own (a replaced file)."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest

import metricrm as mr
from metricrm.cli import main
from metricrm.core.results_io import atomic_write, write_table


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _plain_mode(folder: Path) -> int:
    """Mode of a file created by plain ``open()`` under the current umask."""
    probe = folder / "probe-by-open.txt"
    with open(probe, "w", encoding="utf-8") as fh:
        fh.write("x")
    mode = _mode(probe)
    probe.unlink()
    return mode


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_write_table_and_atomic_write_follow_the_umask(tmp_path, mask):
    with umask(mask):
        expected = _plain_mode(tmp_path)
        for name in ("t.csv", "t.jsonl", "t.parquet"):
            write_table([{"a": 1.5}], tmp_path / name)
            assert _mode(tmp_path / name) == expected == 0o666 & ~mask, name
        atomic_write(tmp_path / "r.json", lambda tmp: Path(tmp).write_text("{}"))
        assert _mode(tmp_path / "r.json") == expected


def test_a_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("a\n1\n")
    target.chmod(0o640)
    with umask(0o022):
        write_table([{"a": 2}], target)
    assert _mode(target) == 0o640
    assert target.read_text() == "a\n2\n"


def test_meta_eval_outputs_follow_the_umask(tmp_path, capsys):
    with umask(0o027):
        expected = _plain_mode(tmp_path)
        code = main(
            ["meta-eval", "-s", "length_chars", "-d", "sample:reference", "--statistic",
             "pearson", "--level", "flat", "--n-resamples", "20", "--no-progress", "--no-cache",
             "-o", str(tmp_path / "out.csv"), "--json", str(tmp_path / "out.json")]
        )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert _mode(tmp_path / "out.csv") == _mode(tmp_path / "out.json") == expected == 0o640


@pytest.mark.slow
def test_saved_bt_head_files_follow_the_umask(tmp_path):
    from metricrm.training import train_bt_head

    head = train_bt_head(mr.load_sample("preference"), validation=0.25, epochs=1, lr=1e-3)
    with umask(0o022):
        expected = _plain_mode(tmp_path)
        head.save(tmp_path / "head")
    for name in ("head.safetensors", "bt_head.json"):
        assert _mode(tmp_path / "head" / name) == expected == 0o644, name
