"""Per-stage wall time, for the benchmark's breakdown (bench/local_throughput.py).

Off by default: ``timed`` then costs one attribute check, so the stage marks can stay in the
pipeline's code instead of living in a profiler's guesswork. The benchmark calls ``enable()`` in
the process that runs photos, then reads ``snapshot()``: seconds and calls per stage name.

Marks nest (the survey's lazy JPEG decode happens inside the detector's survey mark): a stage's
seconds are its own, without the marks inside it, so the stages add up to the photo's time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

_enabled = False
_seconds: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)
_inner: list[float] = []  # per open mark: seconds spent in the marks inside it
_open: list[str] = []  # the open marks' names, outermost first


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on
    reset()


def reset() -> None:
    _seconds.clear()
    _calls.clear()
    _inner.clear()
    _open.clear()


@contextmanager
def timed(stage: str) -> Iterator[None]:
    if not _enabled:
        yield
        return
    started = time.perf_counter()
    _inner.append(0.0)
    _open.append(stage)
    try:
        yield
    finally:
        took = time.perf_counter() - started
        inner = _inner.pop() if _inner else 0.0
        if _open:
            _open.pop()
        _seconds[stage] += took - inner
        _calls[stage] += 1
        if _inner:
            _inner[-1] += took


def current() -> str | None:
    """The innermost open mark (None when none is open or timing is off)."""
    return _open[-1] if _open else None


def snapshot() -> dict[str, tuple[float, int]]:
    """``{stage: (seconds, calls)}`` since the last reset; seconds exclude the marks nested inside."""
    return {name: (_seconds[name], _calls[name]) for name in _seconds}
