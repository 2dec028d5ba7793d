"""Study configuration for ``metricrm meta-eval``: which scorers, which datasets, which settings.

A study is read from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file, from command-line
specs, or both (the command line wins). A file looks like::

    scorers:                       # names, {name: settings}, or entries {name, label, settings}
      - bleu
      - {name: chrf, label: chrf-w2, settings: {word_order: 2}}
    datasets:                      # entries {name, format, path (one or a list), options}
      - {name: darr, format: wmt-darr, path: data/lt-en.json}
    statistics: [tau_like]
    convention: wmt20              # a benchmark's rules: metricrm, wmt20, wmt23, rewardbench, ...
    n_resamples: 1000
    output: results.csv

Relative paths in a file (dataset paths, ``output``, ``json``, ``cache_dir``) are taken from the
file's folder, so a study folder can be moved as a whole. ``cache_dir: false`` turns the score
cache off. A ``label`` names a scorer's rows in the results, which lets two differently
configured copies of one scorer sit side by side; it never enters the signature or the cache key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError, ScorerConfigError
from ..core.optional import require
from ..core.registry import get_scorer, list_scorers
from ..core.validation import check_choice, check_flag, check_integer, check_number
from ..data import DATASET_FORMATS, SAMPLE_KINDS, format_loader
from ..meta import list_conventions

# ------------------------------------------------------------------------------ datasets


_DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of a study: ``format`` (a key of :data:`DATASET_FORMATS`), its ``paths``
    (for ``sample``: the sample kind), an optional display ``name`` and loader ``options``."""

    format: str
    paths: tuple[str, ...]
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """``name``, else the sample kind or the first path's name without its data suffix."""
        if self.name:
            return self.name
        if self.format == "sample":
            return f"sample-{self.paths[0]}"
        stem = Path(self.paths[0]).name.removesuffix(".gz")
        for suffix in _DATA_SUFFIXES:
            if stem.endswith(suffix) and len(stem) > len(suffix):
                return stem.removesuffix(suffix)
        return stem or str(self.paths[0])


def _unknown_format(fmt: str, where: str) -> DataFormatError:
    return DataFormatError(
        f"{where}: unknown dataset format {fmt!r}; valid formats: {', '.join(DATASET_FORMATS)}"
    )


def parse_dataset_spec(spec: str) -> DatasetEntry:
    """``"[NAME=]FORMAT:PATH[,PATH2]"`` as a :class:`DatasetEntry` (only ``wmt-mqm`` takes a
    second path: its averaged segment scores file; ``sample:preference|reference``)."""
    where = f"--dataset {spec}"
    name = None
    eq, colon = spec.find("="), spec.find(":")
    if eq != -1 and (colon == -1 or eq < colon):
        name, spec = spec[:eq].strip(), spec[eq + 1 :]
        if not name:
            raise DataFormatError(f"{where}: expected a name before '=' (got none)")
    fmt, sep, rest = spec.partition(":")
    fmt = fmt.strip()
    if not sep or not fmt or not rest:
        raise DataFormatError(
            f"{where}: expected [NAME=]FORMAT:PATH, e.g. wmt-darr:data/lt-en.json "
            f"(formats: {', '.join(DATASET_FORMATS)})"
        )
    if fmt not in DATASET_FORMATS:
        raise _unknown_format(fmt, where)
    paths = tuple(rest.split(",")) if DATASET_FORMATS[fmt].max_paths > 1 else (rest,)
    entry = DatasetEntry(fmt, paths, name)
    check_dataset_entry(entry, where)
    return entry


def check_dataset_entry(entry: DatasetEntry, where: str) -> None:
    """The number of paths, the sample kind and the loader options fit the format."""
    info = DATASET_FORMATS.get(entry.format)
    if info is None:
        raise _unknown_format(entry.format, where)
    if not 1 <= len(entry.paths) <= info.max_paths or not all(entry.paths):
        expected = "one path" if info.max_paths == 1 else f"1 to {info.max_paths} paths"
        raise DataFormatError(
            f"{where}: format {entry.format!r} takes {expected} (got {list(entry.paths)})"
        )
    if entry.format == "sample" and entry.paths[0] not in SAMPLE_KINDS:
        raise DataFormatError(
            f"{where}: the built-in sample is 'sample:preference' or 'sample:reference' "
            f"(got {entry.paths[0]!r})"
        )
    valid, any_option = _loader_options(entry.format)
    unknown = sorted(k for k in entry.options if k not in valid)
    if unknown and not any_option:
        raise DataFormatError(
            f"{where}: unknown option(s) {', '.join(unknown)} for format {entry.format!r}; "
            f"valid options: {', '.join(valid) or '(none)'}"
        )


