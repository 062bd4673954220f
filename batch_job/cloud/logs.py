"""An album's job logs from CloudWatch Logs: which streams, and their lines (once, or followed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError

from batch_job.aws import AwsError, aws_errors, error_code

DEFAULT_GROUP = "/aws/batch/job"


@dataclass(frozen=True)
class LogStream:
    job: str  # a label: "shards:3", "finalize"
    group: str
    stream: str


def streams_of(jobs: dict[str, dict], roles: dict[str, str]) -> list[LogStream]:
    """The log streams of described jobs (array children included), in role and index order.

    Batch names the stream only once the container started (``container.logStreamName``);
    a job that has not started yet has none.
    """
    found = []
    for role, job_id in roles.items():
        for jid, job in sorted(jobs.items(), key=lambda kv: _index(kv[0])):
            if jid != job_id and not jid.startswith(job_id + ":"):
                continue
            container = job.get("container", {})
            stream = container.get("logStreamName")
            if not stream:
                continue
            options = container.get("logConfiguration", {}).get("options", {})
            label = role if jid == job_id else f"{role}:{jid.rsplit(':', 1)[1]}"
            found.append(LogStream(label, options.get("awslogs-group", DEFAULT_GROUP), stream))
    return found


def _index(job_id: str) -> int:
    tail = job_id.rsplit(":", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else -1


class LogReader:
    """Reads streams forward from where it last stopped (CloudWatch's forward tokens)."""

    def __init__(self, logs) -> None:
        self.logs = logs
        self._tokens: dict[tuple[str, str], str] = {}

    def new_lines(self, stream: LogStream) -> Iterator[str]:
        key = (stream.group, stream.stream)
        while True:
            params = {"logGroupName": stream.group, "logStreamName": stream.stream, "startFromHead": True}
            if self._tokens.get(key):
                params["nextToken"] = self._tokens[key]
            try:
                with aws_errors(f"get_log_events {stream.group} {stream.stream}"):
                    page = self.logs.get_log_events(**params)
            except AwsError as exc:
                # Batch names the stream when the task starts; the agent creates it a little later.
                if isinstance(exc.__cause__, ClientError) and error_code(exc.__cause__) == "ResourceNotFoundException":
                    return
                raise
            for event in page.get("events", []):
                yield event["message"]
            token = page.get("nextForwardToken")
            # The same token back means the end of the stream for now.
            if not token or self._tokens.get(key) == token:
                self._tokens[key] = token or self._tokens.get(key, "")
                return
            self._tokens[key] = token
            if not page.get("events"):
                return
