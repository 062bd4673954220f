"""Follow an album on AWS: its state from the submission record, Batch and the summary; wait; list."""

from __future__ import annotations

import concurrent.futures as cf
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from batch_job.aws import BatchJobs
from batch_job.cloud.submit import console_links
from batch_job.errors import MaskalbumError, UsageError
from batch_job.s3layout import (
    ALBUMS,
    INPUT_MANIFEST,
    S3_LAYOUT,
    SUBMISSION,
    SUMMARY,
    album_ids,
    album_storage,
    input_keys,
    read_json,
    shard_manifest_index,
    shard_slice,
)  # fmt: skip
from batch_job.s3storage import S3Storage


class AlbumFailed(MaskalbumError):
    """The album's Batch jobs failed."""


@dataclass
class AlbumStatus:
    album_id: str
    state: str  # uploaded | queued | running | finalizing | finishing | done | failed | cancelled | unknown
    photos: int = 0
    files: int = 0
    shards: int = 0
    shards_done: int = 0
    files_done: int = 0
    jobs: dict[str, str] = field(default_factory=dict)  # role -> Batch status
    children: dict[str, int] = field(default_factory=dict)  # the array's statusSummary
    reason: str = ""
    summary: dict | None = None
    submitted_at: str = ""
    links: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def to_json(self) -> dict:
        return asdict(self)


def _state(submission: dict | None, found: dict[str, dict], summary: dict | None) -> tuple[str, str]:
    """(state, reason) from the submission record, what Batch says, and the finalize job's summary."""
    if submission is None:
        return ("done", "") if summary else ("uploaded", "")
    shard_id, finalize_id = submission["jobs"]["shards"], submission["jobs"]["finalize"]
    if summary and summary.get("job_id") in (finalize_id, None):
        return "done", ""
    if submission.get("cancelled_at"):
        return "cancelled", f"cancelled at {submission['cancelled_at']}"
    shard_job, finalize_job = found.get(shard_id), found.get(finalize_id)
    for job in (shard_job, finalize_job):
        if job and job.get("status") == "FAILED":
            return "failed", job.get("statusReason", "")
    if shard_job is None and finalize_job is None:
        # Batch forgets finished jobs after some days; without a summary we cannot tell more.
        return "unknown", "Batch no longer knows these jobs and no summary was written"
    if finalize_job and finalize_job.get("status") == "SUCCEEDED":
        return "finishing", "the finalize job succeeded; waiting for its summary"
    if finalize_job and finalize_job.get("status") in ("STARTING", "RUNNING"):
        return "finalizing", ""
    if shard_job and (shard_job.get("status") in ("STARTING", "RUNNING", "SUCCEEDED")):
        return "running", ""
    children = (shard_job or {}).get("arrayProperties", {}).get("statusSummary", {})
    if children.get("RUNNING") or children.get("STARTING") or children.get("SUCCEEDED"):
        return "running", ""
    return "queued", ""


