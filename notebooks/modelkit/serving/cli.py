"""`modelkit serve`: the model server for the promoted models (locally) or for the one model
directory KServe mounts (the cluster runtime)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..settings import models_root_from_env, options_from

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# Parsing a request's JSON stays on the event loop and numpy's list-to-array conversion holds
# the GIL: about 3.5 ms per 1,000 rows of 5 full-precision floats (bench/bench_serving.py), so
# 10,000 rows (~1 MB) keep that stall of every other request near 35 ms, under the 100 ms p99
# goal. The body limit alone let 1.3 M rows of "0" through.
DEFAULT_MAX_ROWS = 10_000


def cmd_serve(args: argparse.Namespace) -> int:
    from .served_model import ServedModel
    from .server import promoted_models, run

    if args.max_rows < 1:
        raise ConfigError(f"--max-rows {args.max_rows}: must be at least 1")
    if args.model_dir:
        if not args.model_name:
            raise ConfigError("--model-dir needs --model-name (the name in /v1/models/<name>)")
        models, root = [ServedModel(args.model_name, Path(args.model_dir), args.max_rows)], None
    else:
        root = models_root_from_env(options=options_from(args, models_root="MODELS_ROOT"))
        models = promoted_models(root, args.model, args.max_rows)
    run(models, args.host, args.port, args.max_body_bytes, announce_in=root, repository_api=args.repository_api,
        access_log=args.access_log)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the KServe model server for the promoted models")
    p.add_argument("--models-root")
    p.add_argument("--model", action="append", help="serve only this model (repeatable)")
    p.add_argument("--model-name", help="cluster runtime: the one model's name")
    p.add_argument("--model-dir", help="cluster runtime: the one model's directory (KServe mounts /mnt/models)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    p.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS,
                   help=f"rows (instances) per request; more get HTTP 413 (default {DEFAULT_MAX_ROWS})")
    p.add_argument("--repository-api", choices=("auto", "on", "off"), default="auto",
                   help="POST /v2/repository/models/<name>/load (local promote/rollback reload); "
                        "auto = on only when bound to a loopback address")
    p.add_argument("--access-log", action="store_true",
                   help="log one line per request (uvicorn's access log; off by default, it costs CPU per request)")
    p.set_defaults(handler=cmd_serve)
