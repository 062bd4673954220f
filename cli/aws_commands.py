"""The AWS album commands: submit, status, download, albums, cancel, logs, register-job-definition.

Each one resolves settings, builds the clients, calls one function of
``batch_job.cloud`` (or ``batch_job.jobdef``) and prints. Every option also
reads MASKALBUM_<NAME> and the config file (through ``settings.resolve``).
An album id alone is enough after ``submit``: its bucket and region come from
this machine's album record (``batch_job.cloud.state``) unless a flag says
otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from batch_job.errors import MaskalbumError
from cli.common import AllFaces, JsonOut, MaskOpt, NotifyLine, Seed, TagOpt, console, fail, out, settings_from

app = typer.Typer()

Bucket = Annotated[str | None, typer.Option(help="S3 bucket that holds the albums.")]
Region = Annotated[str | None, typer.Option(help="AWS region (default: boto3's chain: AWS_REGION, the profile).")]
Profile = Annotated[str | None, typer.Option(help="AWS profile for credentials and region.")]
JobQueue = Annotated[str | None, typer.Option(help="AWS Batch job queue.")]
JobDefinition = Annotated[str | None, typer.Option(help="AWS Batch job definition (name, name:revision or ARN).")]
ShardSize = Annotated[int | None, typer.Option(help="Files per Batch array child (default 50).")]
KmsKey = Annotated[str | None, typer.Option(help="Encrypt with this KMS key (aws:kms) instead of S3's AES256.")]
AlbumId = Annotated[str, typer.Argument(help="The album id that submit printed (see `maskalbum albums`).")]
Dest = Annotated[Path, typer.Option("--dest", help="Folder to download into.")]
CloudDetector = Annotated[
    str | None,
    typer.Option(
        "--detector",
        help="rekognition (the default on AWS: DetectFaces joined with the local model) "
        "or local (all in the container).",
    ),
]
PollSeconds = Annotated[float, typer.Option(hidden=True, help="First polling interval of --wait (seconds).")]


def _clients(settings):
    from batch_job.aws import BatchJobs, batch_client, region_of, s3_client
    from batch_job.s3storage import S3Storage

    if not settings.bucket:
        from batch_job.errors import UsageError

        raise UsageError(
            "no bucket: run `maskalbum deploy` (it writes the config file), or pass --bucket "
            "(or MASKALBUM_BUCKET, or bucket in the config file)"
        )
    region = region_of(settings)
    root = S3Storage(s3_client(settings), settings.bucket, "", kms_key=settings.kms_key)
    return root, BatchJobs(batch_client(settings)), region


def _cloud_detector() -> str | None:
    """On AWS the default detector is Rekognition (joined with the local model in the container);
    a MASKALBUM_DETECTOR or a detector in the config file still decides, as for `run`."""
    import os
    import tomllib

    from batch_job.settings import ENV_PREFIX, default_config_path

    if os.environ.get(ENV_PREFIX + "DETECTOR"):
        return None
    path = Path(os.environ.get(ENV_PREFIX + "CONFIG") or default_config_path())
    try:
        if "detector" in tomllib.loads(path.read_text(encoding="utf-8")):
            return None
    except (OSError, tomllib.TOMLDecodeError):
        pass  # resolve() reports a broken config file with its own message
    return "rekognition"


def _album_settings(album_id: str, bucket: str | None, region: str | None, profile: str | None):
    """Settings for one album: flags, else this machine's record of the album, else env and config."""
    from batch_job.cloud.state import AlbumBook

    record = AlbumBook().get(album_id)
    if record:
        bucket = bucket or record.bucket
        region = region or record.region
    return settings_from(bucket=bucket, region=region, profile=profile)


def _remember(submission, album: Path) -> None:
    import datetime as dt

    from batch_job.cloud.state import AlbumBook, AlbumRecord

    AlbumBook().put(
        AlbumRecord(
            submission.album_id, submission.bucket, submission.region,
            {"shards": submission.shard_job_id, "finalize": submission.finalize_job_id},
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), str(album.resolve()),
        )
    )  # fmt: skip


