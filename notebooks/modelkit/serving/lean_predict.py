"""The v1 predict of a served model (the guide's `curl` request, the scorer's calls), answered
without KServe's router and middleware stack.

KServe's route for `POST /v1/models/<name>:predict` (kserve/protocol/rest/v1_endpoints.py
V1Endpoints.predict) checks the model is ready, decodes the JSON body, awaits the model
(`Model.__call__`: preprocess, predict, postprocess and their Prometheus histograms) and
encodes the answer with orjson. Around it FastAPI matches the path against every route and
timing_asgi's TimingMiddleware reads getrusage twice per request to log a trace nobody reads:
about as much CPU as the 100-tree predict itself. This middleware does the route's own steps
for a ready `ServedModel` and a plain JSON body, and sends the same bytes; errors go to the
app's exception handlers, so every status and message stays the same. Anything else (a model
not served or not ready, a CloudEvent, a body that is not a JSON object) goes on to KServe,
which answers it as before. It sits inside the request guard, so the same Content-Type and
size checks apply.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson
from cloudevents.sdk.converters.util import has_binary_headers
from kserve.model_repository import ModelRepository
from kserve.utils.utils import is_structured_cloudevent
from starlette.requests import Request

from .request_guard import Receive, Scope, Send, replay
from .served_model import ServedModel

V1_PREDICT = re.compile(r"^/v1/models/([^/]+):predict$")
# What KServe's ORJSONResponse renders with (fastapi/responses.py).
ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class LeanV1Predict:
    """ASGI middleware: v1 predict of a ready ServedModel with a plain JSON body, as KServe's route answers it."""

    def __init__(self, app: Callable, repository: ModelRepository, exception_handlers: dict[Any, Callable]):
        self.app = app
        self.repository = repository
        self.exception_handlers = exception_handlers  # the app's own dict: handlers added later count too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = V1_PREDICT.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        model = self.repository.get_model(match.group(1)) if match else None
        if not isinstance(model, ServedModel) or not model.ready:
            return await self.app(scope, receive, send)  # KServe answers 404 / 503
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        if headers.get("content-type") != "application/json" or has_binary_headers(headers):
            return await self.app(scope, receive, send)  # a CloudEvent
        body = await _whole_body(receive)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None  # KServe's route answers it with its own message
        if not isinstance(payload, dict) or is_structured_cloudevent(payload):
            return await self.app(scope, replay(body, receive), send)
        try:
            answer, answer_headers = await model(payload, headers)
        except Exception as exc:
            return await self._handled(exc, scope, receive, send)
        encoded = orjson.dumps(answer, option=ORJSON_OPTIONS)
        sent = {name.lower(): value for name, value in answer_headers.items() if name.lower() != "content-length"}
        sent.setdefault("content-type", "application/json")
        sent["content-length"] = str(len(encoded))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in sent.items()]})
        await send({"type": "http.response.body", "body": encoded})

    async def _handled(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """The answer the app's handler for `exc` gives (Starlette's lookup: the nearest class in its MRO)."""
        handler = next((self.exception_handlers[cls] for cls in type(exc).__mro__ if cls in self.exception_handlers),
                       None)
        if handler is None:
            raise exc
        response = await handler(Request(scope), exc)
        await response(scope, receive, send)


async def _whole_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
