"""Dev-only trees (the generator, tests, benches, hack/, docs) stay out of what runs: no image's
build copies them, the wheel holds modelkit only, and every modelkit module imports without
the generator (as kube-prometheus-stack keeps its generator in hack/, outside what it ships)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
DEV_ONLY = ("generator", "tests", "bench", "hack", "docs")
WORKBENCH_BUILD = PROJECT / "notebooks" / "build-image.sh"


def copy_sources(containerfile: Path) -> list[str]:
    """The source paths of each COPY (flags such as --chown dropped; the last word is the destination)."""
    sources = []
    for line in containerfile.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"]:
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def workbench_context() -> list[str]:
    """What notebooks/build-image.sh puts into the workbench's build context (its `tar -cf -` list)."""
    match = re.search(r"-cf - (.+?) \| tar", WORKBENCH_BUILD.read_text())
    assert match, f"{WORKBENCH_BUILD}: no `tar -cf - <paths> | tar` line to read the build context from"
    return match.group(1).split()


# Each image's build context: the serving image is built from the repository root
# (`podman build -f serving/Containerfile .`), the workbench from the paths build-image.sh copies.
CONTEXTS = {"serving/Containerfile": ["."], "notebooks/Containerfile": workbench_context()}


def dev_only_in(path: str, context: list[str]) -> list[str]:
    """The dev-only trees a COPY of `path` (relative to the build context) brings into the image."""
    entries = context if path.rstrip("/") in (".", "") else [path]
    trees = set()
    for entry in entries:
        parts = Path(entry).parts
        trees |= set(DEV_ONLY) if not parts else {parts[0]} & set(DEV_ONLY)  # "." is the whole checkout
    return sorted(trees)


@pytest.mark.parametrize("containerfile", sorted(CONTEXTS))
def test_no_image_copies_a_dev_only_tree(containerfile):
    sources = copy_sources(PROJECT / containerfile)
    assert sources, f"{containerfile}: no COPY found"
    copied = {tree for source in sources for tree in dev_only_in(source, CONTEXTS[containerfile])}
    assert not copied, f"{containerfile} copies dev-only trees into the image: {sorted(copied)}"


def test_the_check_sees_a_dev_tree_copied_directly_or_through_the_context():
    assert dev_only_in("generator", ["."]) == ["generator"]
    assert dev_only_in("./tests/fixtures", ["."]) == ["tests"]
    assert dev_only_in(".", ["pyproject.toml", "notebooks", "generator"]) == ["generator"]
    assert dev_only_in(".", ["."]) == sorted(DEV_ONLY)
    assert dev_only_in("notebooks/modelkit", ["."]) == []


def test_the_serving_images_files_build_a_wheel_of_modelkit_only(tmp_path):
    """What serving/Containerfile copies is enough to build the package, and the wheel holds nothing else."""
    context = tmp_path / "context"
    for source in copy_sources(PROJECT / "serving/Containerfile"):
        target = context / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if (PROJECT / source).is_dir():
            shutil.copytree(PROJECT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(PROJECT / source, target)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(context),
                           "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"modelkit"}, tops


def test_every_modelkit_module_imports_without_the_generator(tmp_path):
    """In a fresh interpreter outside the checkout (-P: no working directory on sys.path) where
    `import generator` fails, as it does in the images."""
    script = textwrap.dedent("""
        import importlib, importlib.abc, pkgutil, sys

        class NoGenerator(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "generator" or name.startswith("generator."):
                    raise ModuleNotFoundError(f"No module named {name!r} (dev-only)", name=name)
                return None

        sys.meta_path.insert(0, NoGenerator())
        import modelkit
        names = [m.name for m in pkgutil.walk_packages(modelkit.__path__, "modelkit.")]
        for name in names:
            importlib.import_module(name)
        print(len(names))
    """)
    done = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50, done.stdout
