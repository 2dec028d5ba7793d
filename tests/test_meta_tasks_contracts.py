"""Contracts of metricrm.meta.tasks found by mutation testing: task weights against a direct
count of the shares at every attribute level (mt-metrics-eval's AssignWeights), task averages and
average ranks against loops (weights, ranges, the metrics every task has, the order of the
result), global accuracy against a loop over system pairs, and every error message in full."""

from __future__ import annotations

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import average_across_tasks, average_ranks, global_accuracy, task_weights

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _brute_weight(tasks, attrs, total, i):
    w, group = float(total), list(range(len(tasks)))
    for a in attrs:
        w /= len({tasks[j][a] for j in group})
        group = [j for j in group if tasks[j][a] == tasks[i][a]]
    return w / len(group)


def test_task_weights_equal_the_shares_at_every_level():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(1, 12))
        tasks = [
            {
                "lang": str(rng.choice(["en-de", "zh-en", "he-en"])),
                "level": str(rng.choice(["sys", "seg"])),
                "x": 0,
            }
            for _ in range(n)
        ]
        for attrs in ([], ["lang"], ["lang", "level"], ("level", "lang", "x")):
            total = float(rng.choice([1.0, 2.0, 0.5]))
            got = task_weights(tasks, attrs, total)
            want = [_brute_weight(tasks, attrs, total, i) for i in range(n)]
            np.testing.assert_allclose(got, want, rtol=1e-12)
            assert got.sum() == pytest.approx(total)
    # default total 1; a value shared by two tasks does not count twice
    w = task_weights([{"lang": "a"}, {"lang": "a"}, {"lang": "b"}], ["lang"])
    np.testing.assert_allclose(w, [0.25, 0.25, 0.5])
    assert w.dtype == np.float64


def test_average_across_tasks_equals_a_loop():
    rng = np.random.default_rng(1)
    for trial in range(40):
        tasks = [f"t{k}" for k in range(int(rng.integers(1, 5)))]
        metrics = ["a", "b", "c", "d"]
        values = {
            t: {m: float(rng.uniform(-1, 1)) for m in metrics if rng.random() < 0.85} for t in tasks
        }
        common = [m for m in values[tasks[0]] if all(m in values[t] for t in tasks)]
        weights = None if trial % 2 else {t: float(rng.uniform(0.1, 2)) for t in tasks}
        ranges = None if trial % 3 == 0 else {tasks[0]: (-1, 1)}
        got = average_across_tasks(values, weights=weights, ranges=ranges)
        want = {}
        for m in common:
            total = 0.0
            for t in tasks:
                w = 1 / len(tasks) if weights is None else weights[t]
                v = values[t][m]
                if ranges and t in ranges:
                    v = (v + 1) / 2
                total += w * v
            want[m] = total
        assert list(got) == sorted(want, key=lambda m: -want[m])
        assert got == pytest.approx(want, rel=1e-12)
        ranks = {t: {m: float(rng.integers(1, 5)) for m in values[t]} for t in tasks}
        got = average_ranks(ranks, weights=weights)
        want = {
            m: sum((1 / len(tasks) if weights is None else weights[t]) * ranks[t][m] for t in tasks)
            for m in common
        }
        assert got == pytest.approx(want, rel=1e-12)
        assert list(got) == sorted(want, key=lambda m: want[m])  # stable: ties keep order


def test_ties_keep_first_appearance_order_and_ranges_map_each_task():
    values = {"x": {"b": 0.5, "a": 0.5, "c": 0.25}, "y": {"a": 0.5, "b": 0.5, "c": 1.0}}
    assert list(average_across_tasks(values)) == ["c", "b", "a"]  # 0.625, 0.5, 0.5
    assert list(average_ranks({"x": {"b": 2, "a": 2, "c": 1}})) == ["c", "b", "a"]
    r = average_across_tasks({"x": {"m": 0.5}, "y": {"m": 3.0}}, ranges={"y": (2, 4)})
    assert r == {"m": pytest.approx((0.5 + 0.5) / 2)}
    r = average_across_tasks({"x": {"m": 0}}, weights={"x": 0.5, "unused": 1})
    assert r == {"m": 0.0} and isinstance(r["m"], float)


def _brute_global(human, metric, higher):
    agree = pairs = 0
    for task in human:
        h, m = human[task], metric[task]
        keep = [k for k in range(len(h)) if not np.isnan(h[k])]
        for x in range(len(keep)):
            for y in range(x + 1, len(keep)):
                i, j = keep[x], keep[y]
                dm = m[i] - m[j] if higher else m[j] - m[i]
                agree += np.sign(h[i] - h[j]) == np.sign(dm)
                pairs += 1
    return agree, pairs


