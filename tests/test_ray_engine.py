"""The Ray Data engine on a real two-node Ray cluster on loopback (1 CPU each, small object
stores), started once for the module and stopped after it.

Scores must equal in-process scoring (bit-identical for chrF, 1e-4 for a model), the cache must
make a rerun compute only what is missing, and a crashed actor must lose or duplicate no row.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import MissingDependencyError

from .model_fixtures import tiny_causal_lm_path

ROOT = Path(mr.__file__).resolve().parents[1]
DARR = "scored/wmt19-darr/lt-en.json"


def test_missing_ray_names_the_extra(monkeypatch):
    from metricrm.engines import ray_data

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "metricrm\[ray\]"'):
        ray_data.score_dataset("chrf", responses=["a b"], references=["a b"])


def test_which_addresses_name_the_connected_cluster():
    from metricrm.engines.ray_data import same_cluster

    gcs = "127.0.0.1:6379"
    for same in (None, "auto", gcs, "localhost:6379", "ray://127.0.0.1:10001"):
        assert same_cluster(same, gcs, client=False) is True, same
    for other in ("127.0.0.1:6380", "10.255.255.1:6379", "ray://10.255.255.1:10001"):
        assert same_cluster(other, gcs, client=False) is False, other
    assert same_cluster("127.0.0.1:6380", "a Ray Client server", client=True) is None


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    patch = pytest.MonkeyPatch()
    # the workers import this checkout's metricrm, whatever is installed
    patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.getenv("PYTHONPATH")])))
    patch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no report over the network
    # Ray rewrites a 127.0.0.1 address to the machine's outward address unless told the
    # cluster is local-only; the cluster listens on loopback alone, so keep it there
    patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    store = 200 * 2**20
    loopback = {"num_cpus": 1, "object_store_memory": store, "node_ip_address": "127.0.0.1"}
    nodes = Cluster(initialize_head=True, head_node_args=dict(loopback, include_dashboard=False))
    try:
        nodes.add_node(**loopback)
        assert nodes.address.startswith("127.0.0.1:")
        ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False)
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()
        patch.undo()


@pytest.fixture(scope="module")
def darr(shared_data):
    data = json.loads((shared_data / DARR).read_text(encoding="utf-8"))
    hyps, refs = [], []
    for key in sorted(data)[:300]:
        entry = data[key]
        hyps += [entry["better"]["sys"], entry["worse"]["sys"]]
        refs += [entry["ref"]] * 2
    return hyps, refs


def test_chrf_on_two_nodes_equals_in_process_and_writes_shards(cluster, darr, tmp_path):
    hyps, refs = darr
    local = mr.get_scorer("chrf").score(hyps, references=refs)
    out = tmp_path / "shards"
    stats = mr.CacheStats()
    got = mr.score_dataset(
        "chrf", responses=hyps, references=refs, output=out, batch_size=100,
        cache=tmp_path / "cache", stats=stats,
    )  # fmt: skip
    np.testing.assert_array_equal(got.scores, local.scores)  # bit-identical
    for key, values in local.details.items():
        np.testing.assert_array_equal(got.details[key], values)
    assert got.corpus_score == local.corpus_score
    assert got.signature == local.signature
    table = mr.read_shards(out)
    assert table["row"].tolist() == list(range(len(hyps)))
    np.testing.assert_array_equal(table["score"].to_numpy(), local.scores)
    # each distinct item computed once; repeats within one call are not cache hits
    distinct = len({(h, r) for h, r in zip(hyps, refs)})
    assert distinct < len(hyps)
    assert (stats.hits, stats.computed) == (0, distinct)
    assert len(list(out.glob("part-*.parquet"))) >= 2  # several blocks, several actors' work

    # a rerun over more items computes only the new ones, and the shards cover all of them
    more = hyps + ["an extra hypothesis", "another one"]
    stats = mr.CacheStats()
    again = mr.score_dataset(
        "chrf", responses=more, references=refs + refs[:2], output=out, batch_size=100,
        cache=tmp_path / "cache", stats=stats,
    )  # fmt: skip
    assert (stats.hits, stats.computed) == (len(hyps), 2)
    np.testing.assert_array_equal(again.scores[: len(hyps)], local.scores)
    assert mr.read_shards(out)["row"].tolist() == list(range(len(more)))


class KillOnce:
    """chrF, but the actor process dies (as a crash would) the first time it meets a chosen
    response; a marker file makes the retried block succeed."""

    name = "chrf"
    higher_is_better = True
    uses_inputs = frozenset({"references"})

    def __init__(self, marker: str, trigger: str) -> None:
        self.marker, self.trigger = marker, trigger
        self.inner = mr.get_scorer("chrf")

    @property
    def signature(self) -> str:
        return self.inner.signature

    def score(self, responses, **inputs):
        if self.trigger in responses and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return self.inner.score(responses, **inputs)


def test_a_killed_actor_loses_and_duplicates_no_row(cluster, darr, tmp_path):
    hyps, refs = darr
    marker = tmp_path / "killed"
    scorer = KillOnce(str(marker), hyps[250])
    got = mr.score_dataset(
        scorer, responses=hyps, references=refs, output=tmp_path / "out", batch_size=50,
        cache=False,
    )  # fmt: skip
    assert marker.exists()  # an actor did die mid-run
    np.testing.assert_array_equal(
        got.scores, mr.get_scorer("chrf").score(hyps, references=refs).scores
    )
    table = mr.read_shards(tmp_path / "out")
    assert table["row"].tolist() == list(range(len(hyps)))  # each row exactly once


def test_a_model_scorer_and_meta_evaluate_through_the_engine(cluster, tmp_path):
    path = tiny_causal_lm_path()
    prompts = ["Where is the cat?"] * 3 + ["Say hi."] * 2 + ["Name a colour."] * 3
    responses = ["On the mat.", "Outside.", "No idea", "Hi!", "Hello there", "Red", "Blue", "x"]
    local = mr.get_scorer("lm_logprob", model=path).score(responses, prompts=prompts)
    got = mr.score_dataset(
        "lm_logprob", settings={"model": path}, responses=responses, prompts=prompts,
        batch_size=3,
    )  # fmt: skip
    np.testing.assert_allclose(got.scores, local.scores, rtol=0, atol=1e-4)
    assert got.signature == local.signature  # read where the actors run

    class Counting(mr.RayEngine):
        calls = 0

        def score(self, scorer, responses, **inputs):
            self.calls += 1
            return super().score(scorer, responses, **inputs)

    data = mr.load_sample("reference")
    names = ["length_chars", "chrf"]
    plain = mr.meta_evaluate(names, data, n_resamples=50, cache=False, progress=False)
    engine = Counting(num_actors=2, batch_size=16)
    with mr.use_engine(engine):
        remote = mr.meta_evaluate(names, data, n_resamples=50, cache=tmp_path / "c",
                                  progress=False)  # fmt: skip
    assert engine.calls == len(names)  # every scorer went through the engine
    assert set(plain["scorer"]) == set(names)
    cols = ["scorer", "statistic", "value", "ci_low", "ci_high", "n", "signature"]
    assert remote[cols].equals(plain[cols])


def test_cli_score_with_the_ray_engine(cluster, tmp_path, capsys):
    from metricrm.cli import main

    rows = [{"response": f"the cat sat {i}", "references": ["the cat sat"]} for i in range(40)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    local_out, ray_out = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert main(["score", str(src), "-s", "chrf", "-o", str(local_out), "--no-cache"]) == 0
    address = cluster.address
    code = main(["score", str(src), "-s", "chrf", "-o", str(ray_out), "--engine", "ray",
                 "--address", address, "--cache-dir", str(tmp_path / "c")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    import pandas as pd

    assert pd.read_csv(ray_out)["chrf"].tolist() == pd.read_csv(local_out)["chrf"].tolist()
    assert "40 newly scored" in capsys.readouterr().out


def test_an_address_other_than_the_connected_cluster_is_refused(cluster):
    """Ray joins one cluster per process: a different ``address`` used to be dropped silently
    and the items scored on the connected cluster."""
    host, port = cluster.address.rsplit(":", 1)
    other = f"{host}:{int(port) + 1}"
    with pytest.raises(mr.ScorerConfigError, match=rf"score_dataset: .*{other}.*{cluster.address}"):
        mr.score_dataset("chrf", responses=["a b"], references=["a b"], address=other)
    # the connected cluster, however it is spelled, or "auto" / None: scored there
    for same in (cluster.address, f"localhost:{port}", "auto", None):
        got = mr.score_dataset("chrf", responses=["a b"], references=["a b"], address=same)
        assert got.scores.tolist() == [100.0]