class AlbumWatcher:
    """Reads an album's state; keeps what does not change between polls (its keys, the reference time)."""

    def __init__(self, bucket_root: S3Storage, jobs: BatchJobs, album_id: str, region: str) -> None:
        self.root = bucket_root
        self.album = album_storage(bucket_root, album_id)
        self.jobs = jobs
        self.album_id = album_id
        self.region = region
        self._keys: list[str] | None = None
        self._record_to_key: dict[str, str] = {}

    def status(self, progress: bool = True) -> AlbumStatus:
        submission = read_json(self.album, SUBMISSION)
        summary = read_json(self.album, SUMMARY)
        if submission is None and summary is None and not self.album.exists(INPUT_MANIFEST):
            raise UsageError(f"no album {self.album_id} in s3://{self.root.bucket}/{ALBUMS}")
        found = self.jobs.describe(submission["jobs"].values()) if submission else {}
        state, reason = _state(submission, found, summary)
        status = AlbumStatus(self.album_id, state, reason=reason, summary=summary if state == "done" else None)
        if submission:
            status.photos, status.files, status.shards = submission["photos"], submission["files"], submission["shards"]
            status.submitted_at = submission["submitted_at"]
            for role, job_id in submission["jobs"].items():
                status.jobs[role] = found.get(job_id, {}).get("status", "UNKNOWN")
            shard_job = found.get(submission["jobs"]["shards"], {})
            status.children = {
                k: v for k, v in shard_job.get("arrayProperties", {}).get("statusSummary", {}).items() if v
            }
            status.links = console_links(self.region, self.root.bucket, self.album_id, *submission["jobs"].values())
        if state == "done":
            status.files_done = status.files = int(
                (summary or {}).get("files", (summary or {}).get("photos", status.files))
            )
            status.shards_done = status.shards
        elif submission and progress and state not in ("failed", "cancelled", "unknown"):
            self._progress(status, submission)
        return status

    def job_ids(self) -> dict[str, str]:
        """role -> job id of the latest submission (empty before any)."""
        submission = read_json(self.album, SUBMISSION)
        return dict(submission["jobs"]) if submission else {}

    def all_job_ids(self) -> list[str]:
        """The submission's jobs and every array child (``parent:N``), for their log streams."""
        submission = read_json(self.album, SUBMISSION)
        if not submission:
            return []
        ids = list(submission["jobs"].values())
        if submission.get("array"):
            ids += [f"{submission['jobs']['shards']}:{i}" for i in range(submission["shards"])]
        return ids

    def _progress(self, status: AlbumStatus, submission: dict) -> None:
        """Files done: those of finished shards, plus those with a record written since this submission."""
        head = self.album.head(SUBMISSION)
        if head is None:  # removed under us (a new submit is starting): nothing to count yet
            return
        since = head["LastModified"]  # S3's clock on both sides
        if self._keys is None:
            self._keys = input_keys(self.album)
            self._record_to_key = {S3_LAYOUT.record_key(k): k for k in self._keys}
        done: set[str] = set()
        size = submission["shard_size"]
        for obj in self.album.list_objects(S3_LAYOUT.shards):
            index = shard_manifest_index(obj["Key"])
            if index is not None and obj["LastModified"] >= since:
                status.shards_done += 1
                done.update(shard_slice(self._keys, index, size))
        for obj in self.album.list_objects(S3_LAYOUT.records):
            if obj["LastModified"] >= since and obj["Key"] in self._record_to_key:
                done.add(self._record_to_key[obj["Key"]])
        status.files_done = len(done)


@dataclass(frozen=True)
class Poll:
    first: float = 5.0
    most: float = 30.0
    grace: float = 180.0  # how long "finalize succeeded, no summary yet" may last


def wait_for_album(
    watcher: AlbumWatcher,
    on_update: Callable[[AlbumStatus], None],
    poll: Poll = Poll(),
    sleep: Callable[[float], None] = time.sleep,
) -> AlbumStatus:
    """Poll with backoff and jitter until the album is done (returned) or failed (AlbumFailed)."""
    delay = poll.first
    finishing_since: float | None = None
    while True:
        status = watcher.status()
        on_update(status)
        if status.state == "done":
            return status
        if status.state in ("failed", "cancelled"):
            raise AlbumFailed(f"album {status.album_id} {status.state}: {status.reason or 'see the job logs'}")
        if status.state == "finishing":
            finishing_since = finishing_since or time.monotonic()
            if time.monotonic() - finishing_since > poll.grace:
                raise AlbumFailed(f"album {status.album_id}: the finalize job succeeded but wrote no summary")
        else:
            finishing_since = None
        sleep(delay * random.uniform(0.8, 1.2))
        delay = min(poll.most, delay * 1.5)


@dataclass
class AlbumListing:
    album_id: str
    state: str
    files: int | None
    ok: int | None
    errors: int | None
    submitted_at: str


def list_albums(bucket_root: S3Storage, jobs: BatchJobs) -> list[AlbumListing]:
    ids = album_ids(bucket_root)

    def read(album_id: str) -> tuple[dict | None, dict | None]:
        album = album_storage(bucket_root, album_id)
        return read_json(album, SUBMISSION), read_json(album, SUMMARY)

    with cf.ThreadPoolExecutor(8) as pool:
        records = dict(zip(ids, pool.map(read, ids), strict=True))
    job_ids = [j for submission, _ in records.values() if submission for j in submission["jobs"].values()]
    found = jobs.describe(job_ids)  # one call per 100 jobs for the whole bucket
    listing = []
    for album_id, (submission, summary) in records.items():
        state, _ = _state(submission, found, summary)
        done = state == "done" and summary is not None
        summary = summary or {}
        listing.append(
            AlbumListing(
                album_id=album_id,
                state=state,
                files=int(summary.get("files", summary["photos"])) if done else (submission or {}).get("files"),
                ok=int(summary["ok"]) if done else None,
                errors=int(summary["error"]) if done else None,
                submitted_at=(submission or {}).get("submitted_at", ""),
            )
        )
    return sorted(listing, key=lambda a: (a.submitted_at, a.album_id), reverse=True)
