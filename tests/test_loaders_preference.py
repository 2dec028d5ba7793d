"""Preference-benchmark loaders on the real shared files: counts, field values, errors."""

from __future__ import annotations

import gzip
import json
import warnings
from collections import Counter

import pytest

from metricrm.core.errors import DataFormatError
from metricrm.data import (
    RM_BENCH_STYLES,
    load_evalbiasbench,
    load_hh_rlhf,
    load_llmbar,
    load_rm_bench,
    split_transcript,
)

RM_BENCH_PROMPTS = {"chat": 129, "code": 228, "safety-refuse": 284, "safety-response": 157}
LLMBAR_COUNTS = {
    "Natural": 100,
    "Adversarial-Neighbor": 134,
    "Adversarial-GPTInst": 92,
    "Adversarial-GPTOut": 47,
    "Adversarial-Manual": 46,
}


@pytest.fixture(scope="module")
def rm_bench(shared_data):
    return load_rm_bench(shared_data / "preference" / "rm-bench")


def test_rm_bench_counts_match_readme(rm_bench):
    prompts = {(p.subset, p.meta["prompt_id"]) for p in rm_bench}
    assert Counter(s for s, _ in prompts) == RM_BENCH_PROMPTS
    assert Counter(p.subset for p in rm_bench) == {k: 9 * n for k, n in RM_BENCH_PROMPTS.items()}
    assert len({p.id for p in rm_bench}) == len(rm_bench)  # prompt ids repeat across domains


def test_rm_bench_cells_match_raw_items(shared_data, rm_bench):
    raw = json.loads((shared_data / "preference/rm-bench/chat_filtered.json").read_text("utf-8"))
    first = raw[0]
    cells = [p for p in rm_bench if p.subset == "chat" and p.meta["prompt_id"] == first["id"]]
    assert len(cells) == 9
    for pair in cells:
        i, j = pair.meta["chosen_style"], pair.meta["rejected_style"]
        assert pair.prompt == first["prompt"]
        assert pair.chosen == first["chosen"][i]
        assert pair.rejected == first["rejected"][j]
        assert pair.label == "chosen"
        assert pair.meta["item_subset"] == first["subset"]
        assert pair.meta["error_key"] == first["error_key"]
        assert pair.meta["difficulty"] == ("hard" if i < j else "normal" if i == j else "easy")
    assert {(p.meta["chosen_style"], p.meta["rejected_style"]) for p in cells} == {
        (i, j) for i in range(3) for j in range(3)
    }
    assert len(RM_BENCH_STYLES) == len(first["chosen"]) == 3


def test_rm_bench_single_file_keeps_extra_fields(shared_data, rm_bench):
    path = shared_data / "preference/rm-bench/code_filtered.json"
    raw = json.loads(path.read_text("utf-8"))
    pairs = load_rm_bench(path)
    assert pairs == [p for p in rm_bench if p.subset == "code"]
    assert pairs[-1].meta["language"] == raw[-1]["language"]
    assert pairs[-1].meta["task_id"] == raw[-1]["task_id"]
    assert Counter(p.meta["difficulty"] for p in pairs) == {
        "hard": 3 * 228,
        "normal": 3 * 228,
        "easy": 3 * 228,
    }


def test_rm_bench_wrong_number_of_styles(tmp_path):
    path = tmp_path / "chat_filtered.json"
    item = {
        "id": 1,
        "subset": "x",
        "prompt": "p",
        "chosen": ["a", "b", "c"],
        "rejected": ["a", "b"],
    }
    path.write_text(json.dumps([item, item]), encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"chat_filtered\.json: item 0: expected `rejected` to be a list of 3 responses \(got 2 entries\)",
    ):
        load_rm_bench(path)


def test_llmbar_counts_and_labels(shared_data):
    root = shared_data / "preference" / "llmbar"
    pairs = load_llmbar(root)
    assert Counter(p.subset for p in pairs) == LLMBAR_COUNTS
    for subset, folder in [("Natural", "Natural"), ("Adversarial-Manual", "Adversarial/Manual")]:
        raw = json.loads((root / folder / "dataset.json").read_text("utf-8"))
        loaded = [p for p in pairs if p.subset == subset]
        assert len(loaded) == len(raw)
        for pair, item in zip(loaded, raw):
            better, worse = (1, 2) if item["label"] == 1 else (2, 1)
            assert (pair.prompt, pair.chosen, pair.rejected) == (
                item["input"],
                item[f"output_{better}"],
                item[f"output_{worse}"],
            )
            assert pair.meta["label"] == item["label"]
    assert load_llmbar(root / "Adversarial" / "GPTOut" / "dataset.json") == [
        p for p in pairs if p.subset == "Adversarial-GPTOut"
    ]


