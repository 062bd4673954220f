"""The LINE Messaging API through line-bot-sdk v3: the channel's secrets, push with retries, reply, content.

Both base URLs are configurable: LINE serves message content from a second host
(api-data.line.me), and a proxy or the tests' fake server stands in for both.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    Message,
    MessagingApi,
    MessagingApiBlob,
    PushMessageRequest,
    ReplyMessageRequest,
)

from batch_job.errors import MaskalbumError
from batch_job.settings import Settings

log = logging.getLogger(__name__)

ACCESS_TOKEN_ENV = "LINE_CHANNEL_ACCESS_TOKEN"
CHANNEL_SECRET_ENV = "LINE_CHANNEL_SECRET"


class LineError(MaskalbumError):
    """LINE refused a request, could not be reached, or its credentials could not be read."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Secret:
    """A credential that does not print: repr, str and f-strings show only that it is set."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def load_secret(
    env_name: str, arn: str | None, env: Mapping[str, str] | None = None, secrets_client=None
) -> Secret | None:
    """``env_name`` from the environment, else the Secrets Manager secret ``arn``, else None.

    AWS Batch and Lambda inject Secrets Manager values as environment variables,
    so the environment comes first. The secret's string is the value itself or a
    JSON object holding it under ``env_name`` (one secret can hold both LINE values).
    """
    env = os.environ if env is None else env
    value = env.get(env_name, "").strip()
    if value:
        return Secret(value)
    if not arn:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if secrets_client is None:
            import boto3

            secrets_client = boto3.client("secretsmanager", region_name=_region_of(arn))
        text = secrets_client.get_secret_value(SecretId=arn).get("SecretString") or ""
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise LineError(f"cannot read {env_name} from Secrets Manager ({code})") from None
    except BotoCoreError as exc:
        raise LineError(f"cannot read {env_name} from Secrets Manager ({type(exc).__name__})") from None
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise LineError(f"the Secrets Manager secret for {env_name} is not valid JSON") from None
        text = str(data.get(env_name) or data.get(env_name.lower()) or "").strip()
        if not text:
            raise LineError(f"the Secrets Manager secret holds a JSON object without the key {env_name}")
    return Secret(text) if text else None


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else None


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a push tries. The retry key makes repeating a push safe; a reply has no such key."""

    attempts: int = 4
    backoff: float = 0.5  # seconds before the first retry, doubled each time (plus jitter)
    max_retry_after: float = 30.0  # a 429 asking for a longer wait gives up instead of holding the job
    timeout: tuple[float, float] = (5.0, 20.0)  # connect, read


class LineClient:
    """Push, reply and message content for one channel."""

    def __init__(
        self,
        token: Secret,
        api_url: str | None = None,
        data_api_url: str | None = None,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._api = ApiClient(_configuration(token, api_url))
        self._data = ApiClient(_configuration(token, data_api_url))

    @classmethod
    def from_settings(cls, settings: Settings, token: Secret, **kw) -> LineClient:
        return cls(token, settings.line_api_url, settings.line_data_api_url, **kw)

    def push(self, to: str, messages: Sequence[Message], retry_key: str) -> None:
        """Push ``messages`` to ``to``; retries 5xx, timeouts and bounded 429s with the same retry key."""
        request = PushMessageRequest(to=to, messages=list(messages))
        api = MessagingApi(self._api)
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            try:
                api.push_message_with_http_info(request, x_line_retry_key=retry_key, _request_timeout=policy.timeout)
                return
            except ApiException as exc:
                if exc.status == 409:
                    # LINE answers 409 when this retry key was already accepted: an earlier
                    # attempt got through and only its answer was lost. Delivered once.
                    log.info("LINE push: retry key already accepted on an earlier attempt")
                    return
                error = LineError(describe(exc), exc.status)
                wait = self._wait_after(exc, attempt)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                error = LineError(f"cannot reach LINE ({type(exc).__name__})")
                wait = self._backoff(attempt)
            if wait is None or attempt == policy.attempts:
                raise error
            log.warning(
                "LINE push attempt %d failed (%s); retrying in %.1f s with the same retry key", attempt, error, wait
            )
            self._sleep(wait)

    def reply(self, reply_token: str, messages: Sequence[Message]) -> None:
        """One attempt only: a reply token is single-use, and a reply has no retry key."""
        try:
            MessagingApi(self._api).reply_message_with_http_info(
                ReplyMessageRequest(reply_token=reply_token, messages=list(messages)),
                _request_timeout=self.policy.timeout,
            )
        except ApiException as exc:
            raise LineError(describe(exc), exc.status) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise LineError(f"cannot reach LINE ({type(exc).__name__})") from None

    def content(self, message_id: str, max_bytes: int) -> bytes:
        """The bytes a user sent (from the data host); LineError when gone, unreachable or too large."""
        try:
            data = MessagingApiBlob(self._data).get_message_content(message_id, _request_timeout=self.policy.timeout)
        except ApiException as exc:
            raise LineError(describe(exc), exc.status) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise LineError(f"cannot reach LINE ({type(exc).__name__})") from None
        # The SDK reads the whole body before we see it; LINE itself caps what users send.
        if len(data) > max_bytes:
            raise LineError(f"content is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB", 413)
        return bytes(data)

    def _wait_after(self, exc: ApiException, attempt: int) -> float | None:
        """Seconds to wait before retrying after an HTTP error, or None to give up."""
        if exc.status is not None and 500 <= exc.status <= 599:
            return self._backoff(attempt)
        if exc.status != 429:
            return None  # other 4xx: the request itself is wrong; repeating it cannot help
        if "monthly limit" in _message(exc).lower():
            return None  # the plan's push quota is used up until next month
        retry_after = _header(exc, "Retry-After")
        if retry_after is None:
            return self._backoff(attempt)
        try:
            seconds = float(retry_after)
        except ValueError:
            return self._backoff(attempt)  # an HTTP date; rare enough to treat as "soon"
        return max(0.0, seconds) if seconds <= self.policy.max_retry_after else None

    def _backoff(self, attempt: int) -> float:
        base = self.policy.backoff * 2 ** (attempt - 1)
        return base + random.uniform(0, base / 2)


def _configuration(token: Secret, host: str | None) -> Configuration:
    config = Configuration(access_token=token.reveal(), host=host.rstrip("/") if host else None)
    # Our loop owns retries (with the retry key); urllib3 retrying underneath would hide attempts.
    config.retries = False
    return config


def _header(exc: ApiException, name: str) -> str | None:
    headers = getattr(exc, "headers", None)
    return headers.get(name) if headers is not None else None


def _message(exc: ApiException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return ""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return body[:200]
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message", ""))
    details = data.get("details") or []
    fields = [f"{d.get('property')}: {d.get('message')}" for d in details if isinstance(d, dict)]
    return "; ".join([message, *fields[:3]]) if fields else message


def describe(exc: ApiException) -> str:
    """``LINE 429: The API rate limit has been exceeded.`` from an SDK error (never the request headers)."""
    message = _message(exc)
    return f"LINE {exc.status}: {message}" if message else f"LINE {exc.status} {exc.reason or ''}".rstrip()
