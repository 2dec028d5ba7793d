"""Reading the folder a trained scorer was saved to: its JSON config and its weights file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, ModelUnavailableError


def read_saved_config(
    who: str, folder: Any, *, what: str, writer: str, config: str, weights: str, format: str
) -> tuple[dict[str, Any], Path]:
    """The checked config of a folder written by ``writer`` (``what`` names the kind in the
    error) and the path of its weights file. A missing file, invalid JSON or another
    ``format`` fails with a message naming the file."""
    folder = Path(folder).expanduser()
    config_file, weights_file = folder / config, folder / weights
    for file in (config_file, weights_file):
        if not file.is_file():
            raise ModelUnavailableError(
                f"{who}: {str(folder)!r} is not {what}: {file.name} is missing (expected a "
                f"folder written by {writer})"
            )
    try:
        loaded = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{config_file}: invalid JSON at line {exc.lineno}: {exc.msg}"
        ) from exc
    if not isinstance(loaded, dict) or loaded.get("format") != format:
        got = loaded.get("format") if isinstance(loaded, dict) else type(loaded).__name__
        raise DataFormatError(f"{config_file}: expected format {format!r} (got {got!r})")
    return loaded, weights_file
