"""One run per output folder: a lock file that says who holds it, and dies with its holder.

The lock is ``flock`` on ``<out>/.maskalbum/lock``: the kernel releases it
when the holding process ends in any way (SIGKILL and power cuts included), so
a lock left by a killed run is never "stale" in the kernel's eyes; the file
only keeps the last holder's pid, host and start time, which the next run
reports as taken over. Where ``flock`` is not supported (some network and FUSE
file systems), the file's pid is checked instead: a pid on this host that no
longer runs is a stale lock and is taken over; a holder on another host is
trusted until it clears the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from batch_job.errors import StorageError
from batch_job.storage import explain

LOCK_KEY = ".maskalbum/lock"


class OutputLocked(StorageError):
    """Another maskalbum run holds the output folder."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: str  # ISO 8601, UTC
    command: str = ""

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"

    @staticmethod
    def read(text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return Holder(int(data["pid"]), str(data["host"]), str(data["started"]), str(data.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class Lock:
    path: Path
    taken_over: Holder | None  # the previous holder, when it was left by a run that no longer runs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


@contextlib.contextmanager
def hold(folder: Path, command: str = "maskalbum run") -> Iterator[Lock]:
    """Hold ``folder``'s lock for the block, or raise OutputLocked naming the holder."""
    path = folder / LOCK_KEY
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot write to the output folder {folder}: {explain(exc, path)}") from exc
    try:
        previous = Holder.read(os.read(fd, 4096).decode("utf-8", "replace"))
        me = Holder(
            os.getpid(), socket.gethostname(), dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), command
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _locked(folder, previous) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            # No flock here: fall back to the pid in the file.
            if previous and (previous.host != me.host or _alive(previous.pid)) and previous.pid != me.pid:
                raise _locked(folder, previous) from None
        taken_over = previous if previous and previous.pid != me.pid else None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            raise StorageError(f"cannot write to the output folder {folder}: {explain(exc, path)}") from exc
        try:
            yield Lock(path, taken_over)
        finally:
            # Cleared, not removed: removing a flock'ed file lets a waiting run lock the
            # old inode while a third locks a new file.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _locked(folder: Path, holder: Holder | None) -> OutputLocked:
    who = holder.describe() if holder else "another maskalbum run"
    return OutputLocked(
        f"the output folder {folder} is in use by {who}; wait for it to finish, or choose another --out"
    )
