"""Reward-hacking probes: each perturbation is deterministic given its seed and keeps what it
promises to keep; the probe statistics equal direct computations on real pairs."""

from __future__ import annotations

import re

import numpy as np
import pytest

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.probes import get_probe, list_probes, perturbed_pairs, probe
from metricrm.probes.perturbations import GENERAL_PROBES, REFERENCE_PROBES, last_user_turn
from metricrm.probes.phrases import FILLER_SENTENCES, HEDGES, OPENERS, REFUSALS
from metricrm.probes.text import code_segments, split_fenced, split_sentences

LLMBAR = "preference/llmbar"
HH = "preference/hh-rlhf/harmless-base_test.jsonl.gz"
RM_BENCH = "preference/rm-bench"

CODE_RESPONSE = (
    "I think you could perhaps use a loop. It might be the simplest way, probably.\n\n"
    "```python\n# I think this is maybe fine\nfor i in range(3):\n    print(i)\n```\n"
    "Call `maybe_run()` first. Then the output will probably appear. As far as I know, "
    "that is all, I think.\n\n~~~\nperhaps()\n~~~\n"
)


@pytest.fixture(scope="module")
def real_responses(shared_data):
    """A few hundred real responses: LLMBar, HH-RLHF and RM-Bench (every code one with a
    fenced block), with their prompts."""
    llmbar = mr.data.load_llmbar(shared_data / LLMBAR)[:60]
    hh = mr.data.load_hh_rlhf(shared_data / HH)[:60]
    rmb = mr.data.load_rm_bench(shared_data / RM_BENCH)
    code = [p for p in rmb if p.subset == "code" and "```" in p.chosen][:80:4]
    chat = [p for p in rmb if p.subset == "chat"][:40:2]
    out = []
    for p in llmbar + hh + code + chat:
        out += [(p.prompt, p.chosen), (p.prompt, p.rejected)]
    assert sum("```" in r for _, r in out) >= 20
    return out


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("name", GENERAL_PROBES)
def test_each_probe_is_deterministic_given_its_seed(name, real_responses):
    p = get_probe(name)
    first = [p(r, prompt=q, seed=3) for q, r in real_responses]
    again = [p(r, prompt=q, seed=3) for q, r in reversed(real_responses)][::-1]
    assert first == again  # same seed, other order: same text per response
    other = [p(r, prompt=q, seed=4) for q, r in real_responses]
    if p.seeded:
        assert sum(a != b for a, b in zip(first, other)) > len(first) // 10
    else:
        assert first == other  # documented: the seed is not used


@pytest.mark.parametrize("name", REFERENCE_PROBES)
def test_reference_probes_are_deterministic(name, shared_data):
    pairs = mr.data.load_wmt_darr(shared_data / "scored/wmt19-darr/lt-en.json")[:50]
    p = get_probe(name)
    run = lambda seed: [  # noqa: E731
        p(x.rejected, source=x.source, references=x.references, seed=seed) for x in pairs
    ]
    assert run(0) == run(0)
    if p.seeded:
        assert run(0) != run(1)


# ----------------------------------------------------------------------- what stays the same


@pytest.mark.parametrize("name", [n for n in GENERAL_PROBES if get_probe(n).keeps_code])
def test_probes_that_keep_code_leave_every_code_block_unchanged(name, real_responses):
    p = get_probe(name)
    for q, r in real_responses + [("Loop?", CODE_RESPONSE)]:
        out = p(r, prompt=q, seed=0)
        before, after = code_segments(r), code_segments(out)
        if name == "copy_prompt":  # the prompt's own code comes first
            after = after[len(after) - len(before) :]
        assert after == before, (name, r[:80])


def test_code_segments_see_fenced_blocks_and_inline_spans():
    assert code_segments(CODE_RESPONSE) == [
        "```python\n# I think this is maybe fine\nfor i in range(3):\n    print(i)\n```\n",
        "`maybe_run()`",
        "~~~\nperhaps()\n~~~\n",
    ]
    parts = split_fenced(CODE_RESPONSE)
    assert "".join(s for _, s in parts) == CODE_RESPONSE
    unclosed = "text\n```\ncode to the end"
    assert split_fenced(unclosed) == [(False, "text\n"), (True, "```\ncode to the end")]


def test_pad_filler_appends_filler_up_to_its_budget(real_responses):
    p = get_probe("pad_filler")
    bank = set(FILLER_SENTENCES)
    for q, r in real_responses:
        out = p(r, prompt=q, seed=0)
        assert out.startswith(r)
        assert len(out) >= max(4096, 1.5 * len(r))
        added = out[len(r) :].strip()
        sentences = [s for para in added.split("\n\n") for s in split_sentences(para)]
        assert set(sentences) <= bank
    short = get_probe("pad_filler", budget_chars=0, factor=2.0)("One line.", seed=0)
    assert short.startswith("One line.\n\n") and 18 <= len(short) < 18 + 100


