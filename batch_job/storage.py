"""Where album bytes live: a small Storage protocol with a local-folder and an S3 implementation.

Keys are POSIX relative paths. Every write is atomic: a reader (or a resumed
run) sees the old object or the complete new one, never half a file. Locally
that is write-to-temp-then-rename; on S3 a PUT or a completed multipart
upload is atomic by itself.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from batch_job.errors import StorageError, UsageError

TEMP_MARK = ".maskalbum-tmp-"


class Storage(Protocol):
    """An album's bytes by key. The contract every backend keeps (LocalStorage, MemoryStorage, S3Storage):

    - Keys are POSIX relative paths ("day1/IMG_1.jpg"); LocalStorage and S3Storage refuse one that
      would leave their root ("/x", "a/../../x") with StorageError. There are no folders, only keys:
      writing "a/b" needs no "a" first.
    - A missing key is an error only for the calls that need its bytes (``read``, ``open_read``);
      ``exists``/``size`` answer False/None and ``delete`` does nothing.
    - Writes replace: the last complete write wins, and a reader sees the old bytes or the whole
      new ones, never a mix or a prefix. There is no locking: two writers to one key race.
    - Every failure of the medium (permissions, network, AWS errors) is a StorageError naming the key.
    """

    def read(self, key: str) -> bytes:
        """The whole object. Missing key: StorageError."""
        ...

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Create or replace ``key`` atomically. ``content_type`` is kept where the medium has a place
        for it (S3's Content-Type) and ignored elsewhere."""
        ...

    def exists(self, key: str) -> bool:
        """True for an object; False for a missing key and for a mere prefix ("day1/")."""
        ...

    def size(self, key: str) -> int | None:
        """The object's length in bytes, or None when it does not exist."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys that start with ``prefix`` (a string prefix, not a folder: "day1" also matches "day10/x").

        Lazy: pages are fetched as the caller iterates, and objects written meanwhile may or may
        not appear. No order is promised (S3 and memory give byte order, a folder gives each
        folder's files sorted, then its subfolders): sort if order matters. Half-written temporary
        objects are never listed. A prefix with no objects lists nothing.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error (so deleting twice is fine)."""
        ...

    def open_read(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream of the object, for objects too big to hold in memory. Missing key: StorageError
        when the block is entered. Failures while reading are StorageErrors too."""
        ...

    def open_write(self, key: str, content_type: str | None = None) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream that becomes ``key`` when the block exits normally, atomically as ``write``.

        If the block raises, nothing is written and the old object (if any) is untouched: the
        temporary file is removed, or the S3 multipart upload aborted.
        """
        ...

    def describe(self, key: str = "") -> str:
        """Where ``key`` (or the storage itself) lives, for messages: a path or an s3:// URL."""
        ...

    def url(self) -> str:
        """The address ``open_storage`` reopens this storage from: an absolute folder or s3://bucket/prefix
        (MemoryStorage's "memory:" is only a label)."""
        ...

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        """An HTTPS link anyone can GET for a while, or None where the storage has no such thing."""
        ...


StorageFactory = Callable[[str], Storage]
_REGISTRY: dict[str, StorageFactory] = {}


def register(scheme: str) -> Callable[[StorageFactory], StorageFactory]:
    def decorate(factory: StorageFactory) -> StorageFactory:
        _REGISTRY[scheme] = factory
        return factory

    return decorate


def open_storage(url: str) -> Storage:
    """``s3://bucket/prefix`` or a local folder path (``file://`` optional)."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if scheme == "s3":
        from batch_job import s3storage  # noqa: F401 - registers "s3"; keeps boto3 out of local runs
    try:
        factory = _REGISTRY[scheme]
    except KeyError:
        raise UsageError(f"unknown storage scheme {scheme!r} in {url!r}") from None
    return factory(url)


def explain(exc: OSError, path: Path) -> str:
    """An OSError as a sentence a user can act on (which path, and what to do)."""
    reason = exc.strerror or str(exc)
    hints = {
        errno.ENOSPC: "the disk is full: free space and rerun to resume",
        errno.EDQUOT: "the disk quota is used up: free space and rerun to resume",
        errno.EROFS: "the file system is read-only: choose another --out",
        errno.EACCES: "permission denied: choose another --out or fix the folder's permissions",
        errno.EPERM: "not permitted: choose another --out or fix the folder's permissions",
    }
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        for parent in [path, *path.parents]:
            if parent.exists() and not parent.is_dir():
                return f"{reason} ({parent} is a file, in the way of a folder)"
    if exc.errno in hints:
        return f"{reason} ({hints[exc.errno]})"
    return reason


class LocalStorage:
    """A folder on this machine."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def create(self) -> None:
        """Make the root folder (and its parents); StorageError with the reason when it cannot be."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the output folder {self.root}: {explain(exc, self.root)}") from exc
        if not self.root.is_dir():
            raise StorageError(f"cannot create the output folder {self.root}: a file is in the way")

    def path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"refusing key outside the storage root: {key!r}")
        return self.root / key

    def read(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {self.describe(key)}: {exc.strerror or exc}") from exc

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        with self.open_write(key) as fh:
            fh.write(data)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except OSError:
            return None

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root
        if not base.is_dir():
            return
        for root, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                if TEMP_MARK in name:
                    continue
                key = Path(root, name).relative_to(base).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot delete {self.describe(key)}: {explain(exc, self.path(key))}") from exc

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        try:
            fh = self.path(key).open("rb")
        except OSError as exc:
            raise StorageError(f"cannot read {self.describe(key)}: {exc.strerror or exc}") from exc
        with fh:
            yield fh

    @contextlib.contextmanager
    def open_write(self, key: str, content_type: str | None = None) -> Iterator[BinaryIO]:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:40]}{TEMP_MARK}", dir=target.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {self.describe(key)}: {explain(exc, target.parent)}") from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # atomic on POSIX: the old file or the whole new one
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                # A full disk shows up here (write, fsync or close), not at mkstemp.
                raise StorageError(f"cannot write {self.describe(key)}: {explain(exc, target)}") from exc
            raise

    def remove_stale_temp_files(self) -> int:
        """Temp files left by a killed run (SIGKILL skips cleanup); they are never valid outputs."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for root, _dirs, files in os.walk(self.root):
            for name in files:
                if TEMP_MARK in name:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(root, name))
                        removed += 1
        return removed

    def describe(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def url(self) -> str:
        return str(self.root.resolve())

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        return None  # a local file has no shareable link


@register("file")
def _local(url: str) -> LocalStorage:
    return LocalStorage(url[len("file://") :] if url.startswith("file://") else url)


class MemoryStorage:
    """A dict-backed storage (for the LINE bot's per-request work and for tests of the core)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def read(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise StorageError(f"no such object: {key}") from None

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.objects[key] = bytes(data)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def size(self, key: str) -> int | None:
        return len(self.objects[key]) if key in self.objects else None

    def list(self, prefix: str = "") -> Iterator[str]:
        yield from sorted(k for k in self.objects if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        yield io.BytesIO(self.read(key))

    @contextlib.contextmanager
    def open_write(self, key: str, content_type: str | None = None) -> Iterator[BinaryIO]:
        buffer = io.BytesIO()
        yield buffer
        self.objects[key] = buffer.getvalue()

    def describe(self, key: str = "") -> str:
        return f"memory:{key}"

    def url(self) -> str:
        return "memory:"

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        return None
