"""Scored-data loaders (WMT MQM, SummEval, WMT DARR) on the real shared files."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from metricrm.core.errors import DataFormatError
from metricrm.data import load_summeval, load_wmt_darr, load_wmt_mqm

HEADER = "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\tcomment\n"


@pytest.fixture(scope="module")
def mqm_paths(shared_data):
    folder = shared_data / "scored" / "wmt-mqm-ted-ende"
    return folder / "mqm_ted_ende.tsv", folder / "mqm_ted_ende.avg_seg_scores.tsv"


@pytest.fixture(scope="module")
def mqm_all(mqm_paths):
    return load_wmt_mqm(*mqm_paths, include_ref=True)


def test_mqm_counts_and_references(mqm_paths, mqm_all):
    assert len(mqm_all) == 529 * 14
    assert len({i.group for i in mqm_all}) == 529
    systems = Counter(i.system for i in mqm_all)
    assert len(systems) == 14 and set(systems.values()) == {529} and "ref" in systems
    refs = {i.group: i.response for i in mqm_all if i.system == "ref"}
    for item in mqm_all:
        assert item.meta["is_reference"] == (item.system == "ref")
        assert item.references == (() if item.system == "ref" else (refs[item.group],))
        assert "<v>" not in item.response and "</v>" not in item.response
        assert "<v>" not in item.source
    default = load_wmt_mqm(mqm_paths[0], mqm_paths[1])
    assert default == [i for i in mqm_all if i.system != "ref"]


def test_mqm_text_matches_raw_rows(mqm_paths, mqm_all):
    with open(mqm_paths[0], encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    by_id = {i.id: i for i in mqm_all}
    marked = [r for r in rows if "<v>" in r["target"]]
    assert marked  # the file does mark error spans
    for row in [rows[0], marked[0], marked[-1]]:
        item = by_id[f"{row['system']}/{row['seg_id']}"]
        assert item.response == row["target"].replace("<v>", "").replace("</v>", "")
        assert item.source == row["source"].replace("<v>", "").replace("</v>", "")
        assert item.meta["doc"] == row["doc"]
    # Every error row of a (system, segment) is kept as an annotation of its single item.
    assert sum(len(i.meta["annotations"]) for i in mqm_all) == len(rows)


def test_mqm_scores_from_avg_file(mqm_paths, mqm_all):
    published = {}
    lines = mqm_paths[1].read_text("utf-8").splitlines()
    assert lines[0] == "system mqm_avg_score seg_id"
    for line in lines[1:]:
        system, rest = line.split("\t")
        score, seg = rest.split(" ")
        published[(system, seg)] = None if score == "None" else float(score)
    for item in mqm_all:
        system = "ref-A" if item.system == "ref" else item.system
        assert item.human == {"mqm": published[(system, item.group)]}
    # The avg file's other rows are unscored segments absent from the error file.
    loaded = {("ref-A" if i.system == "ref" else i.system, i.group) for i in mqm_all}
    assert {v for k, v in published.items() if k not in loaded} == {None}
    # Scores recomputed from the error rows (Major 5, Minor 1, Minor punctuation 0.1) agree exactly.
    assert load_wmt_mqm(mqm_paths[0], include_ref=True) == mqm_all


def test_mqm_target_must_agree_across_rows(tmp_path):
    path = tmp_path / "mqm.tsv"
    path.write_text(
        HEADER
        + "sysA\tt\t1\t7\tr1\tsrc\tDas <v>ist</v> gut\tStyle/Awkward\tMinor\t\n"
        + "sysA\tt\t1\t7\tr1\tsrc\tDas ist sehr gut\tFluency/Grammar\tMinor\t\n",
        encoding="utf-8",
    )
    with pytest.raises(
        DataFormatError,
        match=r"mqm\.tsv: line 3: system 'sysA', segment 7: target text differs from line 2",
    ):
        load_wmt_mqm(path, ref_system=None)


def test_mqm_bad_rows_and_scores(tmp_path):
    path = tmp_path / "mqm.tsv"
    row = "sysA\tt\t1\t7\tr1\tsrc\tDas ist gut\tNo-error\tNo-error\t\n"
    path.write_text(HEADER + row + "sysA\tt\t1\t8\tr1\tsrc\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"mqm\.tsv: line 3: expected 10 tab-separated fields \(got 6\)",
    ):
        load_wmt_mqm(path, ref_system=None)
    path.write_text(HEADER + row, encoding="utf-8")
    with pytest.raises(
        DataFormatError, match=r"no system is named like a human translation .*ref_system=None"
    ):
        load_wmt_mqm(path)
    path.write_text(HEADER + row + row.replace("sysA", "ref").replace("\t7\t", "\t8\t"))
    with pytest.raises(DataFormatError, match=r"segment 7 has no 'ref' row"):
        load_wmt_mqm(path)
    path.write_text(HEADER + row, encoding="utf-8")
    avg = tmp_path / "avg.tsv"
    avg.write_text("system mqm_avg_score seg_id\nsysA\t-1.5 7\nsysA\tbad 8\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"avg\.tsv: line 3: score 'bad' is not a number or None",
    ):
        load_wmt_mqm(path, avg, ref_system=None)
    avg.write_text("system mqm_avg_score seg_id\nsysA\t-1.5 7\nsysA\t-2.0 8\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"avg\.tsv: line 3: score -2.0 for system 'sysA', segment 8 which has no row",
    ):
        load_wmt_mqm(path, avg, ref_system=None)
    avg.write_text("system mqm_avg_score seg_id\nsysA\tNone 7\n", encoding="utf-8")
    assert load_wmt_mqm(path, avg, ref_system=None)[0].human == {"mqm": None}


def test_summeval(shared_data):
    path = shared_data / "scored/summeval/summeval.json"
    raw = json.loads(path.read_text("utf-8"))
    items = load_summeval(path)
    assert len(items) == 1600
    assert len({i.group for i in items}) == 100 and len({i.system for i in items}) == 16
    doc_id = next(iter(raw))
    system = next(iter(raw[doc_id]["sys_summs"]))
    first = items[0]
    assert (first.group, first.system, first.id) == (doc_id, system, f"{doc_id}/{system}")
    assert first.response == raw[doc_id]["sys_summs"][system]["sys_summ"]
    assert first.source == raw[doc_id]["src"]
    assert first.human == raw[doc_id]["sys_summs"][system]["scores"]
    assert set(first.human) == {"coherence", "consistency", "fluency", "relevance"}
    for item in items:
        doc = raw[item.group]
        assert len(item.references) == 11 and item.references == tuple(doc["ref_summs"])
        assert item.references[0] == doc["ref_summ"]


def test_summeval_non_numeric_score(tmp_path):
    path = tmp_path / "se.json"
    doc = {
        "src": "s",
        "ref_summs": ["r"],
        "sys_summs": {"M0": {"sys_summ": "x", "scores": {"fluency": "high"}}},
    }
    path.write_text(json.dumps({"d1": doc}), encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"se\.json: document 'd1', system 'M0': score 'fluency' must be a number \(got 'high'\)",
    ):
        load_summeval(path)


def test_wmt_darr(shared_data):
    path = shared_data / "scored/wmt19-darr/lt-en.json"
    raw = json.loads(path.read_text("utf-8"))
    pairs = load_wmt_darr(path)
    assert len(pairs) == len(raw) == 21862
    assert {p.subset for p in pairs} == {"lt-en"}
    for pair in pairs[:50] + pairs[-50:]:
        entry = raw[pair.id]
        assert pair.prompt == pair.source == entry["src"]
        assert pair.references == (entry["ref"],)
        assert (pair.chosen, pair.rejected) == (entry["better"]["sys"], entry["worse"]["sys"])
        assert pair.meta["chosen_system"] == entry["better"]["sys_name"]
        assert pair.meta["rejected_system"] == entry["worse"]["sys_name"]
    assert [p.id for p in pairs] == list(raw)


def test_darr_truncated_json(tmp_path):
    path = tmp_path / "lt-en.json"
    path.write_text('{"0": {"src": "a", "ref": "b",\n "better": {"sys": "c", ', encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"lt-en\.json: invalid or truncated JSON at line 2, column",
    ):
        load_wmt_darr(path)


# -- releases with two human translations ---------------------------------------------------------

# Three segments translated by two humans (refA, the reference; refB, a second translation) and
# three MT systems. The error file names the humans refA/refB, the averaged-score file ref-A/ref-B
# (the published files mix the two spellings), and the latter uses the published mixed layout.
_SOURCES = {"1": "The cat sat on the mat.", "2": "It is raining today.", "3": "I like green tea."}
_OUTPUTS = {
    "refA": ["Die Katze saß auf der Matte.", "Heute regnet es.", "Ich mag grünen Tee."],
    "refB": ["Auf der Matte saß eine Katze.", "Es regnet heute.", "Grüner Tee gefällt mir."],
    "sysX": ["Die Katze saß auf der Matte.", "Heute regnet es.", "Ich mag grünen Tee."],
    "sysY": ["Die Katze sitzt auf der Matte.", "Heute regnet es sehr.", "Ich mag grüne Tee."],
    "sysZ": ["Der Hund lag auf dem Teppich.", "Es ist heute sonnig.", "Ich hasse Kaffee."],
}
_PENALTY = {"refA": 0, "refB": 0, "sysX": 1, "sysY": 2, "sysZ": 5}  # one error row each
_AVG_NAME = {"refA": "ref-A", "refB": "ref-B"}


def _two_reference_release(folder):
    rows, avg = [HEADER], ["system mqm_avg_score seg_id\n"]
    for system, outputs in _OUTPUTS.items():
        for k, (seg, source) in enumerate(_SOURCES.items()):
            penalty = _PENALTY[system] + (k == 1)  # Major 5, Minor 1
            errors = ["Major"] * (penalty // 5) + ["Minor"] * (penalty % 5)
            for severity in errors or ["No-error"]:
                category = "No-error" if severity == "No-error" else "Accuracy/Mistranslation"
                rows.append(
                    f"{system}\ttalk.1\t1\t{seg}\trater1\t{source}\t{outputs[k]}\t"
                    f"{category}\t{severity}\t\n"
                )
            avg.append(f"{_AVG_NAME.get(system, system)}\t{-penalty:.6f} {seg}\n")
    tsv, avg_path = folder / "mqm.tsv", folder / "mqm.avg_seg_scores.tsv"
    tsv.write_text("".join(rows), encoding="utf-8")
    avg_path.write_text("".join(avg), encoding="utf-8")
    return tsv, avg_path


def test_mqm_recognises_human_translations_and_their_aliases(tmp_path):
    tsv, avg = _two_reference_release(tmp_path)
    with pytest.raises(
        DataFormatError,
        match=r"mqm\.tsv: 2 human translations \(refA, refB\); choose the one to use as the "
        r"reference with ref_system=",
    ):
        load_wmt_mqm(tsv, avg)
    default = load_wmt_mqm(tsv, avg, ref_system="refA")
    assert sorted({i.system for i in default}) == ["sysX", "sysY", "sysZ"]
    assert not any(i.meta["is_reference"] for i in default)
    full = load_wmt_mqm(tsv, avg, ref_system="refA", include_human=True, include_ref=True)
    assert sorted({i.system for i in full}) == ["refA", "refB", "sysX", "sysY", "sysZ"]
    refs = dict(zip(_SOURCES, _OUTPUTS["refA"]))
    for item in full:
        assert item.meta["is_reference"] == item.system.startswith("ref")
        # The second human translation is scored against the reference; the reference itself
        # has none (it cannot be its own reference).
        assert item.references == (() if item.system == "refA" else (refs[item.group],))
    human = {(i.system, i.group): i.human["mqm"] for i in full}
    assert human[("refB", "2")] == -1.0 and human[("sysZ", "1")] == -5.0
    # The same scores without the averaged-score file (recomputed from the error rows).
    assert load_wmt_mqm(tsv, ref_system="refA", include_human=True, include_ref=True) == full
    assert [i for i in full if i.system != "refA"] == load_wmt_mqm(
        tsv, avg, ref_system="refA", include_human=True
    )


def test_mqm_usual_human_translation_names():
    from metricrm.data.scored import is_human_translation

    for name in ("ref", "refA", "refB", "ref-A", "ref-B", "ref.A", "ref-C", "Human-A.0", "human"):
        assert is_human_translation(name), name
    for name in ("Facebook-AI", "refinery", "metricsystem1", "NiuTrans", "Online-W"):
        assert not is_human_translation(name), name


def test_mqm_explicit_alias_and_unknown_alias(tmp_path):
    tsv, avg = _two_reference_release(tmp_path)
    text = avg.read_text(encoding="utf-8").replace("ref-B\t", "second-human\t")
    avg.write_text(text, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"no score for system 'refB', segment 1"):
        load_wmt_mqm(tsv, avg, ref_system="refA", include_human=True)
    items = load_wmt_mqm(
        tsv, avg, ref_system="refA", include_human=True,
        avg_system_aliases={"refB": "second-human"}, human_systems=["refA", "refB"],
    )  # fmt: skip
    assert {i.system for i in items if i.meta["is_reference"]} == {"refB"}


def test_system_pearson_with_and_without_the_second_human_translation(tmp_path, capsys):
    """Through the command line (--dataset-option): the system-level Pearson of chrF equals
    scipy's on the per-system means, and moves when refB joins the systems."""
    import pandas as pd
    import sacrebleu
    from scipy.stats import pearsonr

    from metricrm.cli import main

    tsv, avg = _two_reference_release(tmp_path)
    items = load_wmt_mqm(tsv, avg, ref_system="refA", include_human=True)
    values = {}
    for include in (False, True):
        out = tmp_path / f"out-{include}.csv"
        code = main(
            ["meta-eval", "-s", "chrf", "-d", f"mqm=wmt-mqm:{tsv},{avg}",
             "--dataset-option", "mqm.ref_system=refA",
             "--dataset-option", f"mqm.include_human={str(include).lower()}",
             "--statistic", "pearson", "--level", "system", "--n-resamples", "20",
             "--no-progress", "--no-cache", "-o", str(out)]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        row = pd.read_csv(out).query("level == 'system' and statistic == 'pearson'")
        values[include] = float(row["value"].iloc[0])
        systems = sorted({i.system for i in items if include or not i.meta["is_reference"]})
        metric, human = [], []
        for system in systems:
            mine = [i for i in items if i.system == system]
            metric.append(
                sum(sacrebleu.sentence_chrf(i.response, list(i.references)).score for i in mine)
                / len(mine)
            )
            human.append(sum(i.human["mqm"] for i in mine) / len(mine))
        assert values[include] == pytest.approx(pearsonr(human, metric).statistic, abs=1e-12)
    assert abs(values[True] - values[False]) > 0.1, values


def test_dataset_option_errors(tmp_path, capsys):
    from metricrm.cli import main

    tsv, avg = _two_reference_release(tmp_path)
    base = ["meta-eval", "-s", "chrf", "-d", f"mqm=wmt-mqm:{tsv},{avg}", "--no-progress",
            "--no-cache", "-o", str(tmp_path / "o.csv")]  # fmt: skip
    assert main([*base, "--dataset-option", "other.ref_system=refA"]) == 2
    assert "--dataset-option other.ref_system=refA: dataset 'other' is not among" in (
        capsys.readouterr().err
    )
    assert main([*base, "--dataset-option", "mqm.colour=1"]) == 2
    assert "unknown option(s) colour for format 'wmt-mqm'" in capsys.readouterr().err


def test_mqm_file_without_a_comment_column_gives_empty_comments(tmp_path):
    """`comment` is optional in an MQM file: without the column each annotation's comment is ""."""
    path = tmp_path / "mqm.tsv"
    header = HEADER.replace("\tcomment\n", "\n")
    path.write_text(
        header
        + "sysA\tt\t1\t7\tr1\tsrc\tDas <v>ist</v> gut\tStyle/Awkward\tMinor\n"
        + "sysA\tt\t1\t7\tr2\tsrc\tDas ist gut\tNo-error\tNo-error\n",
        encoding="utf-8",
    )
    (item,) = load_wmt_mqm(path, ref_system=None)
    assert item.human == {"mqm": -0.5}
    assert list(item.meta["annotations"]) == [
        {
            "rater": "r1",
            "category": "Style/Awkward",
            "severity": "Minor",
            "comment": "",
            "target": "Das <v>ist</v> gut",
        },
        {
            "rater": "r2",
            "category": "No-error",
            "severity": "No-error",
            "comment": "",
            "target": "Das ist gut",
        },
    ]
