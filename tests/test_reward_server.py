"""The reward server on Ray Serve, started once for the module on 127.0.0.1 (a one-node Ray
on loopback, 2 CPUs) and stopped after it; real HTTP with requests.

Scores must equal local scoring bit for bit (chrF); bad requests get a 4xx with the message a
local call gives and the server keeps serving; a request that fails inside the scorer gets a
500 naming its item while the requests batched with it get their own scores; a bounded load
test checks that no response is lost, duplicated or given to another request.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import RemoteScoringError, ScorerConfigError, ScorerInputError
from metricrm.engines import reward_protocol as proto
from metricrm.engines.reward_server import check_bind, serve_in_thread

from .serve_fixtures import BOOM, BoomChrF, free_port, texts

requests = pytest.importorskip("requests")

ROOT = Path(mr.__file__).resolve().parents[1]
TOKEN = "test-token-14"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_BODY = 64 * 1024


# -- the protocol, without a server ---------------------------------------------------------


def test_a_failing_request_in_a_batch_leaves_the_others_their_own_scores():
    scorer, chrf = BoomChrF(), mr.get_scorer("chrf")
    reqs = []
    for seed in range(4):
        hyps, refs = texts(seed, 5)
        reqs.append(proto.ScoreRequest(hyps, refs))
    bad_hyps, bad_refs = texts(9, 5)
    bad_hyps[3] = f"{BOOM} here"
    reqs.insert(2, proto.ScoreRequest(bad_hyps, bad_refs))
    outcomes = proto.score_batch(scorer, reqs)
    assert [o.status for o in outcomes] == [200, 200, 500, 200, 200]
    assert "item 3 of this request" in outcomes[2].message and "RuntimeError" in outcomes[2].message
    for req, out in zip(reqs, outcomes):
        if out.status == 200:
            local = chrf.score(req.responses, references=req.references)
            assert out.scores == local.scores.tolist()
            assert out.details["char1_hyp"] == local.details["char1_hyp"].tolist()


def test_requests_of_other_shapes_share_a_batch_without_mixing_inputs():
    length = mr.get_scorer("length_chars")
    a = proto.ScoreRequest(["aa", "bbbb"], prompts=["p", "q"])
    b = proto.ScoreRequest(["ccc"])
    c = proto.ScoreRequest(["d", "eeeee"], prompts=["r", "s"])
    got = [o.scores for o in proto.score_batch(length, [a, b, c])]
    assert got == [[2.0, 4.0], [3.0], [1.0, 5.0]]


def test_bad_input_in_a_batch_is_a_400_with_the_local_message():
    chrf = mr.get_scorer("chrf")
    # passes the shape checks, fails inside the scorer with its own input error
    outcome = proto.score_alone(chrf, proto.ScoreRequest(["a b"]))
    with pytest.raises(ScorerInputError) as local:
        chrf.score(["a b"])
    assert outcome.status == 400 and outcome.message == str(local.value)


def test_a_non_loopback_address_needs_a_token():
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind("x", host, None)
    check_bind("x", "0.0.0.0", "secret")
    with pytest.raises(
        ScorerConfigError, match=r"serve_scorer: refusing to listen on '0\.0\.0\.0'"
    ):
        mr.serve_scorer("chrf", host="0.0.0.0")
    with pytest.raises(ScorerConfigError, match="refusing to listen on '10.1.2.3'"):
        serve_in_thread(mr.get_scorer("chrf"), host="10.1.2.3")


def test_cli_refuses_a_public_address_without_a_token(capsys, monkeypatch):
    from metricrm.cli import main

    monkeypatch.delenv("METRICRM_SERVE_TOKEN", raising=False)
    assert main(["serve", "chrf", "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on '0.0.0.0'" in capsys.readouterr().err


# -- the server on Ray Serve ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.serve")
    from ray import serve

    patch = pytest.MonkeyPatch()
    # the replicas import this checkout's metricrm and tests (BoomChrF), whatever is installed
    patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.getenv("PYTHONPATH")])))
    patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    # address="local": a new Ray of our own, even when another one runs on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", object_store_memory=200 * 2**20)  # fmt: skip
    try:
        running = mr.serve_scorer(
            BoomChrF(), port=free_port(), token=TOKEN, max_batch_size=16,
            batch_wait_timeout_s=0.02, max_body_bytes=MAX_BODY, max_items=500,
        )  # fmt: skip
        yield running.url
        running.stop()
    finally:
        serve.shutdown()
        ray.shutdown()
        patch.undo()


def _post(url, path, payload=None, *, data=None, headers=AUTH):
    return requests.post(url + path, json=payload, data=data, headers=headers, timeout=60)


def _serving(url) -> bool:
    hyps, refs = texts(77, 2)
    answer = _post(url, "/score", {"responses": hyps, "references": refs})
    local = mr.get_scorer("chrf").score(hyps, references=refs).scores.tolist()
    return requests.get(url + "/health", timeout=10).ok and answer.json()["scores"] == local


def test_scores_equal_local_scoring(server):
    chrf = mr.get_scorer("chrf")
    hyps, refs = texts(1, 40)
    refs = [[r, r + " again"] if i % 3 == 0 else r for i, r in enumerate(refs)]
    answer = _post(server, "/score", {"responses": hyps, "references": refs})
    assert answer.status_code == 200
    body = answer.json()
    local = chrf.score(hyps, references=refs)
    assert body["scores"] == local.scores.tolist()  # bit for bit
    assert body["signature"] == chrf.signature and body["name"] == "chrf"
    assert body["details"]["char6_match"] == local.details["char6_match"].tolist()


def test_info_and_health(server):
    assert requests.get(server + "/health", timeout=10).json() == {"status": "ok"}
    info = requests.get(server + "/info", headers=AUTH, timeout=10).json()
    assert info["signature"] == mr.get_scorer("chrf").signature
    assert info["replicas"] == 1 and info["requires_references"] is True
    assert info["uses_inputs"] == ["references"] and info["versions"]["ray"]


def test_token_is_required(server):
    hyps, refs = texts(2, 2)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = _post(server, "/score", {"responses": hyps, "references": refs}, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert "bearer token" in answer.json()["error"]
    assert requests.get(server + "/info", timeout=10).status_code == 401
    with pytest.raises(RemoteScoringError, match="HTTP 401"):
        mr.RemoteScorer(server)


BAD = {
    "malformed JSON": (dict(data=b'{"responses": ["a"'), 400, "request body is not valid JSON"),
    "not an object": (dict(payload=["a"]), 400, "expected a JSON object"),
    "nested too deeply": (dict(data=b"[" * 50_000), 400, "request body is nested too deeply"),
    "unknown field": (
        dict(payload={"responses": ["a"], "refs": ["a"]}),
        400,
        "unknown field(s) 'refs'; valid fields: responses, prompts, references",
    ),
    "no responses": (dict(payload={"references": ["a"]}), 400, "expected the field 'responses'"),
    "wrong lengths": (
        dict(payload={"responses": ["a", "b"], "references": ["a"]}),
        400,
        "chrf: expected `references` to have one entry per response "
        "(got 2 responses, 1 references)",
    ),
    "non-string item": (
        dict(payload={"responses": ["a", 7], "references": ["a", "b"]}),
        400,
        "chrf: response 1 must be a string or a list of chat messages (got int: 7)",
    ),
    "non-string reference": (
        dict(payload={"responses": ["a"], "references": [[None]]}),
        400,
        "chrf: reference 0 of item 0 must be a string",
    ),
    "empty list": (
        dict(payload={"responses": [], "references": []}),
        400,
        "chrf: expected at least one response (got an empty list)",
    ),
    "missing references": (
        dict(payload={"responses": ["a"]}),
        400,
        "chrf: expected `references` (one or more per response); got none",
    ),
    "oversized body": (
        dict(payload={"responses": ["x" * MAX_BODY], "references": ["x"]}),
        413,
        f"more than {MAX_BODY} bytes",
    ),
    "too many items": (
        dict(payload={"responses": ["a"] * 501, "references": ["a"] * 501}),
        413,
        "at most 500 per request",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_requests_get_a_4xx_with_the_local_message_and_the_server_keeps_serving(server, case):
    kwargs, status, message = BAD[case]
    answer = _post(server, "/score", kwargs.get("payload"), data=kwargs.get("data"))
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert _serving(server)


def test_local_calls_give_the_same_messages_as_the_server(server):
    chrf = mr.get_scorer("chrf")
    for case in ("wrong lengths", "non-string item", "empty list", "missing references"):
        payload = BAD[case][0]["payload"]
        with pytest.raises(ScorerInputError) as local:
            chrf.score(payload["responses"], references=payload.get("references"))
        assert _post(server, "/score", payload).json()["error"] == str(local.value), case


def test_a_scorer_failure_is_a_500_naming_the_item_and_spares_its_batch(server):
    """Sent together, the requests share a batch (20 ms wait); one fails inside the scorer."""
    jobs = []
    for seed in range(12):
        hyps, refs = texts(100 + seed, 6)
        if seed == 5:
            hyps[4] = f"{BOOM} {hyps[4]}"
        jobs.append((hyps, refs))
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(
            lambda job: _post(server, "/score", {"responses": job[0], "references": job[1]}), jobs
        ))  # fmt: skip
    chrf = mr.get_scorer("chrf")
    for seed, ((hyps, refs), answer) in enumerate(zip(jobs, answers)):
        if seed == 5:
            assert answer.status_code == 500
            error = answer.json()["error"]
            assert error.startswith("chrf: scoring failed on item 4 of this request")
            assert "RuntimeError: planted failure" in error
        else:
            assert answer.status_code == 200
            assert answer.json()["scores"] == chrf.score(hyps, references=refs).scores.tolist()
    assert _serving(server)


def test_openrlhf_endpoint(server):
    """OpenRLHF posts ``{"query", "prompts", "labels"}``: the query is prompt + response."""
    hyps, refs = texts(3, 5)
    prompts = [f"<|user|>Say {i}<|assistant|>" for i in range(5)]
    queries = [p + h for p, h in zip(prompts, hyps)]
    answer = _post(server, "/get_reward", {"query": queries, "prompts": prompts, "labels": refs})
    assert answer.status_code == 200
    body = answer.json()
    local = mr.get_scorer("chrf").score(hyps, references=refs).scores.tolist()
    assert body["rewards"] == local and body["scores"] == local
    assert body["extra_logs"]["char1_hyp"] == [len(h.replace(" ", "")) for h in hyps]
    bad = _post(server, "/get_reward", {"query": queries, "prompts": prompts[:2], "labels": refs})
    assert bad.status_code == 400 and "got 5 responses, 2 prompts" in bad.json()["error"]


def test_load_no_lost_duplicated_or_mismatched_response(server):
    """8 clients x 10 requests, each request distinct: every answer is its own request's."""
    chrf = mr.get_scorer("chrf")
    jobs = [texts(1000 + k, 1 + k % 4) for k in range(80)]

    def client(c: int) -> list:
        with requests.Session() as session:
            out = []
            for k in range(c * 10, c * 10 + 10):
                hyps, refs = jobs[k]
                answer = session.post(server + "/score", headers=AUTH, timeout=60,
                                      json={"responses": hyps, "references": refs})  # fmt: skip
                out.append((k, answer.status_code, answer.json().get("scores")))
            return out

    with ThreadPoolExecutor(8) as pool:
        results = [row for rows in pool.map(client, range(8)) for row in rows]
    assert sorted(k for k, _, _ in results) == list(range(80))
    for k, status, scores in results:
        hyps, refs = jobs[k]
        assert status == 200 and scores == chrf.score(hyps, references=refs).scores.tolist(), k


