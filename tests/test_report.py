"""Tables for papers, reading results back, the HTML report and the ``report`` command: cells
equal the frame's values and intervals, the top cluster is bold, every signature and version is
in the report, nothing is loaded from the network."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest

import metricrm as mr
from metricrm.cli import main
from metricrm.core.errors import DataFormatError, ScorerConfigError
from metricrm.report import (
    ReportFigure,
    html_report,
    latex_escape,
    load_results,
    to_latex,
    to_markdown,
)

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def table():
    return mr.meta_evaluate(
        ["bleu", "chrf", "ter", "length_chars"], {"ref": mr.load_sample("reference")},
        n_resamples=200, cache=False, progress=False,
    )  # fmt: skip


def _flat(table):
    return table[(table.level == "flat") & (table.human == "da")]


# ------------------------------------------------------------------------------------ tables


def test_markdown_cells_and_bold_top_cluster(table):
    text = to_markdown(table, columns="statistic", human="da", level="flat")
    lines = text.strip().splitlines()
    assert lines[0] == "| scorer | pearson | spearman | kendall_b |"
    assert lines[1] == "|---|---:|---:|---:|"
    assert len(lines) == 2 + 4
    for r in _flat(table).itertuples():
        line = next(x for x in lines if x.startswith(f"| {r.scorer} |"))
        value = f"**{r.value:.3f}**" if r.cluster == 1 else f"{r.value:.3f}"
        assert f"{value} [{r.ci_low:.3f}, {r.ci_high:.3f}]" in line
    assert "**" in text and text.count("**") == 2 * int((_flat(table).cluster == 1).sum())
    plain = to_markdown(table, columns="statistic", human="da", level="flat", bold_top=False)
    assert "**" not in plain


def test_latex_table(table):
    text = to_latex(table, columns="statistic", human="da", level="flat", digits=2,
                    caption="Agreement with DA (flat)", label="tab:da")  # fmt: skip
    assert text.startswith("\\begin{table}\n\\centering\n\\begin{tabular}{lrrr}\n\\toprule\n")
    assert "scorer & pearson & spearman & kendall\\_b \\\\" in text
    for r in _flat(table).itertuples():
        value = f"{r.value:.2f}"
        cell = f"\\textbf{{{value}}}" if r.cluster == 1 else value
        row = next(x for x in text.splitlines() if x.startswith(latex_escape(r.scorer) + " &"))
        assert f"{cell} {{\\scriptsize [{r.ci_low:.2f}, {r.ci_high:.2f}]}}" in row
    assert "length\\_chars &" in text
    assert "\\caption{Agreement with DA (flat)}\n\\label{tab:da}\n\\end{table}" in text


def test_tables_mark_missing_cells_and_refuse_mixed_rows(table):
    frame = pd.DataFrame({
        "scorer": ["a|b", "a|b", "c"], "dataset": ["x", "y", "x"], "statistic": "accuracy",
        "value": [0.6, 0.7, 0.8], "ci_low": [0.5, 0.6, 0.7], "ci_high": [0.7, 0.8, 0.9],
        "cluster": [2, 1, 1],
    })  # fmt: skip
    md = to_markdown(frame, columns="dataset")
    assert "| a\\|b | 0.600 [0.500, 0.700] | **0.700** [0.600, 0.800] |" in md
    assert "| c | **0.800** [0.700, 0.900] |  |" in md
    assert "c & \\textbf{0.800} {\\scriptsize [0.700, 0.900]} & -- \\\\" in to_latex(
        frame, columns="dataset"
    )
    with pytest.raises(ScorerConfigError, match="differ in level"):
        to_markdown(table, columns="statistic", human="da")
    assert latex_escape("50% of a_b & c#") == r"50\% of a\_b \& c\#"


# ----------------------------------------------------------------------------------- loading


def test_load_results_from_a_table_and_a_json_report(tmp_path, table, capsys):
    path = mr.write_table(table, tmp_path / "r.csv", metadata={"command": "x", "versions": {}})
    frame, metadata = load_results(path)
    assert metadata == {"command": "x", "versions": {}}
    pd.testing.assert_frame_equal(frame[["scorer", "value"]], table[["scorer", "value"]])
    code = main(["meta-eval", "-s", "chrf", "-s", "length_chars", "-d", "sample:reference",
                 "--n-resamples", "50", "--no-cache", "--no-progress",
                 "--json", str(tmp_path / "r.json")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    frame, metadata = load_results(tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(frame) == len(report["results"]) and "results" not in metadata
    assert {s["signature"] for s in metadata["scorers"]} == set(frame.signature)
    assert frame["cluster"].dtype == float  # nulls read as NaN


def test_load_results_errors(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        load_results(tmp_path / "missing.csv")
    (tmp_path / "r.txt").write_text("x")
    with pytest.raises(DataFormatError, match=r"expected a result table \(.csv"):
        load_results(tmp_path / "r.txt")
    (tmp_path / "r.json").write_text('{"settings": {}}')
    with pytest.raises(DataFormatError, match="a `results` list"):
        load_results(tmp_path / "r.json")
    pd.DataFrame({"scorer": ["a"], "value": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFormatError, match=r"lacks column\(s\) ci_low, ci_high, dataset"):
        load_results(tmp_path / "bad.csv")


# -------------------------------------------------------------------------------------- HTML


def _svg(i: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><defs>'
            f'<clipPath id="p1"><rect width="{i}" height="5"/></clipPath></defs>'
            '<rect clip-path="url(#p1)" width="10" height="10"/></svg>')  # fmt: skip


def test_html_report_holds_every_number_signature_and_version(table):
    metadata = {"versions": {"sacrebleu": "9.9.9"}, "command": "metricrm meta-eval -s bleu",
                "scorers": [{"label": "extra", "signature": "extra|sig:1"}]}  # fmt: skip
    text = html_report(table, metadata=metadata, figures=[ReportFigure("A", _svg(1)),
                       ReportFigure("B", _svg(2))], command="metricrm report x -o y.html")  # fmt: skip
    for signature in set(table.signature) | {"extra|sig:1"}:
        assert signature.replace("'", "&#x27;") in text
    assert table.run_signature.iloc[0] in text
    assert "<code>9.9.9</code>" in text
    assert "metricrm meta-eval -s bleu" in text and "metricrm report x -o y.html" in text
    # one table row per result row with a value; the value as its sort key
    rows = re.findall(r"<tr( class=\"top\")?><td>all</td>", text)
    assert len(rows) == table.value.notna().sum()
    assert len([r for r in rows if r]) == (table.cluster == 1).sum()
    for v in table.value:
        assert f'data-sort="{v!r}"' in text
    # no network: a CSP forbids it, and nothing points outside the file
    assert "default-src 'none'" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text
    # figures inline, with ids made unique across figures
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    assert 'id="f0-p1"' in text and "url(#f1-p1)" in text


def test_html_report_refuses_a_figure_that_is_not_svg(table):
    with pytest.raises(DataFormatError, match="figure 0 is not a ReportFigure holding SVG"):
        html_report(table, figures=[ReportFigure("x", "<png>")])


# ------------------------------------------------------------------------------------- CLI


def test_report_command(tmp_path, table, capsys):
    results = mr.write_table(table, tmp_path / "r.parquet", metadata={"command": "run it"})
    (tmp_path / "extra.svg").write_text(_svg(3))
    out = tmp_path / "report.html"
    code = main(["report", str(results), "-o", str(out), "--figure", str(tmp_path / "extra.svg")])
    assert code == 0, capsys.readouterr().err
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    figures = re.findall(r'<figure class="figure" id="figure-(\d+)">', text)
    # the overview heatmap, one forest plot for the dataset, the extra figure
    assert len(figures) == 3
    assert "<b>extra.</b>" in text
    assert f"metricrm report {results} -o {out} --figure" in text
    assert "<pre>run it</pre>" in text


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing.csv", "-o", "{tmp}/r.html"], "no such file"),
    (["{tmp}/r.csv", "-o", "{tmp}/r.txt"], "expected an .html file"),
    (["{tmp}/r.csv", "-o", "{tmp}/nope/r.html"], "does not exist"),
    (["{tmp}/r.csv", "-o", "{tmp}/r.html", "--figure", "{tmp}/r.csv"], "expected an SVG file"),
])  # fmt: skip
def test_report_command_errors(tmp_path, table, capsys, argv, message):
    mr.write_table(table, tmp_path / "r.csv")
    code = main(["report", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_meta_eval_writes_a_report(tmp_path, capsys):
    out = tmp_path / "darr.html"
    argv = ["meta-eval", "-s", "chrf", "-s", "length_chars", "-d", "sample:reference",
            "--n-resamples", "50", "--no-cache", "--no-progress", "--report", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "metricrm meta-eval -s chrf -s length_chars -d sample:reference" in text
    assert "Package versions of the run" in text and "<figure" in text
    bad = ["meta-eval", "-s", "chrf", "-d", "sample:reference", "--report", str(tmp_path / "x.pdf")]
    assert main(bad) == 2
    assert "--report: expected an .html file" in capsys.readouterr().err


def test_report_numbers_round_trip(tmp_path, table):
    """The numbers shown come from the file: a changed value shows up changed."""
    changed = table.copy()
    changed.loc[0, "value"] = 0.123456789
    path = mr.write_table(changed, tmp_path / "r.jsonl")
    frame, _ = load_results(path)
    text = html_report(frame)
    assert 'data-sort="0.123456789"' in text and ">0.1235<" in text
    assert np.isclose(frame.value[0], 0.123456789)


def test_report_of_the_trench_coat_study(tmp_path, capsys):
    """`metricrm report` on the committed results of studies/trench_coat/ (with the study's SVG
    figures) writes the HTML: every result row, scorer signature and dataset is in it."""
    from pathlib import Path

    study = Path(__file__).resolve().parents[1] / "studies" / "trench_coat"
    results = study / "results.csv"
    extra = sorted((study / "figures").glob("*.svg"))
    assert results.is_file() and extra, "the study's results.csv and figures/*.svg are committed"
    out = tmp_path / "report.html"
    figure_args = [a for f in extra for a in ("--figure", str(f))]
    argv = ["report", str(results), "-o", str(out), *figure_args]
    assert main(argv) == 0, capsys.readouterr().err
    text = out.read_text()
    frame, meta = load_results(results)
    shown = frame[frame.value.notna()]
    tables = re.findall(r'<table class="sortable" id="table-\d+">', text)
    assert len(tables) == shown.dataset.nunique()
    for v in shown.value:
        assert f'data-sort="{float(v)!r}"' in text
    for s in meta["scorers"]:
        assert html.escape(s["signature"], quote=True) in text
    for d in meta["datasets"]:
        assert f"<td>{d['name']}</td>" in text
    figures = re.findall(r'<figure class="figure" id="figure-(\d+)">', text)
    # the overview heatmap, a forest plot per dataset, then the study's own figures
    assert len(figures) == 1 + shown.dataset.nunique() + len(extra)
    assert f"<pre>{html.escape(meta['command'], quote=True)}</pre>" in text


def test_summary_keeps_rows_without_a_human_column():
    """Preference rows (human missing) next to human-scored ones: one summary row per dataset,
    human, level and statistic, the missing human shown as '-'."""
    mixed = mr.meta_evaluate(
        ["chrf", "length_chars"],
        {"ref": mr.load_sample("reference"), "pref": mr.load_sample("preference")},
        n_resamples=50, cache=False, progress=False,
    )  # fmt: skip
    text = html_report(mixed)
    start = text.index('id="summary-table"')
    summary = text[start : text.index("</table>", start)]
    rows = mixed[mixed.value.notna() & (mixed.subset == "all")]
    groups = rows.fillna({"human": "-"}).groupby(["dataset", "human", "level", "statistic"])
    assert summary.count("<tr") - 1 == groups.ngroups
    assert mixed.human.isna().any() and "<td>pref</td><td>-</td>" in summary
