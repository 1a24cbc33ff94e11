"""Errors that are meant to be read by people: each names what was wrong and where."""


class ModelkitError(Exception):
    """Base class; the CLI prints these without a traceback and exits non-zero."""

    exit_code = 2


class ConfigError(ModelkitError):
    """A bad environment variable, CLI option or registry entry."""


class DataError(ModelkitError):
    """Training data could not be loaded (unreachable or empty Prometheus, bad query)."""

    exit_code = 3


class GateRejected(ModelkitError):
    """The quality gate refused a candidate model."""

    exit_code = 4
