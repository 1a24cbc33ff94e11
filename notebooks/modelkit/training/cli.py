"""Subcommands of the training area: run-notebook, check-params, new-model."""

from __future__ import annotations

import argparse
import os

from ..settings import source_and_hours
from .params import check_params, project_root
from .scaffold import new_model

CELL_TIMEOUT_SECONDS = 3600


def _run_notebook(args: argparse.Namespace) -> int:
    from .notebook_runner import run_notebook  # nbclient/nbconvert: only this command needs them

    run_notebook(timeout=args.timeout)
    return 0


def _check_params(args: argparse.Namespace) -> int:
    settings, spec, notebook = check_params(os.environ)
    print(
        f"params ok: model={spec.name} ({spec.kind}) notebook={notebook.relative_to(project_root())} "
        "data_source={} training_hours={}".format(*source_and_hours(settings, spec))
        + (f" data_file={settings.data_file}" if settings.data_file else "")
    )
    return 0


def _new_model(args: argparse.Namespace) -> int:
    entry, notebook = new_model(args.name, project_root())
    print(f"added model {args.name!r} to {entry}\ncreated {notebook}\nnext: edit both, then `make generate` and commit")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run-notebook", help="execute a training notebook headless (env: MODEL_NAME, NOTEBOOK_PATH, DATA_SOURCE, DATA_FILE, "
        "TRAINING_HOURS, RUN_ID, MODELS_ROOT, GIT_REF) and publish its version",
    )
    run.add_argument("--timeout", type=int, default=CELL_TIMEOUT_SECONDS, help="seconds one cell may run")
    run.set_defaults(handler=_run_notebook)
    check = subparsers.add_parser(
        "check-params", help="validate MODEL_NAME, NOTEBOOK_PATH, DATA_SOURCE, DATA_FILE (read whole), TRAINING_HOURS, INFERENCE_SERVICE_NAME",
    )
    check.set_defaults(handler=_check_params)
    scaffold = subparsers.add_parser("new-model", help="add a registry entry and a training notebook for a new model")
    scaffold.add_argument("--name", required=True, help="model name (DNS-1123 label)")
    scaffold.set_defaults(handler=_new_model)
