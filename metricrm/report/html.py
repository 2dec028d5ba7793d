"""A self-contained HTML report of finished results: summary, sortable tables, inline SVG
figures and a reproducibility section. One file, no network: no external script, style, font
or image (a Content-Security-Policy forbids loading any), so it opens offline and archives as
is."""

from __future__ import annotations

import html
import math
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError
from ..core.results_io import atomic_write
from ..core.versions import package_version
from ..study.frames import REQUIRED, as_text, require_columns
from .results import REPORT_COLUMNS

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
#: the result columns shown in the tables, in this order (those present)
TABLE_COLUMNS = ("subset", "human", "level", "statistic", "scorer", "value", "ci_low",
                 "ci_high", "n", "n_excluded", "cluster")  # fmt: skip


@dataclass(frozen=True)
class ReportFigure:
    """A finished figure for a report: its SVG text (e.g. ``Display.to_svg()``) and a caption."""

    title: str
    svg: str
    caption: str = ""


STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1a1a1a; background: #fff; }
header, main { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; border-bottom: 1px solid #ddd; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { margin-top: 36px; font-size: 21px; }
h3 { font-size: 17px; margin-top: 24px; }
nav a { margin-right: 14px; color: #0072B2; }
.meta { color: #555; margin: 0 0 10px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e5e5e5; text-align: left;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th::after { content: " \\2195"; color: #aaa; }
table.sortable th[aria-sort="ascending"]::after { content: " \\2191"; color: #0072B2; }
table.sortable th[aria-sort="descending"]::after { content: " \\2193"; color: #0072B2; }
tr.top td { font-weight: 600; }
.scroll { overflow-x: auto; }
figure { margin: 16px 0 28px; }
figure .svg { overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 13px; margin-top: 4px; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f6f6f6; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; }
td code { word-break: break-all; }
"""

SCRIPT = """
(function () {
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    var text = raw === null ? cell.textContent.trim() : raw;
    if (text === "" || text === "n/a" || text === "-") { return null; }
    var number = Number(text);
    return isNaN(number) ? text.toLowerCase() : number;
  }
  function compare(a, b) {
    if (a === b) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (typeof a === typeof b) { return a < b ? -1 : 1; }
    return typeof a === "number" ? -1 : 1;
  }
  function sortBy(table, th, column) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var order = compare(key(r1.cells[column]), key(r2.cells[column]));
      if (key(r1.cells[column]) === null || key(r2.cells[column]) === null) { return order; }
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, column) {
      th.setAttribute("tabindex", "0");
      th.addEventListener("click", function () { sortBy(table, th, column); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, th, column);
        }
      });
    });
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _number(value: Any, digits: int = 4) -> tuple[str, str]:
    """(shown text, sort key) of a number cell."""
    if _missing(value):
        return "n/a", ""
    v = float(value)
    if v == int(v) and abs(v) < 1e15 and not isinstance(value, float):
        return str(int(v)), repr(v)
    return f"{v:.{digits}f}", repr(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: set[str],
           sortable: bool = True, table_id: str | None = None,
           top: Sequence[bool] | None = None) -> str:  # fmt: skip
    """An HTML table; cells of ``numeric`` columns are right-aligned and sort by their value
    (a cell may be ``(text, sort key)``)."""
    cls = ' class="sortable"' if sortable else ""
    ident = f' id="{_e(table_id)}"' if table_id else ""
    out = [f'<div class="scroll"><table{cls}{ident}><thead><tr>']
    for name in header:
        num = ' class="num"' if name in numeric else ""
        out.append(f'<th scope="col"{num}>{_e(name)}</th>')
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        mark = ' class="top"' if top is not None and top[i] else ""
        out.append(f"<tr{mark}>")
        for name, cell in zip(header, row):
            text, sort = cell if isinstance(cell, tuple) else (cell, None)
            attrs = ' class="num"' if name in numeric else ""
            if sort is not None:
                attrs += f' data-sort="{_e(sort)}"'
            out.append(f"<td{attrs}>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _svg_scoped(svg: str, prefix: str) -> str:
    """The SVG with its element ids prefixed, so several inline figures never share an id
    (matplotlib names clip paths and glyphs by content)."""
    svg = svg[svg.index("<svg") :] if "<svg" in svg else svg
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if not ids:
        return svg
    pattern = re.compile(r'(\bid="|url\(#|href="#)(' + "|".join(map(re.escape, ids)) + r')(["\)])')
    return pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", svg)


def _summary(frame: Any) -> str:
    """Best scorer and the top cluster for each dataset, subset "all", human, level and
    statistic."""
    keys = [c for c in ("dataset", "human", "level", "statistic") if c in frame.columns]
    rows = frame[frame["value"].notna()]
    if "subset" in rows.columns:
        rows = rows[rows["subset"].astype(str) == "all"]
    body = []
    for key, group in rows.groupby([as_text(rows[k]) for k in keys], sort=False):
        best = group.loc[group["value"].idxmax()]
        ci = f"[{_number(best['ci_low'], 3)[0]}, {_number(best['ci_high'], 3)[0]}]"
        top = []
        if "cluster" in group.columns:
            top = list(group.loc[group["cluster"] == 1, "scorer"].astype(str))
        shown = [_e(k) for k in key]
        value = _number(best["value"], 3)
        body.append([*shown, _e(best["scorer"]), (f"{value[0]} {ci}", value[1]),
                     _e(", ".join(top)) if top else "-", str(len(group))])  # fmt: skip
    header = [*keys, "best scorer", "value [95% CI]", "top cluster", "scorers"]
    return _table(header, body, numeric={"value [95% CI]", "scorers"}, table_id="summary-table")


def _results_tables(frame: Any) -> str:
    parts = []
    shown = [c for c in TABLE_COLUMNS if c in frame.columns]
    numeric = {"value", "ci_low", "ci_high", "n", "n_excluded", "cluster"}
    for d, (dataset, group) in enumerate(frame.groupby(frame["dataset"].astype(str), sort=False)):
        group = group[group["value"].notna()]
        if group.empty:
            continue
        rows, top = [], []
        for r in group.to_dict(orient="records"):
            cells = []
            for c in shown:
                if c in numeric:
                    cells.append(_number(r[c], 0 if c in ("n", "n_excluded", "cluster") else 4))
                else:
                    cells.append("-" if _missing(r[c]) else _e(r[c]))
            rows.append(cells)
            top.append(r.get("cluster") == 1)
        parts.append(f'<h3 id="results-{d}">{_e(dataset)}</h3>')
        parts.append(_table(shown, rows, numeric=numeric, table_id=f"table-{d}", top=top))
    return "\n".join(parts)


def _notes(frame: Any) -> str:
    if "note" not in frame.columns:
        return ""
    notes = frame[frame["note"].notna() & (frame["note"].astype(str) != "")]
    if notes.empty:
        return ""
    seen = {}
    for r in notes.to_dict(orient="records"):
        seen.setdefault((str(r["note"]), str(r["dataset"])), set()).add(str(r["scorer"]))
    items = "".join(
        f"<li><b>{_e(', '.join(sorted(s)))}</b> on {_e(d)}: {_e(n)}</li>"
        for (n, d), s in seen.items()
    )
    return f'<h3 id="notes">Notes</h3><ul>{items}</ul>'


def _kv(mapping: Mapping[str, Any]) -> str:
    rows = [[_e(k), f"<code>{_e(v)}</code>"] for k, v in mapping.items()]
    return _table(["name", "value"], rows, numeric=set(), sortable=False)


def _reproducibility(frame: Any, metadata: Mapping[str, Any], command: str | None) -> str:
    parts = ['<h2 id="reproducibility">Reproducibility</h2>']
    signatures: dict[str, str] = {}
    if "signature" in frame.columns:
        for r in frame[["scorer", "signature"]].dropna().drop_duplicates().itertuples():
            signatures.setdefault(str(r.scorer), str(r.signature))
    for s in metadata.get("scorers") or []:
        if isinstance(s, Mapping) and s.get("label") and s.get("signature"):
            signatures.setdefault(str(s["label"]), str(s["signature"]))
    rows = [[_e(k), f"<code>{_e(v)}</code>"] for k, v in signatures.items()]
    parts.append("<h3>Scorer signatures</h3>")
    parts.append(_table(["scorer", "signature"], rows, numeric=set(), table_id="signatures")
                 if rows else "<p>No signature was recorded.</p>")  # fmt: skip
    runs = sorted(set(frame["run_signature"].dropna().astype(str))) if (
        "run_signature" in frame.columns) else []  # fmt: skip
    parts.append("<h3>Run signature</h3>")
    parts.append("".join(f"<pre>{_e(r)}</pre>" for r in runs) or "<p>Not recorded.</p>")
    if isinstance(metadata.get("settings"), Mapping):
        parts.append("<h3>Settings</h3>" + _kv(metadata["settings"]))
    datasets = [d for d in metadata.get("datasets") or [] if isinstance(d, Mapping)]
    if datasets:
        names = list(dict.fromkeys(k for d in datasets for k in d))
        rows = [[_e(d.get(k, "")) if not isinstance(d.get(k), (list, dict)) else
                 f"<code>{_e(d.get(k))}</code>" for k in names] for d in datasets]  # fmt: skip
        parts.append("<h3>Datasets</h3>" + _table(names, rows, numeric={"records", "of"},
                                                   sortable=False))  # fmt: skip
    if isinstance(metadata.get("versions"), Mapping):
        parts.append("<h3>Package versions of the run</h3>" + _kv(metadata["versions"]))
    here = {"python": platform.python_version()}
    for name in ("metricrm", "numpy", "pandas", "matplotlib"):
        here[name] = package_version(name) or "not installed"
    parts.append("<h3>Package versions of this report</h3>" + _kv(here))
    parts.append("<h3>Commands</h3>")
    recorded = metadata.get("command")
    parts.append(f"<p>Run:</p><pre>{_e(recorded)}</pre>" if recorded
                 else "<p>Run: not recorded in the results file.</p>")  # fmt: skip
    if command:
        parts.append(f"<p>Report:</p><pre>{_e(command)}</pre>")
    return "\n".join(parts)


def html_report(
    frame: Any,
    *,
    metadata: Mapping[str, Any] | None = None,
    figures: Sequence[ReportFigure] = (),
    title: str = "metricrm report",
    command: str | None = None,
    source: str | None = None,
) -> str:
    """The report as one HTML document: a summary (best scorer and top cluster per dataset
    and statistic), the figures (inline SVG), one sortable table per dataset, notes, and the
    reproducibility section (every scorer's signature, the run signature, settings, datasets,
    package versions of the run and of the report, and the commands). ``metadata``: what the
    results file recorded (see :func:`~metricrm.report.load_results`); ``command``: the
    command that made the report; ``source``: the results file's name, shown in the header."""
    who = "html_report"
    require_columns(who, frame, [*REQUIRED, *REPORT_COLUMNS])
    metadata = dict(metadata or {})
    bad = [i for i, f in enumerate(figures) if not isinstance(f, ReportFigure)
           or "<svg" not in f.svg]  # fmt: skip
    if bad:
        raise DataFormatError(
            f"{who}: figure {bad[0]} is not a ReportFigure holding SVG text (expected "
            "ReportFigure(title, svg) with svg from Display.to_svg() or an .svg file)"
        )
    n_scorers = frame["scorer"].nunique()
    n_datasets = frame["dataset"].nunique()
    meta_line = (f"{len(frame)} result rows · {n_scorers} scorers · {n_datasets} datasets · "
                 f"metricrm {_e(package_version('metricrm'))}")  # fmt: skip
    if source:
        meta_line = f"{_e(source)} · " + meta_line
    figure_html = []
    for i, f in enumerate(figures):
        caption = f"<b>{_e(f.title)}</b>" + (f" {_e(f.caption)}" if f.caption else "")
        figure_html.append(
            f'<figure class="figure" id="figure-{i}"><div class="svg">'
            f"{_svg_scoped(f.svg, f'f{i}')}</div><figcaption>{caption}</figcaption></figure>"
        )
    nav = ['<a href="#summary">Summary</a>']
    nav += ['<a href="#figures">Figures</a>'] if figures else []
    nav += ['<a href="#results">Results</a>', '<a href="#reproducibility">Reproducibility</a>']
    body = [
        "<header>", f"<h1>{_e(title)}</h1>", f'<p class="meta">{meta_line}</p>',
        f"<nav>{''.join(nav)}</nav>", "</header>", "<main>",
        '<h2 id="summary">Summary</h2>',
        "<p>Per dataset and statistic (subset <i>all</i>): the scorer with the highest value, "
        "its 95% bootstrap interval, and the scorers in the top significance cluster. "
        "Lower-is-better scorers were negated, so higher always means closer agreement. "
        "Click a column header to sort.</p>",
        _summary(frame),
    ]  # fmt: skip
    if figures:
        body += ['<h2 id="figures">Figures</h2>', *figure_html]
    body += ['<h2 id="results">Results</h2>',
             "<p>Rows in the top cluster are bold. Click a column header to sort.</p>",
             _results_tables(frame), _notes(frame),
             _reproducibility(frame, metadata, command), "</main>"]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_html_report(path: str | Path, frame: Any, **kwargs: Any) -> Path:
    """Write :func:`html_report` to ``path`` atomically; returns the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"write_html_report: the folder {str(path.parent)!r} does not exist"
        )
    text = html_report(frame, **kwargs)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