def _loader_options(fmt: str) -> tuple[list[str], bool]:
    """Keyword options the format's loader takes (its path parameters excluded) and whether it
    accepts any further keyword (the generic loaders pass them on)."""
    info = DATASET_FORMATS[fmt]
    if not info.takes_path:
        return [], False
    params = list(inspect.signature(format_loader(fmt)).parameters.values())[info.max_paths :]
    named = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def load_dataset(entry: DatasetEntry) -> list:
    """The records of one dataset, through its format's loader; errors name the dataset."""
    where = f"dataset {entry.display_name!r} ({entry.format})"
    check_dataset_entry(entry, where)
    loader = format_loader(entry.format)
    if entry.format == "sample":
        return loader(entry.paths[0])
    for path in entry.paths:
        if not Path(path).exists():
            raise DataFormatError(f"{where}: no such file or folder: {path}")
    try:
        records = loader(*entry.paths, **dict(entry.options))
    except (OSError, ValueError, TypeError, KeyError) as exc:  # DataFormatError is a ValueError
        raise DataFormatError(f"{where}: {exc}") from exc
    if not records:
        raise DataFormatError(f"{where}: no records in {', '.join(entry.paths)}")
    return records


# ------------------------------------------------------------------------------- scorers


@dataclass(frozen=True)
class ScorerEntry:
    """One scorer of a study: a registered ``name``, its ``settings`` and an optional ``label``
    under which it appears in results (needed for two copies of one scorer)."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name


def parse_scorer_spec(spec: str) -> ScorerEntry:
    """``"NAME"`` or ``"LABEL=NAME"`` from the command line."""
    label, eq, name = spec.partition("=")
    if not eq:
        return ScorerEntry(spec.strip())
    if not label.strip() or not name.strip():
        raise ScorerConfigError(f"--scorer {spec}: expected NAME or LABEL=NAME")
    return ScorerEntry(name.strip(), label=label.strip())


def build_scorers(entries: Sequence[ScorerEntry]) -> list[tuple[str, Any]]:
    """Fresh, configured scorers as ``(label, scorer)`` pairs; labels must be unique.

    A label only names a scorer's rows in the results: the scorer keeps its registered name,
    so its signature (and so its score-cache entries) never depends on the label.
    """
    names = [e.display_name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScorerConfigError(
            f"scorers: {', '.join(map(repr, dupes))} named more than once; give each copy its "
            "own label (config: `label: ...`; command line: --scorer LABEL=NAME)"
        )
    registered = set(list_scorers())
    built = []
    for entry in entries:
        if entry.label and entry.label != entry.name and entry.label in registered:
            raise ScorerConfigError(
                f"scorer {entry.name!r}: label {entry.label!r} is the name of another "
                "registered scorer; choose a label that is not a scorer name"
            )
        built.append((entry.display_name, get_scorer(entry.name, **dict(entry.settings))))
    return built


# ------------------------------------------------------------------------------- file


@dataclass
class StudyConfig:
    """A study's settings; ``None`` means "not set here" (a default or the command line
    decides). ``cache_dir=False`` turns the cache off."""

    scorers: list[ScorerEntry] | None = None
    datasets: list[DatasetEntry] | None = None
    statistics: list[str] | None = None
    levels: list[str] | None = None
    human: list[str] | None = None
    convention: str | None = None
    n_resamples: int | None = None
    confidence: float | None = None
    seed: int | None = None
    score_ties: str | None = None
    human_tie_policy: str | None = None
    tie_threshold: float | None = None
    alpha: float | None = None
    significance: bool | None = None
    exclude_empty: bool | None = None
    strict: bool | None = None
    chunk_size: int | None = None
    cache_dir: str | bool | None = None
    output: str | None = None
    json: str | None = None
    source: Path | None = None


def _type_name(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(f"{where}: `{key}` must be non-empty text (got {_type_name(value)})")
    return value


def _text_list(where: str, key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise DataFormatError(
            f"{where}: `{key}` must be text or a non-empty list of text (got {_type_name(value)})"
        )
    return [_text(where, f"{key}[{i}]", v) for i, v in enumerate(items)]


def _choice(*valid: str) -> Callable[[str, str, Any], str]:
    return lambda where, key, value: check_choice(where, key, value, valid)


def _mapping(where: str, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise DataFormatError(
            f"{where}: `{key}` must be a mapping of names to values (got {_type_name(value)})"
        )
    return dict(value)


def _check_keys(where: str, entry: Mapping[str, Any], valid: Sequence[str]) -> None:
    unknown = [k for k in entry if k not in valid]
    if unknown:
        raise DataFormatError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}"
        )


def _scorer_entries(where: str, value: Any) -> list[ScorerEntry]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):  # {name: settings}
        return [
            ScorerEntry(_text(where, "scorers", name), _mapping(where, f"scorers.{name}", s))
            for name, s in value.items()
        ]
    if not isinstance(value, list) or not value:
        raise DataFormatError(
            f"{where}: `scorers` must be a non-empty list or a mapping of names to settings "
            f"(got {_type_name(value)})"
        )
    entries = []
    for i, item in enumerate(value):
        at = f"{where}: scorers[{i}]"
        if isinstance(item, str):
            entries.append(ScorerEntry(_text(at, "name", item)))
        elif isinstance(item, Mapping) and "name" in item:
            _check_keys(at, item, ("name", "label", "settings"))
            label = item.get("label")
            entries.append(ScorerEntry(
                _text(at, "name", item["name"]),
                _mapping(at, "settings", item.get("settings")),
                None if label is None else _text(at, "label", label),
            ))  # fmt: skip
        elif isinstance(item, Mapping) and len(item) == 1:  # - chrf: {word_order: 2}
            ((name, settings),) = item.items()
            entries.append(ScorerEntry(_text(at, "name", name), _mapping(at, name, settings)))
        else:
            raise DataFormatError(
                f"{at}: expected a scorer name, {{name: settings}} or an entry with keys "
                f"name, label, settings (got {_type_name(item)})"
            )
    return entries


def _dataset_entries(where: str, value: Any, base: Path) -> list[DatasetEntry]:
    if not isinstance(value, list) or not value:
        raise DataFormatError(
            f"{where}: `datasets` must be a non-empty list of entries with keys name, format, "
            f"path, options (got {_type_name(value)})"
        )
    entries = []
    for i, item in enumerate(value):
        at = f"{where}: datasets[{i}]"
        if not isinstance(item, Mapping):
            raise DataFormatError(
                f"{at}: expected an entry with keys name, format, path, options "
                f"(got {_type_name(item)})"
            )
        _check_keys(at, item, ("name", "format", "path", "options"))
        for key in ("format", "path"):
            if key not in item:
                raise DataFormatError(f"{at}: missing key `{key}`")
        fmt = _text(at, "format", item["format"])
        raw = _text_list(at, "path", item["path"])
        info = DATASET_FORMATS.get(fmt)
        if info is None:
            raise _unknown_format(fmt, at)
        paths = tuple(raw if not info.takes_path else (str(base / p) for p in raw))
        name = item.get("name")
        entry = DatasetEntry(
            fmt, paths, None if name is None else _text(at, "name", name),
            _mapping(at, "options", item.get("options")),
        )  # fmt: skip
        check_dataset_entry(entry, at)
        entries.append(entry)
    return entries


_SCALARS: dict[str, Callable[[str, str, Any], Any]] = {
    "statistics": _text_list,
    "levels": _text_list,
    "human": _text_list,
    "convention": _choice(*list_conventions()),
    "n_resamples": check_integer,
    "confidence": check_number,
    "seed": check_integer,
    "score_ties": _choice("half", "loss", "drop"),
    "human_tie_policy": _choice("exclude", "threshold"),
    "tie_threshold": check_number,
    "alpha": check_number,
    "significance": check_flag,
    "exclude_empty": check_flag,
    "strict": check_flag,
    "chunk_size": check_integer,
    "output": _text,
    "json": _text,
}
CONFIG_KEYS = ("scorers", "datasets", *_SCALARS, "cache_dir")


def parse_study_config(data: Any, *, where: str, base: Path | None = None) -> StudyConfig:
    """A :class:`StudyConfig` from parsed YAML/TOML ``data``; ``where`` names the file in
    errors and ``base`` is the folder relative paths are taken from."""
    base = base or Path(".")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DataFormatError(f"{where}: expected a mapping of settings (got {_type_name(data)})")
    _check_keys(where, data, CONFIG_KEYS)
    cfg = StudyConfig()
    for key, value in data.items():
        if value is None:
            continue  # an empty YAML entry: not set
        if key == "scorers":
            cfg.scorers = _scorer_entries(where, value)
        elif key == "datasets":
            cfg.datasets = _dataset_entries(where, value, base)
        elif key == "cache_dir":
            if value is False:
                cfg.cache_dir = False
            else:
                cfg.cache_dir = str(base / _text(where, "cache_dir (a folder or false)", value))
        else:
            parsed = _SCALARS[key](where, key, value)
            if key in ("output", "json"):
                parsed = str(base / parsed)
            setattr(cfg, key, parsed)
    return cfg


def read_study_file(path: str | Path) -> Any:
    """The parsed content of a ``.yaml``/``.yml`` or ``.toml`` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise DataFormatError(
            f"{path}: cannot tell the config format from the suffix {suffix or '(none)'!r}; "
            "expected .yaml, .yml or .toml"
        )
    if not path.is_file():
        raise DataFormatError(f"{path}: no such config file")
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError as exc:
                raise DataFormatError(
                    f"{path}: reading TOML needs Python >= 3.11 or the `tomli` package "
                    "(pip install tomli), or use a YAML config"
                ) from exc
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DataFormatError(f"{path}: invalid TOML ({exc})") from exc
    yaml = require("yaml", who=f"reading the YAML config {path}", extra="io")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataFormatError(f"{path}: invalid YAML ({exc})") from exc


def load_study_config(path: str | Path) -> StudyConfig:
    """Read a YAML or TOML study file; relative paths in it are taken from its folder."""
    path = Path(path)
    cfg = parse_study_config(read_study_file(path), where=str(path), base=path.parent)
    cfg.source = path
    return cfg
