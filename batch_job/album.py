"""Find the files of an album, name their outputs, hash them.

Every regular file under the album becomes an ``Entry`` (and so a manifest
row), except hidden and system files, which are not the user's photos.
Whether a file is a photo is decided later from its content, not its suffix.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batch_job.errors import UsageError

SYSTEM_FILES = {".ds_store", "thumbs.db", "desktop.ini", "icon\r", ".localized"}
IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".hif", ".avif",
    ".tif", ".tiff", ".gif", ".bmp", ".mpo",
}  # fmt: skip
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of the album: its key (POSIX relative path, NFC) and size."""

    key: str
    size: int


def is_hidden(name: str) -> bool:
    lower = name.lower()
    return name.startswith(".") or lower in SYSTEM_FILES or name.startswith("._")


def scan(album: Path) -> list[Entry]:
    """All candidate files under ``album``, sorted by key, hidden/system files left out."""
    if not album.exists():
        raise UsageError(f"album folder not found: {album}")
    if not album.is_dir():
        raise UsageError(f"not a folder: {album} (give the folder that holds the photos)")
    entries = []
    for root, dirs, files in os.walk(album, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in files:
            if is_hidden(name):
                continue
            path = Path(root, name)
            try:
                size = path.stat().st_size
            except OSError:
                size = -1  # dangling link or vanished file: still a row, with its error later
            entries.append(Entry(key_for(path.relative_to(album)), size))
    entries.sort(key=lambda e: e.key)
    return entries


def key_for(relative: Path | PurePosixPath | str) -> str:
    """A storage key from a relative path: POSIX separators, NFC Unicode, no '..' or absolute parts."""
    parts = [p for p in PurePosixPath(str(relative).replace("\\", "/")).parts if p not in ("", ".", "/")]
    if any(p == ".." for p in parts):
        raise UsageError(f"path escapes the album: {relative}")
    # macOS hands out NFD names; S3 keys and zip members should be NFC so the
    # same album uploads to the same keys from any machine.
    return unicodedata.normalize("NFC", "/".join(parts))


def shared_stems(keys: Iterable[str]) -> frozenset[str]:
    """Lower-cased key stems that more than one file shares (``IMG_1.heic`` and ``IMG_1.jpg``)."""
    seen: set[str] = set()
    shared: set[str] = set()
    for key in keys:
        stem = str(PurePosixPath(key).with_suffix("")).lower()
        (shared if stem in seen else seen).add(stem)
    return frozenset(shared)


def output_key(key: str, suffix: str, shared: frozenset[str]) -> str:
    """Where an edited photo goes when its format changes the suffix (HEIC -> .jpg).

    Decided from the album's names alone, so parallel workers agree without
    talking: when another file shares the stem, the old suffix stays in front
    (``IMG_1.heic`` -> ``IMG_1.heic.jpg``) and nothing is overwritten.
    """
    path = PurePosixPath(key)
    if path.suffix.lower() == suffix or (suffix == ".jpg" and path.suffix.lower() in (".jpeg", ".jpe")):
        return key
    if str(path.with_suffix("")).lower() in shared:
        return key + suffix
    return str(path.with_suffix(suffix))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()