# -- RemoteScorer -----------------------------------------------------------------------------


def test_remote_scorer_equals_local_and_carries_the_server_signature(server):
    chrf = mr.get_scorer("chrf")
    remote = mr.get_scorer("remote", url=server, token=TOKEN, max_items_per_request=7)
    hyps, refs = texts(5, 30)
    got = remote.score(hyps, references=refs)  # five requests
    np.testing.assert_array_equal(got.scores, chrf.score(hyps, references=refs).scores)
    assert got.name == "remote" and f"|server:[{chrf.signature}]" in got.signature
    with pytest.raises(ScorerInputError, match=r"^remote: response 1 must be a string"):
        remote.score(["a", None], references=["a", "b"])
    with pytest.raises(ScorerInputError, match=r"^remote: expected `references`"):
        remote.score(["a"])  # what the server's scorer needs, from /info
    remote.requires_references = False  # as if /info had not said so: the server refuses it
    with pytest.raises(ScorerInputError, match=r"^chrf: expected `references`"):
        remote.score(["a"])
    with pytest.raises(RemoteScoringError, match=r"HTTP 500: chrf: scoring failed on item 1"):
        remote.score(["fine", BOOM], references=["a", "b"])


def test_remote_scorer_in_the_cache_a_composite_and_meta_evaluate(server, tmp_path):
    from metricrm.weighting import Component, Composite

    remote = mr.RemoteScorer(server, token=TOKEN)
    hyps, refs = texts(6, 12)
    cache = mr.ScoreCache(tmp_path / "cache")
    first, again = mr.CacheStats(), mr.CacheStats()
    a = mr.score_with_cache(remote, hyps, references=refs, cache=cache, stats=first,
                            progress=False)  # fmt: skip
    b = mr.score_with_cache(remote, hyps, references=refs, cache=cache, stats=again,
                            progress=False)  # fmt: skip
    assert (first.computed, again.computed, again.hits) == (12, 0, 12)
    np.testing.assert_array_equal(a.scores, b.scores)

    def composite(scorer):
        parts = [Component.build("c", scorer, normalizer={"kind": "zscore", "mean": 40, "std": 20}),
                 Component.build("n", "length_chars", normalizer={"kind": "identity"})]  # fmt: skip
        return Composite(parts, {"c": 1.0, "n": 0.01}, cache=False)

    np.testing.assert_array_equal(
        composite(remote).score(hyps, references=refs).scores,
        composite(mr.get_scorer("chrf")).score(hyps, references=refs).scores,
    )
    items = mr.load_sample("reference")  # human DA scores, two references per item
    kwargs = dict(n_resamples=50, progress=False, cache=False)
    here = mr.meta_evaluate([("chrf", mr.get_scorer("chrf"))], items, **kwargs)
    there = mr.meta_evaluate([("chrf", remote)], items, **kwargs)
    assert len(here) == 9 and np.isfinite(here.value).all()
    assert there.value.tolist() == here.value.tolist()
    assert there.ci_low.tolist() == here.ci_low.tolist()


