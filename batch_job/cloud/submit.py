"""Submit an album: upload it, then its shard job(s) and the finalize job; cancel them again."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batch_job.aws import BatchJobs
from batch_job.cloud.plan import AlbumPlan, LocalFile, estimate_usd, new_album_id, plan_album
from batch_job.cloud.upload import UploadReport, choose_album_id, upload_album
from batch_job.errors import UsageError
from batch_job.s3layout import (
    ALBUMS,
    INPUT,
    S3_LAYOUT,
    SUBMISSION,
    album_storage,
    read_json,
    shard_count,
    shard_index,
)  # fmt: skip
from batch_job.s3storage import S3Storage
from batch_job.settings import ENV_PREFIX, Settings

MAX_ARRAY_SIZE = 10_000  # Batch's limit for one array job
PACE = 0.95
ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
# Settings that describe this machine or the submission itself, not the work: never sent to a job.
LOCAL_ONLY = {
    "workers", "profile", "job_queue", "job_definition", "finalize_job_definition", "image", "job_role_arn",
    "execution_role_arn", "max_containers", "stack",
}  # fmt: skip


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


def job_environment(settings: Settings, album_id: str, region: str, shards: int = 0) -> dict[str, str]:
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
    if shards and settings.rekognition_tps:
        env[ENV_PREFIX + "REKOGNITION_TPS"] = f"{container_tps(settings, shards):.4g}"
    return env


def container_tps(settings: Settings, shards: int) -> float:
    """Each container's share of the album's DetectFaces budget: the containers that run at once split it,
    paced at 95 % of it (bench/RESULTS.md, "Cloud throughput": at 95 % no request was throttled and the
    quota was as busy as at 100 %, which drew throttles)."""
    return PACE * settings.rekognition_tps / max(1, min(shards, settings.max_containers))


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
        raise UsageError(
            f"missing {flags} (or MASKALBUM_{missing[0].upper()}, or the config file): "
            "`maskalbum deploy` creates them and writes the config file"
        )


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

    env = job_environment(settings, album_id, region, shards)
    tags = {"maskalbum:album": album_id}
    name = f"maskalbum-{album_id}"[:128]
    array = shards > 1
    # A single shard is a plain job: an array job must have at least 2 children.
    queue, definition = settings.job_queue, settings.job_definition
    if not (queue and definition):  # check_submittable refused this already; keeps the types honest
        raise UsageError("missing --job-queue or --job-definition")
    shard_job = jobs.submit(
        name, queue, definition, command=["shard"], environment=env,
        array_size=shards if array else None, tags=tags,
    )  # fmt: skip
    finalize_job = jobs.submit(
        f"{name[:119]}-finalize", queue, settings.finalize_job_definition or definition,
        command=["finalize"],
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
        "finalize_job_definition": settings.finalize_job_definition or settings.job_definition,
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
        index = shard_index(key)
        if index is not None and index >= shards:
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


@dataclass
class Cancelled:
    album_id: str
    stopped: dict[str, str]  # job id -> the status it had
    already_finished: dict[str, str]


def cancel_album(bucket_root: S3Storage, jobs: BatchJobs, album_id: str) -> Cancelled:
    """Terminate the album's jobs that are still queued or running, and mark the submission cancelled.

    What the shards finished stays in the bucket (resume records): submitting the
    album again carries on from there.
    """
    album = album_storage(bucket_root, album_id)
    submission = read_json(album, SUBMISSION)
    if submission is None:
        raise UsageError(f"album {album_id} was never submitted (no {album.describe(SUBMISSION)})")
    found = jobs.describe(submission["jobs"].values())
    result = Cancelled(album_id, {}, {})
    # The finalize job first: it must not start on the children's failure.
    for role in ("finalize", "shards"):
        job_id = submission["jobs"][role]
        state = found.get(job_id, {}).get("status", "UNKNOWN")
        if state in ACTIVE:
            jobs.terminate(job_id, f"maskalbum cancel {album_id}")
            result.stopped[job_id] = state
        else:
            result.already_finished[job_id] = state
    submission["cancelled_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    album.write(SUBMISSION, json.dumps(submission, indent=1).encode(), "application/json")
    return result
