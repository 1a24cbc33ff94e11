"""`modelkit` command line: one dispatcher, each area registers its own subcommands.

Each module in COMMAND_MODULES has `register(subparsers)` adding its subcommands; a
subcommand's handler takes the parsed args and returns an exit code. ModelkitError is
printed as a one-line message (what was wrong, where, what to do), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ModelkitError

COMMAND_MODULES = (
    "modelkit.data.cli",  # data
    "modelkit.training.cli",  # run-notebook, check-params, new-model
    "modelkit.lifecycle.cli",  # train, validate, promote, rollback, versions, smoke-test, report-run, demo
    "modelkit.serving.cli",  # serve
    "modelkit.scoring.batch",  # score
    "modelkit.scoring.cli",  # watch
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelkit", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ModelkitError as exc:
        print(f"modelkit {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
