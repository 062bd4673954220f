"""Per-stage wall time, for the benchmark's breakdown (bench/local_throughput.py).

Off by default: ``timed`` then costs one attribute check, so the stage marks can stay in the
pipeline's code instead of living in a profiler's guesswork. The benchmark calls ``enable()`` in
the process that runs photos, then reads ``snapshot()``: seconds and calls per stage name.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

_enabled = False
_seconds: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on
    reset()


def reset() -> None:
    _seconds.clear()
    _calls.clear()


@contextmanager
def timed(stage: str) -> Iterator[None]:
    if not _enabled:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        _seconds[stage] += time.perf_counter() - started
        _calls[stage] += 1


def snapshot() -> dict[str, tuple[float, int]]:
    """``{stage: (seconds, calls)}`` since the last reset."""
    return {name: (_seconds[name], _calls[name]) for name in _seconds}
