"""The Batch container's entry point: ``python -m batch_job shard`` or ``python -m batch_job finalize``.

Everything comes from the command and the environment Batch gives the
container (the job definition's environment plus the submit-time overrides);
run ``python -m batch_job --help`` for the list and the exit codes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from batch_job.errors import DetectorError, ServiceUnavailable, StorageError, UsageError

log = logging.getLogger("batch_job.worker")

EXIT_OK, EXIT_BUG, EXIT_CONFIG = 0, 1, 2
# Every infrastructure fault is a 7x code: the job definition retries "7*", never 1 or 2.
EXIT_STORAGE, EXIT_SERVICE, EXIT_DETECTOR, EXIT_WORKER = 74, 75, 76, 77

EPILOG = """\
environment:
  MASKALBUM_ALBUM_ID         the album (required)
  MASKALBUM_BUCKET           its bucket (required)
  MASKALBUM_*                every other setting, e.g. MASKALBUM_DETECTOR, MASKALBUM_SEED,
                             MASKALBUM_SHARD_SIZE, MASKALBUM_KMS_KEY, MASKALBUM_REGION
  AWS_BATCH_JOB_ARRAY_INDEX  this child's shard (absent for a single job: shard 0)
  AWS_BATCH_JOB_ATTEMPT, AWS_BATCH_JOB_ID   for the logs and the album summary
  MASKALBUM_BATCH_ATTEMPTS   the job definition's retryStrategy.attempts: on the last attempt a shard
                             whose detector service stays unavailable keeps what it finished

exit codes (job_definition.json retries the 7x codes, never 1 or 2):
  0   done; photos that failed are rows of the manifest, not a failed job
  1   unexpected error (a bug): not retried
  2   bad configuration (environment, settings, shard index): not retried
  74  storage fault: S3 read or write failed after botocore's retries
  75  detector service unavailable: Rekognition throttled, unreachable or refused after retries
      (on the last attempt the shard exits 0 instead: finished photos keep their rows, the rest get
      an error row "resubmit to finish", and the album is finalized)
  76  the detector could not be loaded (model file, onnxruntime)
  77  a worker process died (out of memory, killed)
