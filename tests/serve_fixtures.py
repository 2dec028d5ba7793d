"""Helpers for the reward-server tests: a chrF that fails on a marked response (importable by
the Ray Serve replicas), distinct inputs, and a free loopback port."""

from __future__ import annotations

import socket

from metricrm.adapters.sacrebleu_metrics import ChrF

BOOM = "BOOM"


class BoomChrF(ChrF):
    """chrF, except that scoring a response containing ``BOOM`` raises (a bug inside a scorer,
    not bad input); its signature is chrF's."""

    def _score(self, responses, *, references, prompts, sources):
        for i, text in enumerate(responses):
            if BOOM in text:
                raise RuntimeError(f"planted failure on {text!r} (position {i} of this call)")
        return super()._score(responses, references=references, prompts=prompts, sources=sources)


WORDS = "the cat sat on a mat while dog ran far away under blue sky near old red house".split()


def texts(seed: int, n: int) -> tuple[list[str], list[str]]:
    """``n`` distinct responses and references, different for every ``seed``."""
    hyps, refs = [], []
    for i in range(n):
        k = seed * 1000 + i
        words = [WORDS[(k * 7 + j * 3) % len(WORDS)] for j in range(3 + k % 5)]
        hyps.append(" ".join(words) + f" {seed}-{i}")
        refs.append(" ".join(reversed(words[1:])) + f" {seed}")
    return hyps, refs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
