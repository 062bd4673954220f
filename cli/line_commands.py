"""``maskalbum line-bot``: the single-photo LINE bot as a local server (the Lambda handler is the other way in)."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from batch_job.errors import MaskalbumError
from cli.common import console, fail, settings_from

app = typer.Typer()

DEFAULT_STORAGE = "maskalbum-line"


@app.command("line-bot")
def line_bot(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 to accept outside connections).")
    ] = "127.0.0.1",
    storage: Annotated[
        str | None,
        typer.Option(
            help="Where results and per-user mask choices go: s3://bucket/prefix or a folder "
            f"(default: ./{DEFAULT_STORAGE})."
        ),
    ] = None,
    public_base_url: Annotated[
        str | None,
        typer.Option(
            help="This server's public HTTPS address, for results served from a local folder (e.g. a tunnel URL)."
        ),
    ] = None,
    detector: Annotated[str | None, typer.Option(help="Face detector: local (default) or rekognition.")] = None,
) -> None:
    """Run the LINE bot webhook at http://HOST:PORT/callback.

    Secrets: LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN.
    """
    from batch_job.line.bot import build_bot
    from batch_job.line.server import WEBHOOK_PATH, make_server

    try:
        settings = settings_from(line_storage=storage, public_base_url=public_base_url, detector=detector)
        if settings.line_storage is None and settings.bucket is None:
            settings = settings.replace(line_storage=DEFAULT_STORAGE)
        bot = build_bot(settings)
        server = make_server(bot, host, port)
    except (MaskalbumError, OSError) as exc:
        raise fail(exc) from exc
    logging.getLogger("batch_job").setLevel(logging.INFO)
    address, bound = server.server_address[:2]
    address = address.decode() if isinstance(address, bytes) else address
    console.print(f"LINE bot webhook: http://{address}:{bound}{WEBHOOK_PATH} (results in {bot.storage.describe()})")
    if bot.public_base_url is None and bot.storage.presigned_url("probe", 60) is None:
        console.print("[yellow]warning:[/] no --public-base-url: LINE cannot fetch results from a local folder")
    # SIGTERM (docker stop, systemd) stops like Ctrl-C: photos already accepted are finished and answered.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.server_close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
