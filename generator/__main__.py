"""python -m generator [--check] [--project-root DIR]

Regenerates charts/hub/templates/generated/ and charts/hub/values.schema.json from the
models registry (the `models:` list of charts/hub/values.yaml). With --check, writes
nothing and exits 1 when a generated file is missing, stale or left over.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelkit.errors import ConfigError
from modelkit.registry import DEFAULT_VALUES, find_project_root

from .build import GENERATED_DIR, build


def project_root(start: Path) -> Path:
    root = find_project_root(start)
    if root is None:
        raise ConfigError(f"no {DEFAULT_VALUES} in {start} or its parents: run inside the project or pass --project-root")
    return root


def plan(project_root: Path) -> tuple[dict[Path, str], list[Path], list[Path]]:
    """(all files, files to write, left-over generated files to remove), paths relative to the root."""
    files = build(project_root)
    changed = [path for path, text in files.items()
               if not (project_root / path).is_file() or (project_root / path).read_text() != text]
    existing = sorted(p.relative_to(project_root) for p in (project_root / GENERATED_DIR).glob("*") if p.is_file())
    leftover = [path for path in existing if path not in files]
    return files, changed, leftover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__.splitlines()[2])
    parser.add_argument("--check", action="store_true", help="fail if generated files are stale; write nothing")
    parser.add_argument("--project-root", type=Path, help="project folder (default: found from the current folder)")
    args = parser.parse_args(argv)
    try:
        root = (args.project_root or project_root(Path.cwd())).resolve()
        files, changed, leftover = plan(root)
    except ConfigError as exc:
        print(f"generator: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if not changed and not leftover:
            print(f"generator: {len(files)} generated files are up to date")
            return 0
        for path in changed:
            print(f"generator: stale or missing: {path}", file=sys.stderr)
        for path in leftover:
            print(f"generator: left over (no model for it): {path}", file=sys.stderr)
        print("generator: run `make generate` and commit the result", file=sys.stderr)
        return 1
    for path in changed:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path])
        print(f"generator: wrote {path}")
    for path in leftover:
        (root / path).unlink()
        print(f"generator: removed {path}")
    if not changed and not leftover:
        print(f"generator: {len(files)} generated files already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
