"""Shared prompt prefixes: run the tokens several items have in common once, reuse their cache.

Items carrying the same ``share`` key (the responses of one prompt: a preference pair, RM-Bench's
six responses, best-of-n samples; a judge's questions about one prompt) form a group. The
group's prefix is the longest run of leading tokens all its items have in common, capped so
that every logit an item needs lies at or after the prefix's last position. Then, window by
window (a window holds as many prefixes' key/value caches as :data:`PREFIX_CACHE_BYTES`
allows):

1. the prefixes run in token-budget batches (right-padded, ``use_cache=True``); each group
   keeps its own slice of the key/value cache and the logits at its prefix's last position;
2. the rest of every item (its suffix) runs in token-budget batches of similar suffix length
   (in both steps, at most :data:`MAX_PADDING` of a row is padding), on a cache assembled
   from its group's prefix cache: the caches of a batch are right-padded to the longest
   prefix, the attention mask hides the padding, and ``position_ids`` continue each item's
   own prefix, so every token sees exactly the positions and keys it sees in one unpadded
   forward pass of the whole item.

Batching and grouping change only the order of floating-point sums: scores agree with the
plain path to float tolerance (about 1e-6 in float32), like any other batch size. Models whose
cache is not a plain per-layer key/value store (sliding-window or recurrent layers) fall back
to the plain path, and ``LMEngine.share_disabled`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.token_batching import pad_right, plan_batches

#: key/value bytes of prefix caches held at once (one window)
PREFIX_CACHE_BYTES = 256 * 2**20
#: groups whose shared prefix is shorter than this run on the plain path
MIN_SHARED_TOKENS = 4
#: at most this fraction of a prefix or suffix row is padding: batches hold items of similar
#: length (short responses padded to the longest in a batch used to eat most of the saving)
MAX_PADDING = 0.1


@dataclass
class Group:
    """Items that share a prefix: its length, the members, and (once run) its cache slice."""

    length: int
    members: list[int]
    kv: list[tuple[Any, Any]] | None = None
    last: Any = None  # logits at position length - 1, when a member needs them


def common_length(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of token id lists."""
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for k in range(n):
        token = first[k]
        if any(s[k] != token for s in seqs[1:]):
            return k
    return n


def plan_groups(
    ids: Sequence[Sequence[int]], first_needed: Sequence[int], keys: Sequence[Any]
) -> tuple[list[int], list[Group]]:
    """Items to run plainly, and groups to run with a shared prefix.

    ``first_needed[i]`` is the first position whose logits item ``i`` needs; a group's prefix
    ends at or before ``min(first_needed) + 1`` and leaves every item at least one token.
    """
    by_key: dict[Any, list[int]] = {}
    plain: list[int] = []
    for i, key in enumerate(keys):
        if key is None:
            plain.append(i)
        else:
            by_key.setdefault(key, []).append(i)
    groups: list[Group] = []
    for members in by_key.values():
        if len(members) < 2:
            plain += members
            continue
        cap = min(min(first_needed[i] + 1, len(ids[i]) - 1) for i in members)
        length = min(common_length([ids[i] for i in members]), cap)
        if length < MIN_SHARED_TOKENS:
            plain += members
        else:
            groups.append(Group(length, members))
    return sorted(plain), groups


def cache_tensors(cache: Any) -> list[tuple[Any, Any]] | None:
    """Per-layer ``(keys, values)`` of a plain key/value cache, or None for any other kind
    (sliding-window, recurrent or quantised layers cannot be sliced and re-assembled)."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        if any(type(layer).__name__ != "DynamicLayer" for layer in layers):
            return None
        return [(layer.keys, layer.values) for layer in layers]
    keys, values = getattr(cache, "key_cache", None), getattr(cache, "value_cache", None)
    if isinstance(keys, list) and isinstance(values, list) and len(keys) == len(values):
        return list(zip(keys, values))
    return None


def build_cache(layers: list[tuple[Any, Any]]) -> Any:
    """A ``DynamicCache`` holding the given per-layer keys and values."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for index, (k, v) in enumerate(layers):
        cache.update(k, v, index)
    return cache


