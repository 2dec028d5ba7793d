"""What the reward server speaks, without any web framework: request parsing and validation,
batch scoring with split-and-retry, and the JSON replies.

Every request is checked with the library's own input checks (the messages a local call
gives) before it joins a batch. A batch joins the requests that give the same inputs into one
scorer call; if that call fails, each request is scored alone, so a bad request fails only
itself; a request that fails alone gets a 400 for bad input (the scorer's own message) or a
500 naming the first item that fails by itself.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import BadRequestError, ScorerInputError
from ..core.validation import check_not_empty, check_references, check_responses, check_texts
from ..core.versions import version_label

WHO = "reward server"
#: fields of ``POST /score``
SCORE_FIELDS = ("responses", "prompts", "references", "sources")
#: fields of the OpenRLHF remote reward request (``POST /get_reward``)
OPENRLHF_FIELDS = ("query", "prompts", "labels")
#: requests larger than this are refused with 413 (bytes of the JSON body)
DEFAULT_MAX_BODY_BYTES = 16 * 2**20
#: requests with more items than this are refused with 413
DEFAULT_MAX_ITEMS = 4096


@dataclass(frozen=True)
class Reply:
    """An HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def error(status: int, message: str, **headers: str) -> Reply:
    return Reply(status, {"error": message}, headers)


@dataclass(frozen=True)
class ScoreRequest:
    """One checked request: the inputs as the client sent them (chat messages kept)."""

    responses: list
    references: list | None = None
    prompts: list | None = None
    sources: list | None = None

    def __len__(self) -> int:
        return len(self.responses)

    @property
    def shape(self) -> tuple[bool, bool, bool]:
        """Which optional inputs are given: requests of one shape share a scorer call."""
        return (self.references is None, self.prompts is None, self.sources is None)


@dataclass(frozen=True)
class Outcome:
    """Scores and details of one request, or its error status and message."""

    status: int = 200
    scores: list[float] | None = None
    details: dict[str, list] | None = None
    message: str | None = None


# -- parsing --------------------------------------------------------------------------------


def parse_body(body: bytes, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> dict[str, Any]:
    """The JSON object in ``body``, or a 413 (too large) / 400 (not a JSON object)."""
    if len(body) > max_body_bytes:
        raise BadRequestError(
            f"{WHO}: request body has more than {max_body_bytes} bytes; send fewer items per "
            "request", 413,
        )  # fmt: skip
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"{WHO}: request body is not valid JSON ({exc})") from None
    except RecursionError:
        raise BadRequestError(f"{WHO}: request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise BadRequestError(
            f"{WHO}: expected a JSON object with {', '.join(SCORE_FIELDS)} "
            f"(got a JSON {type(payload).__name__})"
        )
    return payload


def _check_fields(payload: Mapping[str, Any], allowed: Sequence[str], required: str) -> None:
    unknown = sorted(k for k in payload if k not in allowed)
    if unknown:
        raise BadRequestError(
            f"{WHO}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"valid fields: {', '.join(allowed)}"
        )
    if payload.get(required) is None:
        raise BadRequestError(f"{WHO}: expected the field {required!r} (a list)")


def check_request(
    scorer: Any, request: ScoreRequest, *, max_items: int = DEFAULT_MAX_ITEMS
) -> ScoreRequest:
    """``request`` if its inputs pass the checks every scorer makes (same messages as a
    local ``score`` call), else a 400; more than ``max_items`` items is a 413."""
    name = getattr(scorer, "name", type(scorer).__name__)
    try:
        n = len(
            check_responses(
                name, request.responses,
                allow_empty_text=bool(getattr(scorer, "accepts_empty_responses", False)),
            )
        )  # fmt: skip
        check_not_empty(name, n)
        if n > max_items:
            raise BadRequestError(
                f"{WHO}: request has {n} responses; at most {max_items} per request", 413
            )
        if request.references is not None:
            check_references(name, request.references, n)
        if request.prompts is not None:
            check_texts(name, "prompts", request.prompts, n, flatten=False)
        if request.sources is not None:
            check_texts(name, "sources", request.sources, n)
    except ScorerInputError as exc:
        raise BadRequestError(str(exc)) from None
    return request


def score_request(scorer: Any, payload: Mapping[str, Any], **limits: Any) -> ScoreRequest:
    """A checked request from the body of ``POST /score``."""
    _check_fields(payload, SCORE_FIELDS, "responses")
    request = ScoreRequest(**{k: payload.get(k) for k in SCORE_FIELDS})
    return check_request(scorer, request, **limits)


