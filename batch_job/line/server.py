"""The LINE bot as a local HTTP server (``maskalbum line-bot --port P``).

POST /callback is the webhook. In local storage mode the server also hands out
the results at GET /line/images/<32-char token>/{original,preview}.jpg — LINE
fetches them through the public HTTPS address in front of this server
(a tunnel or a reverse proxy; LINE accepts HTTPS only).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from batch_job.line.bot import MAX_BODY_BYTES, Bot, handle_webhook, serve_result

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/callback"
# A body up to this size is read and thrown away before a refusal: a client still sending
# when the socket closes sees a broken pipe instead of our 413/404. Beyond it, just close.
DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES


def make_server(bot: Bot, host: str = "127.0.0.1", port: int = 0, workers: int = 2) -> BotServer:
    """A server whose webhook answers at once and handles events on ``workers`` threads (sets ``bot.dispatch``).

    LINE recommends answering webhooks before processing: a photo takes about a second.
    """
    executor = cf.ThreadPoolExecutor(workers, thread_name_prefix="line-event")

    def report(future: cf.Future) -> None:
        # A future keeps its exception to itself; say it, or a failed event vanishes without a trace.
        if future.exception() is not None:
            log.error("a webhook event failed", exc_info=future.exception())

    def dispatch(work) -> None:
        executor.submit(work).add_done_callback(report)

    bot.dispatch = dispatch

    class Handler(BaseHTTPRequestHandler):
        server_version = "maskalbum-line"
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # http.server's naming
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._send(411, b'{"error": "Content-Length required"}', close=True)
            if self.path.split("?", 1)[0] != WEBHOOK_PATH:
                return self._refuse(length, 404, b'{"error": "not found"}')
            if length < 0 or length > MAX_BODY_BYTES:
                log.warning("webhook rejected: body of %d bytes (limit %d)", length, MAX_BODY_BYTES)
                return self._refuse(length, 413, b'{"error": "body too large"}')
            body = self.rfile.read(length)
            status, text = handle_webhook(body, dict(self.headers.items()), bot)
            self._send(status, text.encode())

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                return self._send(200, b'{"ok": true}')
            status, data = serve_result(path, bot.storage)
            if status != 200:
                return self._send(404, b'{"error": "not found"}')
            self._send(200, data, "image/jpeg", cache="private, max-age=604800")

        def _refuse(self, length: int, status: int, data: bytes) -> None:
            """Answer without processing, after draining a body that is not absurdly large."""
            drained = 0 <= length <= DRAIN_LIMIT_BYTES
            if drained:
                left = length
                while left > 0:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)
            self._send(status, data, close=not drained)

        def _send(
            self, status: int, data: bytes, kind: str = "application/json", cache: str = "no-store", close: bool = False
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", cache)
            if close:
                # The unread body is still on the socket: do not reuse the connection.
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:  # the base class's signature
            log.info("%s %s", self.address_string(), format % args)

    return BotServer((host, port), Handler, executor)


class BotServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], executor: cf.Executor) -> None:
        super().__init__(address, handler)
        self.executor = executor

    def server_close(self) -> None:
        super().server_close()
        self.executor.shutdown(wait=True)  # finish the photos already accepted
