"""The single-photo LINE bot: a pure webhook handler on the album pipeline.

``handle_webhook(body, headers, bot) -> (status, body)`` checks the signature,
parses the events and handles each one: a photo comes back in a monster mask
(``process_photo``, the album's own implementation), text commands choose the
mask. The Lambda and local-server adapters only translate HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from linebot.v3.messaging import ImageMessage, Message, TextMessage

from batch_job.detect.base import create_detector
from batch_job.errors import MaskalbumError, StorageError, UsageError
from batch_job.line import images
from batch_job.line.client import ACCESS_TOKEN_ENV, CHANNEL_SECRET_ENV, LineClient, LineError, Secret, load_secret
from batch_job.line.links import image_url_problem, link_lifetime
from batch_job.pipeline import Context, process_photo
from batch_job.runner import build_pool
from batch_job.settings import Settings
from batch_job.storage import Storage, open_storage
from masks.catalog import load_catalog

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # webhook JSON; LINE's own are a few kilobytes
MAX_IMAGE_BYTES = 10_000_000  # LINE's limit for an image a user sends
RESULTS_PREFIX = "line/results/"
USERS_PREFIX = "line/users/"
RANDOM = "random"
RESULT_PATH = re.compile(r"^/line/images/([A-Za-z0-9_-]{32})/(original|preview)\.jpg$")

HELP = (
    "Send me a photo of people wearing white surgical masks and I send it back with monster masks.\n"
    "Commands:\n"
    "masks - the monster masks\n"
    "mask <name> - use that mask on your next photos\n"
    "mask random - a random mask for each face (the default)\n"
    "help - this text"
)
NOT_A_PHOTO = "I can only edit photos. Send me a picture of people wearing white masks (or type help)."
NO_MASKED_FACE = "I found no face wearing a white mask in this photo, so I left it as it is. Try another one!"
NO_FACE = "I could not find any face in this photo. Try one where the faces are larger or sharper."
DOWNLOAD_FAILED = "Sorry, I could not download your photo from LINE. Please send it again."
SORRY = "Sorry, something went wrong with this photo. Please try again later."


def _inline(work: Callable[[], None]) -> None:
    work()


@dataclass
class Bot:
    """What the handler needs, built once per process (the detector loads ONNX models)."""

    settings: Settings
    channel_secret: Secret
    line: LineClient
    storage: Storage  # results (private) and per-user mask choices
    public_base_url: str | None = None  # local storage mode: where this server is reachable over HTTPS
    # Runs one event's work: inline (Lambda, tests) or on a thread pool so the webhook answers at once.
    dispatch: Callable[[Callable[[], None]], object] = _inline
    _ctx: Context | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def context(self) -> Context:
        with self._lock:
            if self._ctx is None:
                s = self.settings
                self._ctx = Context(settings=s, detector=create_detector(s.detector, s), pool=build_pool(s))
            return self._ctx


def build_bot(settings: Settings, env: Mapping[str, str] | None = None) -> Bot:
    """A Bot from settings and secrets (env first, then Secrets Manager); UsageError when something is missing."""
    env = os.environ if env is None else env
    secret = load_secret(CHANNEL_SECRET_ENV, settings.line_channel_secret_arn, env)
    token = load_secret(ACCESS_TOKEN_ENV, settings.line_token_secret_arn, env)
    missing = [name for name, value in ((CHANNEL_SECRET_ENV, secret), (ACCESS_TOKEN_ENV, token)) if value is None]
    if secret is None or token is None:
        raise UsageError(
            f"the LINE bot needs {' and '.join(missing)} (environment, or Secrets Manager through "
            "MASKALBUM_LINE_CHANNEL_SECRET_ARN / MASKALBUM_LINE_TOKEN_SECRET_ARN)"
        )
    url = settings.line_storage or (f"s3://{settings.bucket}" if settings.bucket else None)
    if not url:
        raise UsageError("the LINE bot needs somewhere to keep results: MASKALBUM_LINE_STORAGE (s3://… or a folder)")
    base = settings.public_base_url
    if base and not base.startswith("https://"):
        raise UsageError(f"public_base_url must be HTTPS (LINE fetches images only over HTTPS), got {base!r}")
    return Bot(
        settings,
        secret,
        LineClient.from_settings(settings, token),
        open_storage(url),
        base.rstrip("/") if base else None,
    )


# -- the webhook ------------------------------------------------------------------------------


def handle_webhook(body: bytes, headers: Mapping[str, str], bot: Bot) -> tuple[int, str]:
    """(HTTP status, JSON body) for one webhook call; nothing is processed unless the signature holds."""
    if len(body) > MAX_BODY_BYTES:
        log.warning("webhook rejected: body of %d bytes (limit %d)", len(body), MAX_BODY_BYTES)
        return 413, _json(error="body too large")
    signature = next((v for k, v in headers.items() if k.lower() == "x-line-signature"), None)
    if not signature:
        log.warning("webhook rejected: no X-Line-Signature header")
        return 401, _json(error="missing signature")
    if not verify_signature(bot.channel_secret, body, signature):
        log.warning("webhook rejected: X-Line-Signature does not match the body")
        return 403, _json(error="invalid signature")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("webhook rejected: body is not JSON")
        return 400, _json(error="invalid JSON")
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        log.warning("webhook rejected: no events list")
        return 400, _json(error="no events")
    for event in events:
        bot.dispatch(functools.partial(handle_event, event, bot))
    return 200, _json(ok=True)


def verify_signature(secret: Secret, body: bytes, signature: str) -> bool:
    """X-Line-Signature is base64(HMAC-SHA256(channel secret, raw body)); compared in constant time."""
    expected = base64.b64encode(hmac.new(secret.reveal().encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def handle_event(event: object, bot: Bot) -> None:
    """One webhook event; failures become a log line and, where possible, a friendly reply."""
    if not isinstance(event, dict):
        log.warning("ignoring a webhook event that is not an object")
        return
    kind = event.get("type")
    token = event.get("replyToken") if isinstance(event.get("replyToken"), str) else None
    message: dict = event["message"] if isinstance(event.get("message"), dict) else {}
    try:
        if kind == "message" and message.get("type") == "image":
            reply = image_reply(event, message, bot)
        elif kind == "message" and message.get("type") == "text":
            text = command_reply(str(message.get("text", "")), _user_id(event), bot, _is_direct(event))
            if text is None:
                return
            reply = [TextMessage(text=text)]
        elif kind == "message":
            log.info("not a photo: %s message", message.get("type"))
            if not _is_direct(event):
                return  # in a group, stickers and chatter are for the people, not for us
            reply = [TextMessage(text=NOT_A_PHOTO)]
        elif kind == "follow":
            reply = [TextMessage(text=HELP)]
        else:
            log.info("ignoring %s event", kind)
            return
    except Exception:  # one event's bug must not drop the others; logged in full
        log.exception("failed on a %s event", kind)
        reply = [TextMessage(text=SORRY)]
    if not token:
        log.warning("cannot answer a %s event: it has no reply token", kind)
        return
    try:
        bot.line.reply(token, reply)
    except LineError as exc:
        log.error("LINE reply failed: %s", exc)


# -- photos -----------------------------------------------------------------------------------


def image_reply(event: dict, message: dict, bot: Bot) -> list[Message]:
    provider = (message.get("contentProvider") or {}).get("type", "line")
    if provider != "line":
        # An image shared from elsewhere lives at an outside URL; fetching arbitrary URLs is not our job.
        log.info("image message with %s content provider", provider)
        return [TextMessage(text="Please send the photo itself (not a link to it), and I will mask it.")]
    message_id = str(message.get("id", ""))
    if not message_id.isdigit():
        log.warning("image message without a valid id")
        return [TextMessage(text=DOWNLOAD_FAILED)]
    try:
        data = bot.line.content(message_id, MAX_IMAGE_BYTES)
    except LineError as exc:
        log.warning("cannot fetch message %s: %s", message_id, exc)
        if exc.status == 413:
            return [TextMessage(text="That photo is too large for me (10 MB at most).")]
        return [TextMessage(text=DOWNLOAD_FAILED)]
    result = process_photo(f"line/{message_id}.jpg", data, context_for(_user_id(event), bot))
    row = result.row
    log.info(
        "message %s: %s, %d of %d faces masked (%d ms)",
        message_id,
        row.status,
        row.faces_masked,
        row.faces_found,
        row.ms,
    )
    if row.status in ("error", "skipped"):
        log.info("message %s is not a usable photo: %s", message_id, row.reason)
        return [TextMessage(text=NOT_A_PHOTO)]
    if row.faces_masked == 0 or result.output is None:
        return [TextMessage(text=NO_MASKED_FACE if row.faces_found else NO_FACE)]
    original, preview = images.line_pair(result.output, bot.settings.max_pixels)
    name = secrets.token_urlsafe(24)  # 32 characters: the link is the only key to a private result
    urls = []
    for kind, data in (("original", original), ("preview", preview)):
        key = f"{RESULTS_PREFIX}{name}/{kind}.jpg"
        bot.storage.write(key, data, "image/jpeg")
        urls.append(result_url(bot, key, name, kind))
    for url, what in zip(urls, ("result", "result preview"), strict=True):
        problem = image_url_problem(url, what)
        if problem:
            log.error("cannot send the result of message %s: %s", message_id, problem)
            return [TextMessage(text="Your photo is masked, but I cannot send it back right now. Sorry!")]
    return [ImageMessage(original_content_url=urls[0], preview_image_url=urls[1])]


def result_url(bot: Bot, key: str, name: str, kind: str) -> str | None:
    """A presigned link from the storage (S3), else this server's own path under the public base URL."""
    if bot.storage.presigned_url(key, 60) is not None:
        return bot.storage.presigned_url(key, link_lifetime(bot.settings).seconds)
    if bot.public_base_url:
        return f"{bot.public_base_url}/line/images/{name}/{kind}.jpg"
    return None


