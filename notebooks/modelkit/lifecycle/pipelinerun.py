"""The PipelineRun a person (scripts/trigger-model-training.sh) creates to train a model.

Built as data and printed as JSON for `kubectl create -f -`, so no value is ever pasted
into YAML or a shell script. `generateName` (hence `create`, not `apply`) and the
`model-name` label the guide's commands select on. Params left out (data source,
hours, git) take the Pipeline's defaults: the registry entry's and the chart's (no
git-url: the notebooks baked into the workbench image). `timeouts` split the registry
entry's `timeout` so that `finally` keeps its share. Given the chart's run spec for the model
(ConfigMap `<model>-training-run`, `--run-spec FILE`), the run takes its `taskRunTemplate`:
the service account, the pod security context and, with ReadWriteOnce storage, the affinity
that puts every task pod on the volume's node.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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


def pipelinerun_manifest(model: str, namespace: str, *, training_hours: int | None = None,
                         data_source: str | None = None, git_url: str | None = None, git_ref: str | None = None,
                         data_file: str | None = None, task_run_template: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = get_model(model)
    params = run_params(model, training_hours=training_hours, data_source=data_source, git_url=git_url, git_ref=git_ref,
                        data_file=data_file)
    manifest = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": f"train-{model}-", "namespace": namespace,
                     "labels": {"model-name": model, "app.kubernetes.io/part-of": "self-healing-platform"}},
        "spec": {"pipelineRef": {"name": PIPELINE_NAME},
                 "params": [{"name": k, "value": v} for k, v in params.items() if v is not None],
                 # tasks + finally = pipeline: a run that times out still reports and cleans up.
                 "timeouts": run_timeouts(spec.timeout)},
    }
    if task_run_template is not None:
        manifest["spec"]["taskRunTemplate"] = task_run_template
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
