"""The ``metricrm`` command: ``list`` scorers, ``score`` a file, run the built-in ``demo``,
``meta-eval`` scorers against human judgments, ``probe`` them for reward hacking, ``compose`` a
composite reward, ``report`` results as HTML, ``serve`` a scorer as a reward server. One module
per subcommand; each adds its own parser and calls the public API.

Thin by design: it parses arguments, calls the public API and prints. Errors from metricrm
(bad input, unknown scorer or setting) print ``metricrm: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from ..core.errors import MetricRMError
from . import compose, demo, list_scorers, meta_eval, probe, report, score, serve

SUBCOMMANDS = (list_scorers, score, demo, meta_eval, probe, compose, report, serve)


def quiet_model_loaders() -> None:
    """No "Loading weights" or download bars from transformers and huggingface_hub: they read
    this variable when first imported, and transformers is told directly if already loaded."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging = sys.modules.get("transformers.utils.logging")
    if logging is not None:
        logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metricrm", description="Evaluation metrics and reward models behind one interface."
    )
    parser.add_argument("--version", action="version", version=f"metricrm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``metricrm`` command; returns the exit status (2 on any input error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # reports quote the command
    chunk_size = getattr(args, "chunk_size", None)  # None: meta-eval takes it from a config
    if chunk_size is not None and chunk_size < 1:
        print(f"metricrm: error: --chunk-size must be at least 1 (got {args.chunk_size})",
              file=sys.stderr)  # fmt: skip
        return 2
    if hasattr(args, "no_progress") and not sys.stderr.isatty():
        args.no_progress = True  # a log file or a pipe: bars would only fill it with lines
    if getattr(args, "no_progress", False):
        quiet_model_loaders()
    try:
        return args.func(args)
    except (MetricRMError, OSError) as exc:  # OSError: unreadable input, missing output folder
        print(f"metricrm: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
