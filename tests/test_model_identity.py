"""A model is identified in signatures (and so in the score cache) by its weights, not its name:
a modified in-memory copy, or new weights saved into the same folder, get a new signature."""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import metricrm as mr
from metricrm.adapters.model_identity import file_digest, folder_digest, model_files
from metricrm.adapters.model_location import model_identity
from metricrm.core.batching import score_with_cache
from metricrm.core.cache import ScoreCache

from . import model_fixtures as models

pytest.importorskip("transformers")

RESPONSES = ["The cat sat on the mat.", "Paris is the capital of France.", "No idea."]
PROMPTS = ["Where is the cat?", "What is the capital of France?", "Why?"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path)
    return model, AutoTokenizer.from_pretrained(path)


def test_folder_digest_equals_an_independent_sha256_of_its_files(tmp_path):
    folder = Path(models.tiny_reward_model_path())
    files = model_files(folder)
    assert {f.name for f in files} >= {"config.json", "model.safetensors", "tokenizer.json"}
    expected = hashlib.sha256()
    for f in sorted(files):
        expected.update(f"{f.name}\0{_sha(f)}\n".encode())
    assert folder_digest(folder) == expected.hexdigest()[:16]
    # a file that does not change what loads (our own metadata, a readme) is left out
    copy_dir = tmp_path / "copy"
    shutil.copytree(folder, copy_dir)
    (copy_dir / "README.md").write_text("notes")
    (copy_dir / "metricrm_training.json").write_text("{}")
    assert folder_digest(copy_dir) == folder_digest(folder)


def test_negated_weights_in_memory_get_a_new_signature():
    import torch

    model, tokenizer = _load(models.tiny_reward_model_path())
    negated = copy.deepcopy(model)
    with torch.no_grad():
        for p in negated.parameters():
            p.neg_()
    a = mr.get_scorer("reward_model", model=model, tokenizer=tokenizer)
    b = mr.get_scorer("reward_model", model=negated, tokenizer=tokenizer)
    assert a.signature != b.signature
    assert model.name_or_path == negated.name_or_path  # what the signature used to rely on
    # an unchanged copy is the same model
    same = mr.get_scorer("reward_model", model=copy.deepcopy(model), tokenizer=tokenizer)
    assert same.signature == a.signature
    sa = a.score(RESPONSES, prompts=PROMPTS).scores
    sb = b.score(RESPONSES, prompts=PROMPTS).scores
    assert not np.allclose(sa, sb)


def test_new_weights_saved_into_the_same_folder_are_not_served_from_the_cache(tmp_path):
    from metricrm.adapters.offline_models import build_tiny_model

    folder = tmp_path / "my-rm"
    build_tiny_model(folder, kind="sequence_classification", seed=0)
    cache = ScoreCache(tmp_path / "cache")
    first = mr.get_scorer("reward_model", model=str(folder))
    old = score_with_cache(first, RESPONSES, prompts=PROMPTS, cache=cache, progress=False)
    build_tiny_model(folder, kind="sequence_classification", seed=1)  # same folder, new weights
    second = mr.get_scorer("reward_model", model=str(folder))
    assert second.signature != first.signature
    new = score_with_cache(second, RESPONSES, prompts=PROMPTS, cache=cache, progress=False)
    direct = second.score(RESPONSES, prompts=PROMPTS).scores
    np.testing.assert_allclose(new.scores, direct, rtol=1e-6)
    assert not np.allclose(new.scores, old.scores)


def test_a_separately_passed_tokenizer_is_part_of_the_identity():
    path = models.tiny_reward_model_path()
    model, tokenizer = _load(path)
    plain = model_identity(path)
    with_tok = model_identity(path, tokenizer=tokenizer)
    assert with_tok.startswith(plain + "+tok:")
    other = copy.deepcopy(tokenizer)
    other.chat_template = "{{ messages[0]['content'] }}"
    assert model_identity(path, tokenizer=other) != with_tok


def test_causal_lm_and_judge_signatures_follow_the_weights(tmp_path):
    from metricrm.adapters.offline_models import build_tiny_model

    folder = tmp_path / "lm"
    build_tiny_model(folder, kind="causal_lm", seed=0)
    before = {n: mr.get_scorer(n, model=str(folder)).signature for n in ("lm_logprob", "lm_judge")}
    build_tiny_model(folder, kind="causal_lm", seed=3)
    for name, signature in before.items():
        assert mr.get_scorer(name, model=str(folder)).signature != signature


def test_file_digests_are_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICRM_CACHE", str(tmp_path / "cache"))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"a" * 1000)
    first = file_digest(file)
    assert first == _sha(file)
    stored = list((tmp_path / "cache" / "digests").iterdir())
    assert len(stored) == 1 and stored[0].read_text().strip() == first
    # new content of the same size, written at another time: a new digest
    file.write_bytes(b"b" * 1000)
    os.utime(file, ns=(1, 2))
    assert file_digest(file) == _sha(file) != first


@pytest.mark.parametrize("hub", ["switched off", "unreachable"])
def test_hub_cache_snapshot_is_identified_by_its_blob_names(tmp_path, hub):
    """A hub id loaded from the local hub cache (offline) gets the same identity digest as the
    same files in a plain folder: hub blobs are named by their SHA-256, so nothing is re-read.
    With the hub switched on but unreachable, the cached model loads without network too."""
    folder = Path(models.tiny_reward_model_path())
    repo = tmp_path / "hub" / "models--org--tiny-rm"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for f in folder.iterdir():
        if f.is_file():
            blob = repo / "blobs" / _sha(f)
            shutil.copyfile(f, blob)
            (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    code = (
        "import metricrm as mr\n"
        "s = mr.get_scorer('reward_model', model='org/tiny-rm')\n"
        "print(s.settings()['model'])\n"
        "print(s.score(['a b c'], prompts=['q']).scores[0])\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "METRICRM_CACHE": str(tmp_path / "cache")}  # fmt: skip
    if hub == "unreachable":
        env.pop("HF_HUB_OFFLINE")
        env.pop("TRANSFORMERS_OFFLINE", None)
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # a closed port
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Retrying" not in out.stderr  # no request to the unreachable hub, no retry loop
    identity, score = out.stdout.split()
    assert identity == f"org/tiny-rm@{folder_digest(folder)}"
    local = mr.get_scorer("reward_model", model=str(folder))
    assert float(score) == pytest.approx(local.score(["a b c"], prompts=["q"]).scores[0], rel=1e-6)
    assert not (tmp_path / "cache" / "digests").exists()  # blob names, no file was read


@pytest.mark.slow
def test_smollm2_conversion_gives_the_same_identity_wherever_it_runs(tmp_path):
    """The converted folder must not record how the converting process was configured (the
    tokenizer saved `local_files_only` with HF_HUB_OFFLINE's value), or the same weights get two
    signatures and share no cache entries."""
    code = "from metricrm.adapters.offline_models import smollm2_path; print(smollm2_path())"
    folders = []
    for offline in ("1", "0"):
        env = {**os.environ, "METRICRM_CACHE": str(tmp_path / f"cache{offline}"),
               "HF_HUB_OFFLINE": offline}  # fmt: skip
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=900)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        folders.append(out.stdout.strip())
    assert folder_digest(folders[0]) == folder_digest(folders[1])
