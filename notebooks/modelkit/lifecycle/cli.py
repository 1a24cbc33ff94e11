"""Lifecycle subcommands of `modelkit`: train, validate, promote, rollback, versions,
smoke-test, report-run, demo (`serve` is modelkit.serving.cli). Options win over the pipeline's environment (MODEL_NAME,
RUN_ID, MODELS_ROOT, DATA_SOURCE, DATA_FILE, TRAINING_HOURS, MODELKIT_ROLLOUT_TIMEOUT, PIPELINE_TASKS_STATUS),
which wins over the registry entry: modelkit.settings' one precedence rule (OPTION_VARIABLES)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import artifacts
from ..errors import ConfigError
from ..registry import get_model
from ..settings import (DATA_SOURCES, DEFAULT_ROLLOUT_TIMEOUT, Settings, models_root_from_env, options_from, read,
                        rollout_timeout)



# The options of these subcommands (argparse dest) and the settings variable each stands for.
OPTION_VARIABLES = {"model": "MODEL_NAME", "run_id": "RUN_ID", "models_root": "MODELS_ROOT", "data_source": "DATA_SOURCE",
                    "training_hours": "TRAINING_HOURS", "rollout_timeout": "MODELKIT_ROLLOUT_TIMEOUT",
                    "status": "PIPELINE_TASKS_STATUS"}


def cli_options(args: argparse.Namespace):
    return options_from(args, **OPTION_VARIABLES)


def run_settings(args: argparse.Namespace) -> Settings:
    """Settings.from_env with the command-line options taking precedence over the environment."""
    return Settings.from_env(options=cli_options(args))


def models_root(args: argparse.Namespace) -> Path:
    return models_root_from_env(options=cli_options(args))


def chosen_run_id(settings: Settings) -> str:
    """RUN_ID / --run-id, or the newest version of the model."""
    if settings.run_id:
        return settings.run_id
    versions = list(artifacts.iter_versions(settings.models_root, settings.model_name))
    if not versions:
        raise ConfigError(f"{settings.model_name} has no versions under {settings.models_root}; train one first")
    return versions[-1].run_id


def cmd_validate(args: argparse.Namespace) -> int:
    from .gate import run_gate

    settings = run_settings(args)
    run_id = chosen_run_id(settings)
    verdict = run_gate(settings.models_root, get_model(settings.model_name), run_id, force=args.force)
    print(f"{settings.model_name} version {run_id}: accepted by the gate")
    for note in verdict.notes:
        print(f"  note: {note}")
    return 0


def serve_switched_version(settings: Settings, run_id: str, args: argparse.Namespace) -> None:
    """After the served file changed: roll the InferenceService (cluster) or reload a local server.

    ConfigError (exit 2) when the serving side did not follow, naming it: the file on disk
    has switched, but what answers requests has not."""
    from ..settings import in_cluster
    from .cluster import roll_inference_service
    from ..serving.local_server import reload_local_server

    try:
        if in_cluster():
            service = f"{settings.namespace}/{settings.inference_service_name}"
            roll_inference_service(settings.namespace, settings.inference_service_name, run_id,
                                   rollout_timeout(cli_options(args)))
            print(f"  InferenceService {service} is Ready on {run_id}")
            return
        note = reload_local_server(settings.models_root, settings.model_name)
    except ConfigError as exc:
        raise ConfigError(f"{settings.model_name}: the served file is now version {run_id}, but {exc}") from None
    if note:
        print(f"  {note}")


def cmd_promote(args: argparse.Namespace) -> int:
    from .policy import policy_for
    from .promotion import promote

    settings = run_settings(args)
    run_id = chosen_run_id(settings)
    policy = policy_for(get_model(settings.model_name))
    result = promote(settings.models_root, settings.model_name, run_id, keep_versions=policy.keep_versions)
    print(f"{result.model}: now serving {result.run_id} (was {result.previous or 'nothing'})")
    if result.pruned:
        print(f"  pruned old versions: {', '.join(result.pruned)}")
    serve_switched_version(settings, run_id, args)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from .promotion import rollback

    settings = run_settings(args)
    result = rollback(settings.models_root, settings.model_name, to=args.to, force=args.force)
    print(f"{result.model}: rolled back to {result.run_id} (was {result.previous or 'nothing'})")
    for note in result.notes:
        print(f"  {note}")
    serve_switched_version(settings, result.run_id, args)
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from ..registry import load_registry
    from ..thresholds import metric_for
    from .policy import policy_for
    from .versions_table import format_rows, version_rows

    registry = load_registry()
    names = [args.model] if args.model else sorted(registry)
    root = models_root(args)
    report = {name: version_rows(root, name) for name in names}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name in names:
        spec = registry.get(name) or get_model(name)
        shown = [policy_for(spec).primary_metric] + [metric_for(k)[1] for k in spec.thresholds]
        if spec.entity:  # rates above are per entity-day: say over how many entities, and what the fleet raises
            shown += ["entities", "fleet_false_alarms_per_day"]
        print(format_rows(name, report[name], list(dict.fromkeys(m for m in shown if m))))
    return 0


def cmd_smoke_test(args: argparse.Namespace) -> int:
    from ..served_state import served_version
    from .smoke import smoke_test

    settings = run_settings(args)
    run_id = settings.run_id or served_version(artifacts.model_dir(settings.models_root, settings.model_name))[0]
    if not run_id:
        raise ConfigError(f"{settings.model_name}: nothing is served under {settings.models_root}; promote a version first")
    print(smoke_test(settings, run_id, url=args.url))
    return 0


def cmd_report_run(args: argparse.Namespace) -> int:
    from .run_report import report_run

    settings = run_settings(args)
    text, switch = report_run(settings, status=read("PIPELINE_TASKS_STATUS", cli_options(args)))
    print(text)
    if switch and switch.run_id:
        serve_switched_version(settings, switch.run_id, args)
    elif switch:
        print("  a running server keeps answering with the withdrawn version until it restarts "
              "(a restarted predictor waits for a model)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..staging import claimed_run_id
    from .local_pipeline import run_local_pipeline

    get_model(args.model)
    root = models_root(args).resolve()
    run_id = artifacts.check_run_id(args.run_id) if args.run_id else f"local-{artifacts.new_run_id()}"
    with claimed_run_id(root, args.model, run_id):  # a reused or concurrent run id stops here, before any step
        return run_local_pipeline(args.model, data_source=args.data_source, training_hours=args.training_hours,
                                  models_root=str(root), run_id=run_id,
                                  data_file=_data_file(args))


def _data_file(args: argparse.Namespace) -> str | None:
    """--data-file, else $DATA_FILE, made absolute: each step gets it as its Task's DATA_FILE param."""
    text = read("DATA_FILE", options_from(args, data_file="DATA_FILE"))
    return str(Path(text).resolve()) if text else None


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.models_root), training_hours=args.training_hours)


