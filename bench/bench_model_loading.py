"""What the checked loader costs over the stock one.

    .venv/bin/python bench/bench_model_loading.py [--quick] [--repeat 20]

For each model kind (the anomaly detector as the project builds it, the forecaster, the
new-model template's pipeline), fitted on random rows and written with joblib.dump as
VersionWriter writes it: the fastest time of `model_loading.load_model` (allowlist unpickler
and scikit-learn version check) against the baseline `joblib.load` (what KServe's stock
sklearn server does) on the same file in the same process, and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelkit.artifacts import library_versions
from modelkit.model_loading import load_model
from modelkit.training import anomaly_detector, forecaster


def models(rows: int) -> dict:
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(rows, 5))
    return {
        "anomaly detector": anomaly_detector.build_pipeline(0, training_rows=rows).fit(inputs),
        "forecaster": forecaster.build_model(0, rows).fit(rng.normal(size=(rows, 12)), rng.normal(size=(rows, 5))),
        "new-model template": make_pipeline(StandardScaler(), IsolationForest(n_estimators=200, random_state=0)).fit(inputs),
    }


def fastest_seconds(loads: dict, repeat: int) -> dict[str, float]:
    """The fastest of `repeat` rounds for each loader, the loaders taking turns within a round
    (the machine is shared: the minimum is the least disturbed, turns keep the two comparable)."""
    times: dict[str, list[float]] = {name: [] for name in loads}
    for _ in range(repeat):
        for name, load in loads.items():
            start = time.perf_counter()
            load()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small models, 3 repeats (seconds)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows, repeat = (500, 3) if args.quick else (5000, args.repeat)
    metadata = {"library_versions": library_versions()}
    print(f"{'model':20} {'file KiB':>9} {'joblib.load ms':>15} {'load_model ms':>14} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for kind, model in models(rows).items():
            path = Path(folder) / "model.pkl"
            joblib.dump(model, path)
            best = fastest_seconds({"stock": lambda: joblib.load(path), "checked": lambda: load_model(path, metadata)}, repeat)
            stock, checked = best["stock"], best["checked"]
            print(f"{kind:20} {path.stat().st_size / 1024:9.0f} {stock * 1000:15.1f} {checked * 1000:14.1f} {checked / stock:6.2f}")
    print("baseline: joblib.load of the same file (KServe's stock sklearn server); ratio = load_model / joblib.load")


if __name__ == "__main__":
    main()
