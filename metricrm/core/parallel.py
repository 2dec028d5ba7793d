"""Per-item scoring on every core: chunks of items over a reusable pool of worker processes.

The classic metrics (sacrebleu, rouge-score, the lexical scorers) are pure Python: one process
uses one core. For a large input a scorer splits its items into chunks; the calling process
scores chunks from the front while worker processes score chunks from the back, and the results
are joined in input order. Every item goes through the same function with the same inputs in
whichever process scores it, so scores and statistics are bit-identical to one process.

- **How many processes** (``n_jobs``): ``None`` means every usable core when the input has at
  least the scorer's ``parallel_min_items`` items, one process otherwise (measured per metric,
  so small inputs never pay to start workers); an integer asks for that many processes.
- **Workers** are started once per Python process and reused by later calls. Each builds its
  scorer once from a recipe (its class and settings) and keeps it.
- **Start method**: ``forkserver`` where the platform has it, else ``spawn``. Workers start from
  a fresh interpreter, so threads of the calling process (torch's, BLAS's) are never forked.
  While workers start, ``__main__`` is hidden from them: they never re-run the caller's script,
  so a script needs no ``if __name__ == "__main__":`` guard for metricrm's sake.
- **Ending**: ``shutdown_workers()`` or the end of the calling process stops the workers; a
  worker also exits by itself when the calling process is killed (POSIX), so no orphan waits.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import select
import sys
import threading
import time
import types
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from .errors import WorkerProcessError
from .validation import check_integer

#: chunks per process: enough for the processes to even out uneven chunk costs
CHUNKS_PER_PROCESS = 8
#: fewest items in one chunk (below this, sending a chunk costs more than scoring it)
MIN_CHUNK = 32


def start_method() -> str:
    """``forkserver`` where available (Linux, macOS), else ``spawn`` (Windows)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_n_jobs(who: str, n_jobs: Any) -> int | None:
    """``None`` (automatic) or a number of processes >= 1."""
    if n_jobs is None:
        return None
    return check_integer(who, "n_jobs", n_jobs, minimum=1)


def _in_child_process() -> bool:
    """True inside a worker (ours or anyone's): never start processes from there."""
    return _IN_WORKER or multiprocessing.parent_process() is not None