def _model_options(parser: argparse.ArgumentParser, run_id: bool = True) -> None:
    parser.add_argument("--model", help="model name from the registry (default: $MODEL_NAME)")
    if run_id:
        parser.add_argument("--run-id", help="version to act on (default: $RUN_ID, else the newest version)")
    parser.add_argument("--models-root", help="models root (default: $MODELS_ROOT, /mnt/models if present, else ./models)")


def _rollout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollout-timeout", type=int,
                        help=f"seconds to wait for the InferenceService rollout (cluster; default: "
                             f"$MODELKIT_ROLLOUT_TIMEOUT, else {DEFAULT_ROLLOUT_TIMEOUT})")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="run the training pipeline's steps locally (same commands as the Tekton Tasks)")
    p.add_argument("--model", required=True, help="model name from the registry")
    p.add_argument("--data-source", choices=DATA_SOURCES)
    p.add_argument("--data-file", type=Path, help="for --data-source file (implied when given alone): CSV or Parquet with a "
                                                  "timestamp column, one column per registry metric, optional is_anomaly")
    p.add_argument("--training-hours", type=int)
    p.add_argument("--models-root")
    p.add_argument("--run-id", help="version name (default: a new UTC timestamp)")
    p.set_defaults(handler=cmd_train)

    p = subparsers.add_parser("validate", help="quality gate: may this version be served? (exit 4 when not)")
    _model_options(p)
    p.add_argument("--force", action="store_true", help="accept even if worse than the served version (recorded)")
    p.set_defaults(handler=cmd_validate)

    p = subparsers.add_parser("promote", help="atomically serve a version the gate accepted")
    _model_options(p)
    _rollout_option(p)
    p.set_defaults(handler=cmd_promote)

    p = subparsers.add_parser("rollback", help="serve the previously served version the gate accepted again")
    _model_options(p, run_id=False)
    p.add_argument("--to", help="serve this version instead (it must be gate-accepted with the bytes it judged)")
    p.add_argument("--force", action="store_true",
                   help="with --to: serve it even if the gate refused, never judged or judged other bytes (recorded)")
    _rollout_option(p)
    p.set_defaults(handler=cmd_rollback)

    p = subparsers.add_parser("versions", help="list versions, their metrics and gate verdicts, and which is served")
    p.add_argument("--model", help="one model (default: every model in the registry)")
    p.add_argument("--models-root")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_versions)

    p = subparsers.add_parser("smoke-test", help="check the endpoint answers like the promoted version")
    _model_options(p, run_id=False)
    p.add_argument("--run-id", help="version expected at the endpoint (default: $RUN_ID, else the served version)")
    p.add_argument("--url", help="server base URL (default: the InferenceService in the cluster, else the local server)")
    p.set_defaults(handler=cmd_smoke_test)

    p = subparsers.add_parser("report-run", help="record the run's outcome beside its version; clean staging dirs")
    _model_options(p)
    p.add_argument("--status",
                   help="Tekton $(tasks.status): Succeeded, Completed, Failed or None (default: $PIPELINE_TASKS_STATUS)")
    _rollout_option(p)
    p.set_defaults(handler=cmd_report_run)

    p = subparsers.add_parser("demo", help="train, validate, promote and serve both default models locally, then stop")
    p.add_argument("--models-root", default="models")
    p.add_argument("--training-hours", type=int, default=24)
    p.set_defaults(handler=cmd_demo)