"""


@dataclass(frozen=True)
class JobEnv:
    """What identifies this job; the settings come from the same environment."""

    album_id: str
    bucket: str
    index: int
    attempt: int
    job_id: str | None
    attempts: int = 1  # how many attempts Batch makes in all

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.attempts

    @classmethod
    def from_environ(cls, env: Mapping[str, str], bucket: str | None) -> JobEnv:
        album_id = env.get("MASKALBUM_ALBUM_ID", "").strip()
        if not album_id:
            raise UsageError("MASKALBUM_ALBUM_ID is not set (submit sets it as a container override)")
        if not bucket:
            raise UsageError("MASKALBUM_BUCKET is not set")
        try:
            index = int(env.get("AWS_BATCH_JOB_ARRAY_INDEX", "0"))
            attempt = int(env.get("AWS_BATCH_JOB_ATTEMPT", "1"))
            attempts = int(env.get("MASKALBUM_BATCH_ATTEMPTS", "1"))
        except ValueError as exc:
            raise UsageError(f"bad Batch environment: {exc}") from exc
        return cls(album_id, bucket, index, attempt, env.get("AWS_BATCH_JOB_ID") or None, attempts)


def worker_processes(settings) -> int:
    from batch_job.settings import worker_count

    if settings.workers:
        return settings.workers
    if settings.detector == "rekognition":
        # DetectFaces mostly waits on the network: more processes than cores keep
        # the quota busy. This is the container's bound on requests in flight.
        return max(worker_count(settings), settings.rekognition_concurrency)
    return worker_count(settings)


def _album(settings, job: JobEnv):
    from batch_job.s3layout import album_url
    from batch_job.s3storage import storage_from_settings

    return storage_from_settings(album_url(job.bucket, job.album_id), settings)


def run_shard(settings, job: JobEnv) -> int:
    from batch_job.album import OutputNames, shared_stems
    from batch_job.detect.base import create_detector
    from batch_job.runner import WorkSpec, process_entries, write_shard
    from batch_job.s3layout import S3_LAYOUT, album_url, input_keys, input_url, shard_count, shard_slice

    album = _album(settings, job)
    keys = input_keys(album)
    shards = shard_count(len(keys), settings.shard_size)
    if not 0 <= job.index < shards:
        raise UsageError(f"shard {job.index} does not exist: {len(keys)} files in {shards} shards")
    mine = shard_slice(keys, job.index, settings.shard_size)
    # Load the detector once here so a broken model is its own exit code, not a dead worker pool.
    create_detector(settings.detector, settings)
    spec = WorkSpec(
        input_url(job.bucket, job.album_id),
        album_url(job.bucket, job.album_id),
        S3_LAYOUT,
        settings,
        shared_stems(keys),
        OutputNames(keys),
    )
    workers = worker_processes(settings)
    log.info(
        "album %s shard %d of 0..%d (attempt %d): %d files, %d processes, detector %s",
        job.album_id, job.index, shards - 1, job.attempt, len(mine), workers, settings.detector,
    )  # fmt: skip
    counts = {"done": 0, "reused": 0, "errors": 0}

    def on_result(record: dict, resumed: bool) -> None:
        row = record["row"]
        counts["done"] += 1
        counts["reused"] += resumed
        counts["errors"] += row["status"] == "error"
        log.info(
            "%d/%d %s: %s%s", counts["done"], len(mine), row["path"], row["status"], " (reused)" if resumed else ""
        )

    started = time.perf_counter()
    try:
        records = process_entries(mine, spec, workers, on_result)
    except ServiceUnavailable as exc:
        if not job.last_attempt:
            raise  # exit 75: Batch starts another attempt, which resumes after the finished photos
        # The last attempt: failing now would fail the array and the finalize job would never run.
        log.error("detector service: %s; last attempt (%d of %d): keeping what is done", exc, job.attempt, job.attempts)
        records = finished_or_unfinished(album, mine, settings.detector, f"{exc} (resubmit the album to finish)")
    write_shard(album, S3_LAYOUT, job.index, records)
    log.info(
        "shard %d done: %d files, %d reused from an earlier attempt, %d errors, %.1f s",
        job.index, len(records), counts["reused"], counts["errors"], time.perf_counter() - started,
    )  # fmt: skip
    return EXIT_OK


def finished_or_unfinished(album, keys: list[str], detector: str, reason: str) -> list[dict]:
    """Each photo's finished record when it has one, else an error row saying why (no record is
    written for those, so a resubmission processes exactly them)."""
    from batch_job.pipeline import PhotoResult, PhotoRow
    from batch_job.s3layout import S3_LAYOUT

    records = []
    for key in keys:
        record_key = S3_LAYOUT.record_key(key)
        saved = json.loads(album.read(record_key)) if album.exists(record_key) else None
        if saved:
            records.append(saved["record"])
            continue
        row = PhotoRow(
            path=key, output="", sha256="", bytes=0, width=0, height=0, status="error", reason=reason, notes="",
            faces_found=0, faces_masked=0, masks="", detector=detector, ms=0,
        )  # fmt: skip
        records.append(PhotoResult(row).to_json())
    return records


def run_finalize(settings, job: JobEnv) -> int:
    from batch_job.runner import finalize
    from batch_job.s3layout import INPUT, S3_LAYOUT, SUMMARY, input_keys, shard_count

    album = _album(settings, job)
    started = time.perf_counter()
    shards = shard_count(len(input_keys(album)), settings.shard_size)
    summary = finalize(album, S3_LAYOUT, job.album_id, expected_shards=shards)
    summary.seconds = round(time.perf_counter() - started, 2)
    notified = _notify(summary, settings, album, S3_LAYOUT, job.album_id, source=album.under(INPUT))
    data = summary.to_json() | {
        "album_id": job.album_id,
        "job_id": job.job_id,
        "attempt": job.attempt,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notify": notified,
    }
    # Written last: status and --wait take its presence (with this job's id) as "done".
    album.write(SUMMARY, json.dumps(data, indent=1).encode(), "application/json")
    log.info(
        "album %s finalized: %d files, %d ok, %d errors; %s",
        job.album_id, summary.files, summary.ok, summary.error, summary.zip,
    )  # fmt: skip
    return EXIT_OK


def _notify(summary, settings, storage, layout, album_id: str, source) -> str:
    if not settings.notify_line:
        return ""
    try:
        from batch_job.notify import notify_album
    except ImportError:
        log.warning("LINE notification not available")
        return "LINE notification not available"
    # source: the original photos, for the before/after preview.
    return notify_album(summary, settings, storage, layout, album_id, source=source)


ROLES = {"shard": run_shard, "finalize": run_finalize}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m batch_job",
        description="maskalbum's AWS Batch worker: process one shard of an album, or finalize the album "
        "(merge the shards into manifest.csv and faces.csv, stream album.zip to S3).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("role", choices=sorted(ROLES), help="shard: one array child's photos; finalize: the album's results")
    return p


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = os.environ if environ is None else environ
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import botocore.exceptions

    from batch_job.runner import WorkerFailure
    from batch_job.settings import resolve

    try:
        settings = resolve({}, env)
        job = JobEnv.from_environ(env, settings.bucket)
        return ROLES[args.role](settings, job)
    except UsageError as exc:
        log.error("configuration: %s", exc)
        return EXIT_CONFIG
    except StorageError as exc:
        log.error("storage: %s", exc)
        return EXIT_STORAGE
    except ServiceUnavailable as exc:
        log.error("detector service: %s", exc)
        return EXIT_SERVICE
    except DetectorError as exc:
        log.error("detector: %s", exc)
        return EXIT_DETECTOR
    except WorkerFailure as exc:
        log.error("worker: %s", exc)
        return EXIT_WORKER
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        log.error("AWS: %s", exc)
        return EXIT_STORAGE
    except Exception:  # the last word of a container: log it in full, exit non-retryable
        log.exception("unexpected failure")
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