def openrlhf_request(scorer: Any, payload: Mapping[str, Any], **limits: Any) -> ScoreRequest:
    """A checked request from OpenRLHF's remote reward body ``{"query", "prompts", "labels"}``.

    A query is the prompt followed by the response (chat template applied): the response is
    the query with its prompt cut off the front (the whole query when it does not start with
    the prompt, or when no prompts are sent). Labels, when they are strings, are the
    references.
    """
    _check_fields(payload, OPENRLHF_FIELDS, "query")
    queries, prompts, labels = (payload.get(k) for k in OPENRLHF_FIELDS)
    name = getattr(scorer, "name", type(scorer).__name__)
    responses = queries
    if prompts is not None:
        try:
            check_texts(name, "prompts", prompts, len(check_responses(name, queries)))
        except ScorerInputError as exc:
            raise BadRequestError(str(exc)) from None
        responses = [
            q[len(p) :] if isinstance(q, str) and isinstance(p, str) and q.startswith(p) else q
            for q, p in zip(queries, prompts)
        ]
    references = None
    if isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels):
        references = labels
    request = ScoreRequest(responses=responses, references=references, prompts=prompts)
    return check_request(scorer, request, **limits)


# -- scoring --------------------------------------------------------------------------------


def _json_values(values: Any) -> list:
    """A detail column as JSON-ready values (non-finite floats become null)."""
    out = np.asarray(values).tolist()
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in out]


def _call(scorer: Any, request: ScoreRequest) -> tuple[list[float], dict[str, list]]:
    result = scorer.score(
        request.responses, references=request.references, prompts=request.prompts,
        sources=request.sources,
    )  # fmt: skip
    details = {k: _json_values(v) for k, v in result.details.items()}
    return [float(s) for s in result.scores], details


def _part(request: ScoreRequest, start: int, stop: int) -> ScoreRequest:
    cut = lambda v: None if v is None else v[start:stop]  # noqa: E731
    return ScoreRequest(
        request.responses[start:stop], cut(request.references), cut(request.prompts),
        cut(request.sources),
    )  # fmt: skip


def _fails(scorer: Any, request: ScoreRequest) -> bool:
    try:
        _call(scorer, request)
    except Exception:  # noqa: BLE001 - any failure counts here
        return True
    return False


def first_failing_item(scorer: Any, request: ScoreRequest) -> int | None:
    """The first item that fails when scored on its own part, found by halving; None when
    every half succeeds alone (the failure needs items together)."""
    start, stop = 0, len(request)
    while stop - start > 1:
        middle = (start + stop) // 2
        if _fails(scorer, _part(request, start, middle)):
            stop = middle
        elif _fails(scorer, _part(request, middle, stop)):
            start = middle
        else:
            return None
    return start


