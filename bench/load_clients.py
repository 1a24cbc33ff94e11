"""Closed-loop HTTP clients for bench_serving_load.py, one process of them (standard library
and uvloop only, so it starts in a blink and spends little of the cores it shares with the
server).

Each client is one keep-alive TCP connection, as a client pool holds it: it writes the
request, reads the whole answer (status line, headers, Content-Length body), notes the
latency and the version that answered, and sends the next request at once, until the
deadline. A dropped connection is an error and is opened again.

    python load_clients.py URL REQUEST_FILE CONNECTIONS START_AT SECONDS
prints one JSON document: the answers' latencies (s) and versions, the errors, the clients' CPU seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
MODEL_VERSION = re.compile(rb'"model_version": *"([^"]*)"')


class KeepAliveConnection(asyncio.Protocol):
    """One HTTP/1.1 connection; `exchange` sends a request and returns (status, body) of its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end_of_head = self.buffer.find(b"\r\n\r\n")
        if end_of_head < 0 or self.answer is None or self.answer.done():
            return
        length = CONTENT_LENGTH.search(self.buffer, 0, end_of_head + 2)
        if length is None:
            self.answer.set_exception(ConnectionError("an answer without Content-Length"))
            return
        end = end_of_head + 4 + int(length.group(1))
        if len(self.buffer) >= end:
            status = int(self.buffer[9:12])
            body = bytes(self.buffer[end_of_head + 4:end])
            del self.buffer[:end]
            self.answer.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(f"connection closed: {exc!r}"))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.answer


async def open_connection(host: str, port: int) -> KeepAliveConnection:
    _, connection = await asyncio.get_running_loop().create_connection(KeepAliveConnection, host, port)
    return connection


async def one_client(host: str, port: int, request: bytes, deadline: float, result: dict) -> None:
    connection = await open_connection(host, port)
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            status, body = await connection.exchange(request)
        except ConnectionError as exc:
            result["errors"].append(f"connection: {exc}")
            connection.transport.close()
            connection = await open_connection(host, port)
            continue
        seconds = time.perf_counter() - start
        version = MODEL_VERSION.search(body) if status == 200 else None
        if version:
            result["latencies"].append(seconds)
            result["versions"].append(version.group(1).decode())
        else:
            result["errors"].append(f"HTTP {status}: {body[:120]!r}")
    connection.transport.close()


async def clients(url: str, request: bytes, connections: int, start_at: float, seconds: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    await asyncio.sleep(max(0.0, start_at - time.time()))  # every client process starts at the same moment
    result = {"latencies": [], "versions": [], "errors": []}
    cpu_before, deadline = time.process_time(), time.monotonic() + seconds
    await asyncio.gather(*(one_client(host, int(port), request, deadline, result) for _ in range(connections)))
    result["cpu_seconds"] = time.process_time() - cpu_before
    return result


def main() -> None:
    url, request_file, connections, start_at, seconds = sys.argv[1:]
    with open(request_file, "rb") as file:
        request = file.read()
    try:
        import uvloop  # the server's own event loop (KServe depends on it): cheaper per request than asyncio's
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    json.dump(run(clients(url, request, int(connections), float(start_at), float(seconds))), sys.stdout)


if __name__ == "__main__":
    main()
