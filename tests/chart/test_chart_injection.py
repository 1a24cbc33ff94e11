"""Hostile PipelineRun params reach the rendered step scripts as data, never as code.

Each Task step script is run locally with bash, its env built the way Tekton builds it
(the param value substituted into the env `value`), and `modelkit` / `kubectl` replaced
by stubs that record the argv and environment they were started with.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import pytest

from chart_helpers import by_kind, render

HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    '"; touch {canary}; echo "',
    "'; touch {canary}; echo '",
    "x\ntouch {canary}",
    "--upload-pack=touch {canary}",
    "-rf /",
    "a b\tc; ls > {canary}",
]

STUB = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps({"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}) + "\\n")
"""


def step_env(step, params, extra=None):
    env = {}
    for item in step["env"]:
        value = item["value"]
        value = re.sub(r"\$\(params\.([a-z-]+)\)", lambda m: params[m.group(1)], value)
        env[item["name"]] = value
    return {**env, **(extra or {})}


def run_step(step, params, tmp_path, extra_env=None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("modelkit", "kubectl"):
        stub = bin_dir / name
        stub.write_text(STUB)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    script = tmp_path / f"{step['name']}.sh"
    script.write_text(step["script"])
    log = tmp_path / "stub.log"
    log.unlink(missing_ok=True)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "STUB_LOG": str(log),
           **step_env(step, params, extra_env)}
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def tasks():
    return {t["metadata"]["name"]: t for t in by_kind(render(), "Task")}


def benign_params(tmp_path):
    return {"model-name": "anomaly-detector", "notebook-path": "notebooks/x.ipynb", "data-source": "synthetic",
            "training-hours": "24", "inference-service-name": "anomaly-detector", "git-url": "https://example.invalid/r.git",
            "git-ref": "main", "data-file": "", "run-id": "train-anomaly-detector-abcde", "namespace": "self-healing-platform",
            "tasks-status": "Succeeded"}


# Steps that only move, make or remove folders of the run (no modelkit or kubectl call).
FILE_STEPS = ("publish", "make-run-dir", "remove-run-dir")


def local_paths(step, params, tmp_path):
    """The step's fixed paths (derived from run-id, the PipelineRun's name, not user input), pointed here."""
    env = step_env(step, params)
    paths = {"SOURCE_DIR": tmp_path / "src", "BAKED_SOURCE_DIR": tmp_path / "baked", "RUN_DIR": tmp_path / "run",
             "MODELS_ROOT": tmp_path / "models"}
    for path in paths.values():
        path.mkdir(exist_ok=True)
    return {name: str(path) for name, path in paths.items() if name in env}


@pytest.mark.parametrize("hostile", HOSTILE)
def test_modelkit_steps_receive_hostile_values_as_data(hostile, tmp_path):
    canary = tmp_path / "pwned"
    value = hostile.format(canary=canary)
    checked = 0
    for name, task in tasks().items():
        if name == "model-training-fetch-source":
            continue
        for step in task["spec"]["steps"]:
            user_params = [p["name"] for p in task["spec"]["params"] if p["name"] not in ("run-id", "namespace")]
            params = benign_params(tmp_path)
            params.update({p: value for p in user_params})
            extra = local_paths(step, params, tmp_path)
            result, calls = run_step(step, params, tmp_path, extra)
            assert not canary.exists(), f"{name}/{step['name']}: {value!r} ran as code"
            if step["name"] in FILE_STEPS:
                if step["name"] == "publish":  # the model name becomes a path: refused before any is built
                    assert result.returncode == 2 and "is not a DNS-1123 label" in result.stderr, result.stderr
                assert calls == [] and not list((tmp_path / "models").iterdir()), (name, step["name"])
                continue
            assert result.returncode == 0, (name, step["name"], result.stderr)
            assert len(calls) == 1, (name, step["name"], calls)
            call = calls[0]
            expected_env = step_env(step, params, extra)
            for var, expected in expected_env.items():
                assert call["env"][var] == expected, (name, step["name"], var)
            # The stub got the command's own argv, nothing taken from a param.
            if step["name"] == "label-run":
                assert call["argv"][1:] == ["label", "--overwrite", "--", "pipelinerun", params["run-id"],
                                            f"model-name={value}"]
            else:
                assert value not in call["argv"], (name, step["name"], call["argv"])
            checked += 1
    assert checked >= 7


def train_task_step(name, model="anomaly-detector"):
    return next(s for s in tasks()[f"model-training-train-{model}"]["spec"]["steps"] if s["name"] == name)


def test_without_git_url_the_notebook_runs_in_the_baked_tree(tmp_path):
    params = benign_params(tmp_path) | {"git-url": ""}
    step = train_task_step("run")
    extra = local_paths(step, params, tmp_path)
    result, [call] = run_step(step, params, tmp_path, extra)
    assert result.returncode == 0, result.stderr
    assert call["cwd"] == extra["BAKED_SOURCE_DIR"] and call["argv"][1:] == ["run-notebook"]
    assert call["env"]["GIT_REF"] == "image quay.io/self-healing-platform/model-workbench:0.1.0"
    params["git-url"] = "https://example.invalid/fork.git"
    result, [call] = run_step(step, params, tmp_path, extra)
    assert call["cwd"] == extra["SOURCE_DIR"] and call["env"]["GIT_REF"] == "main"


