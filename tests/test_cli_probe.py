"""``metricrm probe``: the table it prints and writes equals the API's frame."""

from __future__ import annotations

import pytest

import metricrm as mr
from metricrm import read_table
from metricrm.cli import main
from metricrm.cli.probe import sample_pairs


def test_probe_command_writes_the_api_frame(tmp_path, capsys):
    out = tmp_path / "probe.csv"
    code = main(["probe", "-s", "length_chars", "-s", "words=length_tokens", "-d",
                 "sample:preference", "-p", "pad_filler", "-p", "copy_prompt", "--n-resamples",
                 "200", "--seed", "3", "--no-cache", "--no-progress", "-o", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "pad_filler" in printed and "1.000 [1.000, 1.000]" in printed
    table = read_table(out)
    frame = mr.probes.probe(mr.get_scorer("length_tokens"), mr.load_sample("preference"),
                            ["pad_filler", "copy_prompt"], seed=3, n_resamples=200, cache=False,
                            progress=False, label="words", dataset="sample-preference")  # fmt: skip
    got = table[table.scorer == "words"].reset_index(drop=True)
    assert list(got.columns) == list(frame.columns)
    assert got["value"].tolist() == pytest.approx(frame["value"].tolist())
    assert got["ci_low"].tolist() == pytest.approx(frame["ci_low"].tolist())


def test_probe_command_picks_reference_probes_where_data_allows(shared_data, capsys):
    darr = shared_data / "scored/wmt19-darr/lt-en.json"
    code = main(["probe", "-s", "chrf", "-d", f"wmt-darr:{darr}", "--sample", "30",
                 "--n-resamples", "50", "--no-cache", "--no-progress"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "scrambled_reference" in printed and "copy_source" in printed


def test_probe_command_lists_probes_and_refuses_bad_input(capsys):
    assert main(["probe", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in mr.probes.list_probes():
        assert f"{name}: " in listed
    assert main(["probe", "-s", "length_chars", "-d", "sample:preference", "-p", "nope"]) == 2
    assert "unknown probe 'nope'" in capsys.readouterr().err
    assert main(["probe", "-s", "length_chars", "-d", "sample:preference", "--probe-set",
                 "pad_filler.budget=3"]) == 2  # fmt: skip
    assert "unknown setting(s) budget" in capsys.readouterr().err
    assert main(["probe", "-d", "sample:preference"]) == 2
    assert "no scorer given" in capsys.readouterr().err
    assert main(["probe", "-s", "chrf", "-d", "sample:preference", "--no-cache"]) == 2
    assert "chrf needs references" in capsys.readouterr().err


def test_sample_pairs_is_seeded_and_keeps_order():
    pairs = mr.load_sample("preference")
    a, b = sample_pairs(pairs, 10, 0), sample_pairs(pairs, 10, 0)
    assert a == b and len(a) == 10
    order = [pairs.index(p) for p in a]
    assert order == sorted(order)
    assert sample_pairs(pairs, 10, 1) != a
    assert sample_pairs(pairs, 100, 0) == pairs