def serve_result(path: str, storage: Storage) -> tuple[int, bytes]:
    """(status, JPEG) for GET /line/images/<name>/<kind>.jpg in local storage mode."""
    match = RESULT_PATH.match(path)
    if not match:
        return 404, b""
    try:
        return 200, storage.read(f"{RESULTS_PREFIX}{match[1]}/{match[2]}.jpg")
    except StorageError:
        return 404, b""


# -- text commands and the per-user mask choice -------------------------------------------------


def command_reply(text: str, user_id: str | None, bot: Bot, direct: bool = True) -> str | None:
    """The answer to a text message; None for chatter in a group (only commands get an answer there)."""
    word, _, argument = text.strip().partition(" ")
    word, argument = word.lower(), argument.strip()
    catalog = load_catalog()
    if word in ("help", "?"):
        return HELP
    if word == "masks":
        lines = [f"{m.name} - {m.title} ({', '.join(m.tags)})" for m in catalog.masks]
        return "Monster masks:\n" + "\n".join(lines) + "\n\nChoose one with: mask <name>"
    if word != "mask":
        return "Send me a photo of people wearing white masks, or type help." if direct else None
    if not argument:
        return f"Your mask: {load_choice(user_id, bot)}. Change it with: mask <name> or mask random"
    if user_id is None:
        return "I can only remember a mask choice in a chat with one person."
    choice = argument.lower()
    if choice != RANDOM:
        names = {m.name.lower(): m.name for m in catalog.masks} | {m.title.lower(): m.name for m in catalog.masks}
        if choice not in names:
            return f"I do not know a mask called {argument!r}. Type masks for the list."
        choice = names[choice]
    save_choice(user_id, choice, bot)
    if choice == RANDOM:
        return "OK: every face gets a random monster mask."
    return f"OK: your next photos get {catalog.get(choice).title}."


