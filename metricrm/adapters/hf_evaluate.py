"""Bridges to Hugging Face ``evaluate``, both ways.

* ``EvaluateScorer`` wraps any ``evaluate.EvaluationModule`` (an instance, a local module
  folder or script, or a hub id for users who can reach the hub) as a metricrm scorer.
* ``as_evaluate_module`` exposes a metricrm scorer as an ``evaluate`` metric instance (usable in
  ``evaluate.combine``); ``write_evaluate_module`` writes a local module folder that
  ``evaluate.load(folder)`` turns into the same metric.

``evaluate`` (which imports torch and transformers) is imported inside functions only.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError, ScorerOutputError
from ..core.optional import require
from ..core.types import BaseScorer, ScoreOutput
from ..core.versions import version_label

PER_ITEM_MODES = ("auto", "output", "each")
# Inputs an evaluate module may declare and where metricrm takes them from.
_KNOWN_FEATURES = ("predictions", "references", "sources")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_string_value(feature: Any) -> bool:
    dtype = getattr(feature, "dtype", None)
    return type(feature).__name__ == "Value" and dtype in ("string", "large_string")


def _is_string_sequence(feature: Any) -> bool:
    """``Sequence(Value("string"))`` / ``List(Value("string"))`` / ``[Value("string")]``."""
    if isinstance(feature, (list, tuple)):
        return len(feature) == 1 and _is_string_value(feature[0])
    inner = getattr(feature, "feature", None)
    return inner is not None and _is_string_value(inner)


def _feature_formats(module: Any) -> list[Any]:
    features = module.features
    return list(features) if isinstance(features, (list, tuple)) else [features]


def _as_float(who: str, value: Any, where: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 0:
        raise ScorerOutputError(
            f"{who}: expected a number {where} (got {type(value).__name__}: {_describe(value)})"
        )
    return float(arr)


class EvaluateScorer(BaseScorer):
    """Any Hugging Face ``evaluate`` module as a scorer (predictions = responses).

    Per-item scores come from the module's result under ``score_key`` (default: the only key,
    else the key named like the module):

    * ``per_item="output"``: one compute call on all items; the value must be a list with one
      number per prediction (e.g. BERTScore's ``f1``, ROUGE with ``use_aggregator=False``).
    * ``per_item="each"``: one compute call per item; the value must be a number. Right for
      corpus metrics (corpus BLEU of one sentence = sentence BLEU without smoothing choices).
    * ``per_item="auto"`` (default): one call on all items; a per-item list is used as is, a
      single number triggers one call per item.

    References: single-reference modules (``references`` is a string feature) get one string per
    item, and an item with several references is an error; modules that accept a list per item
    get lists. A ``sources`` feature is fed from ``sources``. ``load_kwargs`` go to
    ``evaluate.load`` (e.g. ``config_name``, ``module_type``) when ``module`` is a path or id.
    """

    name = "hf_evaluate"
    requires_references = True
    uses_inputs = frozenset({"references", "sources"})
    backends: ClassVar[tuple[str, ...]] = ("evaluate",)

    def __init__(
        self,
        module: Any,
        *,
        score_key: str | None = None,
        per_item: str = "auto",
        compute_kwargs: Mapping[str, Any] | None = None,
        higher_is_better: bool = True,
        load_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        who = type(self).name
        if per_item not in PER_ITEM_MODES:
            raise ScorerConfigError(
                f"{who}: per_item must be one of {', '.join(PER_ITEM_MODES)} (got {per_item!r})"
            )
        if score_key is not None and not isinstance(score_key, str):
            raise ScorerConfigError(f"{who}: score_key must be a string (got {score_key!r})")
        if not isinstance(higher_is_better, (bool, np.bool_)):
            raise ScorerConfigError(
                f"{who}: higher_is_better must be True or False (got {higher_is_better!r})"
            )
        self.module = self._load(who, module, dict(load_kwargs or {}))
        self.score_key = score_key
        self.per_item = per_item
        self.higher_is_better = bool(higher_is_better)
        self.compute_kwargs = self._check_compute_kwargs(who, compute_kwargs)
        self._setup_inputs(who)

    # -- construction -------------------------------------------------------------------------

    @staticmethod
    def _load(who: str, module: Any, load_kwargs: dict[str, Any]) -> Any:
        evaluate = require("evaluate", who=who, extra="hf")
        if isinstance(module, evaluate.EvaluationModule):
            if load_kwargs:
                raise ScorerConfigError(
                    f"{who}: load_kwargs apply only when `module` is a path or hub id "
                    f"(got an already loaded module and load_kwargs {sorted(load_kwargs)})"
                )
            return module
        if not isinstance(module, (str, os.PathLike)):
            raise ScorerConfigError(
                f"{who}: `module` must be an evaluate.EvaluationModule, a local module folder or "
                f"script path, or a hub id (got {type(module).__name__}: {_describe(module)})"
            )
        load_kwargs.setdefault("keep_in_memory", True)
        try:
            return evaluate.load(str(module), **load_kwargs)
        except Exception as exc:
            raise ScorerConfigError(
                f"{who}: could not load the evaluate module {str(module)!r}: {exc}"
            ) from exc

    def _check_compute_kwargs(self, who: str, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
        if kwargs is None:
            return {}
        if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            raise ScorerConfigError(
                f"{who}: compute_kwargs must be a dict with string keys (got {_describe(kwargs)})"
            )
        clash = sorted(set(kwargs) & set(_KNOWN_FEATURES))
        if clash:
            raise ScorerConfigError(
                f"{who}: compute_kwargs must not set {', '.join(clash)}; metricrm passes "
                "responses, references and sources itself"
            )
        return dict(kwargs)

    def _setup_inputs(self, who: str) -> None:
        """Decide from ``module.features`` how responses and references are handed over."""
        mod = self._module_label
        formats = _feature_formats(self.module)
        names = list(formats[0])  # evaluate takes input names from the first format
        unknown = [n for n in names if n not in _KNOWN_FEATURES]
        if "predictions" not in names or unknown:
            raise ScorerConfigError(
                f"{who}: evaluate module {mod} takes inputs {names}; metricrm can feed "
                f"`predictions` (responses), `references` and `sources` only"
            )
        usable = [f for f in formats if _is_string_value(f["predictions"])]
        if not usable:
            raise ScorerConfigError(
                f"{who}: evaluate module {mod} expects `predictions` of type "
                f"{formats[0]['predictions']}; metricrm passes text (Value('string'))"
            )
        self._ref_mode: str | None = None
        if "references" in names:
            kinds = [f["references"] for f in usable]
            if any(_is_string_sequence(k) for k in kinds):
                self._ref_mode = "multi"
            elif any(_is_string_value(k) for k in kinds):
                self._ref_mode = "single"
            else:
                raise ScorerConfigError(
                    f"{who}: evaluate module {mod} expects `references` of type {kinds[0]}; "
                    "metricrm passes text (one string or a list of strings per item)"
                )
        self._needs_sources = "sources" in names
        if self._needs_sources and not any(_is_string_value(f["sources"]) for f in usable):
            raise ScorerConfigError(
                f"{who}: evaluate module {mod} expects `sources` of type "
                f"{formats[0]['sources']}; metricrm passes text"
            )
        # Instance value: modules without a `references` input score responses alone.
        self.requires_references = self._ref_mode is not None

    @property
    def _module_label(self) -> str:
        return repr(getattr(self.module, "name", type(self.module).__name__))

    def settings(self) -> dict[str, Any]:
        kwargs = ",".join(f"{k}={v!r}" for k, v in sorted(self.compute_kwargs.items()))
        return {
            "module": getattr(self.module, "name", type(self.module).__name__),
            "module_hash": getattr(self.module, "_hash", None) or "none",
            "config": getattr(self.module, "config_name", None) or "none",
            "score_key": self.score_key or "auto",
            "per_item": self.per_item,
            "compute_kwargs": "{" + kwargs + "}",
            "higher_is_better": self.higher_is_better,
        }

    # -- scoring ------------------------------------------------------------------------------

    def _inputs(
        self, responses: list[str], references: list[list[str]] | None, sources: list[str] | None
    ) -> dict[str, list]:
        inputs: dict[str, list] = {"predictions": list(responses)}
        if self._ref_mode == "single":
            for i, refs in enumerate(references):
                if len(refs) != 1:
                    raise ScorerInputError(
                        f"{self.name}: item {i} has {len(refs)} references, but evaluate module "
                        f"{self._module_label} takes exactly one reference per prediction"
                    )
            inputs["references"] = [refs[0] for refs in references]
        elif self._ref_mode == "multi":
            inputs["references"] = [list(refs) for refs in references]
        if self._needs_sources:
            if sources is None:
                raise ScorerInputError(
                    f"{self.name}: evaluate module {self._module_label} needs `sources` "
                    "(one per response); got none"
                )
            inputs["sources"] = list(sources)
        return inputs

    def _compute(self, inputs: dict[str, list], where: str) -> Mapping[str, Any]:
        try:
            result = self.module.compute(**inputs, **self.compute_kwargs)
        except Exception as exc:
            raise ScorerOutputError(
                f"{self.name}: evaluate module {self._module_label} failed {where}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, Mapping):
            raise ScorerOutputError(
                f"{self.name}: evaluate module {self._module_label} returned "
                f"{_describe(result)} {where}; expected a dict of results (a module with "
                "process_id > 0 returns None)"
            )
        return result

    def _key(self, result: Mapping[str, Any]) -> str:
        keys = list(result)
        if self.score_key is not None:
            if self.score_key not in result:
                raise ScorerOutputError(
                    f"{self.name}: evaluate module {self._module_label} returned no "
                    f"{self.score_key!r}; its result keys are {keys}"
                )
            return self.score_key
        if len(keys) == 1:
            return keys[0]
        if getattr(self.module, "name", None) in result:
            return self.module.name
        raise ScorerConfigError(
            f"{self.name}: evaluate module {self._module_label} returned several values {keys}; "
            "pass score_key= to choose the one to use"
        )

    def _per_item_list(self, value: Any, key: str, n: int) -> list[float] | None:
        """The value as one float per item, or None if it is a single number."""
        try:
            ndim = np.ndim(value)
        except ValueError:  # ragged nested lists
            ndim = -1
        if ndim == 0:
            return None
        if ndim != 1 or len(value) != n:
            size = len(value) if hasattr(value, "__len__") else "?"
            raise ScorerOutputError(
                f"{self.name}: evaluate module {self._module_label} returned {key!r} with "
                f"{size} values (shape dims {ndim}) for {n} predictions; expected one number "
                "or a list with one number per prediction"
            )
        return [_as_float(self.name, v, f"for item {i} in {key!r}") for i, v in enumerate(value)]

    def _score_each(self, inputs: dict[str, list], n: int) -> list[float]:
        scores = []
        for i in range(n):
            one = {k: v[i : i + 1] for k, v in inputs.items()}
            result = self._compute(one, f"on item {i}")
            key = self._key(result)
            value = result[key]
            if np.ndim(value) == 1 and len(value) == 1:
                value = value[0]
            scores.append(_as_float(self.name, value, f"for item {i} in {key!r}"))
        return scores

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        n = len(responses)
        inputs = self._inputs(responses, references, sources)
        if self.per_item == "each":
            return ScoreOutput(self._score_each(inputs, n))
        result = self._compute(inputs, f"on all {n} items")
        key = self._key(result)
        scores = self._per_item_list(result[key], key, n)
        if scores is not None:
            return ScoreOutput(scores)
        if self.per_item == "output":
            raise ScorerOutputError(
                f"{self.name}: per_item='output' needs evaluate module {self._module_label} to "
                f"return a list with one value per prediction under {key!r}; it returned one "
                f"number ({_describe(result[key])}); use per_item='each' or 'auto'"
            )
        if n == 1:
            return ScoreOutput([_as_float(self.name, result[key], f"for item 0 in {key!r}")])
        return ScoreOutput(self._score_each(inputs, n))


# -- the other way: a metricrm scorer as an evaluate module -----------------------------------


def _resolve_scorer(scorer_or_name: Any, config: Mapping[str, Any], who: str) -> Any:
    from ..core.registry import get_scorer
    from ..core.types import Scorer

    if isinstance(scorer_or_name, str):
        return get_scorer(scorer_or_name, **config)
    if isinstance(scorer_or_name, Scorer):
        if config:
            raise ScorerConfigError(
                f"{who}: settings {sorted(config)} apply only to a scorer given by name; "
                f"got an already built scorer {scorer_or_name!r}"
            )
        return scorer_or_name
    raise ScorerConfigError(
        f"{who}: expected a scorer name or a Scorer instance "
        f"(got {type(scorer_or_name).__name__}: {_describe(scorer_or_name)})"
    )


def _scorer_features(scorer: Any) -> Any:
    from datasets import Features, Sequence, Value

    base = {"predictions": Value("string")}
    if getattr(scorer, "requires_prompts", False):
        base["prompts"] = Value("string")
    if not getattr(scorer, "requires_references", False):
        return Features(base)
    return [
        Features({**base, "references": Sequence(Value("string"))}),
        Features({**base, "references": Value("string")}),
    ]


def result_dict(result: Any) -> dict[str, Any]:
    """A ``ScoreResult`` as an evaluate result: mean, per-item list, corpus score if any."""
    out: dict[str, Any] = {
        result.name: float(result.scores.mean()),
        f"{result.name}_scores": result.scores.tolist(),
    }
    if result.corpus_score is not None:
        out[f"{result.name}_corpus_score"] = float(result.corpus_score)
    return out


@cache
def evaluation_module_class() -> type:
    """The ``evaluate.Metric`` subclass that computes a metricrm scorer (built on first use).

    ``cls(scorer, **evaluate_init_kwargs)`` takes a Scorer or a scorer name; subclasses may
    instead set the class attributes ``scorer_name`` and ``scorer_config`` (what
    ``write_evaluate_module`` does). The module is named after the scorer, and its
    ``config_name`` defaults to the scorer name so that two bridged scorers keep separate caches.
    """
    import inspect

    evaluate = require("evaluate", who="as_evaluate_module", extra="hf")
    init_args = {
        p.name
        for p in inspect.signature(evaluate.EvaluationModule.__init__).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
    }

    class ScorerModule(evaluate.Metric):
        """A metricrm scorer as an evaluate metric: returns mean, per-item scores, corpus score."""

        scorer_name: ClassVar[str | None] = None
        scorer_config: ClassVar[dict[str, Any]] = {}

        def __init__(self, scorer: Any = None, **kwargs: Any) -> None:
            who = type(self).__name__
            unknown = sorted(set(kwargs) - init_args)
            if unknown:
                raise ScorerConfigError(
                    f"{who}: unknown argument(s) {', '.join(unknown)}; evaluate module arguments "
                    f"are {', '.join(sorted(init_args))} (scorer settings are fixed when the "
                    "module is built)"
                )
            if scorer is None:
                if self.scorer_name is None:
                    raise ScorerConfigError(f"{who}: expected a scorer or a scorer name (got None)")
                scorer = self.scorer_name
                config = dict(self.scorer_config)
            else:
                config = {}
            self.scorer = _resolve_scorer(scorer, config, who)
            if kwargs.get("config_name") is None:
                kwargs["config_name"] = self.scorer.name
            super().__init__(**kwargs)
            self._module_info.module_name = self.scorer.name

        def _info(self):
            name = self.scorer.name
            text = getattr(self.scorer, "description", "") or (type(self.scorer).__doc__ or "")
            summary = text.strip().splitlines()[0] if text.strip() else ""
            return evaluate.MetricInfo(
                description=(
                    f"metricrm scorer {name}: {summary}\nsignature: {self.scorer.signature}"
                ),
                citation="",
                inputs_description=(
                    "predictions: list of str. references: one str or a list of str per "
                    "prediction (if the scorer needs them). prompts / sources: optional lists of "
                    f"str. Returns {name!r} (mean), {name + '_scores'!r} (per item) and "
                    f"{name + '_corpus_score'!r} for metrics with a corpus aggregate."
                ),
                features=_scorer_features(self.scorer),
            )

        def _compute(self, *, predictions, references=None, prompts=None, sources=None, **extra):
            if extra:
                raise ScorerConfigError(
                    f"{self.scorer.name}: unknown compute argument(s) {', '.join(sorted(extra))}; "
                    "accepted: predictions, references, prompts, sources"
                )
            result = self.scorer.score(
                predictions, references=references, prompts=prompts, sources=sources
            )
            return result_dict(result)

    return ScorerModule


def as_evaluate_module(scorer_or_name: Any, **config: Any) -> Any:
    """A metricrm scorer (instance, or registered name + settings) as an ``evaluate`` metric.

    ``compute(predictions=..., references=...)`` returns ``{name: mean, name_scores: [...]}``
    plus ``name_corpus_score`` where the scorer has a corpus aggregate. Evaluate's own module
    arguments (``keep_in_memory``, ``num_process``, ...) are taken by
    ``evaluation_module_class()(scorer, ...)``.
    """
    scorer = _resolve_scorer(scorer_or_name, config, "as_evaluate_module")
    return evaluation_module_class()(scorer)


def _is_literal(value: Any) -> bool:
    """Exact built-in literal types only, so ``repr`` writes back the same value."""
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(_is_literal(v) for v in value)
    if type(value) is dict:
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    return False


_SCRIPT = """\
# metricrm scorer {name!r} as a Hugging Face evaluate metric, written by metricrm {version}.
# Load it with evaluate.load("<this folder>"). Scorer signature when written:
# {signature}
import metricrm.adapters.hf_evaluate as metricrm_bridge


class MetricrmScorer(metricrm_bridge.evaluation_module_class()):
    scorer_name = {name!r}
    scorer_config = {config}
"""


def write_evaluate_module(
    name: str, folder: str | os.PathLike, *, overwrite: bool = False, **config: Any
) -> Path:
    """Write ``<folder>/<folder name>.py``, an evaluate module building scorer ``name``.

    ``evaluate.load(str(folder))`` then gives the metric ``as_evaluate_module(name, **config)``
    would. ``config`` must be plain Python literals (it is written into the script). Returns
    the script path; an existing different script is kept unless ``overwrite``.
    """
    who = "write_evaluate_module"
    folder = Path(folder)
    stem = folder.name
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stem):
        raise ScorerConfigError(
            f"{who}: the folder name becomes the module name and must be a Python identifier "
            f"(letters, digits, underscores); got {stem!r}"
        )
    scorer = _resolve_scorer(name, config, who)  # fails now on a bad name or setting
    config = dict(sorted(config.items()))
    bad = [k for k, v in config.items() if not _is_literal(v)]
    if bad:
        raise ScorerConfigError(
            f"{who}: settings must be plain Python literals (str, int, float, bool, None, and "
            f"lists/tuples/dicts of them) to be written into the module script; "
            f"got {', '.join(f'{k}={config[k]!r} ({type(config[k]).__name__})' for k in bad)}"
        )
    text = repr(config)
    script = _SCRIPT.format(
        name=name, version=version_label("metricrm"), signature=scorer.signature, config=text
    )
    path = folder / f"{stem}.py"
    if path.exists() and not overwrite and path.read_text(encoding="utf-8") != script:
        raise FileExistsError(
            f"{who}: {path} exists with different content; pass overwrite=True to replace it"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(script, encoding="utf-8")
    return path
