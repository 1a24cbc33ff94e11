"""The Tekton view of `modelkit.pipeline_steps`: what each Task needs beyond the step list.

`pipeline_steps.STEPS` says which steps run, in which order, with which command, params
and retries. This module adds only what is Tekton-specific: the Task name, the time
limit of each pipeline task, whether the step works in the fetched source tree, and the
extra environment every step gets. The generator renders the Pipeline and its Tasks
from `tekton_steps()`; tests/generator compares the rendered Pipeline with STEPS.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelkit.pipeline_steps import FINALLY_STEP, PARAM_ENV, STEPS, PipelineStep

PIPELINE_NAME = "model-training-pipeline"
TASK_PREFIX = "model-training-"
MODELS_ROOT = "/mnt/models"
REGISTRY_DIR = "/etc/modelkit"
REGISTRY_FILE = f"{REGISTRY_DIR}/registry.json"
# Each run clones into its own folder on the model PVC; the folder name starts with a dot,
# which no model name (a DNS-1123 label) can, so it never collides with a model directory.
SOURCE_DIR = f"{MODELS_ROOT}/.runs/$(params.run-id)/source"

# Time limit of each pipeline task (per attempt). `train` has none of its own: it gets
# what is left of the PipelineRun's timeout (30m / 45m in the guide, the registry's
# `timeout` for scheduled runs). Worst case of the others, retries included:
# 3x2m + 1m + 5m + 5m + 3x2m = 23m, plus 2m for `report` in `finally`.
STEP_TIMEOUTS = {
    "fetch-source": "2m",
    "check-params": "1m",
    "train": None,
    "validate": "5m",
    "promote": "5m",
    "smoke-test": "2m",
    "report": "2m",
}

PARAM_DESCRIPTIONS = {
    "model-name": "model to train: a name from the models registry",
    "notebook-path": "training notebook, relative to the repository root",
    "data-source": "synthetic | prometheus | hybrid (empty: the registry entry's dataSource)",
    "training-hours": "hours of history to train on, a whole number > 0 (empty: the registry entry's trainingHours)",
    "inference-service-name": "InferenceService that serves the model",
    "git-url": "repository holding the notebooks",
    "git-ref": "branch, tag or commit of git-url to train from",
}

# Params a PipelineRun may leave out, and where their default comes from.
# `chart:` defaults are filled in from .Values at render time.
PARAM_DEFAULTS = {
    "data-source": "",
    "training-hours": "",
    "git-url": "chart:global.git.repoURL",
    "git-ref": "chart:global.git.revision",
}


# Params a Task takes beyond its PipelineRun params, as (param, env var, value the Pipeline
# passes, description). Every Task also takes run-id and namespace (RUN_ID, NAMESPACE).
EXTRA_PARAMS = {
    "train": (("git-url", "GIT_URL", "$(params.git-url)",
               "repository holding the notebooks (the notebookValidationJob runner clones it)"),),
    "report": (("tasks-status", "PIPELINE_TASKS_STATUS", "$(tasks.status)",
                "aggregate status of the pipeline's tasks: Succeeded, Failed, Completed or None"),),
}
CONTEXT_PARAMS = (
    ("run-id", "RUN_ID", "$(context.pipelineRun.name)", "name of the PipelineRun; names the model version directory"),
    ("namespace", "NAMESPACE", "$(context.pipelineRun.namespace)", "namespace of the PipelineRun"),
)


@dataclass(frozen=True)
class TaskParam:
    name: str
    env: str
    value: str  # what the Pipeline passes
    description: str


@dataclass(frozen=True)
class TektonStep:
    step: PipelineStep
    timeout: str | None
    in_source_tree: bool  # runs with the fetched repository as working directory

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def task_name(self) -> str:
        return TASK_PREFIX + self.step.name

    @property
    def params(self) -> list[TaskParam]:
        """Every param of the Task, in order: the step's PipelineRun params, its extras, run-id, namespace.

        Each one reaches the step script only as the environment variable `env`."""
        own = [TaskParam(p, PARAM_ENV[p], f"$(params.{p})", PARAM_DESCRIPTIONS[p]) for p in self.step.params]
        extra = [TaskParam(*e) for e in (*EXTRA_PARAMS.get(self.name, ()), *CONTEXT_PARAMS)]
        return own + extra

    @property
    def script_command(self) -> str:
        return " ".join(self.step.command)


def _tekton(step: PipelineStep) -> TektonStep:
    return TektonStep(step, STEP_TIMEOUTS[step.name], step.name in ("check-params", "train"))


def tekton_steps() -> list[TektonStep]:
    missing = {s.name for s in (*STEPS, FINALLY_STEP)} - set(STEP_TIMEOUTS)
    if missing:
        raise KeyError(f"generator/pipeline.py STEP_TIMEOUTS has no entry for step(s) {sorted(missing)}")
    return [_tekton(step) for step in STEPS]


def finally_step() -> TektonStep:
    return _tekton(FINALLY_STEP)


def pipeline_params() -> list[dict[str, str | None]]:
    return [
        {"name": name, "env": env, "description": PARAM_DESCRIPTIONS[name], "default": PARAM_DEFAULTS.get(name)}
        for name, env in PARAM_ENV.items()
    ]