def _user_key(user_id: str) -> str:
    return USERS_PREFIX + hashlib.sha256(user_id.encode()).hexdigest() + ".json"  # no raw LINE ids in storage


def load_choice(user_id: str | None, bot: Bot) -> str:
    if user_id is None:
        return RANDOM
    key = _user_key(user_id)
    try:
        if not bot.storage.exists(key):
            return RANDOM
        choice = json.loads(bot.storage.read(key)).get("mask", RANDOM)
    except (StorageError, json.JSONDecodeError, AttributeError) as exc:
        log.warning("unreadable mask choice %s (%s); using random", key, exc)
        return RANDOM
    return choice if isinstance(choice, str) else RANDOM


def save_choice(user_id: str, choice: str, bot: Bot) -> None:
    bot.storage.write(_user_key(user_id), json.dumps({"mask": choice}).encode(), "application/json")


def context_for(user_id: str | None, bot: Bot) -> Context:
    ctx = bot.context()
    choice = load_choice(user_id, bot)
    if choice == RANDOM:
        return ctx
    try:
        return dataclasses.replace(ctx, pool=(load_catalog().get(choice),))
    except MaskalbumError:
        log.warning("the chosen mask %r is no longer in the catalog; using the default pool", choice)
        return ctx


def _user_id(event: dict) -> str | None:
    source = event.get("source")
    user = source.get("userId") if isinstance(source, dict) else None
    return user if isinstance(user, str) and user else None


def _is_direct(event: dict) -> bool:
    """A one-to-one chat (not a group or a multi-person chat), where the webhook may omit the source."""
    source = event.get("source")
    return not isinstance(source, dict) or source.get("type", "user") == "user"


def _json(**fields) -> str:
    return json.dumps(fields)
