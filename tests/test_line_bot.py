"""The single-photo bot: signatures, the photo flow end to end, commands, bad requests — against a fake LINE API."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlparse

import pytest

from batch_job.line.bot import MAX_BODY_BYTES, Bot, handle_webhook
from batch_job.line.client import LineClient, Secret
from batch_job.settings import Settings
from batch_job.storage import MemoryStorage
from testing.line_fakes import (
    REPLY,
    FakeLine,
    PresigningStorage,
    Reply,
    image_event,
    jpeg_size,
    masked_jpeg,
    offline_aws,
    plain_jpeg,
    running,
    sign,
    text_event,
    webhook_body,
)

TOKEN = "bot-token-" + "q" * 150
SECRET = "0123456789abcdef0123456789abcdef"  # a channel secret is 32 hex characters
ALICE, BOB = "U" + "a" * 32, "U" + "b" * 32


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    offline_aws(monkeypatch, tmp_path)


@pytest.fixture
def line():
    with running(TOKEN) as fake:
        yield fake


@pytest.fixture
def bot(line):
    """A bot with S3-like storage (presigned links)."""
    settings = Settings(seed=1, line_api_url=line.url, line_data_api_url=line.url)
    return Bot(
        settings, Secret(SECRET), LineClient(Secret(TOKEN), line.url, line.url), PresigningStorage("bot-bucket", "")
    )


def post(bot: Bot, body: bytes, **headers: str) -> tuple[int, dict]:
    status, text = handle_webhook(body, headers, bot)
    return status, json.loads(text)


def signed(bot: Bot, body: bytes, header: str = "X-Line-Signature") -> tuple[int, dict]:
    return post(bot, body, **{header: sign(SECRET, body)})


def replies(line: FakeLine) -> dict[str, list[dict]]:
    """reply token -> the messages LINE delivered for it."""
    return {d["replyToken"]: d["messages"] for d in line.delivered if d["path"] == REPLY}


# -- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-Line-Signature", "x-line-signature", "X-LINE-SIGNATURE"])
def test_valid_signature_any_header_case(bot, line, header):
    body = webhook_body(text_event("help"))
    assert signed(bot, body, header)[0] == 200
    (messages,) = replies(line).values()
    assert "mask <name>" in messages[0]["text"]


def test_invalid_signature_is_403_and_nothing_happens(bot, line, caplog):
    body = webhook_body(text_event("help"))
    tampered = body.replace(b"help", b"masks")
    assert post(bot, tampered, **{"X-Line-Signature": sign(SECRET, body)}) == (403, {"error": "invalid signature"})
    assert post(bot, body, **{"X-Line-Signature": sign("another-channel-secret", body)})[0] == 403
    assert post(bot, body, **{"X-Line-Signature": "not base64 at all ✗"})[0] == 403
    assert line.requests == []
    assert "does not match" in caplog.text


def test_missing_signature_is_401(bot, line):
    assert post(bot, webhook_body(text_event("help"))) == (401, {"error": "missing signature"})
    assert line.requests == []


# -- photos ---------------------------------------------------------------------------------------


def test_photo_comes_back_masked_as_presigned_image(bot, line):
    line.content["1001"] = masked_jpeg()
    body = webhook_body(image_event("1001"))

    assert signed(bot, body) == (200, {"ok": True})

    fetch = line.to("/v2/bot/message/1001/content")[0]
    assert fetch.headers["authorization"] == f"Bearer {TOKEN}"
    (message,) = replies(line)["reply-1001"]
    assert message["type"] == "image"
    original_url, preview_url = message["originalContentUrl"], message["previewImageUrl"]
    for url in (original_url, preview_url):
        assert url.startswith("https://bot-bucket.s3.") or url.startswith(
            "https://s3.us-east-1.amazonaws.com/bot-bucket/"
        )
        assert len(url) <= 2000
        assert int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0]) == 7 * 86400
    original = bot.storage.read(urlparse(original_url).path.split("/bot-bucket/", 1)[1])
    preview = bot.storage.read(urlparse(preview_url).path.split("/bot-bucket/", 1)[1])
    assert jpeg_size(original) == (800, 600) and original != masked_jpeg()
    assert len(preview) <= 1_000_000 and max(jpeg_size(preview)) <= 1024


def test_several_photos_each_get_their_reply(bot, line):
    line.content.update({"2001": masked_jpeg(), "2002": plain_jpeg(), "2003": masked_jpeg()})
    body = webhook_body(
        image_event("2001", reply_token="r1"),
        image_event("2002", reply_token="r2"),
        image_event("2003", reply_token="r3"),
    )

    assert signed(bot, body)[0] == 200

    got = replies(line)
    assert [m["type"] for m in got["r1"]] == ["image"]
    assert got["r2"][0]["type"] == "text" and "could not find any face" in got["r2"][0]["text"]
    assert [m["type"] for m in got["r3"]] == ["image"]


def test_photo_without_a_masked_face_gets_a_friendly_text(bot, line):
    from testing.synth import PersonSpec, make_scene

    line.content["3001"] = make_scene([PersonSpec(200, masked=False)], size=(640, 480)).jpeg()
    assert signed(bot, webhook_body(image_event("3001")))[0] == 200
    (message,) = replies(line)["reply-3001"]
    assert message == {
        "type": "text",
        "text": "I found no face wearing a white mask in this photo, so I left it as it is. Try another one!",
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"%PDF-1.7 not a photo", "I can only edit photos"), (None, "could not download your photo")],
)
def test_unusable_content_gets_a_text_reply(bot, line, content, expected):
    if content is not None:
        line.content["4001"] = content  # else: LINE answers 404 (content expired)
    assert signed(bot, webhook_body(image_event("4001")))[0] == 200
    (message,) = replies(line)["reply-4001"]
    assert message["type"] == "text" and expected in message["text"]


def test_video_message_gets_a_text_reply_without_download(bot, line):
    event = image_event("5001")
    event["message"]["type"] = "video"
    assert signed(bot, webhook_body(event))[0] == 200
    assert replies(line)["reply-5001"][0]["text"].startswith("I can only edit photos")
    assert line.to("/v2/bot/message/5001/content") == []


def test_reply_failure_is_logged_not_raised(bot, line, caplog):
    line.program(REPLY, Reply(400, {"message": "Invalid reply token"}))
    assert signed(bot, webhook_body(text_event("help")))[0] == 200
    assert "LINE reply failed: LINE 400: Invalid reply token" in caplog.text


# -- commands and the remembered mask -----------------------------------------------------------


def test_masks_lists_every_catalog_mask_with_tags(bot, line):
    from masks.catalog import load_catalog

    assert signed(bot, webhook_body(text_event("Masks")))[0] == 200
    text = replies(line)["reply-text"][0]["text"]
    for mask in load_catalog().masks:
        assert f"{mask.name} - {mask.title} ({', '.join(mask.tags)})" in text


def test_mask_choice_is_remembered_per_user_and_used(bot, line):
    from masks.catalog import load_catalog

    first, second = load_catalog().names()[:2]
    line.content["6001"] = masked_jpeg()

    def photo(user: str, token: str) -> bytes:
        signed(bot, webhook_body(image_event("6001", user=user, reply_token=token)))
        url = replies(line)[token][0]["originalContentUrl"]
        return bot.storage.read(urlparse(url).path.split("/bot-bucket/", 1)[1])

    signed(bot, webhook_body(text_event(f"mask {first}", user=ALICE, reply_token="c1")))
    signed(bot, webhook_body(text_event(f"mask {second.upper()}", user=BOB, reply_token="c2")))
    signed(bot, webhook_body(text_event("mask nosuchmask", user=BOB, reply_token="c3")))
    got = replies(line)
    assert got["c1"][0]["text"].startswith("OK: your next photos get")
    assert "do not know a mask called 'nosuchmask'" in got["c3"][0]["text"]

    alice, bob, alice_again = photo(ALICE, "p1"), photo(BOB, "p2"), photo(ALICE, "p3")
    assert alice == alice_again  # same photo, same choice: same picture
    assert alice != bob  # different masks
    # Remembered in the storage under a hash, not the LINE user id.
    keys = [k for k in bot.storage.objects if k.startswith("line/users/")]
    assert len(keys) == 2 and not any(ALICE in k or BOB in k for k in keys)

    signed(bot, webhook_body(text_event("mask random", user=ALICE, reply_token="c4")))
    signed(bot, webhook_body(text_event("mask", user=ALICE, reply_token="c5")))
    assert replies(line)["c5"][0]["text"].startswith("Your mask: random")


# -- bad requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "invalid JSON"),
        (b"\xff\xfe\x00garbage", 400, "invalid JSON"),
        (b'{"destination": "U0"}', 400, "no events"),
        (b"[1, 2, 3]", 400, "no events"),
    ],
)
def test_malformed_bodies_get_a_clean_400(bot, line, caplog, body, status, error):
    assert signed(bot, body) == (status, {"error": error})
    assert "webhook rejected" in caplog.text
    assert line.requests == []


def test_oversized_body_is_refused_before_anything_else(bot, line):
    body = b'{"events": [], "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert signed(bot, body) == (413, {"error": "body too large"})


def test_unknown_and_malformed_events_are_skipped(bot, line, caplog):
    caplog.set_level(logging.INFO)
    events = [
        {"type": "somethingNew", "replyToken": "x1"},
        "not an object",
        {"type": "unfollow", "source": {"type": "user", "userId": ALICE}},
        {"type": "message", "message": "not an object", "replyToken": "x2"},
        text_event("help", reply_token="x3"),
    ]
    assert signed(bot, webhook_body(*events))[0] == 200
    got = replies(line)
    assert set(got) == {"x2", "x3"}  # the broken message is answered kindly; the rest is ignored
    assert "ignoring somethingNew event" in caplog.text


def test_verification_webhook_with_no_events(bot, line):
    # The "Verify" button in the LINE Developers console sends an empty, signed event list.
    assert signed(bot, webhook_body()) == (200, {"ok": True})
    assert line.requests == []


def test_local_storage_without_links_answers_with_text(line):
    settings = Settings(line_api_url=line.url, line_data_api_url=line.url)
    local = Bot(settings, Secret(SECRET), LineClient(Secret(TOKEN), line.url, line.url), MemoryStorage())
    line.content["7001"] = masked_jpeg()
    assert signed(local, webhook_body(image_event("7001")))[0] == 200
    assert "cannot send it back right now" in replies(line)["reply-7001"][0]["text"]


def test_in_a_group_only_commands_and_photos_get_answers(bot, line):
    def in_group(event: dict) -> dict:
        event["source"] = {"type": "group", "groupId": "C" + "0" * 32, "userId": ALICE}
        return event

    sticker = image_event("9500", reply_token="g1")
    sticker["message"]["type"] = "sticker"
    events = [
        in_group(text_event("see you tomorrow", reply_token="g0")),
        in_group(sticker),
        in_group(text_event("help", reply_token="g2")),
    ]
    assert signed(bot, webhook_body(*events))[0] == 200
    assert list(replies(line)) == ["g2"]
