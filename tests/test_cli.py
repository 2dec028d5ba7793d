"""The ``metricrm`` command: list, score (values, errors, no partial output) and demo."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import metricrm as mr
from metricrm import read_table
from metricrm.cli import main

ITEMS = mr.load_sample("reference")[:12]
PAIRS = mr.load_sample("preference")


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def _item_records(items=ITEMS):
    return [
        {
            "id": it.id,
            "system": it.system,
            "source": it.source,
            "references": list(it.references),
            "response": it.response,
        }
        for it in items
    ]


def _pair_records(pairs=PAIRS):
    return [
        {
            "id": p.id,
            "subset": p.subset,
            "label": p.label,
            "prompt": p.prompt if isinstance(p.prompt, str) else list(p.prompt),
            "chosen": p.chosen,
            "rejected": p.rejected,
        }
        for p in pairs
    ]


# ----------------------------------------------------------------------------- list


def test_list_shows_every_scorer(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "needs", "references", "needs", "model", "description"]
    names = [line.split()[0] for line in lines[2:]]
    assert names == mr.list_scorers()
    rows = {line.split()[0]: line.split()[1:3] for line in lines[2:]}
    assert rows["bleu"] == ["yes", "no"] and rows["length_chars"] == ["no", "no"]
    assert "[word_order=2]" in next(line for line in lines if line.startswith("chrf++ "))


def _console_script() -> Path:
    """The `metricrm` script installed beside this interpreter (not whatever PATH finds)."""
    folder = Path(sys.executable).parent
    for name in ("metricrm", "metricrm.exe"):
        if (folder / name).is_file():
            return folder / name
    raise AssertionError(f"the `metricrm` console script is not installed in {folder}")


def test_list_via_console_script_loads_no_model():
    exe = _console_script()  # it imports the metricrm under test: conftest sets PYTHONPATH
    proc = subprocess.run([str(exe), "list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()[2:]]
    assert names == mr.list_scorers()
    code = (
        "import sys, contextlib, io\n"
        "from metricrm.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['list']) == 0\n"
        "print(sorted(m for m in ('torch', 'transformers', 'bert_score', 'matplotlib') "
        "if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- score


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_score_pointwise_matches_direct_scoring(tmp_path, capsys, fmt):
    src = _write_jsonl(tmp_path / "items.jsonl", _item_records())
    out = tmp_path / f"scores.{fmt}"
    code = main(
        [
            "score",
            str(src),
            "--scorer",
            "chrf",
            "--scorer",
            "bleu",
            "--set",
            "chrf.word_order=2",
            "-o",
            str(out),
            "--chunk-size",
            "5",
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    table = read_table(out)
    inputs = list(_item_records()[0])
    stats = [f"chrf.{k}" for k in mr.get_scorer("chrf", word_order=2).stat_keys]
    assert list(table.columns)[: len(inputs)] == inputs  # the input columns first
    assert {"chrf", "bleu", *stats} <= set(table.columns)
    assert table["id"].tolist() == [it.id for it in ITEMS]
    assert table["response"].tolist() == [it.response for it in ITEMS]
    refs = [list(it.references) for it in ITEMS]
    hyps = [it.response for it in ITEMS]
    chrf = mr.get_scorer("chrf", word_order=2).score(hyps, references=refs)
    bleu = mr.get_scorer("bleu").score(hyps, references=refs)
    assert table["chrf"].tolist() == chrf.scores.tolist()  # exact, through the file
    assert table["bleu"].tolist() == bleu.scores.tolist()
    printed = capsys.readouterr().out
    assert chrf.signature in printed and "word_order:2" in chrf.signature


def test_score_csv_input_with_column_mapping(tmp_path):
    src = tmp_path / "items.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hyp", "ref"])
        for it in ITEMS:  # one reference as plain text, two as a JSON list
            refs = it.references
            writer.writerow([it.response, refs[0] if len(refs) == 1 else json.dumps(list(refs))])
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "score",
            str(src),
            "-s",
            "token_f1",
            "-o",
            str(out),
            "--no-progress",
            "--columns",
            "response=hyp",
            "references=ref",
        ]
    )
    assert code == 0
    expected = mr.get_scorer("token_f1").score(
        [it.response for it in ITEMS], references=[list(it.references) for it in ITEMS]
    )
    assert read_table(out)["token_f1"].tolist() == expected.scores.tolist()
    assert any(len(it.references) == 2 for it in ITEMS)


def test_score_preference_pairs_gives_chosen_rejected_and_margin(tmp_path):
    src = _write_jsonl(tmp_path / "pairs.jsonl", _pair_records())
    out = tmp_path / "pairs.csv"
    assert main(["score", str(src), "-s", "length_chars", "-o", str(out), "--no-progress"]) == 0
    table = read_table(out)
    assert list(table.columns) == [
        *_pair_records()[0],
        "length_chars.chosen",
        "length_chars.rejected",
        "length_chars.margin",
    ]
    assert table["length_chars.chosen"].tolist() == [float(len(p.chosen)) for p in PAIRS]
    assert table["length_chars.rejected"].tolist() == [float(len(p.rejected)) for p in PAIRS]
    assert np.array_equal(
        table["length_chars.margin"], table["length_chars.chosen"] - table["length_chars.rejected"]
    )
    assert table["label"].tolist() == [p.label for p in PAIRS]


def test_preference_csv_with_numeric_labels(tmp_path):
    src = tmp_path / "pairs.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "a", "b", "a_better"])
        writer.writerow(["What is 2 + 2?", "4", "It is five, I believe.", "1"])
        writer.writerow(["Name a colour.", "Blue is a colour.", "Red", "0"])
        writer.writerow(["Say hi.", "Hi!", "Hello!", "0.5"])
    out = tmp_path / "pairs.jsonl"
    code = main(
        [
            "score",
            str(src),
            "-s",
            "length_tokens",
            "-o",
            str(out),
            "--no-progress",
            "--columns",
            "prompt=question",
            "chosen=a",
            "rejected=b",
            "label=a_better",
        ]
    )
    assert code == 0
    table = read_table(out)
    assert table["label"].tolist() == ["chosen", "chosen", "tie"]
    assert table["swapped"].tolist() == [False, True, False]  # label 0: b was better
    assert table["length_tokens.chosen"].tolist() == [1.0, 1.0, 1.0]
    assert table["length_tokens.rejected"].tolist() == [5.0, 4.0, 1.0]
    assert table["length_tokens.margin"].tolist() == [-4.0, -3.0, 0.0]


def test_preference_margin_is_oriented_for_lower_is_better(tmp_path):
    # Reference-based pairs from the sample: the best vs the worst output of each source.
    groups = {}
    for it in mr.load_sample("reference"):
        groups.setdefault(it.group, []).append(it)
    records = []
    for group, members in groups.items():
        best = max(members, key=lambda it: it.human["da"])
        worst = min(members, key=lambda it: it.human["da"])
        records.append(
            {
                "id": group,
                "prompt": best.source,
                "chosen": best.response,
                "rejected": worst.response,
                "references": list(best.references),
            }
        )
    src = _write_jsonl(tmp_path / "pairs.jsonl", records)
    out = tmp_path / "pairs.parquet"
    assert main(["score", str(src), "-s", "ter", "-o", str(out), "--no-progress"]) == 0
    table = read_table(out)
    ter = mr.get_scorer("ter")
    refs = [r["references"] for r in records]
    chosen = ter.score([r["chosen"] for r in records], references=refs).scores
    rejected = ter.score([r["rejected"] for r in records], references=refs).scores
    assert table["ter.chosen"].tolist() == chosen.tolist()
    assert table["ter.margin"].tolist() == (rejected - chosen).tolist()
    assert (table["ter.margin"] > 0).mean() > 0.5  # TER mostly prefers the better output


class _FailsOnSecondChunk(mr.BaseScorer):
    """Test scorer: fails when it meets the text "boom" (a backend error mid-way)."""

    name = "fails_on_boom"

    def _score(self, responses, *, references, prompts, sources):
        if "boom" in responses:
            where = responses.index("boom")
            raise mr.ScorerOutputError(f"{self.name}: backend failed on item {where}")
        return mr.ScoreOutput([float(len(r)) for r in responses])


def test_scoring_failure_midway_writes_nothing(tmp_path, capsys):
    records = [{"response": f"text {i}"} for i in range(5)] + [{"response": "boom"}]
    src = _write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "o.parquet"
    mr.register_scorer("fails_on_boom", _FailsOnSecondChunk)
    try:
        code = main(
            [
                "score",
                str(src),
                "-s",
                "fails_on_boom",
                "-o",
                str(out),
                "--chunk-size",
                "4",
                "--no-progress",
            ]
        )
    finally:
        mr.unregister_scorer("fails_on_boom")
    assert code == 2
    err = capsys.readouterr().err
    assert "scoring failed in a chunk of items 4..5" in err
    assert "[item numbers count the input records from 0]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


BAD_LINES = [
    (
        '{"response": "fine", "references": ["ok"]}\n{"response": "also fine", "references": "ok"}\n'
        '{"response": "broken", "references": [\n',
        "line 3: invalid or truncated JSON",
    ),
    (
        '{"response": "fine", "references": ["ok"]}\n\n{"hyp": "x", "references": ["ok"]}\n',
        "line 3: missing column 'response'",
    ),
    (
        '{"response": "fine", "references": ["ok"]}\n{"response": "a", "references": ["b"]}\n'
        '{"response": "c", "references": [1]}\n',
        "line 3: column 'references': expected a reference text or a list of texts",
    ),
]


@pytest.mark.parametrize("text, expected", BAD_LINES)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bad_input_line_exits_2_without_output(tmp_path, capsys, text, expected, fmt):
    src = tmp_path / "in.jsonl"
    src.write_text(text, encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    assert main(["score", str(src), "-s", "chrf", "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metricrm: error: ")
    assert f"{src}: {expected}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_bad_csv_row_names_its_line(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text('response,references\nfine,ok\n"two\nlines",ok\n,ok\n', encoding="utf-8")
    assert main(["score", str(src), "-s", "bertscore_f1", "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert f"bertscore_f1: {src}: line 5: expected a non-empty response" in err
    assert not (tmp_path / "o.csv").exists()
    # a scorer that can score an empty response does: chrF gives it 0
    assert main(["score", str(src), "-s", "chrf", "-o", str(tmp_path / "o.csv")]) == 0
    assert read_table(tmp_path / "o.csv")["chrf"].tolist()[-1] == 0.0


def test_missing_references_for_a_reference_metric(tmp_path, capsys):
    src = _write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"response": "a", "references": ["a"]},
            {"response": "b", "references": None},
        ],
    )
    assert (
        main(["score", str(src), "-s", "bleu", "-o", str(tmp_path / "o.csv"), "--no-progress"]) == 2
    )
    assert f"bleu: needs references, but {src}: line 2 has none" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["-s", "no_such_metric"], "unknown scorer 'no_such_metric'; valid names: "),
        (["-s", "chrf", "--set", "chrf.wordorder=2"], "chrf: unknown setting(s) wordorder"),
        (["-s", "chrf", "--set", "bleu.tokenize=intl"], "scorer 'bleu' is not among the --scorer"),
        (["-s", "chrf", "--set", "word_order=2"], "expected SCORER.SETTING=VALUE"),
        (["-s", "chrf++", "--set", "chrf++.word_order=0"], "fixed by this scorer's name"),
        (["-s", "chrf", "-s", "chrf"], "chrf given more than once"),
    ],
)
def test_bad_scorer_or_setting_exits_2(tmp_path, capsys, extra, expected):
    src = _write_jsonl(tmp_path / "items.jsonl", _item_records())
    out = tmp_path / "o.csv"
    assert main(["score", str(src), *extra, "-o", str(out), "--no-progress"]) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()


def test_bad_output_suffix_and_usage_errors(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "items.jsonl", _item_records())
    assert main(["score", str(src), "-s", "chrf", "-o", str(tmp_path / "o.xlsx")]) == 2
    assert "--output: cannot tell the table format" in capsys.readouterr().err
    assert main(["score", str(src), "-o", str(tmp_path / "o.csv")]) == 2  # no --scorer
    assert main([]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.jsonl"]


def test_settings_values_are_parsed_as_json(tmp_path):
    src = _write_jsonl(tmp_path / "items.jsonl", _item_records())
    out = tmp_path / "o.jsonl"
    assert (
        main(
            [
                "score",
                str(src),
                "-s",
                "bleu",
                "--set",
                "bleu.lowercase=true",
                "--set",
                "bleu.tokenize=intl",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    scorer = mr.get_scorer("bleu", lowercase=True, tokenize="intl")
    expected = scorer.score(
        [it.response for it in ITEMS], references=[it.references for it in ITEMS]
    )
    assert read_table(out)["bleu"].tolist() == expected.scores.tolist()


# ----------------------------------------------------------------------------- demo


def _row(out: str, name: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [name])


def test_demo_prints_correlations_and_accuracies(capsys):
    assert main(["demo", "--no-models", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Reference set: 36 outputs" in out and "2 human ties excluded" in out
    assert "lm_judge" not in out and "bt_head" not in out
    for name in ("bleu", "chrf", "chrf++", "ter", "rougeL", "token_f1", "length_tokens"):
        assert _row(out, name)
    assert "bertscore" not in out

    # The printed correlation is scipy's on the sample (computed here independently).
    items = mr.load_sample("reference")
    chrf = mr.get_scorer("chrf").score(
        [it.response for it in items], references=[it.references for it in items]
    )
    human = [it.human["da"] for it in items]
    row = _row(out, "chrf")
    assert row[-2] == f"{stats.pearsonr(chrf.scores, human).statistic:.3f}"
    assert row[-1] == f"{stats.kendalltau(chrf.scores, human).statistic:.3f}"
    sys_a = np.mean([s for s, it in zip(chrf.scores, items) if it.system == "system-a"])
    assert row[2] == f"{sys_a:.2f}"

    # Preference accuracy of the length baseline: longer chosen = correct, ties count half.
    pairs = [p for p in PAIRS if p.label != "tie"]
    credit = [
        1.0 if len(p.chosen) > len(p.rejected) else 0.5 if len(p.chosen) == len(p.rejected) else 0.0
        for p in pairs
    ]
    assert _row(out, "length_chars")[1] == f"{np.mean(credit):.3f}"
    assert "Signatures:" in out and chrf.signature in out


def test_demo_with_chosen_scorers_and_unknown_name(capsys):
    assert main(["demo", "--scorers", "ter", "length_chars", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert _row(out, "ter")[1] == "-"  # lower is better
    assert _row(out, "length_chars")
    assert main(["demo", "--scorers", "nope"]) == 2
    assert "unknown scorer 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_with_bertscore(capsys):
    assert main(["demo", "--no-progress"]) == 0
    out = capsys.readouterr().out
    items = mr.load_sample("reference")
    bert = mr.get_scorer("bertscore_f1").score(
        [it.response for it in items], references=[it.references for it in items]
    )
    human = [it.human["da"] for it in items]
    row = _row(out, "bertscore_f1")
    assert row[-2] == f"{stats.pearsonr(bert.scores, human).statistic:.3f}"
    assert row[-1] == f"{stats.kendalltau(bert.scores, human).statistic:.3f}"
    assert bert.signature in out.split("Signatures:")[1]
    # a real LM as judge and log-prob scorer, and the trained head, next to the metrics
    for name in ("lm_judge", "lm_logprob", "bt_head (held-out)"):
        accuracy = float(_row(out, name.split()[0])[1 if " " not in name else 2])
        assert 0.0 <= accuracy <= 1.0
    assert "lm_judge|" in out and "smollm2-135m-instruct" in out


def test_score_keeps_inputs_details_and_signatures(tmp_path, capsys):
    """`score` writes the input columns, every scorer's details and, beside the table (or in
    Parquet's metadata), each scorer's signature; --no-inputs writes identifying columns only."""
    from metricrm.core.results_io import read_metadata

    src = _write_jsonl(tmp_path / "items.jsonl", _item_records())
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"o.{fmt}"
        assert main(["score", str(src), "-s", "chrf", "-o", str(out), "--no-cache"]) == 0
        table = read_table(out)
        result = mr.get_scorer("chrf").score(
            [it.response for it in ITEMS], references=[list(it.references) for it in ITEMS]
        )
        for key, values in result.details.items():
            assert table[f"chrf.{key}"].tolist() == values.tolist()
        refs = table["references"].tolist()
        expected = [list(it.references) for it in ITEMS]
        assert (
            [json.loads(r) for r in refs] == expected
            if fmt == "csv"
            else ([list(r) for r in refs] == expected)
        )
        meta = read_metadata(out)
        assert meta["scorers"] == {"chrf": result.signature} and meta["kind"] == "pointwise"
    assert (tmp_path / "o.csv.meta.json").is_file() and not (
        tmp_path / "o.parquet.meta.json"
    ).exists()
    assert main(["score", str(src), "-s", "chrf", "-o", str(tmp_path / "ids.csv"), "--no-cache",
                 "--no-inputs"]) == 0  # fmt: skip
    assert list(read_table(tmp_path / "ids.csv").columns)[:3] == ["id", "system", "chrf"]


def test_score_uses_the_cache_and_resumes(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "items.jsonl", _item_records())
    args = ["score", str(src), "-s", "chrf", "-s", "length_chars", "-o", str(tmp_path / "o.csv"),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(args) == 0
    assert f"cache: {2 * len(ITEMS)} newly scored, 0 from cache" in capsys.readouterr().out
    first = read_table(tmp_path / "o.csv")
    assert main(args) == 0
    assert f"cache: 0 newly scored, {2 * len(ITEMS)} from cache" in capsys.readouterr().out
    assert read_table(tmp_path / "o.csv").equals(first)


class _InterruptedOnSecondChunk(mr.BaseScorer):
    """Test scorer: the user presses Ctrl-C while it scores its second chunk."""

    name = "interrupted"
    uses_inputs = frozenset()
    calls = 0

    def _score(self, responses, *, references, prompts, sources):
        type(self).calls += 1
        if type(self).calls == 2:
            raise KeyboardInterrupt
        return mr.ScoreOutput([float(len(r)) for r in responses])


def test_ctrl_c_prints_one_line_and_keeps_finished_chunks(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"response": f"text {i}"} for i in range(6)])
    mr.register_scorer("interrupted", _InterruptedOnSecondChunk)
    try:
        code = main(["score", str(src), "-s", "interrupted", "-o", str(tmp_path / "o.csv"),
                     "--chunk-size", "2", "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    finally:
        mr.unregister_scorer("interrupted")
    err = capsys.readouterr().err
    assert code == 130 and err.count("\n") == 1
    assert err.startswith("metricrm: interrupted; 2 newly scored items are kept in the score cache")
    assert mr.ScoreCache(tmp_path / "cache").count() == 2
    assert not (tmp_path / "o.csv").exists()


def test_score_checks_the_output_before_scoring(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", _item_records())
    mr.register_scorer("interrupted", _InterruptedOnSecondChunk)
    _InterruptedOnSecondChunk.calls = 5  # would never interrupt; counts calls
    try:
        for out, message in [
            (tmp_path / "missing" / "o.csv", "the folder"),
            (tmp_path / "o.xlsx", "cannot tell the table format"),
            (src, "is the input file"),
        ]:
            code = main(["score", str(src), "-s", "interrupted", "-o", str(out)])
            assert code == 2 and message in capsys.readouterr().err
    finally:
        mr.unregister_scorer("interrupted")
    assert _InterruptedOnSecondChunk.calls == 5  # nothing was scored


def test_no_progress_bars_in_logs(tmp_path):
    """When stderr is a file (a batch job's log), neither our bars nor the model loaders'
    "Loading weights" bars are written; the console script sits next to the interpreter."""
    from .model_fixtures import tiny_reward_model_path

    src = _write_jsonl(tmp_path / "in.jsonl", [{"response": f"answer {i}", "prompt": "q"}
                                               for i in range(40)])  # fmt: skip
    script = Path(sys.executable).with_name("metricrm")
    args = [str(script), "score", str(src), "-s", "reward_model", "--set",
            f"reward_model.model={json.dumps(tiny_reward_model_path())}", "-o",
            str(tmp_path / "o.csv"), "--chunk-size", "4", "--no-cache"]  # fmt: skip
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        done = subprocess.run(args, stdout=fh, stderr=fh, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "Loading weights" not in text and "it/s" not in text and "%|" not in text
    assert (tmp_path / "o.csv").is_file()
