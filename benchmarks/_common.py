"""Small helpers shared by the benchmarks: interleaved timing, peak memory, machine description.

Timing uses ``time.perf_counter``; memory is reported two ways, and the two are not the same
thing: ``tracemalloc`` sees only allocations made through Python's allocator (lists, strings,
numpy arrays; not torch tensors or C libraries), while the process resident set size (RSS) sees
everything, including memory that was freed back to the allocator but never to the OS.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024


@dataclass
class Timing:
    """Wall-clock and process CPU seconds of repeated calls of one function.

    CPU time (all threads of this process) leaves out the time spent waiting for a core, so it
    is steadier than wall time on a busy machine; it still includes cache and clock effects.
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def best_wall(self) -> float:
        return min(self.wall)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)


def interleaved_times(
    functions: Mapping[str, Callable[[], Any]], repeats: int, *, warmup: bool = True
) -> tuple[dict[str, Timing], dict[str, Any]]:
    """Run every function ``repeats`` times, taking turns (a, b, a, b, ...), and time each run.

    Taking turns spreads slow drift of the machine (other processes, thermal state) over all
    sides instead of charging it to whichever ran last. A full garbage collection runs before
    each timed call so that one side does not pay for the other's garbage. With ``warmup`` each
    function first runs once untimed (first-call costs: imports, caches, metadata look-ups).
    Returns the timings per label and each function's last return value.
    """
    if repeats < 1:
        raise ValueError(f"interleaved_times: expected repeats >= 1 (got {repeats})")
    timings = {label: Timing() for label in functions}
    results: dict[str, Any] = {}
    if warmup:
        for fn in functions.values():
            fn()
    for _ in range(repeats):
        for label, fn in functions.items():
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            results[label] = fn()
            timings[label].wall.append(time.perf_counter() - wall)
            timings[label].cpu.append(time.process_time() - cpu)
    return timings, results


def tracemalloc_peak_mb(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Peak of Python-allocator memory (MB) during one call of ``fn``, and its return value.

    Measured in a separate, untimed call: tracing slows Python code down several-fold.
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return (peak - base) / MB, result


def current_rss_mb() -> float | None:
    """Current resident set size of this process in MB (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            resident_pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / MB


def max_rss_mb() -> float:
    """Highest resident set size this process has reached so far, in MB (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def machine() -> dict[str, Any]:
    """Python, platform and CPU facts worth printing next to any timing."""
    try:
        load: Any = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15min": load,
    }


def package_versions(names: list[str]) -> dict[str, str]:
    """Installed versions of the given distributions (``missing`` if absent)."""
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out
