"""The one definition of the training pipeline's steps.

The generator renders the Tekton Pipeline/Tasks from this list, and `modelkit train`
runs the same commands, in the same order, with the same environment, on a laptop.
A test compares the rendered Pipeline with this list so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

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
}


@dataclass(frozen=True)
class PipelineStep:
    name: str  # Tekton task name in the Pipeline
    command: tuple[str, ...]  # argv, run in the workbench image (cluster) or the venv (local)
    params: tuple[str, ...]  # PipelineRun params this step receives, as env (PARAM_ENV)
    cluster_only: bool = False  # True: has no meaning on a laptop (for example git clone)
    retries: int = 0  # Tekton retries; only where a retry can help


STEPS: tuple[PipelineStep, ...] = (
    PipelineStep("fetch-source", ("git-clone",), ("git-url", "git-ref"), cluster_only=True, retries=2),
    PipelineStep("check-params", ("modelkit", "check-params"),
                 ("model-name", "notebook-path", "data-source", "training-hours", "inference-service-name")),
    PipelineStep("train", ("modelkit", "run-notebook"),
                 ("model-name", "notebook-path", "data-source", "training-hours", "git-ref")),
    PipelineStep("validate", ("modelkit", "validate"), ("model-name",)),
    PipelineStep("promote", ("modelkit", "promote"), ("model-name", "inference-service-name")),
    PipelineStep("smoke-test", ("modelkit", "smoke-test"), ("model-name", "inference-service-name"), retries=2),
)

# Runs whatever happened before it (Tekton `finally`): records the outcome of the run
# beside the version and removes half-written staging directories.
FINALLY_STEP = PipelineStep("report", ("modelkit", "report-run"), ("model-name",))


def step_names() -> list[str]:
    return [step.name for step in STEPS]