@pytest.mark.slow
def test_trl_grpo_rewarded_by_a_remote_scorer(server, tmp_path):
    """Two GRPO steps on CPU (SmolLM2-135M, two prompts per step, 8-token completions); the
    reward is chrF to the reference, computed on the server through a RemoteScorer."""
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    import torch

    from metricrm.weighting import trl_reward_function

    from .model_fixtures import smollm2_model_path

    rows = [("Translate to English: Guten Morgen!", "Good morning!"),
            ("Translate to English: Danke schön.", "Thank you very much."),
            ("Translate to English: Wie spät ist es?", "What time is it?"),
            ("Translate to English: Ich habe Hunger.", "I am hungry.")]  # fmt: skip
    data = datasets.Dataset.from_dict({
        "prompt": [[{"role": "user", "content": p}] for p, _ in rows],
        "references": [r for _, r in rows],
    })  # fmt: skip
    remote = mr.RemoteScorer(server, token=TOKEN)
    reward = trl_reward_function(remote, name="remote_chrf")
    calls = []

    def recorded(prompts, completions, **kwargs):
        rewards = reward(prompts, completions, **kwargs)
        calls.append((completions, kwargs["references"], rewards))
        return rewards

    recorded.__name__ = "remote_chrf"
    torch.manual_seed(0)
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
        max_completion_length=8, max_steps=2, learning_rate=1e-6, logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=0,
        log_completions=False, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = trl.GRPOTrainer(model=smollm2_model_path(), reward_funcs=[recorded], args=args,
                              train_dataset=data)  # fmt: skip
    trainer.train()
    logs = [row for row in trainer.state.log_history if "reward" in row]
    assert len(logs) == 2 and len(calls) >= 2
    chrf = mr.get_scorer("chrf")
    for completions, refs, rewards in calls:  # the server's rewards are local chrF's
        texts_ = [c[0]["content"] for c in completions]
        np.testing.assert_array_equal(rewards, chrf.score(texts_, references=refs).scores)
    assert logs[-1]["rewards/remote_chrf/mean"] == pytest.approx(np.mean(calls[-1][2]), rel=1e-4)


