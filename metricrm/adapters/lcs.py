"""Length of the longest common subsequence of two token sequences, bit-parallel.

rouge-score fills an (n+1) x (m+1) table in Python to get ROUGE-L's one number, the LCS length.
The bit-parallel recurrence (Allison and Dix 1986; Hyyro 2004) keeps one row of that table as
the bits of a Python integer: one addition, one subtraction and three bitwise operations per
token of the shorter sequence. The length is exactly the table's last cell, so ROUGE-L computed
from it equals rouge-score's to the bit.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Number of tokens in a longest common subsequence of ``a`` and ``b``."""
    if len(a) < len(b):
        a, b = b, a  # bits over the longer sequence, one loop step per token of the shorter
    if not b:
        return 0
    masks: dict[Hashable, int] = {}
    for position, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full  # a zero bit marks a position where the LCS of the prefixes grew
    for token in b:
        match = masks.get(token)
        if match:
            hit = row & match
            row = ((row + hit) | (row - hit)) & full
    return len(a) - row.bit_count()
