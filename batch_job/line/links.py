"""How long a presigned link lives, and whether LINE will accept a URL in an ImageMessage."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from batch_job.settings import Settings

log = logging.getLogger(__name__)

MAX_IMAGE_URL = 2000  # LINE: originalContentUrl and previewImageUrl, each
SIGV4_MAX_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Lifetime:
    seconds: int
    expires_at: dt.datetime  # UTC
    limited_by_credentials: bool = False
    note: str = ""  # said to the user when the expiry is uncertain

    def describe(self) -> str:
        stamp = self.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        text = f"{stamp} ({_span(self.seconds)} from now)"
        return f"{text}; {self.note}" if self.note else text


def link_lifetime(settings: Settings, credentials=None, now: dt.datetime | None = None) -> Lifetime:
    """min(link_expiry_days, what is left of the signing credentials).

    A SigV4 URL signed with temporary credentials (a Batch job role, a Lambda role, SSO)
    stops working when their session token expires, whatever X-Amz-Expires says.
    ``credentials`` defaults to the boto3 chain for ``settings.profile``, the same
    chain the S3 client signs with.
    """
    now = now or dt.datetime.now(dt.UTC)
    wanted = min(int(settings.link_expiry_days * 86400), SIGV4_MAX_SECONDS)
    if credentials is None:
        credentials = _default_credentials(settings)
    # botocore has no public accessor: RefreshableCredentials keep their expiry in
    # _expiry_time (instance-profile, container, assume-role, SSO, and env credentials
    # with AWS_CREDENTIAL_EXPIRATION). get_frozen_credentials() refreshes them first if due.
    expiry = None
    token = None
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        token = frozen.token
        expiry = getattr(credentials, "_expiry_time", None)
    if expiry is not None:
        left = int((expiry - now).total_seconds())
        if left < wanted:
            if left < 3600:
                log.warning("the signing credentials expire in %d s: the links will not last long", left)
            seconds = max(1, left)
            return Lifetime(seconds, now + dt.timedelta(seconds=seconds), limited_by_credentials=True)
    note = ""
    if token and expiry is None:
        note = "signed with temporary credentials of unknown lifetime, so possibly sooner"
        log.info("presigning with a session token whose expiry is unknown; the links may die early")
    return Lifetime(wanted, now + dt.timedelta(seconds=wanted), note=note)


def _default_credentials(settings: Settings):
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session(profile_name=settings.profile, region_name=settings.region).get_credentials()
    except BotoCoreError as exc:
        log.warning("cannot read the AWS credentials' expiry (%s); assuming the configured link lifetime", exc)
        return None


def image_url_problem(url: str | None, what: str) -> str | None:
    """Why LINE would refuse ``url`` as an ImageMessage URL, or None when it is fine."""
    if not url:
        return f"no shareable URL for the {what}"
    if not url.startswith("https://"):
        return f"the {what} URL is not HTTPS ({url.split(':', 1)[0]})"
    if len(url) > MAX_IMAGE_URL:
        return (
            f"the {what} URL is {len(url)} characters; LINE allows {MAX_IMAGE_URL} "
            "(temporary credentials' session tokens make presigned URLs long)"
        )
    return None


def _span(seconds: int) -> str:
    if seconds >= 86400 and seconds % 86400 < 3600:
        days = seconds // 86400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours".replace(".0 ", " ")
    return f"{max(1, seconds // 60)} min"
