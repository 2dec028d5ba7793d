"""``metricrm report``: one self-contained HTML file from meta-evaluation results.

Thin: it reads the results (:func:`metricrm.report.load_results`), draws the standard figures
with :mod:`metricrm.plotting` (an overview heatmap, and a forest plot per dataset), adds any
SVG figures given with ``--figure``, and writes :func:`metricrm.report.write_html_report`.
``meta-eval --report`` calls :func:`write_report` with the frame it just computed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, MetricRMError
from ..report import ReportFigure, load_results, write_html_report
from ..study.frames import as_text

#: at most this many panels in one forest figure (the rest are named in its caption)
MAX_PANELS = 12
#: the overview heatmap is left out above this many rows (the tables still hold everything)
MAX_HEATMAP_ROWS = 60
#: row columns that can tell rows of one scorer apart
ROW_COLUMNS = ("dataset", "human", "level", "statistic")


def add_parser(sub: Any) -> None:
    """Add the ``report`` subcommand to the ``metricrm`` subparsers."""
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report (summary, sortable tables, figures, "
        "signatures and versions) of meta-evaluation results",
        description="Write one HTML file that opens offline: a summary, sortable tables, "
        "figures as inline SVG, and a reproducibility section with every signature, the run "
        "signature, package versions and the commands.",
    )
    p.add_argument(
        "results",
        metavar="RESULTS",
        help="a result table (.csv, .jsonl, .parquet; its metadata is read from beside or "
        "inside it) or a JSON report (.json) from `metricrm meta-eval` or a study",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.html", help="the HTML file")
    p.add_argument("--title", help="the report's title (default: from the results file name)")
    p.add_argument(
        "--figure",
        action="append",
        default=[],
        metavar="FILE.svg",
        help="an SVG figure to include after the standard ones (repeat); its caption is the "
        "file name",
    )
    p.set_defaults(func=cmd_report)


def _varying(frame: Any, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in frame.columns and as_text(frame[c]).nunique() > 1]


def standard_figures(frame: Any) -> list[ReportFigure]:
    """An overview heatmap (one row per dataset, human judgment, level and statistic; one
    column per scorer; subset "all") and a forest plot per dataset. A figure that cannot be
    drawn is left out with a warning naming it and why."""
    import matplotlib

    matplotlib.use("Agg")
    from ..plotting import ForestDisplay, HeatmapDisplay

    figures: list[ReportFigure] = []
    rows = frame[frame["value"].notna()]
    if "subset" in rows.columns:
        rows = rows[rows["subset"].astype(str) == "all"]
    if rows.empty:
        return figures

    def draw(title: str, caption: str, make: Any) -> None:
        try:
            display = make()
        except MetricRMError as exc:
            warnings.warn(f"report: figure {title!r} left out: {exc}", stacklevel=2)
            return
        figures.append(ReportFigure(title, display.to_svg(), caption))
        display.close()

    keys = _varying(rows, ROW_COLUMNS) or ["dataset"]
    n_rows = len(rows.drop_duplicates([k for k in keys if k in rows.columns]))
    if rows["scorer"].nunique() > 1 and n_rows <= MAX_HEATMAP_ROWS:
        draw(
            "Overview.",
            "Every value with its 95% interval; bold: top significance cluster. Each row is "
            "shaded from its own minimum (dark) to maximum (light), as rows hold different "
            "statistics.",
            lambda: HeatmapDisplay.from_frame(
                rows, rows=keys, columns="scorer", subset=None, color_by="row"
            ),
        )
    for dataset, part in rows.groupby(rows["dataset"].astype(str), sort=False):
        panels = _varying(part, ("human", "level", "statistic")) or ["dataset"]
        labels = part.drop_duplicates(panels)
        caption = "Points: values; bars: 95% bootstrap intervals; colour: significance cluster."
        if len(labels) > MAX_PANELS:
            keep = labels.head(MAX_PANELS)
            left = len(labels) - MAX_PANELS
            caption += f" The first {MAX_PANELS} panels; {left} more are in the tables."
            part = part.merge(keep[panels], on=panels)
        draw(
            f"{dataset}.",
            caption,
            lambda part=part, panels=panels: ForestDisplay.from_frame(
                part, panels=panels, subset=None
            ),
        )
    return figures


def check_output(path: str | Path, flag: str) -> None:
    """Fail on a report name that is not .html or a missing folder, before any slow work."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise DataFormatError(f"{flag}: expected an .html file (got {str(path)!r})")
    if not path.parent.is_dir():
        raise DataFormatError(f"{flag}: the folder {str(path.parent)!r} does not exist")


def _svg_file(path: str) -> ReportFigure:
    file = Path(path)
    if not file.is_file():
        raise DataFormatError(f"--figure: no such file: {path}")
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() != ".svg" or "<svg" not in text:
        raise DataFormatError(f"--figure {path}: expected an SVG file")
    return ReportFigure(file.stem.replace("_", " ") + ".", text)


def write_report(
    frame: Any,
    metadata: Mapping[str, Any],
    output: str | Path,
    *,
    command: str,
    title: str | None = None,
    source: str | None = None,
    extra: Sequence[ReportFigure] = (),
) -> Path:
    """Standard figures plus ``extra``, then the HTML file at ``output``."""
    figures = standard_figures(frame) + list(extra)
    return write_html_report(
        output, frame, metadata=metadata, figures=figures, command=command,
        title=title or "metricrm report", source=source,
    )  # fmt: skip


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: ``metricrm`` and its arguments, shell-quoted."""
    args = sys.argv[1:] if argv is None else list(argv)
    return "metricrm " + " ".join(shlex.quote(a) for a in args)


def cmd_report(args: argparse.Namespace) -> int:
    check_output(args.output, "--output")
    extra = [_svg_file(f) for f in args.figure]  # check before the slow part
    frame, metadata = load_results(args.results)
    title = args.title or f"metricrm report: {Path(args.results).name}"
    from .common import show_warning

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        path = write_report(
            frame, metadata, args.output, command=command_line(getattr(args, "argv", None)),
            title=title, source=Path(args.results).name, extra=extra,
        )  # fmt: skip
    print(f"wrote {path}")
    return 0
