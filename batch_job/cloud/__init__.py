"""The laptop side of the AWS path: put an album in S3, submit its Batch jobs, follow them, fetch the result.

One module per step, in the order an album meets them: ``plan`` (the files
here and their hashes), ``upload`` (the album's id in the bucket, the upload),
``submit`` (jobs; cancel), ``status`` (state, wait, list), ``download`` (the
zip), and ``state`` (this machine's record of where each album went). The
keys in the bucket are ``batch_job.s3layout``'s, which the Batch worker uses
too; the worker never imports this package.

The album id is ``<folder slug>-<date of first submission>-<content hash>``:
the same album submitted again finds its old id (and uploads nothing), a
changed album gets a new one.
"""

from batch_job.cloud.download import Download, download_album, safe_extract
from batch_job.cloud.plan import AlbumPlan, LocalFile, estimate_usd, new_album_id, plan_album, slugify
from batch_job.cloud.status import (
    AlbumFailed,
    AlbumListing,
    AlbumStatus,
    AlbumWatcher,
    Poll,
    list_albums,
    wait_for_album,
)  # fmt: skip
from batch_job.cloud.submit import (
    MAX_ARRAY_SIZE,
    Submission,
    check_submittable,
    console_links,
    dry_run_plan,
    job_environment,
    submit_album,
)  # fmt: skip
from batch_job.cloud.upload import UploadReport, choose_album_id, find_album_id, upload_album
from batch_job.s3layout import (
    ALBUMS,
    INPUT,
    INPUT_MANIFEST,
    SUBMISSION,
    SUMMARY,
    album_storage,
    input_keys,
    read_json,
    shard_count,
    shard_slice,
)  # fmt: skip

__all__ = [
    "ALBUMS", "INPUT", "INPUT_MANIFEST", "MAX_ARRAY_SIZE", "SUBMISSION", "SUMMARY", "AlbumFailed", "AlbumListing",
    "AlbumPlan", "AlbumStatus", "AlbumWatcher", "Download", "LocalFile", "Poll", "Submission", "UploadReport",
    "album_storage", "check_submittable", "choose_album_id", "console_links", "download_album", "dry_run_plan",
    "estimate_usd", "find_album_id", "input_keys", "job_environment", "list_albums", "new_album_id", "plan_album",
    "read_json", "safe_extract", "shard_count", "shard_slice", "slugify", "submit_album", "upload_album",
    "wait_for_album",
]  # fmt: skip
