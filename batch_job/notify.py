"""The album-is-ready LINE push: a text summary, a zip link, and one before/after preview image.

``notify_album`` never raises: LINE being down, refusing (4xx) or throttling (429)
must not fail an album that is already finished. It returns a short status for
the album summary and logs the reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import posixpath
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from linebot.v3.messaging import ImageMessage, TextMessage

from batch_job.errors import MaskalbumError
from batch_job.line import images
from batch_job.line.client import ACCESS_TOKEN_ENV, LineClient, LineError, load_secret
from batch_job.line.links import Lifetime, image_url_problem, link_lifetime
from batch_job.runner import Layout, Summary, local_layout
from batch_job.settings import Settings
from batch_job.storage import LocalStorage, Storage

log = logging.getLogger(__name__)

MAX_TEXT = 5000  # LINE text message limit, in characters
MAX_ERRORS_LISTED = 3


@dataclass
class AlbumLinks:
    zip: str | None = None
    lifetime: Lifetime | None = None
    original: str | None = None  # the collage, for the ImageMessage
    preview: str | None = None


def notify_album(
    summary: Summary,
    settings: Settings,
    dest: Storage,
    layout: Layout,
    album_id: str | None = None,
    source: Storage | None = None,
    *,
    client: LineClient | None = None,
) -> str:
    """Push the album summary to ``settings.notify_line``; "sent", "sent text only: …", "failed: …" or "skipped: …"."""
    if not settings.notify_line:
        return "skipped: no recipient"
    try:
        return _notify(summary, settings, dest, layout, album_id, source, client)
    except Exception as exc:  # the contract: a notification never fails the album; logged in full
        log.exception("LINE notification failed unexpectedly")
        return f"failed: internal error: {type(exc).__name__}"


def notify_local_run(summary: Summary, settings: Settings, album: Path) -> str:
    """``maskalbum run --notify-line``: the output folder has no shareable links, so text only."""
    layout = local_layout(album.resolve().name)
    return notify_album(summary, settings, LocalStorage(summary.destination), layout, source=LocalStorage(album))


def unwrapped_env(name: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with ``name`` holding the value itself when it arrived as the whole JSON secret.

    docs/LINE.md keeps both LINE values in one JSON secret. Batch injects the key alone
    only when ``valueFrom`` ends in ``:<key>::`` (the template and ``jobdef.fill`` do
    that); a bare secret ARN injects the whole JSON document, which LINE answers with 401.
    """
    env = dict(os.environ if env is None else env)
    value = env.get(name, "").strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            return env
        if isinstance(data, dict):
            env[name] = str(data.get(name) or data.get(name.lower()) or "")
    return env


def _notify(summary, settings, dest, layout, album_id, source, client) -> str:
    if client is None:
        try:
            token = load_secret(ACCESS_TOKEN_ENV, settings.line_token_secret_arn, env=unwrapped_env(ACCESS_TOKEN_ENV))
        except LineError as exc:
            log.error("LINE notification not sent: %s", exc)
            return f"failed: {exc}"
        if token is None:
            log.warning(
                "LINE notification skipped: no channel access token "
                "(set %s, or MASKALBUM_LINE_TOKEN_SECRET_ARN to a Secrets Manager secret)",
                ACCESS_TOKEN_ENV,
            )
            return "skipped: no token"
        client = LineClient.from_settings(settings, token)
    try:
        links, text_only = _album_links(settings, dest, layout, source)
    except Exception as exc:  # a broken preview must not cost the user the text message
        log.exception("cannot build the album's links")
        links, text_only = AlbumLinks(), f"cannot build links: {type(exc).__name__}: {exc}"
    messages = [TextMessage(text=summary_text(summary, album_id, links))]
    if text_only is None:
        messages.append(ImageMessage(original_content_url=links.original, preview_image_url=links.preview))
    # One key for every attempt: LINE delivers a retried push once (a repeat gets 409).
    retry_key = str(uuid.uuid4())
    try:
        client.push(settings.notify_line, messages, retry_key)
    except LineError as exc:
        log.error("LINE notification to %s failed: %s", _masked_id(settings.notify_line), exc)
        return f"failed: {exc}"
    if text_only is not None:
        log.warning("LINE notification sent without the preview image: %s", text_only)
        return f"sent text only: {text_only}"
    log.info("LINE notification sent to %s", _masked_id(settings.notify_line))
    return "sent"