def test_thread_server_speaks_the_same_protocol():
    running = serve_in_thread(BoomChrF(), token=TOKEN, max_body_bytes=MAX_BODY)
    try:
        hyps, refs = texts(8, 4)
        body = _post(running.url, "/score", {"responses": hyps, "references": refs}).json()
        assert body["scores"] == mr.get_scorer("chrf").score(hyps, references=refs).scores.tolist()
        assert _post(running.url, "/score", {"responses": hyps}, headers={}).status_code == 401
        big = _post(running.url, "/score", {"responses": ["x" * MAX_BODY], "references": ["x"]})
        assert big.status_code == 413
        assert _serving(running.url)
        assert json.loads(requests.get(running.url + "/nope", timeout=5).text)["error"].startswith(
            "reward server: no endpoint /nope"
        )
    finally:
        running.stop()


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_cli_serves_a_composite_file_until_interrupted(tmp_path, stop):
    """``metricrm serve reward.json --engine thread`` in a subprocess: the composite's scores
    over HTTP equal the composite file loaded here; Ctrl-C (SIGINT) or SIGTERM stops it with
    status 0. SIGTERM is sent with SIGINT ignored, as in a shell's background job."""
    import select
    import signal
    import subprocess
    import sys

    from metricrm.weighting import load_composite

    path = tmp_path / "reward.json"
    path.write_text(json.dumps({
        "components": {
            "chrf": {"scorer": "chrf", "normalizer": {"kind": "zscore", "mean": 40.0, "std": 15.0}},
            "brevity": {"scorer": "length_chars", "higher_is_better": False,
                        "normalizer": {"kind": "minmax", "min": -200, "max": 0}},
        },
        "weights": {"chrf": 1.0, "brevity": 0.5},
    }))  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "metricrm.cli", "serve", str(path), "--engine", "thread",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        # the child's SIGINT as a terminal gives it, whatever this process inherited
        preexec_fn=lambda: signal.signal(
            signal.SIGINT, signal.SIG_DFL if stop == "SIGINT" else signal.SIG_IGN
        ),
    )  # fmt: skip
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "the server printed no address within 120 s"
        line = proc.stdout.readline()
        assert line.startswith(f"metricrm: serving {path} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        hyps, refs = texts(11, 3)
        body = _post(url, "/score", {"responses": hyps, "references": refs}, headers={}).json()
        local = load_composite(path, cache=False).score(hyps, references=refs)
        assert body["scores"] == local.scores.tolist() and body["signature"] == local.signature
        assert body["details"]["chrf.raw"] == local.details["chrf.raw"].tolist()
        proc.send_signal(getattr(signal, stop))
        assert proc.wait(timeout=60) == 0
        assert "metricrm: stopping" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
