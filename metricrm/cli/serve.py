"""``metricrm serve``: a scorer or composite as a reward server (Ray Serve, or a thread)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from ..core.errors import ScorerConfigError
from ..engines.reward_server import TOKEN_ENV, scorer_from_spec, serve_in_thread, serve_scorer
from .common import add_set_option


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a scorer or composite over HTTP (a reward server for RL trainers)",
        description="Endpoints: POST /score, POST /get_reward (OpenRLHF: --remote_rm_url "
        "http://HOST:PORT/get_reward), GET /health, GET /info.",
    )
    p.add_argument(
        "spec", metavar="SPEC", help="a registered scorer name, or a composite file (.yaml/.json)"
    )
    add_set_option(p, metavar="KEY=VALUE")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port "
                   "with --engine thread)")  # fmt: skip
    p.add_argument(
        "--token",
        help=f"bearer token clients must send (default ${TOKEN_ENV}); required to bind an "
        "address other than loopback",
    )
    p.add_argument(
        "--engine",
        choices=("ray", "thread"),
        default="ray",
        help="ray: Ray Serve with replicas and dynamic batching (needs the `serve` extra); "
        "thread: one process, one request at a time, no Ray",
    )
    p.add_argument("--replicas", type=int, default=1, help="replicas (minimum with autoscaling)")
    p.add_argument("--max-replicas", type=int, help="autoscale up to this many replicas")
    p.add_argument("--cpus-per-replica", type=float, default=1.0)
    p.add_argument("--gpus-per-replica", type=float, default=0.0)
    p.add_argument(
        "--max-batch-size", type=int, default=32, help="requests per scorer call (default 32)"
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=5.0,
        help="how long a batch waits for more requests (default 5 ms)",
    )
    p.add_argument("--address", help="Ray cluster to join (default: a running one or a new one)")
    p.set_defaults(func=cmd_serve)


def parse_key_values(pairs: list[str]) -> dict[str, Any]:
    """``["word_order=2"]`` -> ``{"word_order": 2}`` (JSON values when they parse)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            raise ScorerConfigError(f"--set: expected KEY=VALUE, e.g. word_order=2 (got {pair!r})")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    settings = parse_key_values(args.set)
    if args.engine == "thread":
        scorer = scorer_from_spec(args.spec, settings)
        server = serve_in_thread(scorer, host=args.host, port=args.port, token=args.token)
    else:
        server = serve_scorer(
            args.spec, settings=settings, host=args.host, port=args.port, token=args.token,
            replicas=args.replicas, max_replicas=args.max_replicas,
            cpus_per_replica=args.cpus_per_replica, gpus_per_replica=args.gpus_per_replica,
            max_batch_size=args.max_batch_size, batch_wait_timeout_s=args.batch_wait_ms / 1000,
            address=args.address,
        )  # fmt: skip
    print(f"metricrm: serving {args.spec} at {server.url} (POST /score, POST /get_reward, "
          "GET /health, GET /info); Ctrl-C or SIGTERM stops", flush=True)  # fmt: skip
    # SIGTERM (docker stop, systemd, kill) stops as Ctrl-C does; a server started as a shell's
    # background job has SIGINT ignored (POSIX), and then only SIGTERM reaches it
    in_main = threading.current_thread() is threading.main_thread()  # signals go there only
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("metricrm: stopping", file=sys.stderr)
    finally:
        server.stop()
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)  # main() called from Python: leave no trace
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