@pytest.mark.parametrize("higher", [True, False])
def test_global_accuracy_equals_a_loop_over_system_pairs(higher):
    rng = np.random.default_rng(2)
    for _ in range(40):
        tasks = [f"lp{k}" for k in range(int(rng.integers(1, 4)))]
        human = {t: rng.integers(0, 3, size=int(rng.integers(2, 7))).astype(float) for t in tasks}
        for t in tasks:
            human[t][rng.random(human[t].size) < 0.15] = np.nan
        metric = {t: rng.integers(0, 3, size=human[t].size).astype(float) for t in tasks}
        agree, pairs = _brute_global(human, metric, higher)
        if pairs == 0:
            continue
        r = global_accuracy(human, metric, higher_is_better=higher)
        assert (r.agreements, r.pairs) == (agree, pairs)
        assert r.value == pytest.approx(agree / pairs, rel=1e-15)
        for t in tasks:
            assert r.per_task[t] == _brute_global({t: human[t]}, {t: metric[t]}, higher)
        assert type(r.agreements) is int and type(r.pairs) is int
    assert global_accuracy({"a": [1, 2]}, {"a": [1, 2]}).value == 1.0  # higher is better


def test_errors_in_full():
    who = "task_weights"
    with _raises(
        ScorerConfigError,
        f"{who}: `attributes` must be a sequence of attribute "
        "names (got the string 'lang'; wrap it in a list)",
    ):
        task_weights([{"lang": "a"}], "lang")
    with _raises(ScorerInputError, f"{who}: expected at least one of the tasks (got none)"):
        task_weights([], ["lang"])
    with _raises(ScorerInputError, f"{who}: task 1 has no attribute(s) ['level', 'x']"):
        task_weights([{"lang": 1, "level": 2, "x": 3}, {"lang": 1}], ["lang", "level", "x"])

    for fn, who in (
        (average_across_tasks, "average_across_tasks"),
        (average_ranks, "average_ranks"),
    ):
        with _raises(ScorerInputError, f"{who}: expected at least one task (got none)"):
            fn({})
        with _raises(ScorerInputError, f"{who}: no weight for task(s) ['y', 'z']"):
            fn({"x": {"m": 1}, "y": {"m": 1}, "z": {"m": 1}}, weights={"x": 1})
        for bad in ([-1.0, 1.0], [0.0, 0.0], [np.inf, 1.0], [NAN, 1.0]):
            with _raises(
                ScorerConfigError,
                f"{who}: task weights must be finite, >= 0 and not all 0 (got {bad})",
            ):
                fn({"x": {"m": 1}, "y": {"m": 1}}, weights={"x": bad[0], "y": bad[1]})
    for rng_ in ((1, 1), (1, 0), (NAN, 1)):
        with _raises(
            ScorerConfigError,
            f"average_across_tasks: range of task 'x' must have high > low (got {rng_})",
        ):
            average_across_tasks({"x": {"m": 1}}, ranges={"x": rng_})

    who = "global_accuracy"
    with _raises(
        ScorerInputError,
        f"{who}: expected the same tasks in `human` and `metric` (got ['a', 'b'] and ['a'])",
    ):
        global_accuracy({"b": [1, 2], "a": [1, 2]}, {"a": [1, 2]})
    with _raises(ScorerInputError, f"{who}: expected at least one of the tasks (got none)"):
        global_accuracy({}, {})
    with _raises(
        ScorerInputError,
        f"{who}: `human['a']` has inf at index 1 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        global_accuracy({"a": [1, np.inf]}, {"a": [1, 2]})
    with _raises(
        ScorerInputError,
        f"{who}: `metric['a']` has nan at index 0 (1 such entries); expected a finite number",
    ):
        global_accuracy({"a": [1, 2]}, {"a": [NAN, 2]})
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 2 human, 3 metric)",
    ):
        global_accuracy({"a": [1, 2]}, {"a": [1, 2, 3]})
    with _raises(
        ScorerInputError,
        f"{who}: no task has two systems with human scores; expected at least one pair",
    ):
        global_accuracy({"a": [1, NAN], "b": [2]}, {"a": [1, 2], "b": [1]})


def test_a_task_of_weight_0_is_allowed():
    r = average_across_tasks({"x": {"m": 0.2}, "y": {"m": 0.8}}, weights={"x": 0, "y": 1.0})
    assert r == {"m": pytest.approx(0.8)}
    assert average_ranks({"x": {"m": 3}, "y": {"m": 1}}, weights={"x": 0.0, "y": 1}) == {"m": 1.0}