@app.command(rich_help_panel="AWS")
def submit(
    album: Annotated[Path, typer.Argument(help="The album folder (searched recursively).")],
    bucket: Bucket = None,
    job_queue: JobQueue = None,
    job_definition: JobDefinition = None,
    detector: CloudDetector = None,
    seed: Seed = None,
    mask: MaskOpt = None,
    tag: TagOpt = None,
    all_faces: AllFaces = None,
    shard_size: ShardSize = None,
    kms_key: KmsKey = None,
    notify_line: NotifyLine = None,
    region: Region = None,
    profile: Profile = None,
    wait: Annotated[bool, typer.Option(help="Follow the jobs with a progress bar, then download the zip.")] = False,
    dest: Dest = Path("."),
    dry_run: Annotated[
        bool, typer.Option(help="Print what would be uploaded and the Rekognition cost; call no AWS API.")
    ] = False,
    json_output: JsonOut = False,
    poll_seconds: PollSeconds = 5.0,
) -> None:
    """Upload an album to S3 and process it on AWS Batch (an array job plus a finalize job)."""
    from batch_job import cloud

    try:
        settings = settings_from(
            bucket=bucket, job_queue=job_queue, job_definition=job_definition,
            detector=detector or _cloud_detector(), seed=seed,
            masks=mask, tags=tag, all_faces=all_faces, shard_size=shard_size, kms_key=kms_key, region=region,
            profile=profile, notify_line=notify_line,
        )  # fmt: skip
        if dry_run:
            cloud.check_submittable(settings, dry_run=True)
            with console.status(f"hashing {album}"):
                plan = cloud.plan_album(album)
            _print_dry_run(cloud.dry_run_plan(plan, settings), json_output)
            return
        cloud.check_submittable(settings)
        with console.status(f"hashing {album}"):
            plan = cloud.plan_album(album)
        root, jobs, region_name = _clients(settings)
        with _bar(json_output) as bar:
            task = bar.add_task("upload", total=len(plan.files), stats="")
            counts = {"sent": 0}

            def on_file(_f, sent: bool) -> None:
                counts["sent"] += sent
                bar.update(task, advance=1, stats=f"{counts['sent']} sent")

            submission = cloud.submit_album(album, settings, root, jobs, region_name, on_file=on_file, plan=plan)
        _remember(submission, album)
        _print_submission(submission, json_output, wait)
        if not wait:
            return
        watcher = cloud.AlbumWatcher(root, jobs, submission.album_id, region_name)
        status = _follow(watcher, cloud.Poll(first=poll_seconds, most=max(poll_seconds, 30.0)), json_output)
        result = _download(root, submission.album_id, dest, False, json_output)
    except MaskalbumError as exc:
        raise fail(exc) from exc
    _print_done(submission, status, result, json_output)
    raise typer.Exit(1 if (status.summary or {}).get("error") else 0)


@app.command(rich_help_panel="AWS")
def status(
    album_id: AlbumId,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
    json_output: JsonOut = False,
) -> None:
    """Show an album's state on AWS: jobs, shards and files done, and the counts once finished."""
    from batch_job import cloud

    try:
        settings = _album_settings(album_id, bucket, region, profile)
        root, jobs, region_name = _clients(settings)
        result = cloud.AlbumWatcher(root, jobs, album_id, region_name).status()
    except MaskalbumError as exc:
        raise fail(exc) from exc
    if json_output:
        out.print_json(json.dumps(result.to_json()))
        return
    _print_status(result)


@app.command(rich_help_panel="AWS")
def download(
    album_id: AlbumId,
    dest: Dest = Path("."),
    extract: Annotated[bool, typer.Option(help="Also unpack the zip into DEST/<album id>/ (safely).")] = False,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
    json_output: JsonOut = False,
    open_page: Annotated[
        bool, typer.Option("--open", help="Extract the zip and open the album's gallery in your web browser.")
    ] = False,
) -> None:
    """Download a finished album's zip (resumes an interrupted download); --extract unpacks it."""
    try:
        settings = _album_settings(album_id, bucket, region, profile)
        root, _jobs, _region = _clients(settings)
        result = _download(root, album_id, dest, extract or open_page, json_output)
    except MaskalbumError as exc:
        raise fail(exc) from exc
    if open_page and result.extracted:
        from cli.gallery_commands import open_gallery

        open_gallery(result.extracted)
    if json_output:
        out.print_json(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}))
        return
    how = "already here" if not result.fetched else ("resumed" if result.resumed_from else "downloaded")
    out.print(f"zip: {result.zip_path} ({result.bytes:,} bytes, {how})")
    if result.extracted:
        out.print(f"extracted: {result.extracted}")


@app.command(rich_help_panel="AWS")
def albums(
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
    json_output: JsonOut = False,
) -> None:
    """List the albums in the bucket with their state, counts and age."""
    from batch_job import cloud

    try:
        settings = settings_from(bucket=bucket, region=region, profile=profile)
        if not settings.bucket:
            settings = _last_bucket(settings)
        root, jobs, _region = _clients(settings)
        listing = cloud.list_albums(root, jobs)
    except MaskalbumError as exc:
        raise fail(exc) from exc
    if json_output:
        out.print_json(json.dumps([asdict(a) | {"age": _age(a.submitted_at)} for a in listing]))
        return
    table = Table("album", "state", "files", "ok", "errors", "submitted", "age", title=f"s3://{root.bucket}")
    for a in listing:
        table.add_row(a.album_id, a.state, _n(a.files), _n(a.ok), _n(a.errors), a.submitted_at, _age(a.submitted_at))
    out.print(table)


