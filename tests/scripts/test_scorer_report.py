"""check-training-status.sh and validate-models.sh add the live scorer's view (served age, online
quality) when `modelkit watch` runs, here a real one on 127.0.0.1 (synthetic window: no Prometheus)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fixtures.readiness import wait_ready
from lifecycle.factory import DETECTOR, FORECASTER, promoted_setup
from modelkit.serving.local_server import free_port

from .test_operator_scripts import script


@pytest.fixture(scope="module")
def running_scorer(tmp_path_factory):
    root, registry = promoted_setup(tmp_path_factory.mktemp("scorer-setup"))
    env = {"MODELKIT_REGISTRY": str(registry), "MODELS_ROOT": str(root)}
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "modelkit.cli", "watch", "--synthetic", "--interval", "1", "--port", str(port)],
                             env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(child, f"http://127.0.0.1:{port}/readyz", "modelkit watch")
    yield root, env, port
    child.terminate()
    child.wait(timeout=15)


def test_check_training_status_adds_served_age_and_last_scoring(running_scorer):
    root, env, port = running_scorer
    done = script("check-training-status.sh", "--local", "--models-root", str(root), "--scorer-port", str(port), env=env)
    assert done.returncode == 0, done.stderr
    assert f"live scorer (http://127.0.0.1:{port}/metrics):" in done.stdout
    for model in (DETECTOR, FORECASTER):
        line = next(l for l in done.stdout.splitlines() if l.startswith(f"  {model}: serving v1"))
        assert "trained " in line and "last scored" in line


def test_validate_models_reports_the_scorer_without_changing_its_verdict(running_scorer, tmp_path):
    root, env, port = running_scorer
    done = script("validate-models.sh", "--local", "--models-root", str(root), "--model", DETECTOR, "--scorer-port", str(port), env=env)
    assert done.returncode == 0, done.stderr
    assert f"  {DETECTOR}: serving v1" in done.stdout and FORECASTER not in done.stdout
    down = script("validate-models.sh", "--local", "--models-root", str(root), "--scorer-port", str(free_port()), env=env)
    assert down.returncode == 0, down.stderr
    assert "not reachable" in down.stdout and "all 2 models validated" in down.stdout


def test_scorer_options_are_checked(running_scorer):
    _, env, _ = running_scorer
    done = script("validate-models.sh", "--local", "--scorer-port", "9100; touch x", env=env)
    assert done.returncode == 1 and "is not a port number" in done.stderr
    done = script("check-training-status.sh", "--scorer-service", "$(id):1", env=env)
    assert done.returncode == 1 and "is not NAME:PORT" in done.stderr


def test_a_running_scorer_stops_promptly_on_sigterm(running_scorer):
    """Kubernetes sends SIGTERM and kills after the grace period (30 s by default): the 60 s wait must not hold it."""
    _, env, _ = running_scorer
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "modelkit.cli", "watch", "--synthetic", "--interval", "60", "--port", str(port)],
                             env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(child, f"http://127.0.0.1:{port}/readyz", "modelkit watch")
        child.terminate()
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()


def test_the_cluster_path_reads_the_scorer_service_through_the_api_servers_proxy(running_scorer, tmp_path):
    """`kubectl get --raw /api/v1/namespaces/NS/services/NAME:PORT/proxy/metrics` (the API server's service
    proxy, kubernetes api-reference "Proxy Operations"); the stand-in `oc` answers it from the real scorer."""
    _, env, port = running_scorer
    calls = tmp_path / "calls.log"
    oc = tmp_path / "oc"
    oc.write_text(f"""#!{sys.executable}
import sys, urllib.request
open({str(calls)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[3:5] == ["get", "--raw"] and sys.argv[5] == "/api/v1/namespaces/team-a/services/my-scorer:9100/proxy/metrics":
    sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:{port}/metrics").read().decode())
    sys.exit(0)
if sys.argv[3:4] == ["get"] and "pipelineruns" in sys.argv:
    print('{{"items": []}}'); sys.exit(0)
sys.exit(1)
""")
    oc.chmod(0o755)
    done = script("check-training-status.sh", "-n", "team-a", "--scorer-service", "my-scorer:9100",
                  env={**env, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert "live scorer (service my-scorer:9100):" in done.stdout, done.stdout + done.stderr
    assert f"  {DETECTOR}: serving v1" in done.stdout
    assert "-n team-a get --raw /api/v1/namespaces/team-a/services/my-scorer:9100/proxy/metrics" in calls.read_text()
