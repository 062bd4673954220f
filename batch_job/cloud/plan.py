"""The album on this machine: its files, their hashes, and the album id they earn."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batch_job.album import IMAGE_SUFFIXES, scan, sha256_file
from batch_job.errors import UsageError
from batch_job.s3layout import ALBUMS, INPUT

# List price of DetectFaces for the first million images a month (us-east-1); regions differ.
REKOGNITION_USD_PER_IMAGE = 0.001
_EXTRA_TYPES = {".heic": "image/heic", ".heif": "image/heif", ".hif": "image/heif", ".avif": "image/avif",
                ".webp": "image/webp", ".mpo": "image/jpeg"}  # fmt: skip
S3_KEY_LIMIT = 1024  # bytes of UTF-8


@dataclass(frozen=True)
class LocalFile:
    key: str
    path: Path
    size: int
    sha256: str  # "" when the file could not be read (it still gets a manifest row, as an error)

    @property
    def content_type(self) -> str:
        suffix = PurePosixPath(self.key).suffix.lower()
        return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(self.key)[0] or "application/octet-stream"

    @property
    def looks_like_photo(self) -> bool:
        return PurePosixPath(self.key).suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class AlbumPlan:
    name: str
    files: tuple[LocalFile, ...]

    @property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def digest(self) -> str:
        """Names and contents: changes when any file is added, removed, renamed or edited."""
        lines = "".join(f"{f.key}\t{f.sha256}\n" for f in self.files)
        return hashlib.sha256(lines.encode()).hexdigest()

    @property
    def photos(self) -> int:
        return sum(f.looks_like_photo for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(max(f.size, 0) for f in self.files)

    def input_manifest(self, album_id: str) -> dict:
        return {
            "album": self.name,
            "album_id": album_id,
            "digest": self.digest,
            "files": [{"key": f.key, "size": f.size, "sha256": f.sha256} for f in self.files],
        }


def slugify(name: str) -> str:
    """A readable ASCII album slug: ``Chōshi trip!`` -> ``choshi_trip`` (Batch job names are ASCII)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:40].strip("_")
    return slug or "album"


def plan_album(album: Path, threads: int = 4) -> AlbumPlan:
    """Every file the local run would process, with its sha256 (hashed in parallel)."""
    entries = scan(album)
    for entry in entries:
        if len(f"{ALBUMS}{'x' * 60}/{INPUT}{entry.key}".encode()) > S3_KEY_LIMIT:
            raise UsageError(f"path too long for an S3 key (1,024 bytes): {entry.key}")

    def hashed(entry) -> LocalFile:
        path = album / entry.path  # the exact name on disk (NFD, not UTF-8) behind the key
        try:
            return LocalFile(entry.key, path, path.stat().st_size, sha256_file(path))
        except OSError:
            return LocalFile(entry.key, path, -1, "")

    with cf.ThreadPoolExecutor(threads) as pool:
        files = tuple(pool.map(hashed, entries))
    return AlbumPlan(album.resolve().name, files)


def new_album_id(plan: AlbumPlan, today: dt.date, length: int = 6) -> str:
    return f"{plan.slug}-{today:%Y%m%d}-{plan.digest[:length]}"


def estimate_usd(photos: int, detector: str) -> float:
    return round(photos * REKOGNITION_USD_PER_IMAGE, 4) if detector == "rekognition" else 0.0
