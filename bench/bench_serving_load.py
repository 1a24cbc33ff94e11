"""The local model server under parallel clients while promotions and rollbacks run.

Two gate-accepted versions of a detector built like the trained one
(bench/serving_setup.py) under a temporary models root, served by the real `modelkit
serve` on 127.0.0.1. `--clients` keep-alive connections send the guide's one-row request
back to back for `--seconds`, twice: steady, then while another process promotes v2
and rolls back to v1 in a loop with the real `modelkit.lifecycle.promotion` functions,
each followed by the reload `modelkit promote`/`rollback` asks the local server for.
Prints per phase: requests, errors (anything but a 200 answer from v1 or v2), p50/p99/max
latency, requests/s, the server's CPU time per request (utime + stime of its process: a
figure a busy shared machine does not inflate the way it inflates latency) and the clients'
one, and the ratios of p50/p99 and of the server's CPU per request to the in-process
`model.predict` p50 of the same row (the baseline). Issue 8's check: p99 < 100 ms and 0
errors with 20 clients on 2 cores while promotions run.

    .venv/bin/python bench/bench_serving_load.py [--quick] [--clients 20] [--client-processes 2]
        [--seconds 20] [--switch-every 1.0]

The clients run in `--client-processes` processes of bench/load_clients.py (asyncio on
uvloop, raw HTTP/1.1 over keep-alive TCP connections): they share the 2 cores with the
server, so they must cost little, and 20 `requests` threads would spend the cores on the
clients' own GIL and measure that.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from serving_setup import MODEL, gated_detector_version, request_rows

from modelkit.serving.local_server import SERVER_FILE, reload_local_server, temporary_server
from modelkit.lifecycle.promotion import promote, rollback

QUICK = {"seconds": 3.0, "trees": 20}
VERSIONS = ("v1", "v2")
CLIENTS = Path(__file__).resolve().with_name("load_clients.py")
CLIENT_START_DELAY = 0.5  # s for the client processes to start before they send together


class Phase:
    def __init__(self, name: str):
        self.name, self.latencies, self.errors, self.answered_by = name, [], [], {v: 0 for v in VERSIONS}
        self.seconds, self.switches, self.server_cpu, self.client_cpu = 0.0, None, 0.0, 0.0

    def add(self, clients: dict) -> None:
        """The results of one client process (load_clients.py)."""
        self.errors += clients["errors"]
        self.client_cpu += clients["cpu_seconds"]
        for seconds, version in zip(clients["latencies"], clients["versions"]):
            if version in self.answered_by:
                self.latencies.append(seconds)
                self.answered_by[version] += 1
            else:
                self.errors.append(f"answered by version {version!r}")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def write_request(url: str, folder: Path) -> Path:
    """The guide's one-row v1 request, as raw HTTP/1.1 bytes."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"instances": request_rows(1).tolist()}).encode()
    request = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    path = folder / "request.http"
    path.write_bytes(request)
    return path


def load(url: str, request: Path, args: argparse.Namespace, seconds: float, phase: Phase, server_pid: int) -> None:
    """`args.clients` connections in `args.client_processes` processes for `seconds`, all starting together."""
    processes = min(args.client_processes, args.clients)
    shares = [args.clients // processes + (i < args.clients % processes) for i in range(processes)]
    cpu_before = process_cpu_seconds(server_pid)
    start_at = time.time() + CLIENT_START_DELAY
    children = [subprocess.Popen([sys.executable, str(CLIENTS), url, str(request), str(share), repr(start_at),
                                  repr(seconds)], stdout=subprocess.PIPE) for share in shares]
    for child in children:
        output, _ = child.communicate(timeout=seconds + 120)
        if child.returncode != 0:
            raise RuntimeError(f"{CLIENTS.name} exited with code {child.returncode}")
        phase.add(json.loads(output))
    phase.server_cpu = process_cpu_seconds(server_pid) - cpu_before
    phase.seconds = seconds


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


def while_switching(url: str, request: Path, server_pid: int, root: Path, args: argparse.Namespace,
                    phase: Phase) -> list[str]:
    """The load phase with a promoter process switching versions; returns the failed reloads."""
    spawn = multiprocessing.get_context("spawn")
    ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
    switcher = spawn.Process(target=switch_versions, args=(root, ready, stop, results, args.switch_every,
                                                           args.seconds + 60))
    switcher.start()
    try:
        if not ready.wait(timeout=120):
            raise RuntimeError("the promoter process did not start within 120 s")
        load(url, request, args, args.seconds, phase, server_pid)
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
          f"{'CPU/req':>8} {'CPU/base':>8} {'p50/base':>8} {'p99/base':>8} {'clients':>8}  answered by")
    for phase in phases:
        p50, p99, worst = (float(np.percentile(phase.latencies, q)) if phase.latencies else float("nan")
                           for q in (50, 99, 100))
        answered = max(1, len(phase.latencies))
        server_cpu, client_cpu = phase.server_cpu / answered, phase.client_cpu / answered
        name = phase.name if phase.switches is None else f"{phase.name} ({phase.switches} switches)"
        print(f"{name:<34} {len(phase.latencies):>8} {len(phase.errors):>6} {len(phase.latencies) / phase.seconds:>7.0f} "
              f"{p50 * 1e3:>6.1f}ms {p99 * 1e3:>6.1f}ms {worst * 1e3:>6.1f}ms "
              f"{server_cpu * 1e3:>6.2f}ms {server_cpu / baseline:>7.1f}x {p50 / baseline:>7.1f}x {p99 / baseline:>7.1f}x "
              f"{client_cpu * 1e3:>6.2f}ms  {phase.answered_by}")
        for error in phase.errors[:5]:
            print(f"    error: {error}")
    print("CPU/req: the server process's CPU time per answered request; clients: the client processes' own")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a few seconds: {QUICK}")
    parser.add_argument("--clients", type=int, default=20, help="keep-alive connections, each a closed loop")
    parser.add_argument("--client-processes", type=int, default=2, help="processes the clients are spread over")
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
            request = write_request(url, Path(folder))
            load(url, request, args, min(1.0, args.seconds), Phase("warm-up, not reported"), server_pid)
            load(url, request, args, args.seconds, steady, server_pid)
            failed_reloads = while_switching(url, request, server_pid, root, args, switching)
    report([steady, switching], baseline)
    print(f"load average during the run (1/5/15 min, {os.cpu_count()} cores): " + " ".join(f"{v:.1f}" for v in os.getloadavg()))
    for note in failed_reloads:
        print(f"    reload failed: {note}")
    return 1 if steady.errors or switching.errors or failed_reloads else 0


if __name__ == "__main__":
    raise SystemExit(main())
