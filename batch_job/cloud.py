"""The AWS orchestrator: put an album in S3, submit its Batch jobs, follow them, fetch the result.

Everything of one album sits under ``s3://<bucket>/albums/<album_id>/``:

    input/<key>          the album's files as uploaded (sha256 in their metadata)
    input.json           the input manifest: keys, sizes, sha256 (written after the uploads)
    submission.json      the latest submission: job ids, shard count, what the jobs were told
    state/records/       per-photo resume records (runner.S3_LAYOUT)
    shards/<index>.csv   one array child's rows
    output/images/...    the edited photos
    output/manifest.csv, output/faces.csv, output/album.zip, output/summary.json

The album id is ``<folder slug>-<date of first submission>-<content hash>``:
the same album submitted again finds its old id (and uploads nothing), a
changed album gets a new one.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import json
import math
import mimetypes
import os
import random
import re
import stat
import time
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from batch_job.album import scan, sha256_file
from batch_job.aws import BatchJobs
from batch_job.errors import MaskalbumError, StorageError, UsageError
from batch_job.runner import S3_LAYOUT
from batch_job.s3storage import Changed, S3Storage
from batch_job.settings import ENV_PREFIX, Settings

ALBUMS = "albums/"
INPUT = "input/"
INPUT_MANIFEST = "input.json"
SUBMISSION = "submission.json"
SUMMARY = "output/summary.json"
MAX_ARRAY_SIZE = 10_000  # Batch's limit for one array job
# List price of DetectFaces for the first million images a month (us-east-1); regions differ.
REKOGNITION_USD_PER_IMAGE = 0.001
ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
# Settings that describe this machine or the submission itself, not the work: never sent to a job.
LOCAL_ONLY = {"workers", "profile", "job_queue", "job_definition", "image", "job_role_arn", "execution_role_arn"}
_EXTRA_TYPES = {".heic": "image/heic", ".heif": "image/heif", ".hif": "image/heif", ".avif": "image/avif",
                ".webp": "image/webp", ".mpo": "image/jpeg"}  # fmt: skip
S3_KEY_LIMIT = 1024  # bytes of UTF-8


class AlbumFailed(MaskalbumError):
    """The album's Batch jobs failed."""


# ---------------------------------------------------------------------------------------------
# the album on this machine


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
        from batch_job.album import IMAGE_SUFFIXES

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


def shard_count(files: int, shard_size: int) -> int:
    return max(1, math.ceil(files / shard_size))


def shard_slice(keys: list[str], index: int, shard_size: int) -> list[str]:
    return keys[index * shard_size : (index + 1) * shard_size]


def estimate_usd(photos: int, detector: str) -> float:
    return round(photos * REKOGNITION_USD_PER_IMAGE, 4) if detector == "rekognition" else 0.0


# ---------------------------------------------------------------------------------------------
# the album in the bucket


def album_storage(bucket_root: S3Storage, album_id: str) -> S3Storage:
    """The storage rooted at ``albums/<album_id>/`` (same client, bucket and encryption)."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}", album_id):
        raise UsageError(f"not an album id: {album_id!r}")
    return bucket_root.under(ALBUMS + album_id)


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
        return bool(head) and head.get("Metadata", {}).get("sha256") == f.sha256

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


# ---------------------------------------------------------------------------------------------
# submit


@dataclass
class Submission:
    album_id: str
    bucket: str
    region: str
    files: int
    photos: int
    shards: int
    shard_job_id: str
    finalize_job_id: str
    array: bool
    upload: UploadReport
    links: dict[str, str]


def job_environment(settings: Settings, album_id: str, region: str) -> dict[str, str]:
    """What every job of this album is told, on top of the job definition's environment."""
    env = {k: v for k, v in settings.to_env().items() if k[len(ENV_PREFIX) :].lower() not in LOCAL_ONLY}
    env.update(
        {
            ENV_PREFIX + "ALBUM_ID": album_id,
            ENV_PREFIX + "BUCKET": str(settings.bucket),
            ENV_PREFIX + "SHARD_SIZE": str(settings.shard_size),
            ENV_PREFIX + "REGION": region,
        }
    )
    return env


