"""/metrics, /healthz (the process answers) and /readyz (a cycle has completed; 503 before)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST


def start_server(host: str, port: int, metrics_text: Callable[[], str], ready: Callable[[], bool]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, metrics_text(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, "ok\n")
            elif path == "/readyz":
                self._answer(200, "ready\n") if ready() else self._answer(503, "no scoring cycle completed yet\n")
            else:
                self._answer(404, "not found: /metrics, /healthz, /readyz\n")

        def _answer(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # scrapes every 30 s would flood the log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
