"""Where one album lives in the bucket: the only module that names S3 keys.

The laptop-side client (``batch_job.cloud``) and the Batch worker
(``batch_job.__main__``) both import it, so the two sides cannot disagree.
Everything of one album sits under ``s3://<bucket>/albums/<album_id>/``:

    input/<key>          the album's files as uploaded (sha256 in their metadata)
    input.json           the input manifest: keys, sizes, sha256 (written after the uploads)
    submission.json      the latest submission: job ids, shard count, what the jobs were told
    state/records/       per-photo resume records
    shards/<index>.csv   one array child's rows (and <index>-faces.csv)
    output/images/...    the edited photos
    output/manifest.csv, output/faces.csv, output/album.zip, output/summary.json
"""

from __future__ import annotations

import json
import math
import re

from batch_job.errors import StorageError, UsageError
from batch_job.runner import Layout
from batch_job.s3storage import S3Storage

ALBUMS = "albums/"
INPUT = "input/"
INPUT_MANIFEST = "input.json"
SUBMISSION = "submission.json"
SUMMARY = "output/summary.json"
# The pipeline's own keys (outputs, resume records, shard rows) inside one album's folder.
S3_LAYOUT = Layout(
    images="output/images/",
    manifest="output/manifest.csv",
    faces="output/faces.csv",
    zip="output/album.zip",
    records="state/records/",
    shards="shards/",
)
ALBUM_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}")


def album_url(bucket: str, album_id: str) -> str:
    """``s3://bucket/albums/<id>``: the worker's storage URL for one album."""
    check_album_id(album_id)
    return f"s3://{bucket}/{ALBUMS}{album_id}"


def input_url(bucket: str, album_id: str) -> str:
    return f"{album_url(bucket, album_id)}/{INPUT.rstrip('/')}"


def check_album_id(album_id: str) -> str:
    if not ALBUM_ID.fullmatch(album_id):
        raise UsageError(f"not an album id: {album_id!r}")
    return album_id


def album_storage(bucket_root: S3Storage, album_id: str) -> S3Storage:
    """The storage rooted at ``albums/<album_id>/`` (same client, bucket and encryption)."""
    return bucket_root.under(ALBUMS + check_album_id(album_id))


def album_ids(bucket_root: S3Storage) -> list[str]:
    return [folder[len(ALBUMS) : -1] for folder in bucket_root.folders(ALBUMS)]


def read_json(storage: S3Storage, key: str) -> dict | None:
    if not storage.exists(key):
        return None
    try:
        return json.loads(storage.read(key))
    except json.JSONDecodeError as exc:
        raise StorageError(f"{storage.describe(key)} is not valid JSON: {exc}") from exc


def input_keys(album: S3Storage) -> list[str]:
    manifest = read_json(album, INPUT_MANIFEST)
    if manifest is None:
        raise StorageError(f"no input manifest at {album.describe(INPUT_MANIFEST)}: was the album submitted?")
    return sorted(f["key"] for f in manifest["files"])


def shard_count(files: int, shard_size: int) -> int:
    return max(1, math.ceil(files / shard_size))


def shard_slice(keys: list[str], index: int, shard_size: int) -> list[str]:
    return keys[index * shard_size : (index + 1) * shard_size]


def shard_index(key: str) -> int | None:
    """The shard a key of ``shards/`` holds rows of (manifest or faces), or None."""
    match = re.fullmatch(rf"{re.escape(S3_LAYOUT.shards)}(\d+)(-faces)?\.csv", key)
    return int(match.group(1)) if match else None


def shard_manifest_index(key: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(S3_LAYOUT.shards)}(\d+)\.csv", key)
    return int(match.group(1)) if match else None
