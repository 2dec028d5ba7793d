"""A scorer or composite as a reward server on Ray Serve (``pip install "metricrm[serve]"``).

:func:`serve_scorer` starts a Ray Serve application whose replicas each build the scorer once
and score requests in dynamic batches (``@serve.batch``: requests that arrive together share
one scorer call; a failing batch is split and retried request by request, see
:mod:`.reward_protocol`). Endpoints: ``POST /score``, ``POST /get_reward`` (OpenRLHF's remote
reward shape), ``GET /health``, ``GET /info``.

The server binds 127.0.0.1 unless told otherwise, and refuses any other address without a
bearer token (``token=`` or ``$METRICRM_SERVE_TOKEN``).

:func:`serve_in_thread` serves the same endpoints from a thread of this process, one request
at a time, without Ray: for tests and small single-machine jobs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..core.errors import ScorerConfigError
from ..core.optional import require
from ..core.validation import check_integer, check_number
from .ray_data import ScorerRecipe, recipe_for
from .reward_protocol import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ITEMS,
    Reply,
    RewardService,
    score_batch,
)

WHO = "serve_scorer"
#: environment variable holding the bearer token when none is passed
TOKEN_ENV = "METRICRM_SERVE_TOKEN"
APP_NAME = "metricrm-reward"


def check_bind(who: str, host: str, token: str | None) -> None:
    """Refuse a non-loopback ``host`` without a token."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        raise ScorerConfigError(
            f"{who}: refusing to listen on {host!r} (not a loopback address) without a bearer "
            f"token; pass a token (--token, or set ${TOKEN_ENV}) or bind 127.0.0.1"
        )


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``$METRICRM_SERVE_TOKEN``, else None."""
    return token or os.environ.get(TOKEN_ENV) or None


def _recipe(scorer: Any, settings: Mapping[str, Any] | None) -> ScorerRecipe:
    """A composite file path, a registered name (with settings) or a scorer instance."""
    if isinstance(scorer, os.PathLike) or (
        isinstance(scorer, str) and scorer.endswith((".json", ".yaml", ".yml"))
    ):
        path = os.path.abspath(os.fspath(scorer))
        return recipe_for("composite", {**dict(settings or {}), "path": path})
    return recipe_for(scorer, settings)


def scorer_from_spec(scorer: Any, settings: Mapping[str, Any] | None = None) -> Any:
    """The scorer a spec names: a composite file, a registered name with settings, or an
    instance."""
    return _recipe(scorer, settings).build()


async def _read_body(request: Any, limit: int) -> bytes:
    """The body, read no further than ``limit + 1`` bytes (enough to refuse it as too large)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"\0" * (limit + 1)
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def _server_class(serve: Any, max_batch_size: int, batch_wait_timeout_s: float) -> type:
    class RewardServer:
        """One replica: the scorer built once, requests scored in dynamic batches."""

        def __init__(self, recipe: ScorerRecipe, options: dict[str, Any]) -> None:
            self.service = RewardService(recipe.build(), **options)

        async def __call__(self, request: Any) -> Any:
            from starlette.responses import JSONResponse

            body = await _read_body(request, self.service.max_body_bytes)
            job = self.service.route(
                request.method, request.url.path, request.headers.get("authorization"), body
            )
            reply = job if isinstance(job, Reply) else job.finish(await self.score(job.request))
            return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s)
        async def score(self, requests: list) -> list:
            # in a thread: the replica keeps answering /health while a batch is scored
            return await asyncio.to_thread(score_batch, self.service.scorer, requests)

    return RewardServer


@dataclass
class RunningServer:
    """A started server: its ``url``; ``stop()`` deletes the application (Serve and Ray keep
    running when this process did not start them)."""

    url: str
    stop_fn: Any

    def stop(self) -> None:
        self.stop_fn()


