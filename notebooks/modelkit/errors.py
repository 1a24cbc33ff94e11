"""Errors that are meant to be read by people (each names what was wrong and where), and the
one table of `modelkit`'s exit codes.

EXIT_CODES lists every error class of the package under its exit code. The CLI exits with
the code of the error's class; `modelkit run-notebook` learns only the class *name* of what a
notebook cell raised (that is all nbclient reports) and looks it up here, so a subclass defined
in a module the runner never imports still keeps its code. A ModelkitError subclass missing
from the table is refused when its module is imported. README.md ("Exit codes") lists the table.
"""

from __future__ import annotations

EXIT_CODES: dict[int, tuple[str, tuple[str, ...]]] = {
    0: ("success", ()),
    1: ("anything else failed: a notebook's own exception, a cell timeout, a failed pipeline step",
        ("NotebookFailed",)),
    2: ("bad configuration: an environment variable, CLI option, PipelineRun param, registry entry or model file; "
        "or the serving side did not follow a switch",
        ("ModelkitError", "ConfigError", "ModelFileError", "UnsafeModelError", "LibraryVersionError",
         "NoRollbackTarget", "RolloutFailed")),
    3: ("training data could not be loaded or is unusable",
        ("DataError", "PrometheusUnavailable", "PrometheusEmpty", "PrometheusQueryError", "PrometheusBadAnswer",
         "DegenerateFeature")),
    4: ("the quality gate refused the candidate model", ("GateRejected",)),
    5: ("the endpoint does not answer like the promoted version", ("SmokeTestFailed",)),
}
EXIT_FAILED = 1
_CODE_OF = {name: code for code, (_, names) in EXIT_CODES.items() for name in names}


def exit_code_for(class_name: str) -> int:
    """The exit code of an error class, by name; EXIT_FAILED for anything not in the table."""
    return _CODE_OF.get(class_name, EXIT_FAILED)


class ModelkitError(Exception):
    """Base class; the CLI prints these without a traceback and exits with the class's code."""

    exit_code = 2

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ not in _CODE_OF:
            raise TypeError(f"{cls.__module__}.{cls.__name__}: add it to modelkit.errors.EXIT_CODES (and README's table)")
        cls.exit_code = _CODE_OF[cls.__name__]


class ConfigError(ModelkitError):
    """A bad environment variable, CLI option or registry entry.

    `variable`: the settings variable (see modelkit.settings.VARIABLES) the error is about,
    when it is about one, also when the value came from the CLI option standing for it."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class DataError(ModelkitError):
    """Training data could not be loaded (unreachable or empty Prometheus, bad query)."""


class GateRejected(ModelkitError):
    """The quality gate refused a candidate model."""


class SmokeTestFailed(ModelkitError):
    """The served endpoint does not answer like the promoted version."""