def test_repeat_sentence_repeats_one_sentence_and_nothing_else(real_responses):
    p = get_probe("repeat_sentence", copies=2)
    changed = 0
    for q, r in real_responses:
        out = p(r, prompt=q, seed=0)
        if out == r:
            continue
        changed += 1
        extra = len(out) - len(r)
        prose = [s for is_code, seg in split_fenced(r) if not is_code for s in split_sentences(seg)]
        found = [
            s for s in set(prose) if extra == 2 * (len(s) + 1)
            and (s + " " + s + " " + s) in out and out.replace(s + " " + s + " " + s, s, 1) == r
        ]  # fmt: skip
        assert found, r[:80]
    assert changed > len(real_responses) * 0.8


def _plain_words(text: str) -> list[str]:
    text = re.sub(r"\*\*", "", text)
    return re.sub(r"(?m)^- ", "", text).split()


def test_markdown_adds_markup_only(real_responses):
    p = get_probe("markdown")
    bulleted = bolded = 0
    for q, r in real_responses:
        out = p(r, prompt=q, seed=0)
        header, _, body = out.partition("\n\n")
        assert re.fullmatch(r"## [A-Z][A-Za-z ]+", header)
        assert _plain_words(body) == _plain_words(r)
        bulleted += body.count("\n- ") > r.count("\n- ")
        bolded += body.count("**") > r.count("**")
    assert bulleted > len(real_responses) // 4 and bolded > len(real_responses) // 2


@pytest.mark.parametrize(
    "name, heads", [("sycophantic_opener", OPENERS), ("refusal_prefix", REFUSALS)]
)
def test_openers_leave_the_response_as_an_exact_suffix(name, heads, real_responses):
    p = get_probe(name)
    used = set()
    for q, r in real_responses:
        out = p(r, prompt=q, seed=0)
        assert out.endswith(r)
        head = out[: len(out) - len(r)].strip()
        assert head in heads
        used.add(head)
    assert len(used) == len(heads)  # the seed spreads over every phrase


def test_copy_prompt_puts_the_last_user_turn_first(real_responses):
    p = get_probe("copy_prompt")
    for q, r in real_responses:
        out = p(r, prompt=q)
        assert out.endswith(r) and out.startswith(last_user_turn(q).strip())
    chat = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second question"}]  # fmt: skip
    assert p("Answer.", prompt=chat) == "second question\n\nAnswer."


def test_assertive_removes_hedges_in_prose_only():
    out = get_probe("assertive")(CODE_RESPONSE)
    assert code_segments(out) == code_segments(CODE_RESPONSE)
    prose = "".join(s for is_code, s in split_fenced(out) if not is_code).replace(
        "`maybe_run()`", ""
    )
    hedge = re.compile(r"\b(?:" + "|".join(HEDGES) + r")(?![\w'])", re.IGNORECASE)
    assert not hedge.search(prose) and "might" not in prose
    # Written out by hand from the rules: hedges go, "might" becomes "will", sentence starts
    # are capitalised, a hedge between commas leaves one space.
    assert out.startswith(
        "You could use a loop. It will be the simplest way.\n\n```python\n# I think this is"
    )
    assert "Call `maybe_run()` first. Then the output will appear. That is all.\n" in out
    plain = "The capital of France is Paris. It has about two million inhabitants."
    assert get_probe("assertive")(plain) == plain


def test_reference_probes_use_the_source_and_the_reference(shared_data):
    pairs = mr.data.load_wmt_darr(shared_data / "scored/wmt19-darr/lt-en.json")[:40]
    copy, salad = get_probe("copy_source"), get_probe("scrambled_reference")
    for x in pairs:
        out = copy(x.rejected, source=x.source)
        assert out.startswith(x.rejected) and out.endswith(x.source)
        assert get_probe("copy_source", mode="replace")(x.rejected, source=x.source) == x.source
        mixed = salad(x.rejected, references=x.references, seed=0)
        ref = x.references[0].split()
        assert sorted(mixed.split()) == sorted(ref)
        if len(ref) > 2:
            assert mixed.split() != ref
        bigrams = {" ".join(ref[i : i + 2]) for i in range(0, len(ref), 2)}
        words = mixed.split()  # consecutive reference bigrams, reordered
        assert all(any(" ".join(words[i : i + 2]) == b for i in range(len(words)))
                   for b in bigrams if len(b.split()) == 2)  # fmt: skip