def staged_version(run_dir, model="anomaly-detector", run_id="train-anomaly-detector-abcde"):
    staged = run_dir / "models" / model / "versions" / run_id
    staged.mkdir(parents=True)
    (staged / "model.pkl").write_bytes(b"model")
    (staged / "metadata.json").write_text("{}")
    return staged


def publish(tmp_path):
    step = train_task_step("publish")
    params = benign_params(tmp_path)
    return run_step(step, params, tmp_path, local_paths(step, params, tmp_path))[0]


def test_publish_moves_the_notebooks_version_into_the_models_root(tmp_path):
    staged_version(tmp_path / "run")
    result = publish(tmp_path)
    assert result.returncode == 0, result.stderr
    version = tmp_path / "models" / "anomaly-detector" / "versions" / "train-anomaly-detector-abcde"
    assert (version / "model.pkl").read_bytes() == b"model"
    assert not (tmp_path / "run" / "models" / "anomaly-detector" / "versions" / "train-anomaly-detector-abcde").exists()


def test_publish_refuses_links_the_notebook_left_in_its_folder(tmp_path):
    served = tmp_path / "models" / "anomaly-detector" / "model.pkl"
    served.parent.mkdir(parents=True)
    served.write_bytes(b"served")
    staged = staged_version(tmp_path / "run")
    (staged / "model.pkl").unlink()
    (staged / "model.pkl").symlink_to(served)  # would make the gate and promote work on the served file
    result = publish(tmp_path)
    assert result.returncode == 1 and "is neither a file nor a directory" in result.stderr
    assert not (tmp_path / "models" / "anomaly-detector" / "versions").exists()


def test_publish_refuses_a_run_whose_notebook_wrote_no_version(tmp_path):
    result = publish(tmp_path)
    assert result.returncode == 1 and "the notebook published no modelkit version" in result.stderr


def test_publish_never_replaces_an_existing_version(tmp_path):
    staged_version(tmp_path / "run")
    target = tmp_path / "models" / "anomaly-detector" / "versions" / "train-anomaly-detector-abcde"
    target.mkdir(parents=True)
    (target / "model.pkl").write_bytes(b"judged")
    result = publish(tmp_path)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert (target / "model.pkl").read_bytes() == b"judged"


def test_report_removes_the_run_folder(tmp_path):
    step = next(s for s in tasks()["model-training-report"]["spec"]["steps"] if s["name"] == "remove-run-dir")
    staged_version(tmp_path / "run")
    (tmp_path / "run" / "source").mkdir()
    result, _ = run_step(step, benign_params(tmp_path), tmp_path, local_paths(step, benign_params(tmp_path), tmp_path))
    assert result.returncode == 0 and not (tmp_path / "run").exists()


def make_repo(tmp_path):
    repo = tmp_path / "origin"
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("hello\n")
    subprocess.run([*git, "-C", str(repo), "add", "README"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-q", "-m", "init"], check=True)
    subprocess.run([*git, "-C", str(repo), "tag", "v1"], check=True)
    return repo


def fetch_step():
    return next(s for s in tasks()["model-training-fetch-source"]["spec"]["steps"] if s["name"] == "run")


def test_fetch_source_clones_git_url_at_git_ref(tmp_path):
    repo = make_repo(tmp_path)
    params = benign_params(tmp_path) | {"git-url": f"file://{repo}", "git-ref": "v1"}
    src = tmp_path / "runs" / "src"
    result, _ = run_step(fetch_step(), params, tmp_path, {"SOURCE_DIR": str(src), "GIT_ALLOW_PROTOCOL": "file"})
    assert result.returncode == 0, result.stderr
    assert (src / "README").read_text() == "hello\n"


@pytest.mark.parametrize("field", ["git-url", "git-ref"])
@pytest.mark.parametrize("hostile", HOSTILE + ["ext::sh -c touch% {canary}", "--output={canary}"])
def test_fetch_source_treats_hostile_git_params_as_data(field, hostile, tmp_path):
    repo = make_repo(tmp_path)
    canary = tmp_path / "pwned"
    params = benign_params(tmp_path) | {"git-url": f"file://{repo}", "git-ref": "main"}
    params[field] = hostile.format(canary=canary)
    src = tmp_path / "runs" / "src"
    step = fetch_step()
    # The rendered protocol allowlist (https:ssh) plus file, for the local test repository.
    allowed = step_env(step, params)["GIT_ALLOW_PROTOCOL"] + ":file"
    result, _ = run_step(step, params, tmp_path, {"SOURCE_DIR": str(src), "GIT_ALLOW_PROTOCOL": allowed})
    assert not canary.exists(), f"{field}={params[field]!r} ran as code"
    assert result.returncode != 0, f"{field}={params[field]!r} was accepted"
    assert not (tmp_path / "runs").exists() or src.is_dir()  # nothing written outside SOURCE_DIR


def test_fetch_source_refuses_protocols_outside_the_allowlist(tmp_path):
    repo = make_repo(tmp_path)
    params = benign_params(tmp_path) | {"git-url": f"file://{repo}"}
    result, _ = run_step(fetch_step(), params, tmp_path, {"SOURCE_DIR": str(tmp_path / "src")})
    assert result.returncode != 0 and "transport 'file' not allowed" in result.stderr