def _last_bucket(settings):
    """No bucket configured: the bucket of the album this machine submitted last, if any."""
    from batch_job.cloud.state import AlbumBook

    records = sorted(AlbumBook().all(), key=lambda r: r.submitted_at)
    if records:
        return settings.replace(bucket=records[-1].bucket, region=settings.region or records[-1].region)
    return settings


def _age(submitted_at: str) -> str:
    import datetime as dt

    if not submitted_at:
        return ""
    try:
        seconds = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(submitted_at)).total_seconds()
    except ValueError:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "just now"


@app.command(rich_help_panel="AWS")
def cancel(
    album_id: AlbumId,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
    json_output: JsonOut = False,
) -> None:
    """Stop an album's queued or running jobs; what finished stays, and a new submit resumes from it."""
    from batch_job.cloud.submit import cancel_album

    try:
        settings = _album_settings(album_id, bucket, region, profile)
        root, jobs, _region = _clients(settings)
        result = cancel_album(root, jobs, album_id)
    except MaskalbumError as exc:
        raise fail(exc) from exc
    if json_output:
        out.print_json(json.dumps(asdict(result)))
        return
    for job_id, state in result.stopped.items():
        out.print(f"stopped {job_id} (was {state})")
    for job_id, state in result.already_finished.items():
        out.print(f"{job_id} had already ended ({state})")
    out.print(f"album {album_id} cancelled; `maskalbum submit` the same folder again to carry on")


@app.command(rich_help_panel="AWS")
def logs(
    album_id: AlbumId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the album ends.")
    ] = False,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
    poll_seconds: PollSeconds = 5.0,
) -> None:
    """Print the CloudWatch logs of an album's jobs (every shard, then finalize); --follow tails them."""
    import time

    from batch_job.aws import client
    from batch_job.cloud.logs import LogReader, streams_of
    from batch_job.cloud.status import AlbumWatcher

    try:
        settings = _album_settings(album_id, bucket, region, profile)
        root, jobs, region_name = _clients(settings)
        watcher = AlbumWatcher(root, jobs, album_id, region_name)
        reader = LogReader(client(settings, "logs"))
        while True:
            status = watcher.status(progress=False)
            roles = dict(watcher.job_ids())
            described = jobs.describe(watcher.all_job_ids())
            streams = streams_of(described, roles)
            if not streams and not follow:
                out.print(f"no logs yet: the jobs of {album_id} have not started ({status.state})")
            for stream in streams:
                for line in reader.new_lines(stream):
                    out.print(f"[dim]{stream.job}[/] {line}", soft_wrap=True, highlight=False)
            if not follow or status.finished:
                break
            time.sleep(poll_seconds)
    except MaskalbumError as exc:
        raise fail(exc) from exc


