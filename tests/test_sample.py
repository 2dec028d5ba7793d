"""The built-in sample: counts, label kinds, structure, validity, and that it is our own text."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from importlib import resources

import pytest

import metricrm as mr
from metricrm.core.records import is_messages
from metricrm.core.validation import check_references, check_responses, check_texts


@pytest.fixture(scope="module")
def pairs():
    return mr.load_sample("preference")


@pytest.fixture(scope="module")
def items():
    return mr.load_sample("reference")


def test_sample_files_ship_as_package_data():
    folder = resources.files("metricrm.data").joinpath("sample")
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".jsonl")) == [
        "preference.jsonl",
        "reference.jsonl",
    ]


def test_preference_counts_and_labels(pairs):
    assert len(pairs) == 36
    assert all(isinstance(p, mr.PreferencePair) for p in pairs)
    assert Counter(p.label for p in pairs) == {"chosen": 34, "tie": 2}
    assert Counter(p.subset for p in pairs) == {
        "helpfulness": 10,
        "safety": 9,
        "correctness": 11,
        "conciseness": 6,
    }
    assert len({p.id for p in pairs}) == len(pairs)
    chats = [p for p in pairs if is_messages(p.prompt)]
    assert len(chats) >= 4
    assert {m["role"] for p in chats for m in p.prompt} == {"system", "user", "assistant"}
    assert all(p.chosen != p.rejected for p in pairs)
    assert all(not p.references for p in pairs)  # reference-free by design


def test_preference_records_are_valid_scorer_input(pairs):
    n = len(pairs)
    assert len(check_responses("sample", [p.chosen for p in pairs])) == n
    assert len(check_responses("sample", [p.rejected for p in pairs])) == n
    # chat prompts stay message lists when a scorer asks for them, or flatten to text
    kept = check_texts("sample", "prompts", [p.prompt for p in pairs], n, flatten=False)
    flat = check_texts("sample", "prompts", [p.prompt for p in pairs], n)
    assert all(isinstance(t, str) and t.strip() for t in flat)
    assert sum(isinstance(t, list) for t in kept) == sum(is_messages(p.prompt) for p in pairs)


def test_reference_counts_and_structure(items):
    assert len(items) == 36
    assert all(isinstance(it, mr.PointwiseItem) for it in items)
    assert len({it.id for it in items}) == len(items)
    groups = Counter(it.group for it in items)
    assert len(groups) == 12 and set(groups.values()) == {3}
    systems = {it.system for it in items}
    assert systems == {"system-a", "system-b", "system-c"}
    for group in groups:
        members = [it for it in items if it.group == group]
        assert {it.system for it in members} == systems
        assert len({it.source for it in members}) == 1  # group = one source
        assert len({it.references for it in members}) == 1
        assert len({it.response for it in members}) == 3
    assert Counter(it.meta["task"] for it in items) == {"translation": 27, "summarization": 9}
    assert {it.meta["lang"] for it in items} == {"de-en", "fr-en", "en-de", "en"}


def test_reference_records_are_valid_and_scored(items):
    n = len(items)
    assert len(check_responses("sample", [it.response for it in items])) == n
    refs = check_references("sample", [it.references for it in items], n)
    assert {len(r) for r in refs} == {1, 2}
    assert len(check_texts("sample", "sources", [it.source for it in items], n)) == n
    scores = [it.human["da"] for it in items]
    assert all(isinstance(s, float) and 0 <= s <= 100 for s in scores)
    # human scores spread over good, fair and bad outputs
    assert min(scores) < 25 and max(scores) > 90


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="`kind` must be one of 'preference', 'reference'"):
        mr.load_sample("pairs")


def _shared_texts(root) -> str:
    """All the text of the shared preference files and scored files (the sample must not
    contain any of it)."""
    chunks = []
    for path in sorted((root / "preference").rglob("*.json")):
        chunks.append(json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False))
    hh = root / "preference/hh-rlhf/harmless-base_test.jsonl.gz"
    with gzip.open(hh, "rt", encoding="utf-8") as fh:
        chunks.append("\n".join(json.dumps(json.loads(line), ensure_ascii=False) for line in fh))
    chunks.append((root / "scored/wmt-mqm-ted-ende/mqm_ted_ende.tsv").read_text(encoding="utf-8"))
    summeval = json.loads((root / "scored/summeval/summeval.json").read_text(encoding="utf-8"))
    chunks.append(json.dumps(summeval, ensure_ascii=False))
    return "\n".join(chunks)


@pytest.mark.shared_data
def test_sample_text_is_not_taken_from_the_shared_data(shared_data, pairs, items):
    haystack = _shared_texts(shared_data)
    texts = {p.chosen for p in pairs} | {p.rejected for p in pairs}
    texts |= {p.prompt for p in pairs if isinstance(p.prompt, str)}
    texts |= {it.response for it in items} | {it.source for it in items}
    texts |= {r for it in items for r in it.references}
    # Short answers ("Six.", "1969.") occur anywhere; long sentences would only by copying.
    long_texts = [t for t in texts if len(t) >= 40]
    assert len(long_texts) > 100
    assert [t for t in long_texts if t in haystack] == []