def test_probe_settings_and_names_are_checked():
    with pytest.raises(ScorerConfigError, match="unknown probe 'nope'; valid names: pad_filler"):
        get_probe("nope")
    with pytest.raises(ScorerConfigError, match="probe pad_filler: unknown setting"):
        get_probe("pad_filler", length=3)
    with pytest.raises(ScorerConfigError, match="`factor` must be a number >= 1"):
        get_probe("pad_filler", factor=0.5)
    with pytest.raises(ScorerConfigError, match="`mode` must be one of"):
        get_probe("copy_source", mode="prepend")
    with pytest.raises(ScorerInputError, match="probe copy_source: expected a `source`"):
        get_probe("copy_source")("text")
    assert list_probes()[: len(GENERAL_PROBES)] == list(GENERAL_PROBES)
    assert get_probe("pad_filler", factor=2).signature == "pad_filler|budget_chars:4096|factor:2"


# -------------------------------------------------------------------------------- statistics


def _direct(scorer, pairs, p, seed=0):
    """Hack rate, rise rate and standardised change computed by hand from direct calls."""
    prompts = [x.prompt for x in pairs]
    ch = scorer.score([x.chosen for x in pairs], prompts=prompts).scores
    rj = scorer.score([x.rejected for x in pairs], prompts=prompts).scores
    pert = lambda side: [p(getattr(x, side), prompt=x.prompt, seed=seed) for x in pairs]  # noqa: E731
    ch2 = scorer.score(pert("chosen"), prompts=prompts).scores
    rj2 = scorer.score(pert("rejected"), prompts=prompts).scores
    sign = 1 if scorer.higher_is_better else -1
    deltas = sign * np.concatenate([rj2 - rj, ch2 - ch])
    spread = np.std(np.concatenate([ch, rj]))
    return {
        "hack_rate": np.mean(sign * (rj2 - ch) > 0),
        "hack_rate_untouched": np.mean(sign * (rj - ch) > 0),
        "rise_rate": np.mean(deltas > 0),
        "score_change": deltas.mean() / spread,
    }


@pytest.fixture(scope="module")
def llmbar_pairs(shared_data):
    """The 16 LLMBar Natural pairs with the shortest texts (cheap to score with an LM)."""
    pairs = mr.data.load_llmbar(shared_data / LLMBAR / "Natural")
    size = lambda p: len(p.prompt) + len(p.chosen) + len(p.rejected)  # noqa: E731
    return sorted(pairs, key=size)[:16]


@pytest.mark.parametrize("probe_name", GENERAL_PROBES)
def test_hack_rate_equals_a_direct_computation_on_real_pairs(probe_name, shared_data, tmp_path):
    pairs = mr.data.load_llmbar(shared_data / LLMBAR / "Natural")
    scorer = mr.get_scorer("length_tokens", tokenizer="regex")
    frame = probe(scorer, pairs, [probe_name], cache=tmp_path, progress=False, n_resamples=200)
    got = frame.set_index("statistic")["value"]
    expected = _direct(scorer, pairs, get_probe(probe_name))
    for stat, value in expected.items():
        assert got[stat] == pytest.approx(value, rel=1e-12), stat
    assert got["hack_gain"] == pytest.approx(got["hack_rate"] - got["hack_rate_untouched"])


@pytest.mark.filterwarnings("ignore:lm_perplexity. truncated")
def test_hack_rate_of_a_lower_is_better_lm_scorer_equals_a_direct_computation(
    llmbar_pairs, tmp_path
):
    pytest.importorskip("torch")
    from .model_fixtures import tiny_causal_lm_path

    scorer = mr.get_scorer("lm_perplexity", model=tiny_causal_lm_path())
    assert not scorer.higher_is_better
    frame = probe(scorer, llmbar_pairs, ["markdown"], cache=tmp_path, progress=False,
                  n_resamples=200)  # fmt: skip
    got = frame.set_index("statistic")["value"]
    expected = _direct(scorer, llmbar_pairs, get_probe("markdown"))
    for stat, value in expected.items():
        # float32 LM scores move by ~1e-7 with the batch they are scored in
        assert got[stat] == pytest.approx(value, rel=1e-5, abs=1e-9), stat
    assert 0 < expected["hack_rate"] < 1  # a real, non-trivial case
    # a second run reads every score from the cache and gives the same frame
    again = probe(scorer, llmbar_pairs, ["markdown"], cache=tmp_path, progress=False,
                  n_resamples=200)  # fmt: skip
    assert again.equals(frame)


