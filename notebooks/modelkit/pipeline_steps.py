"""The one definition of the training pipeline: its steps, their params, limits and paths.

The generator renders the Tekton Pipeline/Tasks from this module, `modelkit train` runs
the same commands, in the same order, with the same environment, on a laptop, and
`lifecycle/pipelinerun.py` builds PipelineRuns against it. Tests compare the rendered
Pipeline with this list so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

PIPELINE_NAME = "model-training-pipeline"
TASK_PREFIX = "model-training-"
MODELS_ROOT = "/mnt/models"
REGISTRY_DIR = "/etc/modelkit"
REGISTRY_FILE = f"{REGISTRY_DIR}/registry.json"
# Each run works in its own folder on the model PVC; the name starts with a dot, which no
# model name (a DNS-1123 label) can, so it never collides with a model directory. It
# holds the fetched source and the version the notebook wrote; `report` deletes it.
RUN_DIR_IN_PVC = ".runs/$(params.run-id)"
RUN_DIR = f"{MODELS_ROOT}/{RUN_DIR_IN_PVC}"
SOURCE_DIR = f"{RUN_DIR}/source"
# The notebook (third-party code) sees the PVC only as its run folder, mounted here:
# its models root is a scratch one, and the train Task's `publish` step moves the version
# it wrote into the real models root. Served files, other versions and state stay out of reach.
NOTEBOOK_RUN_DIR = "/workspace/run"
NOTEBOOK_MODELS_ROOT = f"{NOTEBOOK_RUN_DIR}/models"
# Where notebooks/Containerfile copies the project: runs with an empty git-url train the
# notebooks baked into the workbench image instead of cloning a repository.
BAKED_SOURCE_DIR = "/opt/app-root/src"

# PipelineRun params, in the order the guide lists them, and the env var each becomes.
# Params reach step scripts only through these variables, never pasted into a script.
PARAM_ENV = {
    "model-name": "MODEL_NAME",
    "notebook-path": "NOTEBOOK_PATH",
    "data-source": "DATA_SOURCE",
    "training-hours": "TRAINING_HOURS",
    "inference-service-name": "INFERENCE_SERVICE_NAME",
    "git-url": "GIT_URL",
    "git-ref": "GIT_REF",
    "data-file": "DATA_FILE",
}

PARAM_DESCRIPTIONS = {
    "model-name": "model to train: a name from the models registry",
    "notebook-path": "training notebook, relative to the repository root",
    "data-source": "synthetic | prometheus | hybrid | file (empty: the registry entry's dataSource)",
    "training-hours": "hours of history to train on, a whole number > 0 (empty: the registry entry's trainingHours)",
    "inference-service-name": "InferenceService that serves the model",
    "git-url": "repository holding the notebooks (empty: the notebooks baked into the workbench image, no clone)",
    "git-ref": "branch, tag or full commit id of git-url to train from",
    "data-file": "for data-source file: CSV or Parquet of the model's metrics, a path relative to the repository root "
                 "(committed to git-url, or baked into the workbench image); empty: none",
}

# Params a PipelineRun may leave out, and where their default comes from.
# `chart:` defaults are filled in from .Values at render time.
PARAM_DEFAULTS = {
    "data-source": "",
    "training-hours": "",
    "git-url": "chart:global.git.repoURL",
    "git-ref": "chart:global.git.revision",
    "data-file": "",
}


@dataclass(frozen=True)
class TaskParam:
    name: str
    env: str
    value: str  # what the Pipeline passes
    description: str


# Params a Task takes beyond its PipelineRun params. Every Task also takes run-id and namespace.
CONTEXT_PARAMS = (
    TaskParam("run-id", "RUN_ID", "$(context.pipelineRun.name)", "name of the PipelineRun; names the model version directory"),
    TaskParam("namespace", "NAMESPACE", "$(context.pipelineRun.namespace)", "namespace of the PipelineRun"),
)
TASKS_STATUS = TaskParam("tasks-status", "PIPELINE_TASKS_STATUS", "$(tasks.status)",
                         "aggregate status of the pipeline's tasks: Succeeded, Failed, Completed or None")


@dataclass(frozen=True)
class PipelineStep:
    name: str  # Tekton task name in the Pipeline
    command: tuple[str, ...]  # argv, run in the workbench image (cluster) or the venv (local)
    params: tuple[str, ...]  # PipelineRun params this step receives, as env (PARAM_ENV)
    timeout: str | None  # per attempt; None: what is left of the run's `timeouts.tasks`
    cluster_only: bool = False  # True: has no meaning on a laptop (for example git clone)
    retries: int = 0  # Tekton retries; only where a retry can help
    in_source_tree: bool = False  # runs in the fetched (or baked) source tree
    needs_git_url: bool = False  # skipped (Tekton `when`) when git-url is empty
    per_model: bool = False  # one Task per registry model, with that model's resources
    extra_params: tuple[TaskParam, ...] = ()

    @property
    def task_name(self) -> str:
        return TASK_PREFIX + self.name

    @property
    def task_params(self) -> list[TaskParam]:
        """Every param of the Task, in order: the step's PipelineRun params, its extras, run-id, namespace.

        Each one reaches the step script only as the environment variable `env`."""
        own = [TaskParam(p, PARAM_ENV[p], f"$(params.{p})", PARAM_DESCRIPTIONS[p]) for p in self.params]
        return [*own, *self.extra_params, *CONTEXT_PARAMS]

    @property
    def script_command(self) -> str:
        return " ".join(self.command)


# Time limits per attempt include pulling the image on a fresh node (the workbench image
# is large). Worst case of all but train, retries included, is well over any run's
# timeout: `timeouts.tasks` caps the sum, and train gets what is left of it.
STEPS: tuple[PipelineStep, ...] = (
    # The guide lists runs with `-l model-name=<model>`: label a run first, whatever created it.
    PipelineStep("label-run", ("kubectl", "label"), ("model-name",), "5m", cluster_only=True),
    PipelineStep("fetch-source", ("git-clone",), ("git-url", "git-ref"), "5m", cluster_only=True, retries=2,
                 needs_git_url=True),
    PipelineStep("check-params", ("modelkit", "check-params"),
                 ("model-name", "notebook-path", "data-source", "training-hours", "inference-service-name", "git-url",
                  "data-file"),
                 "5m", in_source_tree=True),
    PipelineStep("train", ("modelkit", "run-notebook"),
                 ("model-name", "notebook-path", "data-source", "training-hours", "git-url", "git-ref", "data-file"),
                 None, in_source_tree=True, per_model=True),
    PipelineStep("validate", ("modelkit", "validate"), ("model-name",), "10m"),
    PipelineStep("promote", ("modelkit", "promote"), ("model-name", "inference-service-name"), "10m"),
    PipelineStep("smoke-test", ("modelkit", "smoke-test"), ("model-name", "inference-service-name"), "5m", retries=2),
)

# Runs whatever happened before it (Tekton `finally`): records the outcome of the run
# beside the version, removes half-written staging directories and the run's folder.
# An automatic rollback waits for the predictor to roll back, within the report Task's 5 minutes
# (promote's own wait is MODELKIT_ROLLOUT_TIMEOUT, default 480 s, within its 10).
REPORT_ROLLOUT_SECONDS = 240
FINALLY_STEP = PipelineStep("report", ("modelkit", "report-run", "--rollout-timeout", str(REPORT_ROLLOUT_SECONDS)),
                            ("model-name",), "5m", extra_params=(TASKS_STATUS,))
# `timeouts.finally` of every PipelineRun the project creates: the report step's limit
# plus time to schedule its pod. Without it a run that hits `timeouts.pipeline` cancels
# `finally` too, and report (cleanup, rollback) never runs.
FINALLY_TIMEOUT = "10m"
DEFAULT_RUN_TIMEOUT = "1h"  # Tekton's default-timeout-minutes


def pipeline_params() -> list[dict[str, str | None]]:
    return [
        {"name": name, "env": env, "description": PARAM_DESCRIPTIONS[name], "default": PARAM_DEFAULTS.get(name)}
        for name, env in PARAM_ENV.items()
    ]


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration_seconds(text: str) -> int:
    """Seconds of a registry `timeout` ("30m", "1h30m", "90s"; the registry schema's form)."""
    match = _DURATION.match(text or "")
    if not text or not match:
        raise ConfigError(f"timeout {text!r} is not a duration such as 30m, 1h or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def run_timeouts(timeout: str | None) -> dict[str, str]:
    """`spec.timeouts` of a PipelineRun whose whole run may take `timeout` (default 1h).

    tasks + finally == pipeline, so report still runs when the tasks time out (Tekton
    validates tasks + finally <= pipeline). The chart's run specs split in Helm
    (`hub.training.timeouts`), since an override may change the timeout at render time;
    tests/chart/test_chart_manual_runs.py checks they are what the builder makes."""
    total = duration_seconds(timeout or DEFAULT_RUN_TIMEOUT)
    final = duration_seconds(FINALLY_TIMEOUT)
    if total <= final:
        raise ConfigError(f"timeout {timeout!r} leaves no time for training: it must be longer than "
                          f"the {FINALLY_TIMEOUT} kept for the report step")
    return {"pipeline": format_duration(total), "tasks": format_duration(total - final), "finally": FINALLY_TIMEOUT}
