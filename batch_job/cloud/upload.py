"""The album in the bucket: which id it has there, and uploading what is not there yet."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from batch_job.cloud.plan import AlbumPlan, LocalFile, new_album_id
from batch_job.s3layout import ALBUMS, INPUT, INPUT_MANIFEST, album_storage, read_json
from batch_job.s3storage import S3Storage


def find_album_id(bucket_root: S3Storage, plan: AlbumPlan) -> str | None:
    """The id an earlier submission of this same album got (any date), or None."""
    pattern = re.compile(rf"{re.escape(ALBUMS + plan.slug)}-\d{{8}}-{plan.digest[:6]}[0-9a-f]*/$")
    for folder in sorted(bucket_root.folders(f"{ALBUMS}{plan.slug}-"), reverse=True):
        if not pattern.fullmatch(folder):
            continue
        album_id = folder[len(ALBUMS) : -1]
        manifest = read_json(album_storage(bucket_root, album_id), INPUT_MANIFEST)
        # No manifest yet: an upload that stopped half-way; the hash in the id says it is this album.
        if manifest is None or manifest.get("digest") == plan.digest:
            return album_id
    return None


def choose_album_id(bucket_root: S3Storage, plan: AlbumPlan, today: dt.date) -> str:
    found = find_album_id(bucket_root, plan)
    if found:
        return found
    album_id = new_album_id(plan, today)
    if any(bucket_root.folders(f"{ALBUMS}{album_id}/")) or bucket_root.exists(f"{ALBUMS}{album_id}/{INPUT_MANIFEST}"):
        album_id = new_album_id(plan, today, length=16)  # another album's hash starts the same: be longer
    return album_id


@dataclass
class UploadReport:
    uploaded: int = 0
    skipped: int = 0
    bytes: int = 0
    unreadable: list[str] = field(default_factory=list)


def upload_album(
    plan: AlbumPlan,
    album: S3Storage,
    album_id: str,
    threads: int = 8,
    on_file: Callable[[LocalFile, bool], None] | None = None,
) -> UploadReport:
    """Upload what is not already there (same key, size and sha256), then write input.json."""
    from boto3.s3.transfer import TransferConfig

    report = UploadReport()
    existing = dict(album.list_sizes(INPUT))
    previous = {f["key"]: f["sha256"] for f in (read_json(album, INPUT_MANIFEST) or {}).get("files", [])}

    def already_there(f: LocalFile) -> bool:
        if existing.get(INPUT + f.key) != f.size:
            return False
        if previous.get(f.key) == f.sha256:
            return True
        head = album.head(INPUT + f.key)  # an upload that stopped before input.json was written
        return head is not None and head.get("Metadata", {}).get("sha256") == f.sha256

    # Big files go multipart with parallel parts; small ones are a single PUT each, many at once.
    transfer = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4)

    def upload(f: LocalFile) -> bool:
        if not f.sha256:
            return False
        if already_there(f):
            return False
        album.upload_file(str(f.path), INPUT + f.key, f.content_type, {"sha256": f.sha256}, transfer)
        return True

    with cf.ThreadPoolExecutor(threads) as pool:
        for f, sent in zip(plan.files, pool.map(upload, plan.files), strict=True):
            if not f.sha256:
                report.unreadable.append(f.key)
            elif sent:
                report.uploaded += 1
                report.bytes += f.size
            else:
                report.skipped += 1
            if on_file:
                on_file(f, sent)
    album.write(INPUT_MANIFEST, json.dumps(plan.input_manifest(album_id), indent=1).encode(), "application/json")
    return report
