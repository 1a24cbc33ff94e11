"""`modelkit train`: the Tekton Pipeline's steps, run on a laptop.

Walks the same step list the generator renders (`modelkit.pipeline_steps.STEPS`)
in the same order, runs each step's command with
exactly the environment its Task gets (its PipelineRun params, RUN_ID, NAMESPACE and
the Task's extras), skips cluster-only steps (the working tree is the source), retries
as Tekton would, stops at the first failure and always runs the `finally` step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts
from ..pipeline_steps import FINALLY_STEP, PARAM_ENV, STEPS
from ..settings import DEFAULT_NAMESPACE, models_root_from_env
from .pipelinerun import run_params

# Every variable a Task may receive; a step gets only its own, as in the cluster.
TASK_VARIABLES = (*PARAM_ENV.values(), "RUN_ID", "NAMESPACE", "PIPELINE_TASKS_STATUS")


@dataclass(frozen=True)
class StepRun:
    name: str
    command: tuple[str, ...]
    env: dict[str, str]  # the Task variables this step got
    returncode: int


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def pipeline_params(model: str, data_source: str | None, training_hours: int | None,
                    data_file: str | None = None) -> dict[str, str]:
    """The PipelineRun params a local run stands for (empty: the registry entry's default)."""
    params = run_params(model, data_source=data_source, training_hours=training_hours, data_file=data_file,
                        git_url=_git("config", "--get", "remote.origin.url"),
                        git_ref=_git("describe", "--always", "--dirty") or "working-tree")
    return {name: value or "" for name, value in params.items()}


def _program(command: tuple[str, ...]) -> list[str]:
    if command[0] == "modelkit":
        return [sys.executable, "-m", "modelkit.cli", *command[1:]]
    return list(command)


def run_steps(params: dict[str, str], run_id: str, models_root: Path, namespace: str = DEFAULT_NAMESPACE) -> list[StepRun]:
    base_env = {k: v for k, v in os.environ.items() if k not in TASK_VARIABLES}
    base_env["MODELS_ROOT"] = str(models_root)
    values = {f"$(params.{name})": value for name, value in params.items()}
    values.update({"$(context.pipelineRun.name)": run_id, "$(context.pipelineRun.namespace)": namespace})
    runs: list[StepRun] = []
    tasks = [*STEPS, FINALLY_STEP]
    for number, task in enumerate(tasks, 1):
        failed = any(r.returncode != 0 for r in runs)
        if task.cluster_only or (failed and task is not tasks[-1]):
            continue
        values["$(tasks.status)"] = "Failed" if failed else "Succeeded"
        env = {p.env: values[p.value] for p in task.task_params}
        print(f"==> [{number}/{len(tasks)}] {task.name}: {task.script_command}", flush=True)
        for _attempt in range(task.retries + 1):
            returncode = subprocess.run(_program(task.command), env={**base_env, **env}).returncode
            if returncode == 0:
                break
        runs.append(StepRun(task.name, task.command, env, returncode))
    return runs


def run_local_pipeline(model: str, *, data_source: str | None = None, training_hours: int | None = None,
                       models_root: str | None = None, run_id: str | None = None, data_file: str | None = None) -> int:
    """Run the pipeline for `model`; the exit code of the first failed step, else 0."""
    root = Path(models_root or models_root_from_env()).resolve()
    run_id = run_id or f"local-{artifacts.new_run_id()}"
    runs = run_steps(pipeline_params(model, data_source, training_hours, data_file), run_id, root)
    failed = [r for r in runs if r.returncode != 0]
    if failed:
        print(f"{model} run {run_id}: step {failed[0].name} failed (exit {failed[0].returncode})", file=sys.stderr)
        return failed[0].returncode
    print(f"{model} run {run_id}: all steps succeeded; versions under {artifacts.versions_dir(root, model)}")
    return 0
