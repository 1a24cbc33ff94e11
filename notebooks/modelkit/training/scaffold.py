"""`modelkit new-model`: a registry entry and a training notebook for a new model.

The entry is inserted as text at the end of the `models:` list of charts/hub/values.yaml,
so every comment in the file survives; the result is validated with the registry's own
checks before anything is written.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

from ..artifacts import atomic_write_bytes
from ..errors import ConfigError
from ..registry import DEFAULT_VALUES, DNS_1123_LABEL_RULE, is_dns_label, validate_entries

PLACEHOLDER = "__MODEL_NAME__"
TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*:")


def _template(name: str) -> str:
    return resources.files("modelkit").joinpath("templates", name).read_text()


def insert_entry(values_text: str, entry_text: str) -> str:
    """`values_text` with `entry_text` appended to its top-level `models:` list."""
    lines = values_text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "models:")
    except StopIteration:
        raise ConfigError(f"{DEFAULT_VALUES}: no top-level `models:` list to add the model to") from None
    end = next((i for i in range(start + 1, len(lines)) if TOP_LEVEL_KEY.match(lines[i])), len(lines))
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # blank lines and comments just above the next key belong to it
    before = "".join(lines[:end]).rstrip("\n") + "\n\n"
    return before + entry_text.rstrip("\n") + "\n" + ("\n" + "".join(lines[end:]) if end < len(lines) else "")


def new_model(name: str, root: Path) -> tuple[Path, Path]:
    """Add model `name` under project `root`; return (values file, notebook)."""
    values_path = root / DEFAULT_VALUES
    notebook_path = root / "notebooks" / f"{name}-training.ipynb"
    if not values_path.is_file():
        raise ConfigError(f"{values_path}: not found; run new-model from the project checkout")
    if not is_dns_label(name):
        raise ConfigError(f"--name {name!r}: must be {DNS_1123_LABEL_RULE}")
    if notebook_path.exists():
        raise ConfigError(f"--name {name!r}: {notebook_path} already exists")
    text = insert_entry(values_path.read_text(), _template("registry-entry.yaml").replace(PLACEHOLDER, name))
    validate_entries(yaml.safe_load(text).get("models"), source=f"{values_path} (with the new entry)")
    notebook_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(notebook_path, _template("new-model-training.ipynb").replace(PLACEHOLDER, name).encode())
    atomic_write_bytes(values_path, text.encode())
    return values_path, notebook_path