@app.command("register-job-definition", rich_help_panel="AWS")
def register_job_definition(
    file: Annotated[Path | None, typer.Option(help="The job definition JSON (default: ./job_definition.json).")] = None,
    image: Annotated[str | None, typer.Option(help="Container image URI (ECR).")] = None,
    job_role_arn: Annotated[str | None, typer.Option(help="IAM role the container runs as (S3, Rekognition).")] = None,
    execution_role_arn: Annotated[
        str | None, typer.Option(help="IAM role Fargate uses to pull the image and write logs.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Register under this name instead of the file's.")] = None,
    line_token_secret_arn: Annotated[
        str | None,
        typer.Option(
            help="Secrets Manager ARN of the LINE channel access token, injected as LINE_CHANNEL_ACCESS_TOKEN."
        ),
    ] = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Only validate the filled-in definition; call no AWS API.")
    ] = False,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Register the Batch job definition, reusing an ACTIVE revision with the same content."""
    from batch_job import jobdef
    from batch_job.aws import BatchJobs, batch_client

    try:
        settings = settings_from(
            image=image, job_role_arn=job_role_arn, execution_role_arn=execution_role_arn, region=region,
            profile=profile, line_token_secret_arn=line_token_secret_arn,
        )  # fmt: skip
        definition = jobdef.fill(
            jobdef.load(file or jobdef.default_path()),
            settings.image, settings.job_role_arn, settings.execution_role_arn, name,
            line_token_secret_arn=settings.line_token_secret_arn,
        )  # fmt: skip
        jobdef.check(definition)
        if check_only:
            out.print(f"{definition['jobDefinitionName']}: valid (hash {jobdef.content_hash(definition)})")
            return
        arn, reused = jobdef.register(definition, BatchJobs(batch_client(settings)))
    except MaskalbumError as exc:
        raise fail(exc) from exc
    out.print(f"{'reused' if reused else 'registered'}: {arn}")


# -- printing -------------------------------------------------------------------------------------


def _n(value) -> str:
    return "" if value is None else str(value)


def _bar(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(), console=console, transient=quiet,
    )  # fmt: skip


def _print_dry_run(plan: dict, json_output: bool) -> None:
    if json_output:
        out.print_json(json.dumps(plan))
        return
    out.print(f"album id (if new): {plan['album_id']}")
    out.print(
        f"would upload {len(plan['files'])} files, {plan['bytes']:,} bytes, to {plan['destination']}", soft_wrap=True
    )
    for f in plan["files"][:20]:
        out.print(f"  {f['key']}  ({f['size']:,} bytes)")
    if len(plan["files"]) > 20:
        out.print(f"  ... and {len(plan['files']) - 20} more")
    array = f"an array job of {plan['array_size']}" if plan["array_size"] else "a single job"
    out.print(f"would submit {array} ({plan['shards']} shard(s)) and a finalize job")
    out.print(
        f"detector {plan['detector']}: {plan['rekognition_calls']} Rekognition calls, "
        f"about ${plan['rekognition_usd']:.3f} (DetectFaces list price, first million images a month)"
    )


def _print_submission(s, json_output: bool, wait: bool = False) -> None:
    if json_output:
        if not wait:  # with --wait, one JSON document at the end
            out.print_json(json.dumps(asdict(s)))
        return
    out.print(f"album: [bold]{s.album_id}[/]")
    out.print(f"uploaded {s.upload.uploaded} files ({s.upload.bytes:,} bytes), {s.upload.skipped} already there")
    for key in s.upload.unreadable:
        out.print(f"  [yellow]unreadable, not uploaded[/] {key} (it gets an error row)")
    kind = f"array job of {s.shards}" if s.array else "job"
    out.print(f"shards: {kind} {s.shard_job_id}")
    out.print(f"finalize: job {s.finalize_job_id}")
    for label, link in s.links.items():
        out.print(f"  {label}: {link}", soft_wrap=True)
    out.print(f"follow it: maskalbum status {s.album_id}")


def _follow(watcher, poll, quiet: bool):
    from batch_job import cloud

    with _bar(quiet) as bar:
        task = bar.add_task(watcher.album_id, total=None, stats="")

        def on_update(status) -> None:
            children = " ".join(f"{k.lower()} {v}" for k, v in sorted(status.children.items()))
            stats = f"{status.state}; shards {status.shards_done}/{status.shards}" + (
                f"; {children}" if children else ""
            )
            bar.update(task, total=status.files or None, completed=status.files_done, stats=stats)

        return cloud.wait_for_album(watcher, on_update, poll)


def _download(root, album_id: str, dest: Path, extract: bool, quiet: bool):
    from batch_job import cloud

    progress = Progress(
        TextColumn("[bold]download"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=quiet,
    )
    with progress:
        task = progress.add_task("download", total=None)
        return cloud.download_album(
            root,
            album_id,
            dest,
            extract,
            on_bytes=lambda done, total: progress.update(task, completed=done, total=total),
        )


def _print_status(s) -> None:
    table = Table(title=f"album {s.album_id}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("state", s.state + (f" ({s.reason})" if s.reason else ""))
    if s.submitted_at:
        table.add_row("submitted", s.submitted_at)
        table.add_row("files done", f"{s.files_done}/{s.files}")
        table.add_row("shards done", f"{s.shards_done}/{s.shards}")
        for role, state in s.jobs.items():
            table.add_row(f"{role} job", state)
        if s.children:
            table.add_row("array children", ", ".join(f"{k.lower()} {v}" for k, v in sorted(s.children.items())))
    if s.summary:
        for label, key in (("photos", "photos"), ("masked photos", "ok"), ("no faces", "no_faces"),
                           ("skipped", "skipped"), ("errors", "error"), ("masks painted", "faces_masked")):  # fmt: skip
            table.add_row(label, str(s.summary.get(key, "")))
        table.add_row("zip", s.summary.get("zip", ""))
    out.print(table)
    for label, link in s.links.items():
        out.print(f"  {label}: {link}", soft_wrap=True)


def _print_done(submission, status, result, json_output: bool) -> None:
    if json_output:
        out.print_json(
            json.dumps({"submission": asdict(submission), "status": status.to_json(), "zip": str(result.zip_path)})
        )
        return
    _print_status(status)
    out.print(f"zip: {result.zip_path}")
