"""The thin boto3 layer: sessions and clients built from Settings, and the few Batch calls maskalbum makes.

Nothing here decides anything about albums (that is ``cloud.py``). This layer
turns boto3's exceptions into ``AwsError`` and hides AWS quirks, each noted
where it is handled. Credentials and region come from boto3's normal chain
(``--profile`` / ``--region`` only pick among them); ``AWS_ENDPOINT_URL`` is
honoured by boto3 itself, which is how the tests point everything at moto.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from batch_job import __version__
from batch_job.errors import MaskalbumError, ServiceUnavailable, UsageError  # noqa: F401 - re-exported
from batch_job.settings import Settings

# describe_jobs answers at most 100 ids per call.
DESCRIBE_LIMIT = 100


class AwsError(MaskalbumError):
    """An AWS call failed after botocore's own retries."""


def session(settings: Settings) -> boto3.Session:
    try:
        return boto3.Session(profile_name=settings.profile, region_name=settings.region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise UsageError(f"AWS profile not found: {settings.profile} ({exc})") from exc


def region_of(settings: Settings) -> str:
    region = session(settings).region_name
    if not region:
        raise UsageError("no AWS region: pass --region, set MASKALBUM_REGION or AWS_REGION, or configure a profile")
    return region


def client(settings: Settings, service: str, endpoint_url: str | None = None, **config: Any):
    """A boto3 client with maskalbum's retry policy (standard/adaptive, bounded attempts)."""
    cfg = Config(
        retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
        user_agent_extra=f"maskalbum/{__version__}",
        **config,
    )
    try:
        return session(settings).client(service, region_name=region_of(settings), endpoint_url=endpoint_url, config=cfg)
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(f"cannot create the {service} client: {exc}") from exc


def s3_client(settings: Settings):
    # SigV4 explicitly: presigned links (the LINE message) are SigV2 in some botocore configurations.
    # The pool covers the transfer manager's threads plus the parallel file uploads.
    return client(settings, "s3", signature_version="s3v4", max_pool_connections=64)


def batch_client(settings: Settings):
    return client(settings, "batch")


def rekognition_client(settings: Settings, endpoint_url: str | None = None):
    # One client per process: adaptive mode rate-limits per client object, so
    # every request this process makes shares one view of the throttling.
    return client(
        settings, "rekognition", endpoint_url, max_pool_connections=max(10, settings.rekognition_concurrency * 2)
    )


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn boto3's exceptions into AwsError naming what we were doing."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError as exc:
        raise AwsError(f"{what}: no AWS credentials found (set a profile, AWS_ACCESS_KEY_ID, or a role)") from exc
    except botocore.exceptions.ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        raise AwsError(f"{what}: {error_code(exc)}: {message}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(f"{what}: {exc}") from exc


class BatchJobs:
    """The Batch calls maskalbum makes, nothing more."""

    def __init__(self, batch) -> None:
        self.batch = batch

    def submit(
        self,
        name: str,
        queue: str,
        definition: str,
        *,
        command: list[str],
        environment: dict[str, str],
        array_size: int | None = None,
        depends_on: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        params: dict[str, Any] = {
            "jobName": name,
            "jobQueue": queue,
            "jobDefinition": definition,
            "containerOverrides": {
                "command": command,
                "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            },
            "propagateTags": True,
        }
        if array_size is not None:
            params["arrayProperties"] = {"size": array_size}
        if depends_on:
            # No "type": the dependent waits for the whole array, and never runs if any child fails.
            params["dependsOn"] = [{"jobId": depends_on}]
        if tags:
            params["tags"] = tags
        with aws_errors(f"submit_job {name} to {queue}"):
            return self.batch.submit_job(**params)["jobId"]

    def describe(self, job_ids: Iterable[str]) -> dict[str, dict]:
        """Job descriptions by id. A job missing from the answer is simply absent: describe_jobs
        can come back without a job that submit_job accepted a moment ago."""
        ids = list(dict.fromkeys(i for i in job_ids if i))
        found: dict[str, dict] = {}
        for start in range(0, len(ids), DESCRIBE_LIMIT):
            with aws_errors("describe_jobs"):
                answer = self.batch.describe_jobs(jobs=ids[start : start + DESCRIBE_LIMIT])
            for job in answer.get("jobs", []):
                found[job["jobId"]] = job
        return found

    def terminate(self, job_id: str, reason: str) -> None:
        """Stop a job whatever its state: TerminateJob cancels a job that has not started and
        stops one that runs (CancelJob only does the first); an array parent takes its children along."""
        with aws_errors(f"terminate_job {job_id}"):
            self.batch.terminate_job(jobId=job_id, reason=reason)

    def active_definitions(self, name: str) -> list[dict]:
        with aws_errors(f"describe_job_definitions {name}"):
            pages = self.batch.get_paginator("describe_job_definitions").paginate(
                jobDefinitionName=name, status="ACTIVE"
            )
            return [d for page in pages for d in page.get("jobDefinitions", [])]

    def register(self, definition: dict) -> dict:
        with aws_errors(f"register_job_definition {definition.get('jobDefinitionName')}"):
            answer = self.batch.register_job_definition(**definition)
        return {"jobDefinitionArn": answer["jobDefinitionArn"], "revision": answer["revision"]}