def processes_for(n_jobs: int | None, n_items: int, min_items: int) -> int:
    """How many processes score ``n_items`` items.

    ``n_jobs=None``: every usable core when ``n_items >= min_items``, else 1. An integer: that
    many, but no more than one per ``MIN_CHUNK`` items. Always 1 inside a child process.
    """
    if _in_child_process():
        return 1
    if n_jobs is None:
        wanted = usable_cores() if n_items >= min_items else 1
    else:
        wanted = n_jobs
    return max(1, min(wanted, n_items // MIN_CHUNK))


def chunk_bounds(n_items: int, processes: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks covering ``range(n_items)``."""
    count = max(1, min(processes * CHUNKS_PER_PROCESS, n_items // MIN_CHUNK))
    size = math.ceil(n_items / count)
    return [(start, min(start + size, n_items)) for start in range(0, n_items, size)]


@dataclass(frozen=True)
class RunInfo:
    """How the last ``map_items`` call of this process was split (for tests and benchmarks)."""

    processes: int
    chunks: int
    in_caller: int  # chunks scored by the calling process; the rest by workers


last_run = RunInfo(processes=0, chunks=0, in_caller=0)


# -- the pool --------------------------------------------------------------------------------

_IN_WORKER = False
_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None
_POOL_WORKERS = 0
#: scorers built in this worker, by recipe
_BUILT: dict[tuple, Any] = {}


def _mark_worker(caller: int | None = None) -> None:
    """Worker initializer: mark the process, and end it with the calling process."""
    global _IN_WORKER
    _IN_WORKER = True
    if caller is not None and os.name == "posix":
        watch = threading.Thread(target=_exit_with, args=(caller,), daemon=True)
        watch.start()


def _exit_with(pid: int) -> None:
    """Exit once process ``pid`` has ended. A caller killed by a signal never tells its pool
    to stop: its workers would wait for chunks forever, and keep the forkserver alive."""
    try:
        handle = os.pidfd_open(pid)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
    else:
        while True:
            try:
                os.kill(pid, 0)  # POSIX: signal 0 only checks that the process exists
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(1.0)
    os._exit(0)


def _ready() -> int:
    return os.getpid()


class _HiddenMain:
    """Put a bare module in place of ``__main__`` while workers start, so that neither the
    forkserver nor a spawned worker imports the caller's script again."""

    def __enter__(self) -> None:
        self._main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")

    def __exit__(self, *exc: object) -> None:
        if self._main is not None:
            sys.modules["__main__"] = self._main


def _executor(workers: int) -> ProcessPoolExecutor:
    """The shared pool with exactly ``workers`` worker processes (started on first use)."""
    global _POOL, _POOL_WORKERS
    if _POOL is not None and _POOL_WORKERS == workers:
        return _POOL
    shutdown_workers()
    context = multiprocessing.get_context(start_method())
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_mark_worker, initargs=(os.getpid(),)
    )
    with _HiddenMain():
        # each submit starts one worker while none is idle: start them all now, main hidden
        pings = [pool.submit(_ready) for _ in range(workers)]
    _POOL, _POOL_WORKERS = pool, workers
    del pings  # no need to wait: chunks queue behind the pings
    return pool


def shutdown_workers() -> None:
    """Stop the worker processes (they are otherwise kept for later calls until exit)."""
    global _POOL, _POOL_WORKERS
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
    _POOL, _POOL_WORKERS = None, 0


@dataclass(frozen=True)
class Recipe:
    """How a worker builds its copy of a scorer: ``module:qualname`` and constructor settings,
    and which method scores a chunk."""

    target: str
    settings: tuple[tuple[str, Any], ...]
    method: str

    def build(self) -> Any:
        module, _, name = self.target.partition(":")
        cls: Any = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        return cls(**dict(self.settings))


def _run_chunk(recipe: Recipe, columns: tuple[list, ...]) -> list:
    """Worker side: build the scorer once per recipe, then score one chunk."""
    key = (recipe.target, recipe.settings)
    scorer = _BUILT.get(key)
    if scorer is None:
        scorer = _BUILT[key] = recipe.build()
    return getattr(scorer, recipe.method)(*columns)


def run_chunks(
    local: Callable[..., list],
    recipe: Recipe | None,
    columns: Sequence[list],
    processes: int,
) -> list:
    """``local(*columns)`` computed over ``processes`` processes, joined in input order.

    ``local`` must return one entry per item, and the recipe's method must compute the same
    function in a worker. The caller scores chunks from the front while the workers take them
    from the back, so a slow worker start costs the caller no waiting.
    """
    global last_run
    n = len(columns[0])
    if processes <= 1 or recipe is None:
        last_run = RunInfo(1, 1, 1)
        return local(*columns)
    bounds = chunk_bounds(n, processes)
    with _LOCK:
        pool = _executor(processes - 1)
        futures: list[Future | None] = [None] * len(bounds)
        for k in reversed(range(len(bounds))):  # workers take chunks from the back
            start, stop = bounds[k]
            futures[k] = pool.submit(_run_chunk, recipe, tuple(c[start:stop] for c in columns))
    parts: list[list | None] = [None] * len(bounds)
    try:
        for k, (start, stop) in enumerate(bounds):
            future = futures[k]
            if future is None or not future.cancel():
                break  # a worker has it, and every chunk after it
            parts[k] = local(*(c[start:stop] for c in columns))
        for k, future in enumerate(futures):
            if parts[k] is None and future is not None:
                parts[k] = future.result()
    except BrokenProcessPool as exc:
        shutdown_workers()
        raise WorkerProcessError(
            f"{recipe.target}: a worker process died while scoring ({exc}); the pool was reset. "
            "Retry, or pass n_jobs=1 to score in this process"
        ) from exc
    finally:
        for future in futures:
            if future is not None:
                future.cancel()
    in_caller = sum(1 for f in futures if f is not None and f.cancelled())
    last_run = RunInfo(processes, len(bounds), in_caller)
    out: list = []
    for part in parts:
        out.extend(part)  # type: ignore[arg-type]
    return out


class ParallelItems:
    """Mixin for scorers whose per-item work is pure Python: ``map_items`` spreads it over
    processes. Subclasses set ``parallel_min_items`` (the measured input size from which all
    cores pay off) and ``n_jobs``, and rebuild from ``worker_settings()`` in a worker."""

    #: items from which ``n_jobs=None`` uses every core: where even a first call, which starts
    #: the workers, is measured to gain 1.2x on two free cores (per metric; docs/benchmarks.md)
    parallel_min_items: int = 10_000
    n_jobs: int | None = None

    @property
    def preferred_chunk_size(self) -> int | None:
        """Chunks for the runners (score cache, progress): twice the threshold, so that each
        chunk is large enough to go to every core; the runners' default with ``n_jobs=1``."""
        return None if self.n_jobs == 1 else 2 * self.parallel_min_items

    def worker_settings(self) -> dict[str, Any]:
        """Constructor settings that rebuild this scorer in a worker."""
        return dict(self.settings())  # type: ignore[attr-defined]

    def map_items(self, method: str, *columns: list) -> list:
        """``getattr(self, method)(*columns)``, split over processes for large inputs."""
        processes = processes_for(self.n_jobs, len(columns[0]), self.parallel_min_items)
        local = getattr(self, method)
        if processes <= 1:
            return run_chunks(local, None, columns, 1)
        cls = type(self)
        settings = {**self.worker_settings(), "n_jobs": 1}
        target = f"{cls.__module__}:{cls.__qualname__}"
        recipe = Recipe(target, tuple(sorted(settings.items())), method)
        return run_chunks(local, recipe, columns, processes)
