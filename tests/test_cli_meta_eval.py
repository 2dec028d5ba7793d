"""``metricrm meta-eval``: flags and study files give what meta_evaluate gives, through the
printed table, CSV and JSON; the cache is reused and resumes a killed run; errors write nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import metricrm as mr
from metricrm import read_table
from metricrm.cli import main

FAST = ["--n-resamples", "200", "--no-progress"]
REF_FLAGS = ["-s", "chrf", "-s", "bleu", "--set", "chrf.word_order=2", "-d", "sample:reference"]


def _expected_reference(**kwargs):
    """meta_evaluate's own result for the arguments REF_FLAGS name."""
    return mr.meta_evaluate(
        {"chrf": {"word_order": 2}, "bleu": {}},
        {"sample-reference": mr.load_sample("reference")},
        n_resamples=200, cache=False, progress=False, **kwargs,
    )  # fmt: skip


def _run(capsys, *argv):
    code = main(["meta-eval", *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _table_lines(out: str) -> list[list[str]]:
    """Rows of the printed result table, split into cells (columns are 2+ spaces apart)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line.replace(" ", "")) == {"-"})
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return [re.split(r"\s{2,}", lines[start - 1].strip())] + rows


def _cache_line(out: str) -> tuple[int, int]:
    match = re.search(r"^scored (\d+) new items, (\d+) from cache", out, re.MULTILINE)
    assert match, out
    return int(match.group(1)), int(match.group(2))


def _same_results(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal row for row; numbers exactly (missing human/cluster: NaN or None alike)."""
    assert list(table.columns) == list(expected.columns)
    assert len(table) == len(expected)
    for col in expected.columns:
        got, want = table[col].tolist(), expected[col].tolist()
        if col in ("value", "ci_low", "ci_high", "cluster"):
            np.testing.assert_array_equal(np.array(got, float), np.array(want, float), err_msg=col)
        else:
            norm = lambda v: None if v is None or v != v else v  # noqa: E731
            assert [norm(v) for v in got] == [norm(v) for v in want], col


# ------------------------------------------------------------------- flags vs the API


def test_flags_print_and_write_what_meta_evaluate_returns(tmp_path, capsys):
    csv, report = tmp_path / "results.csv", tmp_path / "results.json"
    out = _run(capsys, *REF_FLAGS, *FAST, "--cache-dir", tmp_path / "cache",
               "-o", csv, "--json", report)  # fmt: skip
    expected = _expected_reference()
    assert len(expected) == 18  # 3 statistics x 3 levels x 2 scorers

    _same_results(read_table(csv), expected)
    data = json.loads(report.read_text("utf-8"))
    _same_results(pd.DataFrame(data["results"]), expected)

    # The printed table: one line per row, value and interval to 4 decimals, n and cluster.
    header, *rows = _table_lines(out)
    assert header == ["scorer", "dataset", "subset", "human", "level", "statistic",
                      "value [ci_low, ci_high]", "n", "cluster"]  # fmt: skip
    assert len(rows) == len(expected)
    for cells, r in zip(rows, expected.itertuples()):
        cluster = "-" if np.isnan(r.cluster) else str(int(r.cluster))
        assert cells == [
            r.scorer,
            r.dataset,
            r.subset,
            r.human,
            r.level,
            r.statistic,
            f"{r.value:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]",
            str(r.n),
            cluster,
        ]

    # Signatures tell the configured chrF apart; the JSON records the settings used.
    chrf, bleu = mr.get_scorer("chrf", word_order=2), mr.get_scorer("bleu")
    assert chrf.signature in out and bleu.signature in out and "word_order:2" in chrf.signature
    assert [s["signature"] for s in data["scorers"]] == [chrf.signature, bleu.signature]
    assert data["scorers"][0]["settings"]["word_order"] == 2
    assert data["settings"]["n_resamples"] == 200 and data["settings"]["seed"] == 0
    assert data["settings"]["confidence"] == 0.95
    assert data["versions"]["metricrm"] == mr.__version__ and "sacrebleu" in data["versions"]
    assert data["datasets"] == [
        {
            "name": "sample-reference",
            "format": "sample",
            "paths": ["reference"],
            "options": {},
            "records": 36,
        }
    ]


def test_second_run_scores_nothing_new(tmp_path, capsys):
    cache = tmp_path / "cache"
    stats = mr.CacheStats()  # how many items a fresh cache computes for this study
    mr.meta_evaluate({"chrf": {"word_order": 2}, "bleu": {}}, mr.load_sample("reference"),
                     n_resamples=10, cache=tmp_path / "other", progress=False,
                     cache_stats=stats)  # fmt: skip
    assert stats.computed == 72 and stats.hits == 0  # 36 outputs x 2 scorers, all distinct

    first = _run(capsys, *REF_FLAGS, *FAST, "--cache-dir", cache, "-o", tmp_path / "a.csv")
    second = _run(capsys, *REF_FLAGS, *FAST, "--cache-dir", cache, "-o", tmp_path / "b.csv")
    assert _cache_line(first) == (72, 0)
    assert _cache_line(second) == (0, 72)
    assert read_table(tmp_path / "a.csv").equals(read_table(tmp_path / "b.csv"))
    # without the cache every item is scored again, to the same results
    third = _run(capsys, *REF_FLAGS, *FAST, "--no-cache", "-o", tmp_path / "c.csv")
    assert _cache_line(third) == (72, 0) and "(cache off)" in third
    assert read_table(tmp_path / "a.csv").equals(read_table(tmp_path / "c.csv"))


def test_preference_options_and_labels(tmp_path, capsys):
    """Pairwise options reach meta_evaluate; a label names a scorer's rows and leaves its
    scores, signature and cache entries alone."""
    pairs = mr.load_sample("preference")
    args = ["-s", "length_chars", "-s", "tokens=length_tokens", "-d", "prefs=sample:preference",
            "--statistic", "accuracy", "--score-ties", "loss", "--seed", "3", *FAST,
            "--cache-dir", tmp_path / "cache", "-o", tmp_path / "p.jsonl"]  # fmt: skip
    out = _run(capsys, *args)
    tokens = mr.get_scorer("length_tokens")
    expected = mr.meta_evaluate(
        ["length_chars", ("tokens", tokens)], {"prefs": pairs}, statistics=["accuracy"], score_ties="loss",
        seed=3, n_resamples=200, cache=False, progress=False,
    )  # fmt: skip
    _same_results(read_table(tmp_path / "p.jsonl"), expected)
    assert set(expected["subset"]) == {"all", *(p.subset for p in pairs)}
    assert expected["n_excluded"].iloc[0] == sum(p.label == "tie" for p in pairs) > 0
    assert "tokens = length_tokens|metricrm:" in out
    assert (expected[expected.scorer == "tokens"]["signature"] == tokens.signature).all()
    # the label changes neither the scores nor the point estimates
    plain = mr.meta_evaluate(["length_tokens"], {"prefs": pairs}, statistics=["accuracy"],
                             score_ties="loss", n_resamples=10, cache=False,
                             progress=False)  # fmt: skip
    assert expected[expected.scorer == "tokens"]["value"].tolist() == plain["value"].tolist()
    # labelled scores are cached under the scorer's own signature
    assert _cache_line(out) == (144, 0)
    assert _cache_line(_run(capsys, *args)) == (0, 144)


# ------------------------------------------------------------------------ study files

YAML_STUDY = """\
scorers:
  - name: chrf
    settings: {word_order: 2}
  - bleu
datasets:
  - {format: sample, path: reference}
n_resamples: 200
cache_dir: cache
output: from_yaml.csv
"""

TOML_STUDY = """\
n_resamples = 200
cache_dir = "cache"
output = "from_toml.csv"

[scorers.chrf]
word_order = 2

[scorers.bleu]

[[datasets]]
format = "sample"
path = "reference"
"""


def test_yaml_and_toml_studies_equal_the_flags(tmp_path, capsys):
    _run(capsys, *REF_FLAGS, *FAST, "--cache-dir", tmp_path / "cache", "-o", tmp_path / "flags.csv")
    flags = read_table(tmp_path / "flags.csv")
    _same_results(flags, _expected_reference())
    for name, text in (("study.yaml", YAML_STUDY), ("study.toml", TOML_STUDY)):
        (tmp_path / name).write_text(text, "utf-8")
        # relative paths (cache, output) are taken from the study file's folder
        out = _run(capsys, "--config", tmp_path / name, "--no-progress")
        assert _cache_line(out) == (0, 72)
    assert read_table(tmp_path / "from_yaml.csv").equals(flags)
    assert read_table(tmp_path / "from_toml.csv").equals(flags)


def test_flags_override_the_study_file(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(YAML_STUDY, "utf-8")
    report = tmp_path / "override.json"
    _run(capsys, "--config", tmp_path / "study.yaml", "--n-resamples", "150", "--seed", "7",
         "--set", "chrf.word_order=0", "--level", "system", "--json", report,
         "--no-progress")  # fmt: skip
    data = json.loads(report.read_text("utf-8"))
    assert data["settings"]["n_resamples"] == 150 and data["settings"]["seed"] == 7
    assert data["scorers"][0]["signature"] == mr.get_scorer("chrf").signature  # word_order 0
    expected = mr.meta_evaluate(["chrf", "bleu"], {"sample-reference": mr.load_sample("reference")},
                                levels=["system"], n_resamples=150, seed=7, cache=False,
                                progress=False)  # fmt: skip
    _same_results(pd.DataFrame(data["results"]), expected)
    assert (tmp_path / "from_yaml.csv").is_file()  # the study's own output is still written


def test_two_labelled_copies_of_one_scorer(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(textwrap.dedent("""\
        scorers:
          - chrf
          - {name: chrf, label: chrf-w2, settings: {word_order: 2}}
        datasets:
          - {name: ref, format: sample, path: reference}
        levels: [flat]
        statistics: [pearson]
        n_resamples: 200
        cache_dir: cache
        json: out.json
        """), "utf-8")  # fmt: skip
    out = _run(capsys, "--config", tmp_path / "study.yaml", "--no-progress")
    rows = pd.DataFrame(json.loads((tmp_path / "out.json").read_text("utf-8"))["results"])
    assert rows["scorer"].tolist() == ["chrf", "chrf-w2"]
    items = {"ref": mr.load_sample("reference")}
    for label, settings in (("chrf", {}), ("chrf-w2", {"word_order": 2})):
        alone = mr.meta_evaluate({"chrf": settings}, items, levels=["flat"], statistics=["pearson"],
                                 n_resamples=10, cache=False, progress=False)  # fmt: skip
        assert rows[rows.scorer == label]["value"].tolist() == alone["value"].tolist()
    assert rows["value"].iloc[0] != rows["value"].iloc[1]
    labelled = rows["signature"].iloc[1]
    assert labelled.startswith("chrf|") and "word_order:2" in labelled
    assert _cache_line(out) == (72, 0)
    again = _run(capsys, "--config", tmp_path / "study.yaml", "--no-progress")
    assert _cache_line(again) == (0, 72)


def test_a_label_never_shares_cache_entries_between_scorers(tmp_path, capsys):
    """Two settings-free scorers under one label used to share a signature, hence cache
    entries: the second run printed the first scorer's value, all of it "from cache"."""
    args = ["-d", "sample:reference", "--statistic", "pearson", "--level", "flat", *FAST,
            "--cache-dir", tmp_path / "cache", "-o", tmp_path / "x.csv"]  # fmt: skip
    _run(capsys, "-s", "x=length_chars", *args)
    out = _run(capsys, "-s", "x=token_f1", *args)
    truth = mr.meta_evaluate({"token_f1": {}}, {"sample-reference": mr.load_sample("reference")},
                             statistics=["pearson"], levels=["flat"], n_resamples=200,
                             cache=False, progress=False)  # fmt: skip
    row = read_table(tmp_path / "x.csv").iloc[0]
    assert row["scorer"] == "x" and row["value"] == truth["value"].iloc[0]
    assert round(row["value"], 4) == 0.6766
    assert _cache_line(out) == (36, 0)


# ------------------------------------------------------------------ killed and resumed

GATED_PLUGIN = '''
"""A length scorer that, with GATE_AFTER set, stops at that chunk until it is killed."""
import os
import time

import numpy as np

import metricrm as mr
from metricrm.core.types import BaseScorer, ScoreOutput


class GatedLength(BaseScorer):
    name = "gated_length"

    def __init__(self):
        self.calls = 0

    def _score(self, responses, *, references, prompts, sources):
        stop = os.environ.get("GATE_AFTER")
        if stop is not None and self.calls >= int(stop):
            with open(os.environ["GATE_FILE"], "w") as fh:  # every earlier chunk is cached
                fh.write(str(self.calls))
            time.sleep(600)
        self.calls += 1
        return ScoreOutput(np.array([float(len(r)) for r in responses]))


mr.register_scorer("gated_length", GatedLength)
'''


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_killed_run_resumes_from_the_cache(tmp_path, how):
    (tmp_path / "gated_plugin.py").write_text(GATED_PLUGIN, "utf-8")
    # a shell's background job inherits SIGINT ignored; restore Python's handler so Ctrl-C works
    script = ("import signal, sys, gated_plugin\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "from metricrm.cli import main\nsys.exit(main(sys.argv[1:]))")  # fmt: skip
    out = tmp_path / "pairs.csv"
    argv = [sys.executable, "-c", script, "meta-eval", "-s", "gated_length",
            "-d", "sample:preference", "--chunk-size", "8", "--cache-dir", str(tmp_path / "cache"),
            "-o", str(out), *FAST]  # fmt: skip
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    gate = tmp_path / "gate"
    proc = subprocess.Popen(argv, env={**env, "GATE_AFTER": "3", "GATE_FILE": str(gate)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not gate.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gate.exists(), proc.communicate(timeout=10)
        assert gate.read_text() == "3"
        proc.send_signal(signal.SIGINT if how == "interrupt" else signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if how == "interrupt":
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr and "rerun the same command" in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and "scored" not in stdout

    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _cache_line(done.stdout) == (72 - 3 * 8, 3 * 8)  # 72 distinct responses, 3 chunks kept
    # the resumed scores are the lengths: accuracy as for the built-in length_chars
    lengths = mr.meta_evaluate(["length_chars"], mr.load_sample("preference"), n_resamples=10,
                               cache=False, progress=False)  # fmt: skip
    assert read_table(out)["value"].tolist() == lengths["value"].tolist()


# ---------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_darr_lt_en_tau_like(shared_data, tmp_path, capsys):
    darr = shared_data / "scored" / "wmt19-darr" / "lt-en.json"
    out = _run(capsys, "-s", "bleu", "-s", "chrf", "-d", f"wmt-darr:{darr}", "--statistic",
               "tau_like", *FAST, "--cache-dir", tmp_path / "cache",
               "-o", tmp_path / "darr.csv")  # fmt: skip
    table = read_table(tmp_path / "darr.csv").set_index("scorer")
    # ../shared/data/README.md: sacrebleu 2.x sentence BLEU about 0.25, chrF about 0.30
    assert table.loc["bleu", "value"] == pytest.approx(0.25, abs=0.015)
    assert table.loc["chrf", "value"] == pytest.approx(0.30, abs=0.015)
    assert (table["n"] == 21862).all() and (table["dataset"] == "lt-en").all()
    assert table.loc["chrf", "cluster"] == 1 and table.loc["bleu", "cluster"] == 2
    pairs = mr.data.load_wmt_darr(darr)
    expected = mr.meta_evaluate(["bleu", "chrf"], {"lt-en": pairs}, statistics=["tau_like"],
                                n_resamples=200, cache=tmp_path / "cache",
                                progress=False)  # fmt: skip
    _same_results(read_table(tmp_path / "darr.csv"), expected)
    assert "lt-en" in out and "tau_like" in out


# ------------------------------------------------------------------------------ errors


BAD_KEY_STUDY = "scorers: [bleu]\ndatasets: [{format: sample, path: reference}]\nn_resample: 3\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-s", "bleu", "-d", "wmt-dar:x.json"],
         r"unknown dataset format 'wmt-dar'; valid formats: rm-bench, .*wmt-darr"),
        (["--config", "{tmp}/bad.yaml"],
         r"bad\.yaml: unknown key 'n_resample'; valid keys: .*n_resamples"),
        (["-s", "bleu", "-d", "wmt-darr:{tmp}/missing.json"],
         r"dataset 'missing' \(wmt-darr\): no such file or folder: .*missing\.json"),
        (["-s", "bleu", "-s", "chrff", "-d", "sample:reference"],
         r"unknown scorer 'chrff'; valid names: .*chrf"),
        (["-s", "bleu", "--set", "bleu.ngram=2", "-d", "sample:reference"],
         r"bleu: unknown setting\(s\) ngram"),
        (["-s", "bleu", "-d", "sample:reference", "--statistic", "tau"],
         r"unknown statistic 'tau'"),
        (["-s", "bleu", "-d", "sample:reference", "--human", "mqm"],
         r"dataset 'sample-reference' has no human judgment mqm; available: da"),
        (["-s", "chrf", "-s", "chrf", "-d", "sample:reference"], r"'chrf' named more than once"),
    ],
)  # fmt: skip
def test_errors_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "bad.yaml").write_text(BAD_KEY_STUDY, "utf-8")
    csv, report = tmp_path / "out.csv", tmp_path / "out.json"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["meta-eval", *argv, "-o", str(csv), "--json", str(report),
                 "--cache-dir", str(tmp_path / "cache"), *FAST])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("metricrm: error: ") and re.search(message, err), err
    assert not csv.exists() and not report.exists() and out == ""
