"""Time `python -m generator` plus `helm template` for registries of 10, 100 and 500 models.

Each registry is the default anomaly-detector entry repeated under new names, in a
throwaway copy of the project. Prints the wall time of each phase (best of --repeat runs)
and the growth ratios against the 10-model baseline: linear growth means the time per
model stays flat, so "per-model ratio" should stay close to 1.

    .venv/bin/python bench/bench_generate.py [--sizes 10 100 500] [--repeat 3] [--quick]

--quick (run by `make test`, so the bench cannot rot unseen): 2 and 10 models, once each.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHART = PROJECT_ROOT / "charts" / "hub"


def helm_binary() -> str:
    local = PROJECT_ROOT / ".cache" / "bin" / "helm"
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    if not found:
        sys.exit("helm not found: run `make setup` first")
    return found


def make_project(folder: Path, size: int) -> Path:
    root = folder / f"project-{size}"
    shutil.copytree(CHART, root / "charts" / "hub", ignore=shutil.ignore_patterns("generated"))
    values_file = root / "charts" / "hub" / "values.yaml"
    values = yaml.safe_load(values_file.read_text())
    template = values["models"][0]
    models = []
    for index in range(size):
        entry = copy.deepcopy(template)
        entry["name"] = f"model-{index:04d}"
        entry["notebook"] = f"notebooks/bench/model-{index:04d}.ipynb"
        models.append(entry)
        notebook = root / entry["notebook"]
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_text("{}")
    values["models"] = models
    values_file.write_text(yaml.safe_dump(values, sort_keys=False))
    return root


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... failed:\n{result.stderr[-2000:]}")
    return elapsed


def measure(root: Path, repeat: int, helm: str) -> tuple[float, float, int]:
    generate, template = [], []
    for _ in range(repeat):
        shutil.rmtree(root / "charts/hub/templates/generated", ignore_errors=True)
        generate.append(timed([sys.executable, "-m", "generator", "--project-root", str(root)]))
        template.append(timed([helm, "template", "bench", str(root / "charts/hub"), "--namespace", "bench",
                               "--output-dir", str(root / "rendered")]))
    objects = sum(text.count("\nkind: ") + text.startswith("kind: ")
                  for text in (p.read_text() for p in (root / "rendered").rglob("*.yaml")))
    return min(generate), min(template), objects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 and 10 models, one run each (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeat = [2, 10], 1
    helm = helm_binary()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as folder:
        for size in args.sizes:
            gen, tpl, objects = measure(make_project(Path(folder), size), args.repeat, helm)
            rows.append((size, gen, tpl, objects))
    base_size, base_gen, base_tpl, _ = rows[0]
    print(f"generate + helm template, best of {args.repeat} (baseline: {base_size} models)")
    print(f"{'models':>7} {'objects':>8} {'generate s':>11} {'template s':>11} {'total s':>8} "
          f"{'x models':>9} {'x total':>8} {'per-model ratio':>16} {'ms per added model':>19}")
    previous = None
    for size, gen, tpl, objects in rows:
        growth = (gen + tpl) / (base_gen + base_tpl)
        marginal = f"{1000 * (gen + tpl - previous[1]) / (size - previous[0]):.1f}" if previous else "-"
        print(f"{size:>7} {objects:>8} {gen:>11.3f} {tpl:>11.3f} {gen + tpl:>8.3f} "
              f"{size / base_size:>9.1f} {growth:>8.2f} {growth / (size / base_size):>16.2f} {marginal:>19}")
        previous = (size, gen + tpl)
    print("linear growth: 'ms per added model' stays flat (it falls while fixed start-up costs still dominate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
