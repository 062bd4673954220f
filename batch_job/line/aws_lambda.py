"""The LINE bot as an AWS Lambda function behind API Gateway (proxy integration).

Handler: ``batch_job.line.aws_lambda.handler``. Configuration comes from the
function's environment (MASKALBUM_* and the two LINE secrets, see docs/LINE.md).
The bot is built on the first call and reused while the container lives, so the
face models load once per container, not per request.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading

from batch_job.errors import MaskalbumError
from batch_job.line.bot import MAX_BODY_BYTES, Bot, build_bot, handle_webhook
from batch_job.settings import resolve

log = logging.getLogger(__name__)
logging.getLogger().setLevel(logging.INFO)  # Lambda's runtime pre-installs a handler at WARNING

_bot: Bot | None = None
_lock = threading.Lock()


def handler(event: dict, context: object = None) -> dict:
    """API Gateway proxy event (REST v1, or HTTP API / function URL v2) in, proxy response out."""
    method = event.get("httpMethod") or ((event.get("requestContext") or {}).get("http") or {}).get("method")
    if method != "POST":
        return _response(405, {"error": "POST only"})
    body = event.get("body") or ""
    # Base64 inflates by 4/3: refuse before decoding anything that must end up too large.
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        log.warning("webhook rejected: body too large")
        return _response(413, {"error": "body too large"})
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
    except (binascii.Error, ValueError):
        log.warning("webhook rejected: body is not valid base64")
        return _response(400, {"error": "invalid body encoding"})
    try:
        bot = _get_bot()
    except MaskalbumError as exc:
        log.error("LINE bot is not configured: %s", exc)
        return _response(500, {"error": "bot not configured"})
    status, text = handle_webhook(raw, event.get("headers") or {}, bot)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": text,
        "isBase64Encoded": False,
    }


def _get_bot() -> Bot:
    global _bot
    with _lock:
        if _bot is None:
            _bot = build_bot(resolve())
        return _bot


def _response(status: int, payload: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def reset() -> None:
    """Forget the cached bot (tests; a changed environment)."""
    global _bot
    with _lock:
        _bot = None