def serve_scorer(
    scorer: Any,
    *,
    settings: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    replicas: int = 1,
    max_replicas: int | None = None,
    cpus_per_replica: float = 1,
    gpus_per_replica: float = 0,
    max_batch_size: int = 32,
    batch_wait_timeout_s: float = 0.005,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_items: int = DEFAULT_MAX_ITEMS,
    address: str | None = None,
) -> RunningServer:
    """Start the reward server and return once it answers; see the module doc.

    ``scorer``: a registered name (built in each replica with ``settings``), a composite
    file, or a scorer instance (pickled to the replicas). ``replicas`` fixed replicas, or
    autoscaling between ``replicas`` and ``max_replicas`` when that is larger. Requests that
    arrive within ``batch_wait_timeout_s`` of each other share a scorer call, up to
    ``max_batch_size`` requests. ``address``: a Ray cluster to join (None: the one this process
    or a ``ray start`` on this machine runs, else a new local one; ``"local"``: always a new
    one).
    """
    token = resolve_token(token)
    check_bind(WHO, host, token)
    check_integer(WHO, "port", port, minimum=1, maximum=65535)
    check_integer(WHO, "replicas", replicas, minimum=1)
    if max_replicas is not None:
        check_integer(WHO, "max_replicas", max_replicas, minimum=replicas)
    check_integer(WHO, "max_batch_size", max_batch_size, minimum=1)
    check_number(WHO, "batch_wait_timeout_s", batch_wait_timeout_s, minimum=0)
    check_integer(WHO, "max_body_bytes", max_body_bytes, minimum=1)
    check_integer(WHO, "max_items", max_items, minimum=1)
    recipe = _recipe(scorer, settings)
    ray = require("ray", who=WHO, extra="serve")
    serve = require("ray.serve", who=WHO, extra="serve")
    require("starlette", who=WHO, extra="serve")
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    scaling: dict[str, Any] = {"num_replicas": replicas}
    shown: Any = replicas
    if max_replicas is not None and max_replicas > replicas:
        scaling = {"autoscaling_config": {"min_replicas": replicas, "max_replicas": max_replicas}}
        shown = {"min": replicas, "max": max_replicas}
    options = {
        "token": token, "max_body_bytes": max_body_bytes, "max_items": max_items,
        "replicas": shown,
        "batching": {"max_batch_size": max_batch_size,
                     "batch_wait_timeout_s": batch_wait_timeout_s},
    }  # fmt: skip
    actor = {"num_cpus": cpus_per_replica}
    if gpus_per_replica:
        actor["num_gpus"] = gpus_per_replica
    deployment = serve.deployment(
        _server_class(serve, max_batch_size, batch_wait_timeout_s),
        name="RewardServer",
        ray_actor_options=actor,
        max_ongoing_requests=max(2 * max_batch_size, 8),
        **scaling,
    )
    serve.run(deployment.bind(recipe, options), name=APP_NAME, route_prefix="/")
    shown_host = f"[{host}]" if ":" in host else host

    def stop() -> None:
        serve.delete(APP_NAME)
        if started_ray:
            serve.shutdown()
            ray.shutdown()

    return RunningServer(f"http://{shown_host}:{port}", stop)


# -- without Ray ----------------------------------------------------------------------------


def serve_in_thread(
    scorer: Any, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None, **limits: Any
) -> RunningServer:
    """The same endpoints from a daemon thread of this process (no batching, no Ray); port 0
    picks a free port. ``limits``: ``max_body_bytes``, ``max_items``."""
    token = resolve_token(token)
    check_bind("serve_in_thread", host, token)
    service = RewardService(scorer, token=token, **limits)
    lock = threading.Lock()  # one scorer call at a time

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            import json

            size = int(self.headers.get("content-length") or 0)
            limit = service.max_body_bytes
            body = self.rfile.read(size) if size <= limit else b"\0" * (limit + 1)
            with lock:
                reply = service.handle(
                    self.command, self.path.split("?")[0], self.headers.get("authorization"),
                    body,
                )  # fmt: skip
            data = json.dumps(reply.body).encode("utf-8")
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if size > limit:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="metricrm-reward", daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)

    shown_host = f"[{host}]" if ":" in host else host
    return RunningServer(f"http://{shown_host}:{httpd.server_address[1]}", stop)
