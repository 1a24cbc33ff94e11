"""The local model server under parallel clients while promotions and rollbacks run.

Two gate-accepted versions of a detector built like the trained one
(bench/serving_setup.py) under a temporary models root, served by the real `modelkit
serve` on 127.0.0.1. `--clients` keep-alive connections send the guide's one-row request
back to back for `--seconds`, twice: steady, then while another process promotes v2
and rolls back to v1 in a loop with the real `modelkit.lifecycle.promotion` functions,
each followed by the reload `modelkit promote`/`rollback` asks the local server for.
Prints per phase: requests, errors (anything but a 200 answer from v1 or v2), p50/p99/max
latency, requests/s, the server's CPU time per request (utime + stime of its process: a
figure a busy shared machine does not inflate the way it inflates latency), and the ratios
of p50/p99 to the in-process `model.predict` p50 of the same row (the baseline). Issue 8's check: p99 < 100 ms and 0 errors with 20 clients
on 2 cores while promotions run.

    .venv/bin/python bench/bench_serving_load.py [--quick] [--clients 20] [--seconds 20] [--switch-every 1.0]

The clients are one asyncio loop writing raw HTTP/1.1: 20 `requests` threads would spend
the cores on the client's own GIL and measure that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from serving_setup import MODEL, gated_detector_version, request_rows

from modelkit.serving.local_server import SERVER_FILE, reload_local_server, temporary_server
from modelkit.lifecycle.promotion import promote, rollback

QUICK = {"seconds": 3.0, "trees": 20}
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
VERSIONS = ("v1", "v2")


class Phase:
    def __init__(self, name: str):
        self.name, self.latencies, self.errors, self.answered_by = name, [], [], {v: 0 for v in VERSIONS}
        self.seconds, self.switches, self.server_cpu = 0.0, None, 0.0

    def record(self, seconds: float, status: int, body: bytes) -> None:
        version = json.loads(body).get("model_version") if status == 200 else None
        if version in self.answered_by:
            self.latencies.append(seconds)
            self.answered_by[version] += 1
        else:
            self.errors.append(f"HTTP {status}: {body[:120]!r}")


async def one_client(host: str, port: int, request: bytes, deadline: float, phase: Phase) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(int(CONTENT_LENGTH.search(head).group(1)))
            except (asyncio.IncompleteReadError, ConnectionError, AttributeError) as exc:
                phase.errors.append(f"connection: {exc!r}")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            phase.record(time.perf_counter() - start, int(head.split(b" ", 2)[1]), body)
    finally:
        writer.close()


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def load(url: str, clients: int, seconds: float, phase: Phase, server_pid: int) -> None:
    cpu_before = process_cpu_seconds(server_pid)
    asyncio.run(send_for(url, clients, seconds, phase))
    phase.server_cpu = process_cpu_seconds(server_pid) - cpu_before


async def send_for(url: str, clients: int, seconds: float, phase: Phase) -> None:
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"instances": request_rows(1).tolist()}).encode()
    request = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    start = time.monotonic()
    await asyncio.gather(*(one_client(host, int(port), request, start + seconds, phase) for _ in range(clients)))
    phase.seconds = time.monotonic() - start


def switch_versions(root: Path, ready, stop, results, every: float, limit: float) -> None:
    """Promote v2 / roll back to v1 until `stop` (at most `limit` s); each switch reloads the local server."""
    ready.set()
    deadline, switches, failed = time.monotonic() + limit, 0, []
    while not stop.is_set() and time.monotonic() < deadline:
        if switches % 2 == 0:
            promote(root, MODEL, "v2", keep_versions=5)
        else:
            rollback(root, MODEL)
        note = reload_local_server(root, MODEL)
        switches += 1
        if not note or "now serves" not in note:
            failed.append(note)
        stop.wait(every)
    results.put((switches, failed))


def while_switching(url: str, server_pid: int, root: Path, args: argparse.Namespace, phase: Phase) -> list[str]:
    """The load phase with a promoter process switching versions; returns the failed reloads."""
    spawn = multiprocessing.get_context("spawn")
    ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
    switcher = spawn.Process(target=switch_versions, args=(root, ready, stop, results, args.switch_every,
                                                           args.seconds + 60))
    switcher.start()
    try:
        if not ready.wait(timeout=120):
            raise RuntimeError("the promoter process did not start within 120 s")
        load(url, args.clients, args.seconds, phase, server_pid)
        stop.set()
        phase.switches, failed = results.get(timeout=120)
    finally:
        stop.set()
        switcher.join(timeout=30)
        if switcher.is_alive():
            switcher.kill()
    return failed


def in_process_p50(model, repeats: int = 300) -> float:
    row = request_rows(1)
    model.predict(row)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(row)
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def report(phases: list[Phase], baseline: float) -> None:
    print(f"baseline: in-process model.predict of the same row, p50 {baseline * 1e3:.2f} ms")
    print(f"{'phase':<34} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'max':>8} "
          f"{'CPU/req':>8} {'p50/base':>8} {'p99/base':>8}  answered by")
    for phase in phases:
        p50, p99, worst = (float(np.percentile(phase.latencies, q)) if phase.latencies else float("nan")
                           for q in (50, 99, 100))
        name = phase.name if phase.switches is None else f"{phase.name} ({phase.switches} switches)"
        print(f"{name:<34} {len(phase.latencies):>8} {len(phase.errors):>6} {len(phase.latencies) / phase.seconds:>7.0f} "
              f"{p50 * 1e3:>6.1f}ms {p99 * 1e3:>6.1f}ms {worst * 1e3:>6.1f}ms "
              f"{phase.server_cpu / max(1, len(phase.latencies)) * 1e3:>6.2f}ms {p50 / baseline:>7.1f}x {p99 / baseline:>7.1f}x"
              f"  {phase.answered_by}")
        for error in phase.errors[:5]:
            print(f"    error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a few seconds: {QUICK}")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each phase")
    parser.add_argument("--switch-every", type=float, default=1.0, help="seconds between promotions/rollbacks")
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.trees = QUICK["seconds"], QUICK["trees"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "models"
        model = gated_detector_version(root, "v1", args.trees, seed=0)
        gated_detector_version(root, "v2", args.trees, seed=1)
        promote(root, MODEL, "v1", keep_versions=5)
        baseline = in_process_p50(model)
        with temporary_server(root, [MODEL]) as url:
            server_pid = json.loads((root / SERVER_FILE).read_text())["pid"]
            print(f"{args.clients} clients, {args.seconds:g} s per phase, server {url}, "
                  f"scaler + PCA + IsolationForest({args.trees} trees)")
            steady, switching = Phase("steady"), Phase("promotions + rollbacks")
            load(url, args.clients, min(1.0, args.seconds), Phase("warm-up, not reported"), server_pid)
            load(url, args.clients, args.seconds, steady, server_pid)
            failed_reloads = while_switching(url, server_pid, root, args, switching)
    report([steady, switching], baseline)
    print(f"load average during the run (1/5/15 min, {os.cpu_count()} cores): " + " ".join(f"{v:.1f}" for v in os.getloadavg()))
    for note in failed_reloads:
        print(f"    reload failed: {note}")
    return 1 if steady.errors or switching.errors or failed_reloads else 0


if __name__ == "__main__":
    raise SystemExit(main())
