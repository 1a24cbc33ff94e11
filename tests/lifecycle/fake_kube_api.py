"""A small Kubernetes API server for the promotion wait: real HTTPS on a loopback address
(the test CA), bearer-token checked, answering the few paths `cluster.ClusterClient` uses
from recorded KServe status objects (tests/lifecycle/kserve_status).

The rollout is a list of stages; each GET of the InferenceService moves to the next stage
(the last one stays), so a test plays a rollout as the promote step would poll it."""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fixtures.tls import TestPKI

RECORDED = Path(__file__).parent / "kserve_status"


def recorded(name: str) -> dict[str, Any]:
    """A recorded object, e.g. recorded("raw/deployment-rolling")."""
    return json.loads((RECORDED / f"{name}.json").read_text())


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def listing(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": f"{kind}List", "metadata": {"resourceVersion": "1"}, "items": items}


class FakeKubeAPI:
    """`stages`: dicts with "isvc" and, as the mode needs, "deployments", "replicasets",
    "pods" (lists) or "revisions" (name -> Revision)."""

    def __init__(self, pki: TestPKI, token: str, stages: list[dict[str, Any]], host: str = "127.0.0.1"):
        self.token, self.stages = token, stages
        self.stage = -1
        self.patches: list[tuple[str, dict[str, Any]]] = []  # (Content-Type, body)
        self.requests: list[str] = []  # "METHOD path?query" of every authorized request
        self._lock = threading.Lock()
        self._server = (_IPv6Server if ":" in host else _Server)((host, 0), self._handler())
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeKubeAPI":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _current(self) -> dict[str, Any]:
        return self.stages[max(self.stage, 0)]

    def answer(self, method: str, path: str, body: dict[str, Any] | None, content_type: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            isvc_path = re.fullmatch(r"/apis/serving\.kserve\.io/v1beta1/namespaces/[^/]+/inferenceservices/([^/]+)", path)
            if isvc_path and method == "PATCH":
                self.patches.append((content_type, body or {}))
                return 200, self._current()["isvc"]
            if isvc_path and method == "GET":
                self.stage = min(self.stage + 1, len(self.stages) - 1)
                return 200, self._current()["isvc"]
            listed = re.fullmatch(r"/apis?(?:/apps)?/v1/namespaces/[^/]+/(deployments|replicasets|pods)", path)
            if listed and method == "GET":
                kind = listed.group(1)
                return 200, listing(kind.capitalize(), self._current().get(kind, []))
            revision = re.fullmatch(r"/apis/serving\.knative\.dev/v1/namespaces/[^/]+/revisions/([^/]+)", path)
            if revision and revision.group(1) in self._current().get("revisions", {}):
                return 200, self._current()["revisions"][revision.group(1)]
            return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": f"{path} not found"}

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._send(401, {"kind": "Status", "code": 401, "reason": "Unauthorized"})
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                api.requests.append(f"{self.command} {self.path}")
                self._send(*api.answer(self.command, split.path, body, self.headers.get("Content-Type", "")))

            def _send(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = _serve

        return Handler
