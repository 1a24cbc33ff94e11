"""The project's PipelineRuns, from one builder: the chart's run spec of each model and the ones
a person (scripts/trigger-model-training.sh) creates to train a model.

`build_pipelinerun` lays out every run (params, the timeouts split, taskRunTemplate); the
generator renders its output into the chart's ConfigMap `<model>-training-run` with Helm
expressions for what Helm knows at render time (generator/run_spec.py), and
`pipelinerun_manifest` fills it from the registry for a run made by hand. A hand-made run is
built as data and printed as JSON for `kubectl create -f -`, so no value is ever pasted into
YAML or a shell script. `generateName` (hence `create`, not `apply`) and the `model-name` label
the guide's commands select on. Params left out (data source, data file, hours, git) take the
Pipeline's defaults: the registry entry's and the chart's (no git-url: the notebooks baked into the
workbench image). `timeouts` split the run's `timeout` so that `finally` keeps its share.
Given the chart's run spec for the model (`--run-spec FILE`), the run takes its
`taskRunTemplate`: the service account, the pod security context and, with ReadWriteOnce
storage, the affinity that puts every task pod on the volume's node.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError
from ..pipeline_steps import PIPELINE_NAME, run_timeouts
from ..registry import get_model
from ..settings import DATA_SOURCES


def run_params(model: str, *, training_hours: int | None = None, data_source: str | None = None,
               git_url: str | None = None, git_ref: str | None = None, data_file: str | None = None) -> dict[str, str | None]:
    """The checked PipelineRun params for training `model`, in PARAM_ENV order; None: the Pipeline's default.

    Both a cluster run (`pipelinerun_manifest`) and a local one (`modelkit train`) start here."""
    spec = get_model(model)
    if data_source is not None and data_source not in DATA_SOURCES:
        raise ConfigError(f"data source {data_source!r} is not one of {', '.join(DATA_SOURCES)}")
    if training_hours is not None and training_hours <= 0:
        raise ConfigError(f"training hours {training_hours} must be a whole number greater than 0")
    return {"model-name": model, "notebook-path": spec.notebook, "data-source": data_source,
            "training-hours": None if training_hours is None else str(training_hours),
            "inference-service-name": model, "git-url": git_url, "git-ref": git_ref, "data-file": data_file}


def chart_task_run_template(run_spec_text: str, source: str) -> dict[str, Any]:
    """`spec.taskRunTemplate` of the chart's PipelineRun spec for a model (its ConfigMap's data)."""
    try:
        run = yaml.safe_load(run_spec_text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not YAML ({exc})") from None
    template = run.get("spec", {}).get("taskRunTemplate") if isinstance(run, dict) else None
    if not isinstance(template, dict):
        raise ConfigError(f"{source}: no spec.taskRunTemplate in the model's run spec")
    return template


def task_run_template(service_account: Any, security_context: Any, pod_fields: Mapping[Any, Any] | None = None) -> dict[Any, Any]:
    """`spec.taskRunTemplate`: Tekton applies its pod template to every task pod of the run
    (tektoncd/pipeline docs/pipelineruns.md, "Specifying a Pod template"); `pod_fields` such as the affinity."""
    return {"serviceAccountName": service_account, "podTemplate": {"securityContext": security_context, **(pod_fields or {})}}


def build_pipelinerun(model: str, namespace: Any, params: Mapping[str, Any], timeouts: Any,
                      task_run_template: Mapping[Any, Any] | None = None, labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one PipelineRun of `model` (params None: the Pipeline's default); values may be Helm expressions."""
    spec: dict[str, Any] = {
        "pipelineRef": {"name": PIPELINE_NAME},
        "params": [{"name": k, "value": v} for k, v in params.items() if v is not None],
        "timeouts": timeouts,  # tasks + finally = pipeline: a run that times out still reports and cleans up
    }
    if task_run_template is not None:
        spec["taskRunTemplate"] = task_run_template
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": f"train-{model}-", "namespace": namespace,
                     "labels": {"model-name": model, "app.kubernetes.io/part-of": "self-healing-platform", **(labels or {})}},
        "spec": spec,
    }


def pipelinerun_manifest(model: str, namespace: str, *, training_hours: int | None = None,
                         data_source: str | None = None, git_url: str | None = None, git_ref: str | None = None,
                         data_file: str | None = None, task_run_template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run a person creates: params checked against the registry, the registry's timeout split here."""
    params = run_params(model, training_hours=training_hours, data_source=data_source, git_url=git_url, git_ref=git_ref,
                        data_file=data_file)
    return build_pipelinerun(model, namespace, params, run_timeouts(get_model(model).timeout), task_run_template)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the PipelineRun that trains a model, as JSON for `kubectl create -f -`.")
    parser.add_argument("--model", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--training-hours", type=int)
    parser.add_argument("--data-source")
    parser.add_argument("--git-url")
    parser.add_argument("--git-ref")
    parser.add_argument("--data-file", help="for --data-source file: the file, relative to the repository root")
    parser.add_argument("--run-spec", type=Path, help="the chart's run spec of the model (ConfigMap <model>-training-run)")
    args = parser.parse_args()
    try:
        template = chart_task_run_template(args.run_spec.read_text(), str(args.run_spec)) if args.run_spec else None
        manifest = pipelinerun_manifest(args.model, args.namespace, training_hours=args.training_hours,
                                        data_source=args.data_source, git_url=args.git_url, git_ref=args.git_ref,
                                        data_file=args.data_file,
                                        task_run_template=template)
    except ConfigError as exc:
        parser.exit(2, f"error: {exc}\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
