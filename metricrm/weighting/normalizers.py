"""Normalizers: fitted once on calibration scores, then frozen.

A normalizer maps one component's raw scores to a common scale, oriented so that higher is
better (a lower-is-better component is negated first, from ``higher_is_better`` given at fit
time). Its parameters are fitted explicitly (:meth:`Normalizer.fit`) and saved with the composite
(:meth:`Normalizer.state`), so one item's value never depends on the other items of its batch.

- ``zscore``: ``(x - mean) / std`` (population std of the calibration scores).
- ``robust``: ``(x - median) / IQR`` (interquartile range, linear interpolation).
- ``minmax``: ``(x - min) / (max - min)``; unseen scores may fall outside [0, 1].
- ``rank``: the empirical CDF of the calibration scores, mid-rank (a tie counts half): the
  fraction of calibration scores below x. Above ``max_points`` scores, evenly spaced quantiles
  stand in for them (the CDF is then exact to within 1 / max_points).
- ``bt``: Bradley-Terry calibration on preference pairs: P(a preferred to b) =
  sigmoid(scale * (x_a - x_b)) fitted by maximum likelihood (scipy.optimize); a score maps to
  sigmoid(scale * (x - median)), the probability that humans prefer it to a response with the
  calibration median. :meth:`BradleyTerryNormalizer.reliability` is its reliability table.
- ``identity``: the oriented score as is (nothing to fit), for scores already on a known scale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..core.errors import NotFittedError, ScorerConfigError, ScorerInputError
from ..core.validation import check_choice, check_flag, check_integer, check_number

KINDS = ("zscore", "robust", "minmax", "rank", "bt", "identity")


def _float_array(who: str, what: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite numbers, naming the first bad entry."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ScorerInputError(f"{who}: expected {what} to be numbers ({exc})") from exc
    if arr.ndim != 1:
        raise ScorerInputError(f"{who}: expected {what} as a 1-D array (got shape {arr.shape})")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ScorerInputError(
            f"{who}: expected finite {what}; item {int(bad[0])} is {arr[bad[0]]}"
            + (f" ({bad.size} non-finite in all)" if bad.size > 1 else "")
        )
    return arr


class Normalizer:
    """Base class: ``fit`` on calibration scores, then ``transform`` any scores.

    Subclasses set ``kind`` and ``params`` (the names of their fitted parameters) and implement
    ``_fit`` (oriented scores -> parameters) and ``_transform`` (oriented scores -> values).
    """

    kind: ClassVar[str] = "base"
    params: ClassVar[tuple[str, ...]] = ()
    #: settings that shape the fit (saved with the state, not fitted)
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, higher_is_better: bool | None = None, **values: Any) -> None:
        who = f"{self.kind} normalizer"
        self.higher_is_better = (
            None
            if higher_is_better is None
            else check_flag(who, "higher_is_better", higher_is_better)
        )
        unknown = sorted(set(values) - set(self.params) - set(self.options))
        if unknown:
            raise ScorerConfigError(
                f"{who}: unknown parameter(s) {', '.join(unknown)}; valid: "
                f"{', '.join(self.params + self.options + ('higher_is_better',))}"
            )
        self._set_options(who, {k: v for k, v in values.items() if k in self.options})
        given = {k: v for k, v in values.items() if k in self.params}
        self.fitted_params: dict[str, Any] | None = None
        if given:
            missing = [p for p in self.params if p not in given]
            if missing:
                raise ScorerConfigError(
                    f"{who}: parameters {', '.join(missing)} are missing; give all of "
                    f"{', '.join(self.params)} (a fitted state) or none (then fit it on "
                    "calibration data)"
                )
            self.fitted_params = self._check_params(who, given)

    # -- subclass hooks -------------------------------------------------------------------------

    def _set_options(self, who: str, options: Mapping[str, Any]) -> None:
        return None

    def _check_params(self, who: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: check_number(who, k, params[k]) for k in self.params}

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _transform(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- public ---------------------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        return self.fitted_params is not None and self.higher_is_better is not None

    def fit(
        self,
        scores: Any,
        *,
        higher_is_better: bool = True,
        pairs: tuple[Any, Any] | None = None,
        ties: Any = None,
        who: str | None = None,
    ) -> Normalizer:
        """Fit on the calibration ``scores`` (raw; negated first when lower is better).

        ``pairs`` = ``(preferred, other)``: raw scores of the two responses of each preference
        pair, the one humans preferred first; ``ties`` marks pairs humans judged equal. Only the
        ``bt`` normalizer uses them. ``who`` names the component in errors. Returns ``self``.
        """
        who = who or f"{self.kind} normalizer"
        self.higher_is_better = check_flag(who, "higher_is_better", higher_is_better)
        x = self.orient(_float_array(who, "calibration scores", scores))
        if x.size < 2:
            raise ScorerInputError(
                f"{who}: expected at least 2 calibration scores to fit the {self.kind} "
                f"normalizer (got {x.size})"
            )
        self.fitted_params = self._fit(who, x, (pairs, ties))
        return self

    def orient(self, scores: np.ndarray) -> np.ndarray:
        return scores if self.higher_is_better in (True, None) else -scores

    def transform(self, scores: Any, *, who: str | None = None) -> np.ndarray:
        """Normalised scores (higher is better) with the frozen parameters."""
        who = who or f"{self.kind} normalizer"
        self.check_fitted(who)
        return self._transform(self.orient(_float_array(who, "scores", scores)))

    def check_fitted(self, who: str) -> None:
        if not self.is_fitted:
            detail = (
                "its direction (higher_is_better) is not set"
                if self.fitted_params is not None
                else f"its parameters ({', '.join(self.params)}) are not set"
            )
            raise NotFittedError(
                f"{who}: the {self.kind} normalizer was never fitted ({detail}); fit it on "
                "calibration scores (fit_composite, or Normalizer.fit) or write its fitted "
                "parameters into the composite file"
            )

    def state(self) -> dict[str, Any]:
        """Kind, direction, options and fitted parameters as plain JSON-able values."""
        out: dict[str, Any] = {"kind": self.kind, "higher_is_better": self.higher_is_better}
        out.update(self._options_state())
        if self.fitted_params is not None:
            out.update(_plain(self.fitted_params))
        return out

    def _options_state(self) -> dict[str, Any]:
        return {}

    def digest(self) -> str:
        """SHA-256 (12 hex characters) of :meth:`state`."""
        text = json.dumps(self.state(), sort_keys=True, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def unfitted_copy(self) -> Normalizer:
        """A fresh normalizer of the same kind and options, to fit on other data."""
        return type(self)(**self._options_state())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.state()})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.state() == self.state()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


class ZScoreNormalizer(Normalizer):
    """``(x - mean) / std``, population std (ddof 0) of the calibration scores."""

    kind = "zscore"
    params = ("mean", "std")

    def _check_params(self, who: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "mean": check_number(who, "mean", params["mean"]),
            "std": check_number(who, "std", params["std"], above=0),
        }

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        std = float(x.std())
        _check_spread(who, self.kind, "standard deviation", std, x)
        return {"mean": float(x.mean()), "std": std}

    def _transform(self, x: np.ndarray) -> np.ndarray:
        p = self.fitted_params
        return (x - p["mean"]) / p["std"]


class RobustNormalizer(Normalizer):
    """``(x - median) / IQR`` (quartiles by linear interpolation, numpy's default)."""

    kind = "robust"
    params = ("median", "iqr")

    def _check_params(self, who: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "median": check_number(who, "median", params["median"]),
            "iqr": check_number(who, "iqr", params["iqr"], above=0),
        }

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        q25, median, q75 = np.percentile(x, [25, 50, 75])
        _check_spread(who, self.kind, "interquartile range", float(q75 - q25), x)
        return {"median": float(median), "iqr": float(q75 - q25)}

    def _transform(self, x: np.ndarray) -> np.ndarray:
        p = self.fitted_params
        return (x - p["median"]) / p["iqr"]


class MinMaxNormalizer(Normalizer):
    """``(x - min) / (max - min)`` of the calibration scores."""

    kind = "minmax"
    params = ("min", "max")

    def _check_params(self, who: str, params: Mapping[str, Any]) -> dict[str, Any]:
        low = check_number(who, "min", params["min"])
        return {"min": low, "max": check_number(who, "max", params["max"], above=low)}

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        _check_spread(who, self.kind, "range", float(x.max() - x.min()), x)
        return {"min": float(x.min()), "max": float(x.max())}

    def _transform(self, x: np.ndarray) -> np.ndarray:
        p = self.fitted_params
        return (x - p["min"]) / (p["max"] - p["min"])


class RankNormalizer(Normalizer):
    """Mid-rank empirical CDF of the calibration scores (see the module docstring)."""

    kind = "rank"
    params = ("points",)
    options = ("max_points",)

    def _set_options(self, who: str, options: Mapping[str, Any]) -> None:
        self.max_points = check_integer(
            who, "max_points", options.get("max_points", 1001), minimum=2
        )

    def _options_state(self) -> dict[str, Any]:
        return {"max_points": self.max_points}

    def _check_params(self, who: str, params: Mapping[str, Any]) -> dict[str, Any]:
        points = _float_array(who, "`points`", params["points"])
        if points.size < 2 or np.any(np.diff(points) < 0):
            raise ScorerConfigError(
                f"{who}: `points` must be at least 2 calibration scores in ascending order "
                f"(got {points.size} values{'' if points.size < 2 else ', not sorted'})"
            )
        return {"points": points}

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        points = np.sort(x)
        if points.size > self.max_points:
            points = np.quantile(points, np.linspace(0.0, 1.0, self.max_points))
        return {"points": points}

    def _transform(self, x: np.ndarray) -> np.ndarray:
        pts = self.fitted_params["points"]
        below = np.searchsorted(pts, x, side="left")
        not_above = np.searchsorted(pts, x, side="right")
        return (below + not_above) / (2.0 * pts.size)


class IdentityNormalizer(Normalizer):
    """The oriented score unchanged; nothing to fit beyond the direction."""

    kind = "identity"

    def __init__(self, *, higher_is_better: bool | None = None, **values: Any) -> None:
        super().__init__(higher_is_better=higher_is_better, **values)
        self.fitted_params = {}

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        return {}

    def _transform(self, x: np.ndarray) -> np.ndarray:
        return x.copy()


def _check_spread(who: str, kind: str, what: str, spread: float, x: np.ndarray) -> None:
    if not spread > 0:
        raise ScorerInputError(
            f"{who}: cannot fit the {kind} normalizer: the {what} of the {x.size} calibration "
            f"scores is 0 (every score is {x[0]:g} or they barely vary); choose another "
            "normalizer (rank, identity) or more varied calibration data"
        )


# ------------------------------------------------------------------------------ Bradley-Terry


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def fit_bt_scale(diffs: np.ndarray, targets: np.ndarray, *, l2: float = 1e-6) -> float:
    """Maximum-likelihood ``scale`` of P(first preferred) = sigmoid(scale * diff), where
    ``targets`` are 1 (first preferred), 0 (second) or 0.5 (tie); a tiny L2 penalty keeps the
    scale finite when the pairs are separable. Solved with scipy.optimize (L-BFGS-B)."""
    from scipy.optimize import minimize
    from scipy.special import log_expit

    spread = float(np.std(diffs)) or 1.0
    d = diffs / spread  # well conditioned; the scale is mapped back below

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = w[0] * d
        value = (
            -(targets * log_expit(z) + (1 - targets) * log_expit(-z)).sum() + 0.5 * l2 * w[0] ** 2
        )
        grad = -((targets - _sigmoid(z)) * d).sum() + l2 * w[0]
        return float(value), np.array([grad])

    result = minimize(loss, np.zeros(1), jac=True, method="L-BFGS-B")
    return float(result.x[0]) / spread


class BradleyTerryNormalizer(Normalizer):
    """Bradley-Terry calibration: a score becomes the probability that humans prefer a response
    with it to one with the calibration median (see the module docstring)."""

    kind = "bt"
    params = ("scale", "center")
    options = ("ties", "n_bins")

    def _set_options(self, who: str, options: Mapping[str, Any]) -> None:
        self.ties = check_choice(who, "ties", options.get("ties", "half"), ("half", "exclude"))
        self.n_bins = check_integer(who, "n_bins", options.get("n_bins", 5), minimum=1)
        self.table: list[dict[str, float]] = []

    def _options_state(self) -> dict[str, Any]:
        return {"ties": self.ties, "n_bins": self.n_bins}

    def state(self) -> dict[str, Any]:
        out = super().state()
        if self.table:
            out["reliability"] = _plain(self.table)
        return out

    def __init__(self, *, higher_is_better: bool | None = None, **values: Any) -> None:
        table = values.pop("reliability", None)
        super().__init__(higher_is_better=higher_is_better, **values)
        if table is not None:
            self.table = [dict(row) for row in table]

    def _fit(self, who: str, x: np.ndarray, pairs: Any) -> dict[str, Any]:
        (given, ties) = pairs
        if given is None:
            raise ScorerInputError(
                f"{who}: the bt normalizer is fitted on preference pairs; pass "
                "pairs=(preferred scores, other scores) (pointwise data: pairs of items of one "
                "group with different human scores)"
            )
        better = self.orient(_float_array(who, "preferred scores", given[0]))
        worse = self.orient(_float_array(who, "other scores", given[1]))
        if better.size != worse.size or better.size == 0:
            raise ScorerInputError(
                f"{who}: expected as many preferred as other scores, at least one pair "
                f"(got {better.size} and {worse.size})"
            )
        tie = np.zeros(better.size, dtype=bool) if ties is None else np.asarray(ties, dtype=bool)
        if tie.shape != better.shape:
            raise ScorerInputError(
                f"{who}: expected one tie flag per pair (got {tie.size} for {better.size} pairs)"
            )
        keep = ~tie if self.ties == "exclude" else np.ones_like(tie)
        diffs, targets = (better - worse)[keep], np.where(tie, 0.5, 1.0)[keep]
        if diffs.size == 0 or not np.any(diffs != 0):
            raise ScorerInputError(
                f"{who}: cannot fit the bt normalizer: every pair's two scores are equal "
                f"({diffs.size} pairs used)"
            )
        # Both orientations of every pair: the model has no "first position" effect.
        scale = fit_bt_scale(
            np.concatenate([diffs, -diffs]), np.concatenate([targets, 1 - targets])
        )
        self.table = reliability_table(scale * diffs, targets, n_bins=self.n_bins)
        return {"scale": scale, "center": float(np.median(x))}

    def _transform(self, x: np.ndarray) -> np.ndarray:
        p = self.fitted_params
        return _sigmoid(p["scale"] * (x - p["center"]))

    def reliability(self):
        """The reliability table as a DataFrame (see :func:`reliability_table`)."""
        import pandas as pd

        return pd.DataFrame(self.table, columns=list(RELIABILITY_COLUMNS))


RELIABILITY_COLUMNS = ("low", "high", "n", "predicted", "observed")


def reliability_table(logits: Any, targets: Any, *, n_bins: int = 5) -> list[dict[str, float]]:
    """Calibration of pairwise predictions, one row per bin of predicted confidence.

    ``logits`` = scale * (score of the preferred - score of the other), ``targets`` 1 or 0.5
    (tie). Each pair is read from the side the model favours: its confidence
    sigmoid(|logit|) lies in [0.5, 1] and falls in one of ``n_bins`` equal-width bins; a row
    holds the bin's edges, its number of pairs, the mean confidence and the observed share of
    pairs in which humans preferred the favoured response (a tie, or a logit of 0, counts half).
    Empty bins are left out.
    """
    z = np.asarray(logits, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    confidence = _sigmoid(np.abs(z))
    right = np.where(z > 0, t, np.where(z < 0, 1 - t, 0.5))
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "n": int(inside.sum()),
                    "predicted": float(confidence[inside].mean()),
                    "observed": float(right[inside].mean()),
                }
            )
    return rows


# -------------------------------------------------------------------------------- factory

_CLASSES: dict[str, type[Normalizer]] = {
    cls.kind: cls
    for cls in (
        ZScoreNormalizer,
        RobustNormalizer,
        MinMaxNormalizer,
        RankNormalizer,
        BradleyTerryNormalizer,
        IdentityNormalizer,
    )
}


def make_normalizer(spec: str | Mapping[str, Any] | Normalizer, *, who: str = "normalizer"):
    """A normalizer from a kind (``"zscore"``), a state mapping (``{"kind": "zscore", "mean": 0,
    "std": 1, ...}``, fitted when its parameters are there) or a Normalizer (returned as is)."""
    if isinstance(spec, Normalizer):
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise ScorerConfigError(
            f"{who}: expected a normalizer kind ({', '.join(KINDS)}) or a mapping with `kind` "
            f"(got {spec!r})"
        )
    kind = check_choice(who, "kind", spec["kind"], KINDS)
    values = {k: v for k, v in spec.items() if k != "kind"}
    try:
        return _CLASSES[kind](**values)
    except ScorerConfigError as exc:
        raise ScorerConfigError(f"{who}: {exc}") from exc


def normalizer_kinds() -> Sequence[str]:
    return KINDS
