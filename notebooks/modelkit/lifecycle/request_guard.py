"""HTTP-level checks in front of the KServe app, so bad requests get a 4xx that says
what to send: inference POSTs need Content-Type application/json and a body under the
size limit, and a body that is not JSON (NaN and Infinity are not JSON) is a 400.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput

from .served_model import BadRequest

INFERENCE_PATH = re.compile(r"^/v1/models/[^/]+:(predict|explain)$|^/v2/models/[^/]+(/versions/[^/]+)?/infer$")
JSON_TYPES = (b"application/json", b"application/cloudevents+json")
SEND_JSON = ('send Content-Type: application/json and a JSON body {"instances": [[f1, ..., fn], ...]} (v1) or '
             '{"inputs": [{"name": "instances", "shape": [rows, n], "datatype": "FP64", "data": [...]}]} (v2), '
             "n = the model's feature count; NaN and Infinity are not valid JSON")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: Content-Type and body-size checks for inference requests."""

    def __init__(self, app: Callable, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not INFERENCE_PATH.match(scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            shown = content_type.decode(errors="replace") or "missing"
            return await _reply(send, 415, f"Content-Type is {shown}; {SEND_JSON}")
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit():
            return await _reply(send, 400, "Content-Length is not a number")
        if int(declared) > self.max_body_bytes:
            return await _reply(send, 413, self._too_large(int(declared)))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return await _reply(send, 413, self._too_large(size))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if not body.strip():
            return await _reply(send, 400, f"the request body is empty; {SEND_JSON}")
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self, size: int) -> str:
        return (f"the body is at least {size} bytes, more than the limit of {self.max_body_bytes}; "
                "send fewer instances per request")


async def _bad_input(_request: Any, exc: InvalidInput) -> JSONResponse:
    message = str(exc) if isinstance(exc, BadRequest) else f"{exc}; {SEND_JSON}"
    return JSONResponse(status_code=400, content={"error": message})


async def _unparsable(_request: Any, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return JSONResponse(status_code=400, content={"error": f"{where}: {first.get('msg', 'invalid')}; {SEND_JSON}"})


def install(app: FastAPI, max_body_bytes: int) -> None:
    """Replace KServe's 400 handler with one that says what to send, and add the guard."""
    app.add_exception_handler(InvalidInput, _bad_input)
    app.add_exception_handler(RequestValidationError, _unparsable)
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)