def _album_links(
    settings: Settings, dest: Storage, layout: Layout, source: Storage | None
) -> tuple[AlbumLinks, str | None]:
    """The zip link and the collage links, and why there is no image (None when there is one)."""
    # A cheap probe first: a local folder has no links, and asking boto3 for
    # credentials there could wait on the instance metadata service.
    if dest.presigned_url(layout.zip, 60) is None:
        return AlbumLinks(), f"{dest.describe()} has no shareable links"
    lifetime = link_lifetime(settings)
    links = AlbumLinks(zip=dest.presigned_url(layout.zip, lifetime.seconds), lifetime=lifetime)
    row = _most_masked(dest, layout)
    if row is None:
        return links, "no photo had a mask replaced"
    try:
        original, preview = _collage(settings, dest, layout, source, row)
    except MaskalbumError as exc:
        return links, f"cannot build the preview of {row['path']}: {exc}"
    folder = posixpath.join(posixpath.dirname(layout.manifest), "preview")
    keys = (posixpath.join(folder, "collage.jpg"), posixpath.join(folder, "collage-preview.jpg"))
    for key, data in zip(keys, (original, preview), strict=True):
        dest.write(key, data, "image/jpeg")
    links.original, links.preview = (dest.presigned_url(key, lifetime.seconds) for key in keys)
    for url, what in ((links.original, "preview image"), (links.preview, "preview thumbnail")):
        problem = image_url_problem(url, what)
        if problem:
            return links, problem
    return links, None


def _most_masked(dest: Storage, layout: Layout) -> dict | None:
    """The manifest row with the most masks replaced (the first such in album order)."""
    best, best_count = None, 0
    with dest.open_read(layout.manifest) as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            try:
                count = int(row.get("faces_masked") or 0)
            except ValueError:
                continue
            if row.get("status") == "ok" and row.get("output") and count > best_count:
                best, best_count = row, count
    return best


def _collage(
    settings: Settings, dest: Storage, layout: Layout, source: Storage | None, row: dict
) -> tuple[bytes, bytes]:
    after = images.decode(dest.read(layout.images + row["output"]), settings.max_pixels)
    before = None
    if source is not None:
        try:
            before = images.decode(source.read(row["path"]), settings.max_pixels)
        except MaskalbumError as exc:
            log.warning("preview without the original of %s: %s", row["path"], exc)
    picture = images.collage(before, after)
    return (
        images.fit_jpeg(picture, images.ORIGINAL_MAX_BYTES, images.ORIGINAL_LONG_SIDE),
        images.fit_jpeg(picture, images.PREVIEW_MAX_BYTES, images.PREVIEW_LONG_SIDE),
    )


def summary_text(summary: Summary, album_id: str | None, links: AlbumLinks) -> str:
    """The message a person reads: counts, time, the zip link and when it stops working."""
    name = summary.album if not album_id or album_id == summary.album else f"{summary.album} (id {album_id})"
    others = [f"{n} {label}" for n, label in ((summary.no_faces, "without faces"), (summary.skipped, "skipped")) if n]
    lines = [
        "Your maskalbum album is ready.",
        f"Album: {name}",
        f"Photos: {summary.photos}" + (f" ({', '.join(others)})" if others else ""),
        f"Faces masked: {summary.faces_masked} of {summary.faces_found} found",
        f"Errors: {summary.error}",
        f"Time taken: {_duration(summary.seconds)}",
    ]
    tail = []
    if links.zip:
        tail.append(f"Download (zip): {links.zip}")
        if links.lifetime:
            tail.append(f"The links expire {links.lifetime.describe()}.")
    else:
        tail.append(f"Saved to: {summary.destination}")
    errors = [f"- {e.get('path')}: {e.get('reason')}" for e in summary.errors[:MAX_ERRORS_LISTED]]
    if len(summary.errors) > MAX_ERRORS_LISTED:
        errors.append(f"- … and {len(summary.errors) - MAX_ERRORS_LISTED} more in manifest.csv")
    text = "\n".join(lines + errors + tail)
    if len(text) > MAX_TEXT:  # only a very long error reason or link gets here
        text = "\n".join(lines + tail)
    if len(text) > MAX_TEXT:
        text = "\n".join(lines + ["The download link is too long for a LINE message; see the album's output."])
    return text


def _duration(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _masked_id(user_id: str) -> str:
    return user_id[:5] + "…" if len(user_id) > 5 else user_id
