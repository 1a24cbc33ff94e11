"""One table of exit codes (modelkit.errors.EXIT_CODES): every error class of the package is in
it, the CLI and the notebook runner (which learns only a class *name* from the kernel) agree on
each code, and README's table is the table."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import modelkit
from modelkit.errors import EXIT_CODES, EXIT_FAILED, ModelkitError, exit_code_for

README = Path(__file__).resolve().parents[1] / "README.md"


def subclasses(cls):
    return [cls, *(c for sub in cls.__subclasses__() for c in subclasses(sub))]


def test_every_error_class_of_the_package_has_one_code_for_the_cli_and_the_runner():
    for module in pkgutil.walk_packages(modelkit.__path__, "modelkit."):
        importlib.import_module(module.name)  # a class missing from the table raises TypeError here
    classes = [c for c in subclasses(ModelkitError) if c.__module__.startswith("modelkit.")]
    assert len(classes) >= 15
    for cls in classes:
        assert cls.exit_code == exit_code_for(cls.__name__), cls
    listed = {name for _, names in EXIT_CODES.values() for name in names}
    assert listed == {c.__name__ for c in classes}, "the table lists a class that no longer exists"
    assert exit_code_for("ValueError") == EXIT_FAILED


def test_an_error_class_missing_from_the_table_is_refused():
    with pytest.raises(TypeError, match="add it to modelkit.errors.EXIT_CODES"):
        type("UnlistedError", (ModelkitError,), {})


def test_the_readme_lists_the_table():
    section = README.read_text().split("## Settings and exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d) \| (.+) \|$", section, re.MULTILINE))
    assert {int(code) for code in rows} == set(EXIT_CODES)
    for code, (meaning, names) in EXIT_CODES.items():
        assert rows[str(code)].startswith(meaning.split(":")[0].split(" (")[0]), (code, rows[str(code)])
