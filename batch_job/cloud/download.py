"""Download a finished album's zip (resumable, checked against the object's ETag) and unpack it safely."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batch_job.errors import StorageError, UsageError
from batch_job.s3layout import S3_LAYOUT, SUMMARY, album_storage, read_json
from batch_job.s3storage import Changed, S3Storage


@dataclass
class Download:
    zip_path: Path
    bytes: int
    fetched: int  # bytes transferred now: 0 when the same zip was already here
    resumed_from: int
    extracted: Path | None = None


def download_album(
    bucket_root: S3Storage,
    album_id: str,
    dest: Path,
    extract: bool = False,
    on_bytes: Callable[[int, int], None] | None = None,
) -> Download:
    """Fetch ``album.zip`` to ``dest/<album_id>.zip``, resuming a partial download; optionally extract it."""
    album = album_storage(bucket_root, album_id)
    if read_json(album, SUMMARY) is None:
        raise UsageError(f"album {album_id} has no results yet: see `maskalbum status {album_id}`")
    head = album.head(S3_LAYOUT.zip)
    if head is None:
        raise StorageError(f"album {album_id} has a summary but no {S3_LAYOUT.zip}")
    size, etag = int(head["ContentLength"]), head["ETag"]
    modified = head["LastModified"].timestamp()
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / f"{album_id}.zip"
    part = dest / f"{album_id}.zip.part"
    tag = dest / f"{album_id}.zip.part.etag"
    resumed_from, fetched = 0, 0
    # Like `aws s3 sync`: same size and the object's own modification time means this very zip.
    if not (final.exists() and final.stat().st_size == size and final.stat().st_mtime == modified):
        resumed_from = _fetch(album, part, tag, size, etag, on_bytes)
        fetched = size - resumed_from
        os.utime(part, (modified, modified))
        os.replace(part, final)
        tag.unlink(missing_ok=True)
    result = Download(final, size, fetched, resumed_from)
    if extract:
        result.extracted = safe_extract(final, dest / album_id)
    return result


def _fetch(album: S3Storage, part: Path, tag: Path, size: int, etag: str, on_bytes) -> int:
    # A partial file is only continued when it belongs to the same object (same ETag).
    same = part.exists() and tag.exists() and tag.read_text().strip() == etag
    have = part.stat().st_size if same else 0
    if have > size:
        have = 0
    tag.write_text(etag)
    start = have
    for attempt in range(2):
        try:
            with part.open("r+b" if have else "wb") as fh:
                fh.truncate(have)
                fh.seek(have)
                if have < size:
                    with album.open_read(S3_LAYOUT.zip, start=have, if_match=etag) as body:
                        while chunk := body.read(1 << 20):
                            fh.write(chunk)
                            have += len(chunk)
                            if on_bytes:
                                on_bytes(have, size)
                fh.flush()
                os.fsync(fh.fileno())
            break
        except Changed:
            if attempt:
                raise
            have = start = 0  # replaced by a newer run while we were away: start over
    if part.stat().st_size != size:
        raise StorageError(f"download of {album.describe(S3_LAYOUT.zip)} ended at {have} of {size} bytes")
    return start


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if "\x00" in name:
        return "NUL in name"
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return "absolute path"
    if ".." in normal.split("/"):
        return "path leaves the folder"
    return None


def safe_extract(zip_path: Path, target: Path) -> Path:
    """Extract every member under ``target``; refuse the whole zip if any member could escape it."""
    target = target.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        members = zf.infolist()
        bad = [f"{m.filename!r} ({reason})" for m in members if (reason := _unsafe_reason(m))]
        for m in members:
            if not bad and not (target / m.filename).resolve().is_relative_to(target):
                bad.append(f"{m.filename!r} (path leaves the folder)")
        if bad:
            raise UsageError(f"refusing to extract {zip_path}: unsafe member(s) {', '.join(bad[:5])}")
        target.mkdir(parents=True, exist_ok=True)
        for m in members:
            out = target / m.filename
            if m.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            # Never follow a link already sitting where a member goes.
            if out.is_symlink():
                out.unlink()
            with zf.open(m) as src, open(out, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    return target