def check_submittable(settings: Settings, dry_run: bool = False) -> None:
    from batch_job.detect.base import detector_factory
    from batch_job.runner import build_pool

    if settings.mask_file or settings.anchors_file:
        raise UsageError("--mask-file is for local runs; on AWS choose catalog masks with --mask / --tag")
    build_pool(settings)  # a bad --mask / --tag fails here, before anything is uploaded
    detector_factory(settings.detector)
    if dry_run:
        return
    missing = [name for name in ("bucket", "job_queue", "job_definition") if not getattr(settings, name)]
    if missing:
        flags = ", ".join("--" + m.replace("_", "-") for m in missing)
        raise UsageError(f"missing {flags} (or MASKALBUM_{missing[0].upper()}, or the config file)")


def submit_album(
    album_dir: Path,
    settings: Settings,
    bucket_root: S3Storage,
    jobs: BatchJobs,
    region: str,
    today: dt.date | None = None,
    on_file: Callable[[LocalFile, bool], None] | None = None,
    plan: AlbumPlan | None = None,
) -> Submission:
    """Upload the album, then submit its shard job(s) and the finalize job that depends on them."""
    check_submittable(settings)
    plan = plan or plan_album(album_dir)
    if not plan.files:
        raise UsageError(f"the album {album_dir} has no files to process")
    shards = shard_count(len(plan.files), settings.shard_size)
    if shards > MAX_ARRAY_SIZE:
        need = math.ceil(len(plan.files) / MAX_ARRAY_SIZE)
        raise UsageError(f"{shards} shards is over Batch's {MAX_ARRAY_SIZE}: use --shard-size {need} or more")
    album_id = choose_album_id(bucket_root, plan, today or dt.datetime.now(dt.UTC).date())
    album = album_storage(bucket_root, album_id)
    _refuse_if_running(album, jobs, album_id)
    report = upload_album(plan, album, album_id, on_file=on_file)
    _remove_stale_shards(album, shards)

    env = job_environment(settings, album_id, region)
    tags = {"maskalbum:album": album_id}
    name = f"maskalbum-{album_id}"[:128]
    array = shards > 1
    # A single shard is a plain job: an array job must have at least 2 children.
    shard_job = jobs.submit(
        name, settings.job_queue, settings.job_definition, command=["shard"], environment=env,
        array_size=shards if array else None, tags=tags,
    )  # fmt: skip
    finalize_job = jobs.submit(
        f"{name[:119]}-finalize", settings.job_queue, settings.job_definition, command=["finalize"],
        environment=env, depends_on=shard_job, tags=tags,
    )  # fmt: skip
    record = {
        "album_id": album_id,
        "album": plan.name,
        "submitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": len(plan.files),
        "photos": plan.photos,
        "shards": shards,
        "shard_size": settings.shard_size,
        "array": array,
        "region": region,
        "job_queue": settings.job_queue,
        "job_definition": settings.job_definition,
        "jobs": {"shards": shard_job, "finalize": finalize_job},
        "environment": env,
    }
    album.write(SUBMISSION, json.dumps(record, indent=1).encode(), "application/json")
    return Submission(
        album_id=album_id, bucket=bucket_root.bucket, region=region, files=len(plan.files), photos=plan.photos,
        shards=shards, shard_job_id=shard_job, finalize_job_id=finalize_job, array=array, upload=report,
        links=console_links(region, bucket_root.bucket, album_id, shard_job, finalize_job),
    )  # fmt: skip


def _refuse_if_running(album: S3Storage, jobs: BatchJobs, album_id: str) -> None:
    previous = read_json(album, SUBMISSION)
    if not previous:
        return
    found = jobs.describe(previous["jobs"].values())
    running = [f"{j['jobId']} ({j['status']})" for j in found.values() if j.get("status") in ACTIVE]
    if running:
        raise UsageError(
            f"album {album_id} is still being processed: {', '.join(running)}. "
            "Wait for it (`maskalbum status`) or cancel those jobs first."
        )


def _remove_stale_shards(album: S3Storage, shards: int) -> None:
    """Shard results from an earlier submission with more shards would be merged as if current."""
    for key in list(album.list(S3_LAYOUT.shards)):
        match = re.fullmatch(rf"{re.escape(S3_LAYOUT.shards)}(\d+)(-faces)?\.csv", key)
        if match and int(match.group(1)) >= shards:
            album.delete(key)


