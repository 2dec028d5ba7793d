"""mt-metrics-eval's own numeric test cases (google-research/mt-metrics-eval, ``stats_test.py``,
``data_test.py``, ``tasks_test.py``): their inputs and expected values, run through metricrm under
the matching convention. Each test is named after the peer test it comes from.

mt-metrics-eval packs scores system-major: with ``num_sys`` systems and ``n`` items, entry
``s * n + i`` is system ``s`` on item ``i``; "average by sys" groups by system, "by item" by item.
"""

from __future__ import annotations

import numpy as np
import pytest

from metricrm.meta import get_convention, significance_clusters


def _labels(num_sys: int, n_total: int, by: str) -> np.ndarray:
    per = n_total // num_sys
    sys_of = np.repeat(np.arange(num_sys), per)
    return sys_of if by == "sys" else np.tile(np.arange(per), num_sys)


# ----------------------------------------------------------------------------- data_test.py


@pytest.mark.parametrize(
    ("sig", "alpha", "expected"),
    [
        ([0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], 0.5, [1, 1, 1, 1]),
        ([0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], 1.0, [1, 2, 3, 4]),
        ([0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], 0.5, [1, 1, 2, 2]),
        ([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0.5, [1, 2, 2, 3]),
    ],
)
def test_mtme_data_assign_ranks(sig, alpha, expected):
    # sig_matrix[i, j] (i < j, metrics sorted best first): p-value that j is not worse than i.
    conv = get_convention("wmt23")
    names = ["m0", "m1", "m2", "m3"]
    r = significance_clusters(
        names,
        [4.0, 3.0, 2.0, 1.0],
        np.array(sig, dtype=float).reshape(4, 4),
        alpha=alpha,
        rule=conv.cluster_rule,
        boundary=conv.cluster_boundary,
    )
    assert r.names == names and r.clusters.tolist() == expected
