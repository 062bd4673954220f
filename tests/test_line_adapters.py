"""The bot behind API Gateway (Lambda) and as a local server, and ``--notify-line`` on ``maskalbum run``."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
from moto import mock_aws
from typer.testing import CliRunner

from batch_job.line import aws_lambda
from batch_job.line.bot import build_bot
from batch_job.line.server import make_server
from batch_job.settings import resolve
from cli.app import app
from testing.line_fakes import (
    PUSH,
    REPLY,
    Reply,
    image_event,
    jpeg_size,
    masked_jpeg,
    plain_jpeg,
    running,
    sign,
    text_event,
    webhook_body,
)

TOKEN = "lambda-token-" + "w" * 150
SECRET = "fedcba9876543210fedcba9876543210"
PUBLIC = "https://bot.example.test"


@pytest.fixture
def line():
    with running(TOKEN) as fake:
        yield fake


@pytest.fixture
def bot_env(monkeypatch, tmp_path, line):
    """The function's configuration as Lambda would see it: MASKALBUM_* settings and the two secrets."""
    for name, value in {
        "MASKALBUM_CONFIG": str(tmp_path / "none.toml"),
        "MASKALBUM_LINE_API_URL": line.url,
        "MASKALBUM_LINE_DATA_API_URL": line.url,
        "MASKALBUM_LINE_STORAGE": str(tmp_path / "bot"),
        "MASKALBUM_PUBLIC_BASE_URL": PUBLIC,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    aws_lambda.reset()
    yield
    aws_lambda.reset()


def api_gateway_event(body: bytes, signature: str | None, base64_body: bool = False) -> dict:
    """A REST API (v1) proxy integration event, as API Gateway sends LINE's webhook to Lambda."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Host": "a1b2c3d4e5.execute-api.ap-northeast-1.amazonaws.com",
        "User-Agent": "LineBotWebhook/2.0",
        "X-Amzn-Trace-Id": "Root=1-6748a1c0-3f2a5b7c9d1e2f3a4b5c6d7e",
        "X-Forwarded-For": "147.92.150.193",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if signature is not None:
        headers["x-line-signature"] = signature
    return {
        "resource": "/callback",
        "path": "/callback",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "x7yz12",
            "resourcePath": "/callback",
            "httpMethod": "POST",
            "extendedRequestId": "BvT0mFn1tjMFmTg=",
            "requestTime": "28/Nov/2026:16:00:00 +0000",
            "path": "/prod/callback",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": "a1b2c3d4e5",
            "requestTimeEpoch": 1795881600000,
            "requestId": "5f0c8d2e-1b7a-4c3e-9f6d-2a8b7c6d5e4f",
            "identity": {
                "sourceIp": "147.92.150.193",
                "userAgent": "LineBotWebhook/2.0",
                "accountId": None,
                "user": None,
            },
            "domainName": "a1b2c3d4e5.execute-api.ap-northeast-1.amazonaws.com",
            "apiId": "a1b2c3d4e5",
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }


def test_lambda_photo_round_trip(bot_env, line):
    line.content["8001"] = masked_jpeg()
    body = webhook_body(image_event("8001"))

    response = aws_lambda.handler(api_gateway_event(body, sign(SECRET, body)), None)

    assert response == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    }
    (message,) = line.delivered[0]["messages"]
    assert message["type"] == "image" and message["originalContentUrl"].startswith(PUBLIC + "/line/images/")


@pytest.mark.parametrize("base64_body", [False, True])
def test_lambda_non_ascii_text_keeps_a_valid_signature(bot_env, line, base64_body):
    body = webhook_body(text_event("マスク ください"))
    response = aws_lambda.handler(api_gateway_event(body, sign(SECRET, body), base64_body), None)
    assert response["statusCode"] == 200
    assert line.delivered[0]["messages"][0]["text"].startswith("Send me a photo")


def test_lambda_rejects_bad_signatures_and_methods(bot_env, line):
    body = webhook_body(text_event("help"))
    assert aws_lambda.handler(api_gateway_event(body, None), None)["statusCode"] == 401
    assert aws_lambda.handler(api_gateway_event(body, sign("wrong", body)), None)["statusCode"] == 403
    get = api_gateway_event(body, sign(SECRET, body)) | {"httpMethod": "GET"}
    assert aws_lambda.handler(get, None)["statusCode"] == 405
    broken = api_gateway_event(body, sign(SECRET, body)) | {"isBase64Encoded": True, "body": "%%%not base64"}
    assert aws_lambda.handler(broken, None)["statusCode"] == 400
    assert line.requests == []


def test_lambda_reads_both_secrets_from_secrets_manager(bot_env, line, monkeypatch):
    monkeypatch.delenv("LINE_CHANNEL_SECRET")
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    body = webhook_body(text_event("help"))
    with mock_aws():
        import boto3

        arn = boto3.client("secretsmanager", region_name="ap-northeast-1").create_secret(
            Name="maskalbum/line-bot",
            SecretString=json.dumps({"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN}),
        )["ARN"]
        monkeypatch.setenv("MASKALBUM_LINE_CHANNEL_SECRET_ARN", arn)
        monkeypatch.setenv("MASKALBUM_LINE_TOKEN_SECRET_ARN", arn)
        response = aws_lambda.handler(api_gateway_event(body, sign(SECRET, body)), None)
    assert response["statusCode"] == 200
    assert line.to(REPLY)[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_lambda_without_secrets_is_a_500_not_a_crash(bot_env, line, monkeypatch, caplog):
    monkeypatch.delenv("LINE_CHANNEL_SECRET")
    body = webhook_body(text_event("help"))
    assert aws_lambda.handler(api_gateway_event(body, sign(SECRET, body)), None)["statusCode"] == 500
    assert "needs LINE_CHANNEL_SECRET" in caplog.text


# -- the local server -------------------------------------------------------------------------------


@pytest.fixture
def server(bot_env):
    bot = build_bot(resolve())
    httpd = make_server(bot, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def test_local_server_answers_at_once_then_replies_and_serves_the_result(server, line):
    line.content["9001"] = masked_jpeg()
    body = webhook_body(image_event("9001"))

    started = time.monotonic()
    status, answer, _ = http(
        "POST", server + "/callback", body, {"X-Line-Signature": sign(SECRET, body), "Content-Type": "application/json"}
    )
    assert (status, json.loads(answer)) == (200, {"ok": True})
    assert time.monotonic() - started < 0.5  # the photo is processed after the answer

    line.wait_for(REPLY)
    (message,) = line.delivered[0]["messages"]
    for name, limit in (("originalContentUrl", 10_000_000), ("previewImageUrl", 1_000_000)):
        url = message[name]
        assert url.startswith(PUBLIC + "/line/images/")
        status, data, kind = http("GET", server + urlparse(url).path)
        assert status == 200 and kind == "image/jpeg" and len(data) <= limit
        assert jpeg_size(data)[0] <= 1024 or name == "originalContentUrl"
    token = urlparse(message["originalContentUrl"]).path.split("/")[3]
    # Another valid-looking token: its last character changed (a token ending in "x" made the
    # old "replace it with x" the same token, 1 run in 64).
    other = token[:-1] + ("y" if token.endswith("x") else "x")
    for path in (
        f"/line/images/{other}/original.jpg",
        "/line/images/../users/x.json",
        f"/line/images/{token}/secret.json",
    ):
        assert http("GET", server + path)[0] == 404


def test_local_server_refuses_bad_requests(server, line):
    body = webhook_body(text_event("help"))
    assert http("POST", server + "/callback", body)[0] == 401
    assert http("POST", server + "/callback", body, {"X-Line-Signature": sign("nope", body)})[0] == 403
    assert http("POST", server + "/elsewhere", body, {"X-Line-Signature": sign(SECRET, body)})[0] == 404
    big = b"x" * 1_100_000
    assert http("POST", server + "/callback", big, {"X-Line-Signature": sign(SECRET, big)})[0] == 413
    assert http("GET", server + "/healthz")[0] == 200
    time.sleep(0.1)
    assert line.requests == []


# -- maskalbum run --notify-line ------------------------------------------------------------------------


def test_run_with_notify_line_sends_the_summary(tmp_path, monkeypatch, line):
    album = tmp_path / "trip"
    album.mkdir()
    (album / "sky.jpg").write_bytes(plain_jpeg())
    monkeypatch.setenv("MASKALBUM_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MASKALBUM_LINE_API_URL", line.url)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)

    result = CliRunner().invoke(
        app,
        [
            "run",
            str(album),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--notify-line",
            "U" + "9" * 32,
            "--json",
        ],
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["line"].startswith("sent text only:")
    (push,) = line.to(PUSH)
    assert push.json["to"] == "U" + "9" * 32
    text = push.json["messages"][0]["text"]
    assert "Album: trip" in text and "Photos: 1 (1 without faces)" in text and TOKEN not in result.output


def test_run_survives_a_line_outage(tmp_path, monkeypatch, line):
    album = tmp_path / "trip"
    album.mkdir()
    (album / "sky.jpg").write_bytes(plain_jpeg())
    line.program(PUSH, Reply(400, {"message": "bad"}))
    monkeypatch.setenv("MASKALBUM_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MASKALBUM_LINE_API_URL", line.url)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)

    result = CliRunner().invoke(
        app, ["run", str(album), "--out", str(tmp_path / "out"), "--workers", "1", "--notify-line", "U1"]
    )

    assert result.exit_code == 0
    assert "LINE: failed: LINE 400: bad" in result.output
    assert (tmp_path / "out" / "trip-masked.zip").is_file()


def test_line_bot_command_explains_missing_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKALBUM_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("LINE_CHANNEL_SECRET", raising=False)
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["line-bot", "--port", "0", "--storage", str(tmp_path / "bot")])
    assert result.exit_code == 2
    assert "LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN" in result.output
