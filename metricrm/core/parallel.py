"""Per-item scoring on every core: chunks of items over a reusable pool of worker processes.

The classic metrics (sacrebleu, rouge-score, the lexical scorers) are pure Python: one process
uses one core. A call first keeps one copy of each distinct item (the same response with the
same references is scored once: relative-ranking data such as WMT DARR repeats each translation
in many pairs). For a large input the calling process then takes chunks from the front while
each worker process takes chunks from the back, one at a time; each chunk is a share of what is
left, so chunks shrink as the two ends meet and no process waits long for another at the end.
Results are joined in input order. Every item goes through the same function with the same
inputs in whichever process scores it, so scores and statistics are bit-identical to one
process.

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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

from .errors import WorkerProcessError
from .validation import check_integer

#: a chunk takes at most ``1 / (SHARE * processes)`` of the items left (guided scheduling)
SHARE = 2
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


class ChunkSplit:
    """Chunks of ``range(n_items)`` taken from both ends, thread-safe: the calling process takes
    from the front, workers from the back. Each chunk holds ``1 / (SHARE * processes)`` of the
    items still left (at least ``MIN_CHUNK``), so the last chunks, where the two ends meet, are
    small whatever the items cost."""

    def __init__(self, n_items: int, processes: int) -> None:
        self._lo, self._hi = 0, n_items
        self._processes = max(1, processes)
        self._lock = threading.Lock()

    def _size(self) -> int:
        left = self._hi - self._lo
        return min(left, max(MIN_CHUNK, math.ceil(left / (SHARE * self._processes))))

    def front(self) -> tuple[int, int] | None:
        """The next chunk from the front, or None when every item is taken."""
        with self._lock:
            if self._lo >= self._hi:
                return None
            start = self._lo
            self._lo += self._size()
            return start, self._lo

    def back(self) -> tuple[int, int] | None:
        """The next chunk from the back, or None when every item is taken."""
        with self._lock:
            if self._lo >= self._hi:
                return None
            stop = self._hi
            self._hi -= self._size()
            return self._hi, stop


def distinct_rows(columns: Sequence[list]) -> tuple[list[int], list[int]]:
    """``(first, where)``: the index of the first copy of each distinct row (the items' values
    across ``columns``, lists compared as tuples), and for every row the position of its
    distinct row in ``first``. Rows with a value that cannot be hashed are all kept."""
    seen: dict[tuple, int] = {}
    first: list[int] = []
    where: list[int] = []
    try:
        for i, row in enumerate(zip(*columns)):
            key = tuple(tuple(v) if isinstance(v, list) else v for v in row)
            position = seen.get(key)
            if position is None:
                position = seen[key] = len(first)
                first.append(i)
            where.append(position)
    except TypeError:  # an unhashable value (a dict, say): score every row
        n = len(columns[0])
        return list(range(n)), list(range(n))
    return first, where


@dataclass(frozen=True)
class RunInfo:
    """How the last ``map_items`` call of this process was split (for tests and benchmarks)."""

    processes: int
    chunks: int
    in_caller: int  # chunks scored by the calling process; the rest by workers
    items: int = 0  # rows passed to ``map_items``
    distinct: int = 0  # distinct rows among them: the ones scored


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
    function in a worker. The caller takes chunks from the front while one thread per worker
    keeps that worker busy with chunks from the back (one in flight, so no chunk is promised to
    a worker before it can start it), so a slow worker start costs the caller no waiting.
    """
    global last_run
    n = len(columns[0])
    if processes <= 1 or recipe is None:
        last_run = RunInfo(1, 1, 1, n, n)
        return local(*columns)
    with _LOCK:
        pool = _executor(processes - 1)
    split = ChunkSplit(n, processes)
    parts: dict[int, list] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def chunk(bounds: tuple[int, int]) -> tuple[list, ...]:
        return tuple(c[bounds[0] : bounds[1]] for c in columns)

    def feed() -> None:  # one worker: a chunk from the back, its result, the next chunk
        try:
            while not stop.is_set() and (bounds := split.back()) is not None:
                parts[bounds[0]] = pool.submit(_run_chunk, recipe, chunk(bounds)).result()
        except BaseException as exc:  # handed to the caller, which raises it
            errors.append(exc)
            stop.set()

    feeders = [threading.Thread(target=feed, daemon=True) for _ in range(processes - 1)]
    for thread in feeders:
        thread.start()
    in_caller = 0
    try:
        while not stop.is_set() and (bounds := split.front()) is not None:
            parts[bounds[0]] = local(*chunk(bounds))
            in_caller += 1
    except BaseException:
        # an error here, or Ctrl-C: raise now; the feeders stop once their chunk in flight
        # returns (a later call's chunks queue behind it), and its result is dropped
        stop.set()
        raise
    for thread in feeders:
        thread.join()
    if errors:
        exc = errors[0]
        if isinstance(exc, BrokenProcessPool):
            shutdown_workers()
            raise WorkerProcessError(
                f"{recipe.target}: a worker process died while scoring ({exc}); the pool was "
                "reset. Retry, or pass n_jobs=1 to score in this process"
            ) from exc
        raise exc
    last_run = RunInfo(processes, len(parts), in_caller, n, n)
    out: list = []
    for start in sorted(parts):
        out.extend(parts[start])
    return out


class ParallelItems:
    """Mixin for scorers whose per-item work is pure Python: ``map_items`` spreads it over
    processes. Subclasses set ``parallel_min_items`` (the measured number of distinct items from
    which all cores pay off) and ``n_jobs``, and rebuild from ``worker_settings()`` in a worker."""

    #: distinct items from which ``n_jobs=None`` uses every core: where even a first call, which
    #: starts the workers, is measured to gain 1.2x on two free cores (per metric; see
    #: docs/benchmarks.md)
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
        """``getattr(self, method)(*columns)``: each distinct row scored once, split over
        processes for large inputs, one entry per row in input order (a repeated row gets its
        first copy's entry)."""
        global last_run
        n = len(columns[0])
        first, where = distinct_rows(columns)
        if len(first) < n:
            columns = tuple([c[i] for i in first] for c in columns)
        processes = processes_for(self.n_jobs, len(first), self.parallel_min_items)
        local = getattr(self, method)
        recipe = None
        if processes > 1:
            cls = type(self)
            settings = {**self.worker_settings(), "n_jobs": 1}
            target = f"{cls.__module__}:{cls.__qualname__}"
            recipe = Recipe(target, tuple(sorted(settings.items())), method)
        rows = run_chunks(local, recipe, columns, processes)
        last_run = replace(last_run, items=n)
        if len(first) == n:
            return rows
        return [rows[j] for j in where]
