"""A scorer that lives on a reward server (``metricrm serve``): ``RemoteScorer(url)``.

It is a Scorer like any other: inputs are checked here (the same messages as a local call),
sent to ``POST /score`` in requests of at most ``max_items_per_request`` items, and the
server's scores come back as a ``ScoreResult``. Its signature carries the server's scorer
signature (read from ``GET /info`` once, when it is made), so the score cache keys on what the
server computes, not on its address. Only the standard library speaks HTTP here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import numpy as np

from ..core.errors import RemoteScoringError, ScorerConfigError, ScorerInputError
from ..core.types import BaseScorer, ScoreOutput
from ..core.validation import check_integer, check_number

NAME = "remote"


class RemoteScorer(BaseScorer):
    """The scorer behind a metricrm reward server at ``url`` (e.g. ``http://127.0.0.1:8000``).

    ``token``: the server's bearer token, if it has one. ``timeout``: seconds per request.
    None of the settings can change a score: the server's scorer decides, and its signature
    is this scorer's signature.
    """

    name = NAME
    keep_prompt_messages = True  # chat prompts travel as messages; the server's scorer decides
    score_neutral = frozenset({"url", "token", "timeout", "max_items_per_request"})
    setting_hints = {"url": "the reward server's address, e.g. http://127.0.0.1:8000"}

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        max_items_per_request: int = 256,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ScorerConfigError(
                f"{NAME}: `url` must be an http:// or https:// address (got {url!r})"
            )
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = check_number(NAME, "timeout", timeout, above=0)
        self.max_items_per_request = check_integer(
            NAME, "max_items_per_request", max_items_per_request, minimum=1
        )
        self.info = self._request("GET", "/info")
        self.remote_signature = str(self.info["signature"])
        self.higher_is_better = bool(self.info["higher_is_better"])
        self.requires_references = bool(self.info["requires_references"])
        self.requires_prompts = bool(self.info["requires_prompts"])
        self.accepts_empty_responses = bool(self.info["accepts_empty_responses"])
        self.uses_inputs = frozenset(self.info["uses_inputs"])

    def settings(self) -> dict[str, Any]:
        return {"server": f"[{self.remote_signature}]"}

    def _request(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", "")
            except (ValueError, AttributeError):
                message = ""
            finally:
                exc.close()
            text = message or f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code not in (401, 404, 405):
                raise ScorerInputError(text) from None  # the server's own input message
            raise RemoteScoringError(
                f"{NAME}: {method} {self.url}{path} failed with HTTP {exc.code}: {text}",
                exc.code,
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RemoteScoringError(
                f"{NAME}: no answer from the reward server at {self.url}{path} "
                f"({getattr(exc, 'reason', exc)})"
            ) from None

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        scores: list[float] = []
        details: dict[str, list] = {}
        step = self.max_items_per_request
        for start in range(0, len(responses), step):
            stop = start + step
            payload: dict[str, Any] = {"responses": responses[start:stop]}
            for key, values in (("references", references), ("prompts", prompts),
                                ("sources", sources)):  # fmt: skip
                if values is not None:
                    payload[key] = values[start:stop]
            body = self._request("POST", "/score", payload)
            if body.get("signature") != self.remote_signature:
                raise RemoteScoringError(
                    f"{NAME}: the server at {self.url} now computes {body.get('signature')!r}, "
                    f"not {self.remote_signature!r} as when this scorer was made; make a new "
                    "RemoteScorer"
                )
            scores += body["scores"]
            for key, values in body.get("details", {}).items():
                details.setdefault(key, []).extend(values)
        out = {}
        for key, values in details.items():
            if len(values) == len(scores):
                numeric = _numeric(values)
                out[key] = np.asarray(
                    [np.nan if v is None else v for v in values] if numeric else values
                )
        return ScoreOutput(scores, out)


def _numeric(values: list) -> bool:
    return all(v is None or isinstance(v, (int, float)) for v in values)