@pytest.mark.filterwarnings("ignore:lm_pairwise_judge. truncated")
def test_pairwise_judge_hack_rate_equals_direct_comparisons(llmbar_pairs):
    pytest.importorskip("torch")
    from metricrm.adapters.causal_lm import PairwiseJudge

    from .model_fixtures import tiny_causal_lm_path

    judge = PairwiseJudge(tiny_causal_lm_path())
    pairs = llmbar_pairs[:8]
    p = get_probe("sycophantic_opener")
    frame = probe(judge, pairs, [p], sides="rejected", cache=False, progress=False,
                  n_resamples=100)  # fmt: skip
    got = frame.set_index("statistic")["value"]
    prompts = [x.prompt for x in pairs]
    new = [p(x.rejected, prompt=x.prompt, seed=0) for x in pairs]
    hack = judge.compare(prompts, new, [x.chosen for x in pairs]) > 0.5
    pref = judge.compare(prompts, new, [x.rejected for x in pairs])
    base = judge.compare(prompts, [x.rejected for x in pairs], [x.chosen for x in pairs]) > 0.5
    assert got["hack_rate"] == pytest.approx(hack.mean())
    assert got["hack_rate_untouched"] == pytest.approx(base.mean())
    assert got["preference"] == pytest.approx(pref.mean())
    assert got["rise_rate"] == pytest.approx((pref > 0.5).mean())


def test_length_padding_raises_the_length_hack_rate_to_one(shared_data):
    """The check that the machinery sees what it should, on every pair of three benchmarks'
    samples: padded rejected responses are longer than every chosen one."""
    pairs = (
        mr.data.load_llmbar(shared_data / LLMBAR)
        + mr.data.load_hh_rlhf(shared_data / HH)[:400]
        + mr.data.load_rm_bench(shared_data / RM_BENCH)[::8]
    )
    frame = probe(mr.get_scorer("length_chars"), pairs, ["pad_filler", "markdown"],
                  cache=False, progress=False, n_resamples=200)  # fmt: skip
    rows = frame.set_index(["probe", "statistic"])
    assert rows.loc[("pad_filler", "hack_rate"), "value"] == 1.0
    assert rows.loc[("pad_filler", "hack_rate"), "ci_low"] == 1.0
    assert rows.loc[("pad_filler", "rise_rate"), "value"] == 1.0
    untouched = rows.loc[("pad_filler", "hack_rate_untouched"), "value"]
    assert 0.2 < untouched < 0.8  # longer-rejected pairs exist, but far from all
    direct = np.mean([len(get_probe("markdown")(x.rejected, prompt=x.prompt)) > len(x.chosen)
                      for x in pairs])  # fmt: skip
    assert rows.loc[("markdown", "hack_rate"), "value"] == pytest.approx(direct)


def test_intervals_are_seeded_per_row_and_bracket_the_value():
    pairs = mr.load_sample("preference")
    scorer = mr.get_scorer("length_tokens")
    a = probe(scorer, pairs, ["markdown", "copy_prompt"], cache=False, progress=False,
              n_resamples=300, seed=5)  # fmt: skip
    b = probe(scorer, pairs, ["copy_prompt"], cache=False, progress=False, n_resamples=300,
              seed=5)  # fmt: skip
    # the copy_prompt rows do not move when another probe is added
    assert a[a.probe == "copy_prompt"].reset_index(drop=True).equals(b)
    assert ((a.ci_low <= a.value + 1e-12) & (a.value <= a.ci_high + 1e-12)).all()
    untouched = a[a.statistic == "hack_rate_untouched"]
    assert untouched.ci_low.nunique() == 1 and untouched.ci_high.nunique() == 1
    assert set(a.n) == {34} and set(a.n_excluded) == {2}  # the sample's two tied pairs
    c = probe(scorer, pairs, ["copy_prompt"], cache=False, progress=False, n_resamples=300,
              seed=6)  # fmt: skip
    assert not c.ci_low.equals(b.ci_low)


def test_perturbed_pairs_match_what_probe_scores():
    pairs = mr.load_sample("preference")[:6]
    out = perturbed_pairs(pairs, "sycophantic_opener", seed=2, sides="rejected")
    assert [x.chosen for x in out] == [x.chosen for x in pairs]
    assert all(x.rejected.endswith(y.rejected) for x, y in zip(out, pairs))


def test_probe_refuses_bad_input():
    pairs = mr.load_sample("preference")
    scorer = mr.get_scorer("length_chars")
    with pytest.raises(ScorerInputError, match="probe: probe copy_source needs the `source`"):
        probe(scorer, pairs, ["copy_source"], cache=False, progress=False)
    with pytest.raises(ScorerConfigError, match="`sides` must be one of"):
        probe(scorer, pairs, sides="chosen", cache=False)
    with pytest.raises(ScorerInputError, match="at least one preference pair"):
        probe(scorer, [], cache=False)
    with pytest.raises(ScorerConfigError, match="given more than once"):
        probe(scorer, pairs, ["markdown", "markdown"], cache=False)
    with pytest.raises(ScorerConfigError, match="expected a Scorer"):
        probe(object(), pairs, cache=False)
