"""The workbench image's build script picks a container tool, and the lock pins what the image installs.
No base image can be pulled here, so the build itself is not run: DRY_RUN prints its command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from .conftest import PROJECT

SCRIPT = PROJECT / "notebooks/build-image.sh"
UTILITIES = ("tar", "mktemp", "rm", "sed", "dirname")


def build(tmp_path: Path, tools: tuple[str, ...], **env: str) -> subprocess.CompletedProcess:
    """Run the script with a PATH holding only basic utilities and fake `tools`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name in UTILITIES:
        (bin_dir / name).symlink_to(shutil.which(name))
    for name in tools:
        (bin_dir / name).symlink_to("/bin/true")
    return subprocess.run(["/bin/bash", str(SCRIPT)], env={"PATH": str(bin_dir), "PY": sys.executable, "DRY_RUN": "1", **env},
                          capture_output=True, text=True, timeout=60)


def workbench_image() -> str:
    image = yaml.safe_load((PROJECT / "charts/hub/values.yaml").read_text())["images"]["workbench"]
    return f"{image['repository']}:{image['tag']}"


@pytest.mark.parametrize(("tools", "expected"), [
    (("podman", "buildah", "docker"), "podman build"),
    (("buildah", "docker"), "buildah build"),
    (("docker",), "docker build"),
])
def test_first_tool_found_builds_the_chart_workbench_image(tmp_path, tools, expected):
    result = build(tmp_path, tools)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(expected) and f"-t {workbench_image()}" in result.stdout
    assert "/notebooks/Containerfile" in result.stdout
    assert ("--isolation chroot" in result.stdout) is (expected != "docker build")


def test_no_tool_is_a_clear_error(tmp_path):
    result = build(tmp_path, ())
    assert result.returncode == 127
    assert "none of podman buildah docker is installed" in result.stderr


def test_explicit_tool_image_and_base_are_honoured(tmp_path):
    result = build(tmp_path, ("podman", "docker"), CONTAINER_TOOL="docker", IMAGE="example.com/wb:1", BASE_IMAGE="mirror/python:1")
    assert result.stdout.startswith("docker build") and "-t example.com/wb:1" in result.stdout
    assert "--build-arg BASE_IMAGE=mirror/python:1" in result.stdout
    missing = build(tmp_path / "other", ("podman",), CONTAINER_TOOL="docker")
    assert missing.returncode == 127 and "CONTAINER_TOOL=docker is not installed" in missing.stderr


def _lock() -> dict[str, str]:
    lines = (PROJECT / "notebooks/requirements.lock").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins.items()}


def test_lock_pins_every_runtime_dependency_at_the_tested_version():
    pins = _lock()
    dependencies = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()
        assert name in pins, f"{name} (pyproject dependencies) is not in notebooks/requirements.lock; run notebooks/update-lock.sh"
        assert pins[name] == metadata.version(name), f"{name}: lock has {pins[name]}, tested venv {metadata.version(name)}; run notebooks/update-lock.sh"
    assert pins["scikit-learn"] == "1.5.2"
    assert {"nbconvert", "nbclient", "ipykernel"} <= set(pins)


def test_containerfile_is_pinned_non_root_and_group_0_writable():
    text = (PROJECT / "notebooks/Containerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert ":" in base.rsplit("/", 1)[-1] and not base.endswith(":latest")
    assert "--no-deps -r /tmp/requirements.lock" in text and "git --version" in text
    assert "chmod -R g=u /opt/app-root" in text
    assert text.rstrip().splitlines()[-2] == "USER 1001"
