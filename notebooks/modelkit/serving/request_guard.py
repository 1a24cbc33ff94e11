"""HTTP-level checks in front of the KServe app, so bad requests get a 4xx that says
what to send: inference POSTs need a JSON Content-Type (`application/json` or
`application/*+json`, any casing and parameters; a charset must be UTF-8, RFC 8259 s.8.1)
and a body under the size limit, and a body that is not JSON (NaN and Infinity are not
JSON) is a 400. The repository API (`/v2/repository/...`) is refused unless enabled.

KServe decodes a v1 body as JSON only when the Content-Type header is exactly one of its
JSON types (kserve/protocol/dataplane.py JSON_HEADERS), so an accepted header is passed
on as plain `application/json` (`application/cloudevents+json` as itself: KServe answers
it with a CloudEvent).
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput

from ..errors import ModelkitError
from .served_model import BadRequest, TooManyRows

INFERENCE_PATH = re.compile(r"^/v1/models/[^/]+:(predict|explain)$|^/v2/models/[^/]+(/versions/[^/]+)?/infer$")
REPOSITORY_PREFIX = "/v2/repository/"
CLOUDEVENTS_JSON = b"application/cloudevents+json"
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


def json_media_type(header: bytes) -> tuple[bytes | None, str]:
    """(the header to pass on, "") for a JSON media type, else (None, why it is refused)."""
    media_type, *parameters = header.decode("latin-1").split(";")
    media_type = media_type.strip().lower()
    kind, _, subtype = media_type.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return None, f"Content-Type is {media_type or 'missing'}"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return None, f"Content-Type {header.decode('latin-1')} has charset {charset}; JSON is UTF-8"
    return (CLOUDEVENTS_JSON if media_type == CLOUDEVENTS_JSON.decode() else b"application/json"), ""


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read as one message, then what `receive` gives."""
    replayed = False

    async def replaying() -> dict[str, Any]:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replaying


class RequestGuard:
    """ASGI middleware: Content-Type and body-size checks for inference requests; the repository API switch."""

    def __init__(self, app: Callable, max_body_bytes: int, repository_api: bool):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.repository_api = repository_api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(REPOSITORY_PREFIX) and not self.repository_api:
            return await _reply(send, 403, "the repository API (model reload) is off on this server; it is on by default "
                                           "only when bound to a loopback address (modelkit serve --repository-api)")
        if scope["type"] != "http" or scope["method"] != "POST" or not INFERENCE_PATH.match(scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        content_type, refused = json_media_type(headers.get(b"content-type", b""))
        if content_type is None:
            return await _reply(send, 415, f"{refused}; {SEND_JSON}")
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
        passed_on = [(k, v) for k, v in scope["headers"] if k != b"content-type"] + [(b"content-type", content_type)]
        await self.app(dict(scope, headers=passed_on), replay(body, receive), send)

    def _too_large(self, size: int) -> str:
        return (f"the body is at least {size} bytes, more than the limit of {self.max_body_bytes}; "
                "send fewer instances per request")


async def _bad_input(_request: Any, exc: InvalidInput) -> JSONResponse:
    message = str(exc) if isinstance(exc, BadRequest) else f"{exc}; {SEND_JSON}"
    return JSONResponse(status_code=400, content={"error": message})


async def _too_many_rows(_request: Any, exc: TooManyRows) -> JSONResponse:
    return JSONResponse(status_code=413, content={"error": str(exc)})


async def _unparsable(_request: Any, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return JSONResponse(status_code=400, content={"error": f"{where}: {first.get('msg', 'invalid')}; {SEND_JSON}"})


async def _server_side(_request: Any, exc: ModelkitError) -> JSONResponse:
    """A model file that cannot be loaded on reload: the message names it (and what keeps serving)."""
    return JSONResponse(status_code=500, content={"error": str(exc)})


def install(app: FastAPI, max_body_bytes: int, repository_api: bool) -> None:
    """Replace KServe's 400 handler with one that says what to send, and add the guard."""
    app.add_exception_handler(InvalidInput, _bad_input)
    app.add_exception_handler(TooManyRows, _too_many_rows)
    app.add_exception_handler(RequestValidationError, _unparsable)
    app.add_exception_handler(ModelkitError, _server_side)
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, repository_api=repository_api)