def test_llmbar_invalid_label_names_file_and_item(tmp_path):
    folder = tmp_path / "Natural"
    folder.mkdir()
    items = [{"input": "q", "output_1": "a", "output_2": "b", "label": 1}] * 2
    items.append({"input": "q", "output_1": "a", "output_2": "b", "label": 3})
    (folder / "dataset.json").write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"Natural[/\\]dataset\.json: item 2: expected `label` to be 1 or 2 \(got 3\)",
    ):
        load_llmbar(tmp_path)


def test_evalbiasbench(shared_data):
    path = shared_data / "preference/evalbiasbench/biasbench.json"
    raw = json.loads(path.read_text("utf-8"))
    pairs = load_evalbiasbench(path)
    assert len(pairs) == 80
    assert Counter(p.subset for p in pairs) == {
        "length bias": 17,
        "concreteness": 14,
        "empty reference": 13,
        "content_continuation": 12,
        "nested_instruction": 12,
        "familiar knowledge preference bias": 12,
    }
    flat = [item for items in raw.values() for item in items]
    for pair, item in zip(pairs, flat):  # label is always 1: response1 is better
        assert (pair.prompt, pair.chosen, pair.rejected) == (
            item["instruction"],
            item["response1"],
            item["response2"],
        )
        assert pair.meta["bias"] == item["bias"]


def test_evalbiasbench_missing_field(tmp_path):
    path = tmp_path / "bias.json"
    path.write_text(
        json.dumps({"length bias": [{"instruction": "q", "response1": "a", "label": 1}]})
    )
    with pytest.raises(
        DataFormatError,
        match=r"bias\.json: bias 'length bias', item 0: missing field\(s\) 'response2' \(fields present: 'instruction', 'response1', 'label'\)",
    ):
        load_evalbiasbench(path)


@pytest.fixture(scope="module")
def hh_raw(shared_data):
    path = shared_data / "preference/hh-rlhf/harmless-base_test.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return path, [json.loads(line) for line in fh if line.strip()]


def test_hh_rlhf_split(hh_raw):
    path, raw = hh_raw
    pairs = load_hh_rlhf(path)
    assert len(pairs) == len(raw) == 2312
    flagged = [p for p in pairs if p.meta["prompt_mismatch"]]
    assert len(flagged) == 2312 - 2307
    for pair, record in zip(pairs, raw):
        assert pair.label == "chosen" and pair.subset == "harmless-base_test"
        # The responses are the text after the last "Assistant:" marker, without the marker.
        assert record["chosen"].rstrip().endswith(pair.chosen)
        assert record["rejected"].rstrip().endswith(pair.rejected)
        assert not pair.chosen.startswith("Assistant:")
        if not pair.meta["prompt_mismatch"]:
            assert pair.prompt[-1]["role"] == "user"
            assert {m["role"] for m in pair.prompt} <= {"user", "assistant"}
            tail = record["chosen"][record["chosen"].rindex("\n\nAssistant:") :]
            assert (
                record["chosen"].startswith(
                    record["rejected"][: record["rejected"].rindex("\n\nAssistant:")]
                )
                and tail.strip().removeprefix("Assistant:").strip() == pair.chosen
            )
    first, record = pairs[0], raw[0]
    assert record["chosen"].startswith(
        f"\n\nHuman: {first.prompt[0]['content']}\n\nAssistant: {first.prompt[1]['content']}\n\nHuman:"
    )
    # Empty final turns are kept, not dropped.
    assert sum(p.chosen == "" for p in pairs) == sum(
        r["chosen"].endswith("Assistant: ") for r in raw
    )


def test_hh_rlhf_mismatch_options(hh_raw):
    path, raw = hh_raw
    flagged = [p.meta["line"] for p in load_hh_rlhf(path) if p.meta["prompt_mismatch"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = load_hh_rlhf(path, on_mismatch="skip")
    assert len(kept) == 2307
    assert f"skipped 5 of 2312 pairs in {path}" in str(caught[0].message)
    assert f"lines {', '.join(map(str, flagged))}" in str(caught[0].message)
    with pytest.raises(
        DataFormatError,
        match=rf"harmless-base_test\.jsonl\.gz: line {flagged[0]}: ",
    ):
        load_hh_rlhf(path, on_mismatch="raise")


def test_hh_rlhf_bad_transcript_and_truncated_gzip(tmp_path):
    good = {
        "chosen": "\n\nHuman: hi\n\nAssistant: hello",
        "rejected": "\n\nHuman: hi\n\nAssistant: go",
    }
    bad = {"chosen": "Human: hi\n\nAssistant: hello", "rejected": good["rejected"]}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match=r"t\.jsonl: line 2, `chosen`: expected a transcript starting with",
    ):
        load_hh_rlhf(path)
    data = gzip.compress((json.dumps(good) + "\n").encode() * 50)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.jsonl\.gz: cannot read the file"):
        load_hh_rlhf(cut)
    assert split_transcript(good["chosen"]) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
