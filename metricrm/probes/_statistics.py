"""Sum statistics shared by the probe and best-of-n summaries (evaluated by
:func:`metricrm.meta.bootstrap` on per-item feature rows, so every resample recomputes them)."""

from __future__ import annotations

import numpy as np

from ..meta.resampling import SumStatistic


def _identity(features: np.ndarray) -> np.ndarray:
    return np.asarray(features, dtype=np.float64)


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[..., 0] / sums[..., 1]


def _standardised(sums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_change = sums[..., 0] / sums[..., 1]
        mean = sums[..., 2] / sums[..., 4]
        sd = np.sqrt(np.maximum(sums[..., 3] / sums[..., 4] - mean**2, 0.0))
        return np.where(sd > 0, mean_change / sd, np.nan)


#: rows ``[value, count]``: the sum of values over the sum of counts (a mean that can skip
#: items, or weigh an item by how many values it holds)
RATIO = SumStatistic(_identity, _ratio, name="ratio")
#: rows ``[change, count, sum of scores, sum of squared scores, number of scores]``: the mean
#: change over the standard deviation (ddof 0) of the scores (NaN when they are constant)
STANDARDISED = SumStatistic(_identity, _standardised, name="standardised_change")
