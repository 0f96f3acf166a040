"""A webhook receiver for the notification tests: a real HTTP server on a free local port that Apprise's
``json://127.0.0.1:PORT/path`` delivers to, recording every POST (when, which path, the JSON body)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A webhook on a free local port: records every POST; answers with ``statuses`` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        #: Cleared: every request is received, recorded, and answered only once it is set again.
        self.answer = threading.Event()
        self.answer.set()
        #: Seconds each answer takes (a slow service: deliveries pile up behind it).
        self.delay_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), self.path, json.loads(body or b"{}")))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.answer.wait(30)
                time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "duty") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def on(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, p, body in self.requests if p == f"/{path}"]

    def messages(self, path: str) -> list[str]:
        return [str(body.get("message", "")) for body in self.on(path)]

    def close(self) -> None:
        self.answer.set()
        self.server.shutdown()
        self.server.server_close()