def console_links(region: str, bucket: str, album_id: str, *job_ids: str) -> dict[str, str]:
    console = f"https://{region}.console.aws.amazon.com"
    links = {f"job {j}": f"{console}/batch/home?region={region}#jobs/detail/{j}" for j in job_ids}
    links["files"] = f"https://s3.console.aws.amazon.com/s3/buckets/{bucket}?region={region}&prefix={ALBUMS}{album_id}/"
    links["logs"] = f"{console}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob"
    return links


def dry_run_plan(plan: AlbumPlan, settings: Settings, today: dt.date | None = None) -> dict:
    """What submit would do, computed without any AWS call."""
    album_id = new_album_id(plan, today or dt.datetime.now(dt.UTC).date())
    shards = shard_count(len(plan.files), settings.shard_size)
    return {
        "album_id": album_id,
        "destination": f"s3://{settings.bucket or '<bucket>'}/{ALBUMS}{album_id}/{INPUT}",
        "files": [{"key": f.key, "size": f.size, "sha256": f.sha256} for f in plan.files],
        "bytes": plan.bytes,
        "photos": plan.photos,
        "shards": shards,
        "array_size": shards if shards > 1 else None,
        "detector": settings.detector,
        "rekognition_calls": plan.photos if settings.detector == "rekognition" else 0,
        "rekognition_usd": estimate_usd(plan.photos, settings.detector),
    }


# ---------------------------------------------------------------------------------------------
# status, wait, albums


@dataclass
class AlbumStatus:
    album_id: str
    state: str  # uploaded | queued | running | finalizing | finishing | done | failed | unknown
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
        return self.state in ("done", "failed")

    def to_json(self) -> dict:
        return asdict(self)


def _state(submission: dict | None, found: dict[str, dict], summary: dict | None) -> tuple[str, str]:
    """(state, reason) from the submission record, what Batch says, and the finalize job's summary."""
    if submission is None:
        return ("done", "") if summary else ("uploaded", "")
    shard_id, finalize_id = submission["jobs"]["shards"], submission["jobs"]["finalize"]
    if summary and summary.get("job_id") in (finalize_id, None):
        return "done", ""
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
            status.children = {k: v for k, v in shard_job.get("arrayProperties", {}).get("statusSummary", {}).items() if v}
            status.links = console_links(self.region, self.root.bucket, self.album_id, *submission["jobs"].values())
        if state == "done":
            status.files_done = status.files = int((summary or {}).get("photos", status.files))
            status.shards_done = status.shards
        elif submission and progress and state not in ("failed", "unknown"):
            self._progress(status, submission)
        return status

    def _progress(self, status: AlbumStatus, submission: dict) -> None:
        """Files done: those of finished shards, plus those with a record written since this submission."""
        since = self.album.head(SUBMISSION)["LastModified"]  # S3's clock on both sides
        if self._keys is None:
            self._keys = input_keys(self.album)
            self._record_to_key = {S3_LAYOUT.record_key(k): k for k in self._keys}
        done: set[str] = set()
        size = submission["shard_size"]
        for obj in self.album.list_objects(S3_LAYOUT.shards):
            match = re.fullmatch(rf"{re.escape(S3_LAYOUT.shards)}(\d+)\.csv", obj["Key"])
            if match and obj["LastModified"] >= since:
                status.shards_done += 1
                done.update(shard_slice(self._keys, int(match.group(1)), size))
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
        if status.state == "failed":
            raise AlbumFailed(f"album {status.album_id} failed: {status.reason or 'see the job logs'}")
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
    ids = [folder[len(ALBUMS) : -1] for folder in bucket_root.folders(ALBUMS)]

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
        done = state == "done" and summary
        listing.append(
            AlbumListing(
                album_id=album_id,
                state=state,
                files=int(summary["photos"]) if done else (submission or {}).get("files"),
                ok=int(summary["ok"]) if done else None,
                errors=int(summary["error"]) if done else None,
                submitted_at=(submission or {}).get("submitted_at", ""),
            )
        )
    return sorted(listing, key=lambda a: (a.submitted_at, a.album_id), reverse=True)


# ---------------------------------------------------------------------------------------------
# download


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
