"""Numeric settings of the meta-evaluation statistics accept numpy numbers (as their arrays do)
and give the same result as the Python number; booleans stay refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError

meta = mr.meta
HUMAN = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 4.0, 1.0, 3.0])
METRIC = np.array([0.3, 0.1, 0.25, 0.2, 0.5, 0.5, 0.1, 0.2])
GROUPS = np.array([0, 0, 0, 0, 1, 1, 1, 1])
SUBSETS = {"a": 0.5, "b": 0.75, "c": 1.0}


def _sections(w: Any):
    return meta.section_scores(
        SUBSETS, {"x": ["a", "b"], "y": ["c"]}, section_weights={"x": w, "y": 1}, weighting="equal"
    )


#: (name, call with the setting, the setting's Python value)
SITES: list[tuple[str, Callable[[Any], Any], float]] = [
    ("pairwise_accuracy tie_threshold",
     lambda v: meta.pairwise_accuracy([1.0, 2.0, 3.0], [1.5, 2.0, 1.0], tie_threshold=v).value, 1),
    ("tie_calibrated_accuracy epsilon",
     lambda v: meta.tie_calibrated_accuracy(HUMAN, METRIC, groups=GROUPS, epsilon=v).accuracy, 0),
    ("pairwise_comparisons epsilon",
     lambda v: meta.pairwise_comparisons(HUMAN, METRIC, groups=GROUPS, epsilon=v).accuracy, 0),
    ("relative_ranking_pairs threshold",
     lambda v: [x.tolist() for x in meta.relative_ranking_pairs(HUMAN, threshold=v)], 2),
    ("section_scores section_weights", lambda v: _sections(v).overall, 3),
    ("rewardbench_section_scores prior_sets_weight",
     lambda v: meta.rewardbench_section_scores({"alpacaeval-easy": 0.9, "anthropic_helpful": 0.6},
                                               prior_sets_weight=v).overall, 1),
    ("EarlyStopping high", lambda v: meta.EarlyStopping(high=v).high, 1),
    ("williams_test r_ab", lambda v: meta.williams_test(0.8, 0.5, v, 40).pvalue, 0),
]  # fmt: skip


@pytest.mark.parametrize("name, call, value", SITES, ids=[s[0] for s in SITES])
@pytest.mark.parametrize("kind", [np.int64, np.int32, np.float32, np.float64])
def test_numpy_numbers_equal_python_numbers(name, call, value, kind):
    assert call(kind(value)) == call(value)


@pytest.mark.parametrize("name, call, value", SITES, ids=[s[0] for s in SITES])
@pytest.mark.parametrize("flag", [True, np.bool_(True)])
def test_booleans_are_refused(name, call, value, flag):
    with pytest.raises((ScorerConfigError, ScorerInputError)) as err:
        call(flag)
    assert repr(flag) in str(err.value)
