"""The composite reward: a weighted sum of normalised component scores, itself a Scorer.

Each component is a registered scorer (with its settings), a direction and a fitted normalizer.
The reward of an item is ``sum_k w_k * normalised_k`` with non-negative weights; the weights may
depend on a label given with the item (``by_label``: ArmoRM-style gating by a provided
category), and hard ``gates`` set the reward to a floor value when a component falls below a
threshold (a safety judge, say). Components are scored through the score cache, once per
distinct item, so fitting, re-weighting and evaluating never re-run a model.

>>> from metricrm.weighting import Component, Composite          # doctest: +SKIP
>>> c = Composite([Component.build("chrf", "chrf", normalizer={"kind": "zscore",
...     "mean": 50, "std": 10})], {"chrf": 1.0})                    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core.batching import score_with_cache
from ..core.cache import resolve_cache
from ..core.errors import DataFormatError, MetricRMError, ScorerConfigError, ScorerInputError
from ..core.optional import require
from ..core.registry import get_scorer
from ..core.results_io import atomic_write
from ..core.types import BaseScorer, ScoreOutput, ScoreResult
from ..core.validation import (
    check_choice,
    check_not_empty,
    check_references,
    check_responses,
    check_scores,
    check_texts,
)
from .normalizers import Normalizer, make_normalizer

NAME = "composite"
UNKNOWN_LABEL_POLICIES = ("default", "error")
GATE_ON = ("raw", "normalized")
_LABEL_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+"


def check_label(who: str, label: Any) -> str:
    """A component label: non-empty letters, digits, ``_``, ``-`` or ``+``."""
    if not isinstance(label, str) or not label or any(ch not in _LABEL_OK for ch in label):
        raise ScorerConfigError(
            f"{who}: a component label must be non-empty text of letters, digits, '_', '-' or "
            f"'+' (got {label!r})"
        )
    return label


@dataclass
class Component:
    """One component: a ``label``, its scorer, the direction and the (fitted) normalizer.

    ``spec`` = ``(registered name, settings)`` rebuilds the scorer when the composite is saved
    and loaded; :meth:`build` fills it in. ``higher_is_better`` is the scorer's unless given
    (a length *penalty* is ``length_chars`` with ``higher_is_better=False``).
    """

    label: str
    scorer: Any
    normalizer: Normalizer
    higher_is_better: bool
    spec: tuple[str, dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        who = f"{NAME}: component {self.label!r}"
        check_label(NAME, self.label)
        if not hasattr(self.scorer, "score") or not hasattr(self.scorer, "signature"):
            raise ScorerConfigError(f"{who}: expected a Scorer (got {type(self.scorer).__name__})")
        self.normalizer = make_normalizer(self.normalizer, who=who)
        if self.normalizer.higher_is_better is None:
            self.normalizer.higher_is_better = bool(self.higher_is_better)
        elif self.normalizer.higher_is_better != bool(self.higher_is_better):
            raise ScorerConfigError(
                f"{who}: the normalizer was fitted with higher_is_better="
                f"{self.normalizer.higher_is_better}, the component says {self.higher_is_better}"
            )

    @classmethod
    def build(
        cls,
        label: str,
        scorer: str | Any,
        *,
        settings: Mapping[str, Any] | None = None,
        normalizer: str | Mapping[str, Any] | Normalizer = "zscore",
        higher_is_better: bool | None = None,
    ) -> Component:
        """A component from a registered scorer name and settings (or a Scorer instance, which
        can then not be saved to a file unless it came from ``get_scorer``)."""
        who = f"{NAME}: component {label!r}"
        if isinstance(scorer, str):
            try:
                built = get_scorer(scorer, **dict(settings or {}))
            except MetricRMError as exc:  # unknown name or setting: say which component
                raise named_error(exc, who) from exc
            spec = (scorer, dict(settings or {}))
        else:
            if settings:
                raise ScorerConfigError(f"{who}: settings apply to a scorer given by name")
            built, spec = scorer, None
        direction = built.higher_is_better if higher_is_better is None else higher_is_better
        if not isinstance(direction, (bool, np.bool_)):
            raise ScorerConfigError(
                f"{who}: higher_is_better must be True, False or None (got {direction!r})"
            )
        return cls(label, built, make_normalizer(normalizer, who=who), bool(direction), spec)

    @property
    def is_fitted(self) -> bool:
        return self.normalizer.is_fitted


def named_error(exc: Exception, who: str) -> Exception:
    """The same kind of error with ``who`` in front of its message."""
    try:
        return type(exc)(f"{who}: {exc}")
    except TypeError:  # an error class with other constructor arguments
        return ScorerConfigError(f"{who}: {exc}")


@dataclass(frozen=True)
class Gate:
    """The reward is ``floor`` for an item whose ``component`` value (``on`` "raw" or
    "normalized") is below ``below``."""

    component: str
    below: float
    floor: float
    on: str = "raw"

    def check(self, who: str, labels: Sequence[str]) -> Gate:
        if self.component not in labels:
            raise ScorerConfigError(
                f"{who}: gate on component {self.component!r}, which is not a component "
                f"(components: {', '.join(labels)})"
            )
        for name in ("below", "floor"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ScorerConfigError(
                    f"{who}: gate on {self.component!r}: `{name}` must be a finite number "
                    f"(got {v!r})"
                )
        check_choice(f"{who}: gate on {self.component!r}", "on", self.on, GATE_ON)
        return Gate(self.component, float(self.below), float(self.floor), self.on)


def check_weights(who: str, weights: Any, labels: Sequence[str]) -> dict[str, float]:
    """One finite, non-negative weight per component (at least one positive); an error names
    the component with a missing, unknown, negative or NaN weight."""
    if not isinstance(weights, Mapping):
        raise ScorerConfigError(
            f"{who}: expected weights as a mapping of component label to number "
            f"(got {type(weights).__name__})"
        )
    unknown = [k for k in weights if k not in labels]
    if unknown:
        raise ScorerConfigError(
            f"{who}: weight for {unknown[0]!r}, which is not a component "
            f"(components: {', '.join(labels)})"
        )
    out: dict[str, float] = {}
    for label in labels:
        if label not in weights:
            raise ScorerConfigError(
                f"{who}: component {label!r} has no weight; give every component one "
                "(0 keeps a component for gates or details only)"
            )
        w = weights[label]
        ok = isinstance(w, (int, float, np.integer, np.floating)) and not isinstance(w, bool)
        if not ok or not math.isfinite(w) or w < 0:
            raise ScorerConfigError(
                f"{who}: component {label!r} has weight {w!r}; expected a finite number >= 0 "
                "(to reward less of something, give the component higher_is_better=False)"
            )
        out[label] = float(w)
    if not any(out.values()):
        raise ScorerConfigError(f"{who}: every weight is 0; expected at least one positive weight")
    return out


@dataclass
class _Inputs:
    responses: list
    references: list | None
    prompts: list | None
    sources: list | None


class Composite(BaseScorer):
    """A weighted sum of normalised component scores (see the module docstring).

    ``weights``: component label -> weight >= 0. ``by_label``: label value -> weights, used for
    items whose ``labels=`` entry is that value; other items use ``weights`` unless
    ``unknown_label="error"``. ``gates``: :class:`Gate` entries (or mappings with keys
    component, below, floor, on). ``cache``: where components' scores are kept (a
    ``ScoreCache``, a folder, None for the default folder, False for none); it cannot change
    a score. ``info``: free-form provenance saved with the composite (not in the signature).
    """

    name = NAME
    higher_is_better: ClassVar[bool] = True
    score_neutral = frozenset({"cache"})
    keep_prompt_messages = True

    def __init__(
        self,
        components: Sequence[Component],
        weights: Mapping[str, float],
        *,
        by_label: Mapping[str, Mapping[str, float]] | None = None,
        unknown_label: str = "default",
        gates: Sequence[Gate | Mapping[str, Any]] = (),
        cache: Any = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        components = list(components)
        if not components or not all(isinstance(c, Component) for c in components):
            raise ScorerConfigError(
                f"{NAME}: expected a non-empty list of Component (got {components!r:.80})"
            )
        labels = [c.label for c in components]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ScorerConfigError(f"{NAME}: component label(s) {dupes} used more than once")
        self.components = components
        self.labels = tuple(labels)
        self.weights = check_weights(NAME, weights, labels)
        self.by_label = {
            str(k): check_weights(f"{NAME}: weights for label {k!r}", v, labels)
            for k, v in (by_label or {}).items()
        }
        self.unknown_label = check_choice(
            NAME, "unknown_label", unknown_label, UNKNOWN_LABEL_POLICIES
        )
        self.gates = tuple(
            (g if isinstance(g, Gate) else _gate_from(g)).check(NAME, labels) for g in gates
        )
        for c in components:
            c.normalizer.check_fitted(f"{NAME}: component {c.label!r}")
        self._cache_setting = cache
        self._cache: Any = None
        self.info = dict(info or {})
        self.requires_references = any(
            getattr(c.scorer, "requires_references", False) for c in components
        )
        self.requires_prompts = any(
            getattr(c.scorer, "requires_prompts", False) for c in components
        )
        self.requires_model = any(getattr(c.scorer, "requires_model", False) for c in components)
        self.uses_inputs = frozenset().union(
            *(
                getattr(c.scorer, "uses_inputs", {"references", "prompts", "sources"})
                for c in components
            )
        )
        self.accepts_empty_responses = all(
            getattr(c.scorer, "accepts_empty_responses", False) for c in components
        )

    # -- identity -------------------------------------------------------------------------------

    @property
    def cache(self) -> Any:
        if self._cache is None and self._cache_setting is not False:
            self._cache = resolve_cache(self._cache_setting, NAME)
        return self._cache

    def normalizer_digest(self) -> str:
        """SHA-256 (12 hex characters) of every component's label and normalizer state."""
        states = {c.label: c.normalizer.state() for c in self.components}
        text = json.dumps(states, sort_keys=True, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"component.{c.label}": f"[{c.scorer.signature}]" for c in self.components
        }
        out["weights"] = _weights_text(self.weights)
        if self.by_label:
            out["by_label"] = ";".join(
                f"{k}={{{_weights_text(v)}}}" for k, v in sorted(self.by_label.items())
            )
            out["unknown_label"] = self.unknown_label
        if self.gates:
            out["gates"] = ";".join(
                f"{g.component}.{g.on}<{g.below!r}->{g.floor!r}" for g in self.gates
            )
        out["normalizers"] = self.normalizer_digest()
        return out

    # -- scoring --------------------------------------------------------------------------------

    def score(
        self,
        responses: Sequence[Any],
        *,
        references: Sequence[Any] | None = None,
        prompts: Sequence[Any] | None = None,
        sources: Sequence[str] | None = None,
        labels: Sequence[Any] | None = None,
    ) -> ScoreResult:
        """Score every component (through the cache), normalise, weigh, gate.

        Inputs are checked here and handed to the components as given (chat messages stay
        messages), so the cache entries are those of scoring each component alone. ``labels``
        (one per response) choose the ``by_label`` weights.
        """
        n = len(
            check_responses(self.name, responses, allow_empty_text=self.accepts_empty_responses)
        )
        check_not_empty(self.name, n)
        if references is not None:
            check_references(self.name, references, n)
        if prompts is not None:
            check_texts(self.name, "prompts", prompts, n, flatten=False)
        if sources is not None:
            check_texts(self.name, "sources", sources, n)
        inputs = _Inputs(list(responses), _listed(references), _listed(prompts), _listed(sources))
        return self._result(self._run(inputs, labels, n))

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        return self._run(_Inputs(responses, references, prompts, sources), None, len(responses))

    def _result(self, out: ScoreOutput) -> ScoreResult:
        scores = check_scores(self.name, out.scores, len(out.scores))
        return ScoreResult(
            name=self.name,
            scores=scores,
            higher_is_better=True,
            signature=self.signature,
            details={k: np.asarray(v) for k, v in out.details.items()},
        )

    def component_scores(self, inputs: _Inputs) -> dict[str, np.ndarray]:
        """Raw scores of every component, through the cache."""
        raw: dict[str, np.ndarray] = {}
        for c in self.components:
            who = f"{self.name}: component {c.label!r} ({getattr(c.scorer, 'name', '?')})"
            if getattr(c.scorer, "requires_references", False) and inputs.references is None:
                raise ScorerInputError(
                    f"{who} needs references (one or more per response); got none"
                )
            if getattr(c.scorer, "requires_prompts", False) and inputs.prompts is None:
                raise ScorerInputError(f"{who} needs prompts (one per response); got none")
            kwargs = dict(
                references=inputs.references, prompts=inputs.prompts, sources=inputs.sources
            )
            cache = self.cache
            if cache is None:  # one call, as the component alone; callers chunk the composite
                result = c.scorer.score(inputs.responses, **kwargs)
            else:
                result = score_with_cache(
                    c.scorer, inputs.responses, cache=cache, progress=False, **kwargs
                )
            raw[c.label] = result.scores
        return raw

    def _run(self, inputs: _Inputs, labels: Any, n: int) -> ScoreOutput:
        raw = self.component_scores(inputs)
        return self.combine(raw, labels=labels)

    def combine(
        self, raw: Mapping[str, Any], *, labels: Sequence[Any] | None = None
    ) -> ScoreOutput:
        """The composite from raw component scores already computed (``label -> scores``): no
        scorer runs. Returns the rewards and the details (each component's raw and normalised
        score, whether a gate fired, which weights were used)."""
        n = _check_raw(self.name, raw, self.labels)
        norm = {
            c.label: c.normalizer.transform(raw[c.label], who=f"{self.name}: component {c.label!r}")
            for c in self.components
        }
        keys = self._weight_keys(labels, n)
        table = {"": self.weights, **self.by_label}
        reward = np.zeros(n)
        for key in sorted(set(keys)):
            rows = keys == key
            weights = table[key]
            reward[rows] = sum(weights[lab] * norm[lab][rows] for lab in self.labels)
        gated = np.zeros(n, dtype=bool)
        for g in self.gates:
            value = raw[g.component] if g.on == "raw" else norm[g.component]
            fire = np.asarray(value, dtype=np.float64) < g.below
            reward = np.where(fire & gated, np.minimum(reward, g.floor), reward)
            reward = np.where(fire & ~gated, g.floor, reward)
            gated |= fire
        details: dict[str, Any] = {}
        for lab in self.labels:
            details[f"{lab}.raw"] = np.asarray(raw[lab], dtype=np.float64)
            details[f"{lab}.norm"] = norm[lab]
        if self.gates:
            details["gated"] = gated
        if self.by_label:
            details["weights"] = np.array([k or "default" for k in keys], dtype=object)
        return ScoreOutput(reward, details)

    def _weight_keys(self, labels: Sequence[Any] | None, n: int) -> np.ndarray:
        if labels is None:
            if self.by_label and self.unknown_label == "error":
                raise ScorerInputError(
                    f"{self.name}: its weights depend on the item's label "
                    f"({', '.join(sorted(self.by_label))}) and unknown_label='error'; pass "
                    "labels= (one per response)"
                )
            return np.full(n, "", dtype=object)
        if isinstance(labels, (str, bytes)) or len(labels) != n:
            got = "a string" if isinstance(labels, (str, bytes)) else f"{len(labels)} labels"
            raise ScorerInputError(
                f"{self.name}: expected `labels` to have one entry per response "
                f"(got {n} responses, {got})"
            )
        keys = np.empty(n, dtype=object)
        for i, value in enumerate(labels):
            key = None if value is None else str(value)
            if key in self.by_label:
                keys[i] = key
            elif self.unknown_label == "default":
                keys[i] = ""
            else:
                raise ScorerInputError(
                    f"{self.name}: item {i} has label {value!r}, which has no weights "
                    f"(labels with weights: {', '.join(sorted(self.by_label))}) and "
                    "unknown_label='error'"
                )
        return keys

    # -- files ----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the composite as YAML (``.yaml``/``.yml``) or JSON (``.json``); see
        :mod:`metricrm.weighting.files`."""
        return write_composite(self, path)

    def with_weights(
        self,
        weights: Mapping[str, float],
        *,
        by_label: Mapping[str, Mapping[str, float]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> Composite:
        """The same components and normalizers with other weights (gates and cache kept)."""
        return Composite(
            self.components,
            weights,
            by_label=by_label,
            unknown_label=self.unknown_label,
            gates=self.gates,
            cache=self._cache_setting if self._cache is None else self._cache,
            info=self.info if info is None else info,
        )


def _weights_text(weights: Mapping[str, float]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in weights.items())


def _listed(values: Any) -> list | None:
    return None if values is None else list(values)


def _gate_from(spec: Any) -> Gate:
    if not isinstance(spec, Mapping):
        raise ScorerConfigError(
            f"{NAME}: a gate must be a Gate or a mapping with keys component, below, floor, on "
            f"(got {spec!r})"
        )
    unknown = sorted(set(spec) - {"component", "below", "floor", "on"})
    missing = [k for k in ("component", "below", "floor") if k not in spec]
    if unknown or missing:
        raise ScorerConfigError(
            f"{NAME}: gate {dict(spec)!r}: "
            + (f"unknown key(s) {unknown}; " if unknown else "")
            + (f"missing key(s) {missing}; " if missing else "")
            + "expected keys component, below, floor and optionally on"
        )
    return Gate(spec["component"], spec["below"], spec["floor"], spec.get("on", "raw"))


def _check_raw(who: str, raw: Mapping[str, Any], labels: Sequence[str]) -> int:
    """Every component present, each a 1-D array of finite numbers, all of one length."""
    if not isinstance(raw, Mapping):
        raise ScorerInputError(
            f"{who}: expected raw scores as a mapping of component label to scores "
            f"(got {type(raw).__name__})"
        )
    missing = [lab for lab in labels if lab not in raw]
    if missing:
        raise ScorerInputError(
            f"{who}: no scores for component {missing[0]!r}"
            + (f" (nor {missing[1:]})" if len(missing) > 1 else "")
            + f"; expected scores for every component: {', '.join(labels)}"
        )
    lengths = {lab: np.shape(raw[lab]) for lab in labels}
    first = labels[0]
    for lab in labels:
        if len(lengths[lab]) != 1:
            raise ScorerInputError(
                f"{who}: scores of component {lab!r} must be one number per item "
                f"(got shape {lengths[lab]})"
            )
        if lengths[lab] != lengths[first]:
            raise ScorerInputError(
                f"{who}: components have different lengths: {first!r} has "
                f"{lengths[first][0]} scores, {lab!r} has {lengths[lab][0]}; expected one score "
                "per item for every component"
            )
    n = lengths[first][0]
    if n == 0:
        raise ScorerInputError(f"{who}: expected at least one item (got none)")
    return n


# -------------------------------------------------------------------------------- writing

FORMAT = "metricrm.composite/1"


def _is_literal(value: Any) -> bool:
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(_is_literal(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_literal(v) for k, v in value.items())
    return False


def composite_to_dict(composite: Composite) -> dict[str, Any]:
    """The file content of ``composite`` (every component must have been built by name)."""
    components: dict[str, Any] = {}
    for c in composite.components:
        where = f"{NAME}: component {c.label!r}"
        if c.spec is None:
            raise MetricRMError(
                f"{where}: cannot be saved: its scorer was given as an instance; build it by "
                "name (Component.build(label, 'scorer_name', settings=...)) to save it"
            )
        name, settings = c.spec
        bad = [k for k, v in settings.items() if not _is_literal(v)]
        if bad:
            raise MetricRMError(
                f"{where}: setting(s) {', '.join(bad)} are not plain values (text, numbers, "
                "lists, mappings) and cannot be written to a file"
            )
        entry: dict[str, Any] = {"scorer": name}
        if settings:
            entry["settings"] = dict(settings)
        entry["higher_is_better"] = c.higher_is_better
        entry["normalizer"] = c.normalizer.state()
        components[c.label] = entry
    out: dict[str, Any] = {
        "format": FORMAT,
        "components": components,
        "weights": dict(composite.weights),
    }
    if composite.by_label:
        out["by_label"] = {k: dict(v) for k, v in composite.by_label.items()}
        out["unknown_label"] = composite.unknown_label
    if composite.gates:
        out["gates"] = [
            {"component": g.component, "below": g.below, "floor": g.floor, "on": g.on}
            for g in composite.gates
        ]
    if composite.info:
        out["info"] = json.loads(json.dumps(composite.info, default=str))
    return out


def write_composite(composite: Composite, path: str | os.PathLike) -> Path:
    """Write ``composite`` to ``path`` (YAML or JSON by suffix), atomically; return the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise DataFormatError(
            f"{path}: a composite file is YAML or JSON; expected the suffix .yaml, .yml or "
            f".json (got {suffix or '(none)'!r})"
        )
    data = composite_to_dict(composite)
    if suffix == ".json":
        text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    else:
        yaml = require("yaml", who=f"writing the composite file {path}", extra="io")
        text = yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
        )

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    atomic_write(path, write)
    return path