def score_alone(scorer: Any, request: ScoreRequest) -> Outcome:
    """One request in its own scorer call: scores, a 400 (bad input), or a 500 naming the
    item that fails."""
    name = getattr(scorer, "name", type(scorer).__name__)
    try:
        scores, details = _call(scorer, request)
    except ScorerInputError as exc:
        return Outcome(400, message=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported to the client, the server keeps serving
        item = first_failing_item(scorer, request) if len(request) > 1 else 0
        where = f"item {item}" if item is not None else f"items 0-{len(request) - 1} together"
        return Outcome(
            500, message=f"{name}: scoring failed on {where} of this request "
            f"({type(exc).__name__}: {exc})"
        )  # fmt: skip
    return Outcome(200, scores, details)


def _join(requests: Sequence[ScoreRequest]) -> ScoreRequest:
    def joined(attr: str) -> list | None:
        parts = [getattr(r, attr) for r in requests]
        return None if parts[0] is None else [x for part in parts for x in part]

    return ScoreRequest(
        joined("responses"), joined("references"), joined("prompts"), joined("sources")
    )


def score_batch(scorer: Any, requests: Sequence[ScoreRequest]) -> list[Outcome]:
    """One outcome per request, in order. Requests of one shape share one scorer call; when
    it fails, each of them is scored alone (no request is lost or takes another's scores)."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    groups: dict[tuple[bool, bool, bool], list[int]] = {}
    for i, request in enumerate(requests):
        groups.setdefault(request.shape, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            outcomes[members[0]] = score_alone(scorer, requests[members[0]])
            continue
        try:
            scores, details = _call(scorer, _join([requests[i] for i in members]))
        except Exception:  # noqa: BLE001 - split and retry, request by request
            for i in members:
                outcomes[i] = score_alone(scorer, requests[i])
            continue
        start = 0
        for i in members:
            stop = start + len(requests[i])
            part = {k: v[start:stop] for k, v in details.items()}
            outcomes[i] = Outcome(200, scores[start:stop], part)
            start = stop
    return [o for o in outcomes if o is not None]


# -- replies --------------------------------------------------------------------------------


def score_reply(scorer: Any, outcome: Outcome) -> Reply:
    """The body of ``POST /score``: scores, signature, details (or the error)."""
    if outcome.status != 200:
        return error(outcome.status, outcome.message or "")
    return Reply(
        200,
        {
            "scores": outcome.scores,
            "name": getattr(scorer, "name", type(scorer).__name__),
            "signature": scorer.signature,
            "higher_is_better": bool(getattr(scorer, "higher_is_better", True)),
            "details": outcome.details or {},
        },
    )


def openrlhf_reply(outcome: Outcome) -> Reply:
    """OpenRLHF's reply shape: ``rewards`` (read by the trainer), ``scores`` (the same) and
    ``extra_logs`` (numeric per-item details)."""
    if outcome.status != 200:
        return error(outcome.status, outcome.message or "")
    logs = {
        k: v
        for k, v in (outcome.details or {}).items()
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    }
    return Reply(200, {"rewards": outcome.scores, "scores": outcome.scores, "extra_logs": logs})


def info(scorer: Any, *, replicas: Any = 1, batching: Mapping[str, Any] | None = None) -> dict:
    """What ``GET /info`` returns: the scorer's identity, what it needs, versions, replicas."""
    uses = getattr(scorer, "uses_inputs", {"references", "prompts", "sources"})
    return {
        "name": getattr(scorer, "name", type(scorer).__name__),
        "signature": scorer.signature,
        "higher_is_better": bool(getattr(scorer, "higher_is_better", True)),
        "requires_references": bool(getattr(scorer, "requires_references", False)),
        "requires_prompts": bool(getattr(scorer, "requires_prompts", False)),
        "accepts_empty_responses": bool(getattr(scorer, "accepts_empty_responses", False)),
        "uses_inputs": sorted(uses),
        "versions": {d: version_label(d) for d in ("metricrm", "ray", "numpy") if version_label(d)},
        "replicas": replicas,
        "batching": dict(batching or {}),
    }


def authorized(token: str | None, header: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (always, without token)."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


# -- routing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreJob:
    """A checked request waiting for its scores; ``finish`` turns the outcome into a reply."""

    request: ScoreRequest
    finish: Callable[[Outcome], Reply]


@dataclass
class RewardService:
    """The endpoints over one scorer, independent of the web server that carries them."""

    scorer: Any
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_items: int = DEFAULT_MAX_ITEMS
    replicas: Any = 1
    batching: Mapping[str, Any] = field(default_factory=dict)

    def route(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> Reply | ScoreJob:
        """A reply now (health, info, errors) or a job for the batcher (score requests)."""
        path = "/" + path.strip("/")
        endpoints = {
            "/health": "GET", "/info": "GET", "/score": "POST", "/get_reward": "POST",
        }  # fmt: skip
        if path not in endpoints:
            return error(404, f"{WHO}: no endpoint {path}; endpoints: {', '.join(endpoints)}")
        if method != endpoints[path]:
            return error(405, f"{WHO}: {path} takes {endpoints[path]} (got {method})")
        if path == "/health":
            return Reply(200, {"status": "ok"})
        if not authorized(self.token, authorization):
            return error(
                401, f"{WHO}: missing or wrong bearer token (send `Authorization: Bearer ...`)",
                **{"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        if path == "/info":
            return Reply(200, info(self.scorer, replicas=self.replicas, batching=self.batching))
        limits = {"max_items": self.max_items}
        try:
            payload = parse_body(body, max_body_bytes=self.max_body_bytes)
            if path == "/score":
                request = score_request(self.scorer, payload, **limits)
                return ScoreJob(request, lambda o: score_reply(self.scorer, o))
            request = openrlhf_request(self.scorer, payload, **limits)
            return ScoreJob(request, openrlhf_reply)
        except BadRequestError as exc:
            return error(exc.status, str(exc))

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> Reply:
        """Route and score at once (one request per scorer call: no batching)."""
        job = self.route(method, path, authorization, body)
        if isinstance(job, Reply):
            return job
        return job.finish(score_batch(self.scorer, [job.request])[0])
