"""checkov on the rendered chart (hack/checkov.sh, as `make checkov` and `make lint` run it).

checkov scans core kinds only (not Tekton or KServe objects: tests/chart/test_chart_security.py
judges those). It runs once per session: about 6 s for the defaults and the three overlays.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from chart_helpers import OVERLAYS, PROJECT_ROOT, tool

# check -> (what it wants, resources it must have passed on). CKV2_K8S_6 judges the pods of
# Deployments and Jobs (checkov's graph builds no pod for a CronJob).
NS = "self-healing-platform"
REQUIRED = {
    "CKV2_K8S_6": ("every pod is selected by a NetworkPolicy",
                   [f"Pod.{NS}.model-troubleshooting-utilities.", f"Pod.{NS}.model-first-training."]),
    "CKV_K8S_22": ("read-only root filesystem",
                   [f"Deployment.{NS}.", f"CronJob.{NS}.", f"Job.{NS}.model-first-training"]),
    "CKV_K8S_43": ("images pinned by digest (hack/checkov.sh sets images.*.digest)",
                   [f"Deployment.{NS}.", f"CronJob.{NS}.", f"Job.{NS}.model-first-training"]),
}


@pytest.fixture(scope="session")
def checkov_run(tmp_path_factory):
    tool("checkov")
    out = tmp_path_factory.mktemp("checkov")
    result = subprocess.run(["bash", str(PROJECT_ROOT / "hack" / "checkov.sh"), str(out)],
                            capture_output=True, text=True, timeout=600)
    report = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else None
    return result, report, out


def test_checkov_finds_no_failed_check(checkov_run):
    result, report, _ = checkov_run
    assert report is not None, result.stdout + result.stderr
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]]
    assert not failed and result.returncode == 0, "\n".join(failed) or result.stdout + result.stderr


def test_checkov_scanned_defaults_and_every_overlay_with_digests(checkov_run):
    _, report, out = checkov_run
    files = {c["file_path"].lstrip("/") for c in report["results"]["passed_checks"]}
    assert files == {"defaults.yaml", *(p.name for p in OVERLAYS)}
    for manifest in (out / "manifests").glob("*.yaml"):
        for doc in yaml.safe_load_all(manifest.read_text()):
            for line in yaml.safe_dump(doc).splitlines():
                if line.strip().startswith(("image:", "- image:")):
                    assert "@sha256:" in line, f"{manifest.name}: {line.strip()}"


@pytest.mark.parametrize("check", REQUIRED)
def test_the_required_checks_ran_and_passed(check, checkov_run):
    _, report, _ = checkov_run
    wants, resources = REQUIRED[check]
    passed = {c["resource"] for c in report["results"]["passed_checks"] if c["check_id"] == check}
    for prefix in resources:
        assert any(r.startswith(prefix) for r in passed), f"{check} ({wants}) did not pass on {prefix}..."


def test_accepted_checks_are_documented():
    skipped = yaml.safe_load((PROJECT_ROOT / "hack" / "checkov.yaml").read_text())["skip-check"]
    architecture = (PROJECT_ROOT / "docs" / "ARCHITECTURE.md").read_text()
    assert not set(skipped) & set(REQUIRED)
    for check in skipped:
        assert check in architecture, f"{check} is skipped in hack/checkov.yaml but docs/ARCHITECTURE.md does not say why"