class SharedPrefixRunner:
    """Runs groups of items through ``engine`` with one prefix pass per group (module doc)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def run(
        self,
        ids: Sequence[Sequence[int]],
        needed: Sequence[Sequence[int]],
        groups: list[Group],
        reduce: Callable[[int, Any], Any],
        out: list,
    ) -> list[int]:
        """Fill ``out[i] = reduce(i, logits rows at needed[i])`` for every grouped item; return
        the items left for the plain path (all of them when the model's cache cannot be
        shared)."""
        e = self.engine
        order = plan_batches(
            [g.length for g in groups],
            e.max_tokens_per_batch,
            max_batch_size=e.max_batch_size,
            max_padding=MAX_PADDING,
        )
        window: list[Group] = []
        held = 0
        for batch in order:
            part = [groups[k] for k in batch]
            if not self._prefixes(ids, needed, part):
                return sorted(i for g in groups if g.kv is None for i in g.members)
            window += part
            held += sum(_nbytes(g.kv) for g in part)
            if held >= PREFIX_CACHE_BYTES:
                self._suffixes(ids, needed, window, reduce, out)
                window, held = [], 0
        if window:
            self._suffixes(ids, needed, window, reduce, out)
        return []

    def _prefixes(self, ids, needed, part: list[Group]) -> bool:
        e = self.engine
        seqs = [ids[g.members[0]][: g.length] for g in part]
        keep_last = [any(needed[i][0] == g.length - 1 for i in g.members) for g in part]
        positions = sorted({g.length - 1 for g, k in zip(part, keep_last) if k}) or [0]
        logits, cache = e.forward(seqs, keep=positions, use_cache=True)
        layers = cache_tensors(cache)
        if layers is None:
            e.share_disabled = f"the model's cache ({type(cache).__name__}) cannot be shared"
            return False
        column = {p: j for j, p in enumerate(positions)}
        for b, (g, k) in enumerate(zip(part, keep_last)):
            g.kv = [
                (kk[b : b + 1, :, : g.length], vv[b : b + 1, :, : g.length]) for kk, vv in layers
            ]
            g.last = logits[b, column[g.length - 1]].float() if k else None
        return True

    def _suffixes(self, ids, needed, window: list[Group], reduce, out: list) -> None:
        e = self.engine
        rows = [(g, i) for g in window for i in g.members]
        lengths = [len(ids[i]) - g.length for g, i in rows]
        widest = max(g.length for g in window)
        cap = max(1, 4 * e.max_tokens_per_batch // widest)
        if e.max_batch_size is not None:
            cap = min(cap, e.max_batch_size)
        plan = plan_batches(
            lengths, e.max_tokens_per_batch, max_batch_size=cap, max_padding=MAX_PADDING
        )
        for batch in plan:
            self._suffix_batch(ids, needed, [rows[k] for k in batch], reduce, out)
        for g in window:
            g.kv, g.last = None, None

    def _suffix_batch(self, ids, needed, rows, reduce, out: list) -> None:
        import torch

        e = self.engine
        width = max(g.length for g, _ in rows)
        suffixes = [list(ids[i][g.length :]) for g, i in rows]
        padded, suffix_mask = pad_right(suffixes, e.lm.pad_id)
        span = len(padded[0])
        mask = [
            [1] * g.length + [0] * (width - g.length) + m for (g, _), m in zip(rows, suffix_mask)
        ]
        position_ids = [list(range(g.length, g.length + span)) for g, _ in rows]
        layers = []
        for layer in range(len(rows[0][0].kv)):
            keys, values = [], []
            for g, _ in rows:
                k, v = g.kv[layer]
                pad = width - g.length
                keys.append(torch.nn.functional.pad(k, (0, 0, 0, pad)) if pad else k)
                values.append(torch.nn.functional.pad(v, (0, 0, 0, pad)) if pad else v)
            layers.append((torch.cat(keys), torch.cat(values)))
        wanted = sorted({p - g.length for g, i in rows for p in needed[i] if p >= g.length})
        logits, _ = e.forward(
            padded,
            mask=mask,
            keep=wanted or [0],
            cache=build_cache(layers),
            position_ids=position_ids,
            use_cache=True,
        )
        column = {p: j for j, p in enumerate(wanted)}
        for b, (g, i) in enumerate(rows):
            parts = []
            tail = [column[p - g.length] for p in needed[i] if p >= g.length]
            if needed[i][0] == g.length - 1:
                parts.append(g.last[None])
            if tail:
                parts.append(logits[b, tail].float())
            out[i] = reduce(i, torch.cat(parts) if len(parts) > 1 else parts[0])


def _nbytes(kv: list[tuple[Any, Any]] | None) -> int:
    if not kv:
        return 0
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
