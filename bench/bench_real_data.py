"""The default models on real, labelled infrastructure metrics, beside a reference pipeline.

    .venv/bin/python bench/bench_real_data.py [--quick] [--nab-dir DIR]

Data: the NAB subset in ../shared/datasets/nab-dev/ (25 real single-metric series with labelled
incident windows; source, licence and label format in its README). It is read from there, never
copied into the repository; without it the bench says so and skips (exit 0, so `make bench` runs
on machines without it).

Protocol per series (issue 11): a one-metric registry entry with the registry defaults of each
kind (the default entry's settings and thresholds, and each kind of feature it uses applied to
this series' metric: the detector's "{m}_dev_6h" and "{m}", the forecaster's changes, deviations
and time of day). The project trains on the first 15 % of
the series exactly as a real-data run does (DATA_SOURCE=prometheus: the real values with the
data module's injected events, split, fit, calibrate), the real gate judges the version, and the
model scores the other 85 %. A version the gate refuses counts as finding nothing.

  detector:   event recall (labelled windows with a flagged point), alarm precision (runs of
              consecutive flagged points touching a window), event F1, PR-AUC of the anomaly
              scores against in-window points, alarms, false alarms per day.
  forecaster: 1 h ahead, on the series at 5-minute steps: MAE / MAE of "last value", and of
              "same time yesterday" for comparison.

The reference row, from the same run on the same rows: RobustScaler + IsolationForest(200
trees, contamination 0.05) on the value, its rolling 5-step mean/std/min/max, lags 1 and 5,
difference and percent change (the pipeline of the project's original notebook).
The summary is printed for all series and for each half of the sorted list of names, so a
change can be seen to help on both (other real series are held back to check generalisation).
Then the gate's detector verdicts are set against what each trained version does on the 85 %
(over or within its false-alarm limit there), and an "ungated" row gives the figures had every
trained version been served: how much the gate costs, and whether its refusals are right.
Last, an "oracle threshold" row: for each trained version the one threshold on its scores that
gives the best event F1 on the 85 % within its false-alarm limits (a day, and the registry's
maxFalseAlarmTimeShare as the share of rows outside the windows flagged), chosen by looking at the
answers. It is an upper bound, not a result: how much of the gap to the reference and the
targets lies in the threshold (calibration) rather than in how the scores rank the windows. The
same for the reference's scores ("oracle ref", within the project's limits), and for both the most
windows any one threshold within the limits finds: a ceiling on the windows any calibration of
those scores could find without passing them.
--quick: three series, for a check in seconds. --seed: the run's SEED (where the injected events
fall and how large they are, so which versions the gate accepts); default 42.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "notebooks"))

from modelkit.entities import cluster_wide_entry  # noqa: E402
from modelkit.errors import ModelkitError  # noqa: E402
from modelkit.features import build_features, model_inputs, parse_features  # noqa: E402
from modelkit.lifecycle.gate import run_gate  # noqa: E402
from modelkit.registry import _spec, find_registry_file, load_entries, validate_entries  # noqa: E402
from modelkit.scoring import train_on_values  # noqa: E402
from modelkit.evaluation import forecast_targets as ff  # noqa: E402
from modelkit.evaluation.anomaly import evaluate_flags, false_alarm_limit, pr_auc  # noqa: E402
from modelkit.training.publish import publish_version  # noqa: E402

NAB_DIR = PROJECT.parent / "shared" / "datasets" / "nab-dev"
TRAIN_SHARE = 0.15
METRIC = "value"
FORECAST_STEP_SECONDS = 300
HORIZON_MINUTES = 60
QUICK_SERIES = ("realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv", "realTweets/Twitter_volume_AAPL.csv",
                "realKnownCause/nyc_taxi.csv")


@dataclass
class Series:
    name: str
    frame: pd.DataFrame  # column METRIC on a regular UTC grid
    labels: np.ndarray  # per row: inside a labelled window
    step_seconds: int

    @property
    def train_rows(self) -> int:
        return int(len(self.frame) * TRAIN_SHARE)


def load_series(nab_dir: Path, name: str, windows: list[list[str]]) -> Series:
    """The series on a regular grid at its median step (mean per step, gaps filled linearly)."""
    raw = pd.read_csv(nab_dir / name, parse_dates=["timestamp"])
    stamps = pd.DatetimeIndex(raw["timestamp"]).tz_localize("UTC")
    step = int(round(float(np.median(np.diff(stamps.asi8)) / 1e9)))
    values = pd.Series(raw["value"].to_numpy(dtype=float), index=stamps).sort_index()
    grid = values.resample(f"{step}s", origin="epoch").mean().interpolate(limit_area="inside")
    labels = np.zeros(len(grid), dtype=bool)
    for start, end in windows:
        labels |= (grid.index >= pd.Timestamp(start, tz="UTC")) & (grid.index <= pd.Timestamp(end, tz="UTC"))
    return Series(name, grid.rename(METRIC).to_frame(), labels, step)


def templates(entry: dict) -> list[str]:
    """The entry's features with the metric name taken out ("{m}_dev_6h"), each once, in order."""
    names = sorted((m["name"] for m in entry["metrics"]), key=len, reverse=True)
    found = []
    for feature in entry["features"]:
        metric = next((m for m in names if feature == m or feature.startswith(m + "_")), None)
        template = feature if metric is None else "{m}" + feature[len(metric):]
        if template not in found:
            found.append(template)
    return found


def one_metric_entry(kind: str) -> dict:
    """The registry's default entry of `kind` with one metric called METRIC, and each kind of feature
    the default entry uses (a current value, a deviation from the 6 h mean, ...) applied to it. A
    series is one entity: a per-entity default's entity fields are dropped (its metric has no
    entityJoin), its thresholds kept, so a per-entity-day limit applies to the series' days."""
    default = next(e for e in load_entries(find_registry_file(PROJECT)) if e["kind"] == kind)
    metric = {"name": METRIC, "query": METRIC, "aggregate": "mean",
              "synthetic": {"anomalies": default["metrics"][0]["synthetic"]["anomalies"]}}
    features = [template.format(m=METRIC) for template in templates(default)]
    entry = {**cluster_wide_entry(default), "name": f"nab-{kind}", "metrics": [metric], "features": features}
    validate_entries([entry], source=f"one-metric {kind} entry")
    return entry


def train_and_gate(entry: dict, series: Series, root: Path, hours: int, seed: int):
    """Train through the real-data path on the first TRAIN_SHARE, publish, gate: (result, refusal or None)."""
    spec = _spec(entry)
    run_id = series.name.replace("/", "-").removesuffix(".csv")
    result = None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = train_on_values(spec, series.frame.iloc[: series.train_rows], series.step_seconds,
                                     models_root=root, run_id=run_id, hours=hours, seed=seed)
            publish_version(result.run, result.model, result.metadata())
            run_gate(root, spec, run_id)
    except ModelkitError as exc:
        return result, str(exc).partition(" rejected: ")[2] or str(exc)
    return result, None


def detector_metrics(series: Series, flags: np.ndarray, scores: np.ndarray) -> dict:
    rest = slice(series.train_rows, None)
    metrics = evaluate_flags(series.labels[rest], flags, series.step_seconds)
    metrics["pr_auc"] = pr_auc(series.labels[rest], scores)
    return metrics


ORACLE_QUANTILES = np.concatenate((np.linspace(0.5, 0.99, 50), np.linspace(0.991, 0.99995, 60)))


def oracle_threshold(series: Series, anomaly: np.ndarray, limits: dict) -> dict:
    """The metrics at the threshold on `anomaly` (higher = more anomalous, on the 85 %) with the best
    event F1 there among those within the limits a served version is held to (`limits`: false alarms
    a day, "per_day", and "time_share", the share of the rows outside labelled windows that may be
    flagged: one alarm that never ends touches every window and counts no false alarm), the most
    sensitive on ties; the metrics of flagging nothing when none is within them. Also
    `most_windows`: the most labelled windows any one threshold within them finds (a ceiling on event
    recall there). PR-AUC does not depend on the threshold: computed once."""
    labels = series.labels[series.train_rows :]
    best = evaluate_flags(labels, np.zeros(len(anomaly), dtype=bool), series.step_seconds)
    most_windows = 0
    normal_rows = max(int((~labels).sum()), 1)
    for level in np.unique(np.quantile(anomaly, ORACLE_QUANTILES))[::-1]:
        flags = anomaly > level
        metrics = evaluate_flags(labels, flags, series.step_seconds)
        if metrics["false_alarms_per_day"] > limits["per_day"] or (flags & ~labels).sum() / normal_rows > limits["time_share"]:
            continue
        most_windows = max(most_windows, metrics["events_detected"])
        if (metrics["event_f1"] or 0.0) >= (best["event_f1"] or 0.0):
            best = metrics
    return {**best, "pr_auc": pr_auc(labels, anomaly), "most_windows": most_windows}


def served_limits(entry: dict) -> dict:
    """The false-alarm limits the gate holds a version of `entry` to, for the oracle on the 85 %."""
    return {"per_day": false_alarm_limit(entry["thresholds"]),
            "time_share": float(entry["thresholds"].get("maxFalseAlarmTimeShare", 1.0))}


def reference_detector(series: Series, limits: dict) -> dict:
    """The reference pipeline's metrics, and its scores' oracle threshold within the project's limits."""
    value = series.frame[METRIC]
    roll = value.rolling(5, min_periods=1)
    inputs = pd.DataFrame({
        "value": value, "mean5": roll.mean(), "std5": roll.std(), "min5": roll.min(), "max5": roll.max(),
        "lag1": value.shift(1), "lag5": value.shift(5), "diff": value.diff(), "pct": value.pct_change(),
    }).replace([np.inf, -np.inf], np.nan).fillna(0.0).to_numpy()
    model = make_pipeline(RobustScaler(), IsolationForest(n_estimators=200, contamination=0.05, random_state=0))
    model.fit(inputs[: series.train_rows])
    rest = inputs[series.train_rows :]
    anomaly = -model.score_samples(rest)
    return {**detector_metrics(series, model.predict(rest) == -1, anomaly),
            "oracle": oracle_threshold(series, anomaly, limits)}


def project_detector(series: Series, entry: dict, root: Path, seed: int) -> dict:
    hours = int(series.train_rows * series.step_seconds // 3600)
    result, refused = train_and_gate(entry, series, root, hours, seed)
    rows = len(series.frame) - series.train_rows
    trained = None
    limits = served_limits(entry)
    oracle = None
    if result is not None:  # the version as trained, served or not: is the gate right to refuse it?
        inputs = model_inputs(series.frame, entry["features"], series.step_seconds).to_numpy(dtype=float)[series.train_rows :]
        anomaly = -result.model.score_samples(inputs)
        trained = detector_metrics(series, result.model.predict(inputs) == -1, anomaly)
        oracle = oracle_threshold(series, anomaly, limits)
    metrics = detector_metrics(series, np.zeros(rows, dtype=bool), np.zeros(rows)) if refused else dict(trained)
    metrics["refused"] = refused
    metrics["false_alarm_limit"] = limits["per_day"]
    metrics["if_served"] = trained
    metrics["oracle"] = oracle
    return metrics


def project_forecaster(series: Series, root: Path, seed: int) -> dict:
    entry = one_metric_entry("forecaster")
    features = parse_features(entry["features"], (METRIC,))
    warmup_hours = math.ceil(ff.warmup_minutes(features) / 60)
    hours = int(series.train_rows * series.step_seconds // 3600) - warmup_hours
    if hours < 1:
        return {"refused": f"first {TRAIN_SHARE:.0%} is shorter than the {warmup_hours} h warm-up"}
    result, refused = train_and_gate(entry, series, root, hours, seed)
    frame = series.frame
    rows = pd.concat([build_features(frame, features, series.step_seconds),
                      ff.build_targets(frame, (METRIC,), HORIZON_MINUTES, series.step_seconds).add_prefix("target:"),
                      ff.seasonal_naive_change(frame, (METRIC,), HORIZON_MINUTES, series.step_seconds).add_prefix("seasonal:")],
                     axis=1).iloc[series.train_rows :].dropna()
    actual = rows.filter(like="target:").to_numpy()[:, 0]
    last_value_mae = float(np.mean(np.abs(actual)))
    model = None if result is None else result.model.predict(rows[list(entry["features"])].to_numpy(dtype=float))[:, 0]
    served = np.zeros(len(rows)) if refused or model is None else model
    ratio = lambda predicted: float(np.mean(np.abs(predicted - actual))) / last_value_mae  # noqa: E731
    return {
        "refused": refused,
        "ratio": ratio(served),
        "model_ratio": None if model is None else ratio(model),
        "seasonal_ratio": ratio(rows.filter(like="seasonal:").to_numpy()[:, 0]),
    }


def _fmt(value, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _verdict(refused: str | None) -> str:
    return f"refused: {refused[:110]}" if refused else "accepted"


def summary_line(who: str, rows: list[dict]) -> str:
    f1 = np.mean([r["event_f1"] or 0.0 for r in rows])
    auc = np.mean([r["pr_auc"] for r in rows if r["pr_auc"] is not None])
    found, windows = sum(r["events_detected"] for r in rows), sum(r["events"] for r in rows)
    line = (f"  {who:<10} mean event F1 {f1:.3f}  mean PR-AUC {auc:.3f}  windows {found}/{windows}  "
            f"alarms {sum(r['alarms'] for r in rows)}")
    if who == "reference":
        return line
    if who in ("oracle", "oracle ref"):
        whose = "each trained version's scores" if who == "oracle" else "the reference's scores"
        return (line + f"  most windows one threshold finds within the limits: {sum(r.get('most_windows', 0) for r in rows)}/{windows}"
                f"  ({whose} at the best threshold on the 85 % within the project's limits: an upper bound)")
    accepted = [r for r in rows if not r["refused"]]
    over = [r for r in accepted if r["false_alarm_limit"] is not None and r["false_alarms_per_day"] > r["false_alarm_limit"]]
    if who == "project":
        return line + f"  accepted {len(accepted)}/{len(rows)}, accepted over the false-alarm limit: {len(over)}"
    return line + f"  served {len(accepted)}/{len(rows)} (all trained), over the false-alarm limit: {len(over)}"


def print_detector_table(results: dict[str, dict[str, dict]]) -> None:
    print("\nDetector on the 85 % after training (baseline: ref = the reference notebook pipeline; prj = project, gated)")
    print(f"{'series':<52}{'windows':>8}{'found ref/prj':>15}{'F1 ref/prj':>14}{'PR-AUC ref/prj':>16}"
          f"{'alarms ref/prj':>16}{'FA/day prj':>11}  gate")
    for name, row in results.items():
        ref, prj = row["reference"], row["project"]
        print(f"{name:<52}{prj['events']:>8}{ref['events_detected']:>7}/{prj['events_detected']:<7}"
              f"{_fmt(ref['event_f1'], '.2f'):>7}/{_fmt(prj['event_f1'], '.2f'):<6}"
              f"{_fmt(ref['pr_auc'], '.3f'):>8}/{_fmt(prj['pr_auc'], '.3f'):<7}"
              f"{ref['alarms']:>8}/{prj['alarms']:<7}{prj['false_alarms_per_day']:>11.2f}  "
              f"{_verdict(prj['refused'])}")
    names = list(results)
    halves = (("all", names), ("first half", names[: len(names) // 2]), ("second half", names[len(names) // 2 :]))
    for label, part in halves if len(names) > 1 else halves[:1]:
        print(f"summary, {label} ({len(part)} series):")
        for who in ("reference", "project"):
            print(summary_line(who, [results[name][who] for name in part]))
    print("targets (issue 11, full subset): event F1 >= 0.45, PR-AUC >= 0.25, >= 54/60 windows, <= 1200 alarms, "
          "no accepted version over its false-alarm limit")
    print_gate_verdicts({name: results[name]["project"] for name in names})
    print(summary_line("oracle ref", [results[name]["reference"]["oracle"] for name in names]))


def print_gate_verdicts(rows: dict[str, dict]) -> None:
    """How the gate's verdicts compare with what each trained version does on the 85 % (its false
    alarms a day against its limit), what each refused one would have done, and the project's
    figures were every trained version served."""
    trained = {name: r for name, r in rows.items() if r["if_served"] is not None}
    over = lambda r: r["if_served"]["false_alarms_per_day"] > r["false_alarm_limit"]  # noqa: E731
    accepted = [r for r in trained.values() if not r["refused"]]
    refused = {name: r for name, r in trained.items() if r["refused"]}
    print(f"gate verdicts against the 85 % ({len(trained)} trained versions): accepted within the limit "
          f"{sum(not over(r) for r in accepted)}, accepted over it {sum(over(r) for r in accepted)}, "
          f"refused over it {sum(over(r) for r in refused.values())}, refused within it {sum(not over(r) for r in refused.values())}")
    for name, r in refused.items():
        served = r["if_served"]
        print(f"  refused {name}: as trained {served['events_detected']}/{served['events']} windows, F1 {_fmt(served['event_f1'], '.2f')}, "
              f"{served['alarms']} alarms, {served['false_alarms_per_day']:.2f} false alarms/day "
              f"({'over' if over(r) else 'within'} the limit)")
    print(summary_line("ungated", [{**r["if_served"], "refused": None, "false_alarm_limit": r["false_alarm_limit"]}
                                   if r["if_served"] is not None else r for r in rows.values()]))
    print(summary_line("oracle", [r["oracle"] or r for r in rows.values()]))


def print_forecaster_table(results: dict[str, dict]) -> None:
    print(f"\nForecaster, {HORIZON_MINUTES} min ahead, on the 85 % after training (MAE / last-value MAE; "
          "served = the model if the gate accepted it, else last value)")
    print(f"{'series':<52}{'model':>8}{'served':>8}{'yesterday':>10}  gate")
    for name, row in results.items():
        print(f"{name:<52}{_fmt(row.get('model_ratio')):>8}{_fmt(row.get('ratio')):>8}{_fmt(row.get('seasonal_ratio')):>10}  "
              f"{_verdict(row['refused'])}")
    models = [r["model_ratio"] for r in results.values() if r.get("model_ratio") is not None]
    accepted = [r for r in results.values() if not r["refused"]]
    worse = [r for r in accepted if r["model_ratio"] > 1.0]
    print(f"summary: mean model ratio {np.mean(models) if models else float('nan'):.3f} over {len(models)} series; "
          f"accepted {len(accepted)}/{len(results)}, accepted and worse than last value: {len(worse)}")
    print("targets: mean ratio <= 0.9, each series <= 1.0 or refused by the gate")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {len(QUICK_SERIES)} series")
    parser.add_argument("--seed", type=int, default=42, help="the training runs' SEED (default 42)")
    parser.add_argument("--nab-dir", type=Path, default=NAB_DIR, help=f"the NAB subset (default {NAB_DIR})")
    args = parser.parse_args()
    labels_file = args.nab_dir / "labels.json"
    if not labels_file.is_file():
        print(f"bench_real_data: SKIPPED, no real labelled data at {args.nab_dir} (labels.json missing); "
              "it is read from ../shared/datasets/nab-dev beside the checkout, or pass --nab-dir")
        return 0
    labels = json.loads(labels_file.read_text())
    names = [n for n in sorted(labels) if (args.nab_dir / n).is_file() and (not args.quick or n in QUICK_SERIES)]
    detectors, forecasters = {}, {}
    detector_entry = one_metric_entry("anomaly-detector")
    limits = served_limits(detector_entry)
    warnings.filterwarnings("ignore", category=UserWarning)
    with tempfile.TemporaryDirectory(prefix="bench-real-") as root:
        for name in names:
            series = load_series(args.nab_dir, name, labels[name])
            detectors[name] = {"reference": reference_detector(series, limits),
                               "project": project_detector(series, detector_entry, Path(root), args.seed)}
            if series.step_seconds == FORECAST_STEP_SECONDS:
                forecasters[name] = project_forecaster(series, Path(root), args.seed)
            print(f"done {name}", file=sys.stderr, flush=True)
    print(f"{len(names)} real series from {args.nab_dir}; train on the first {TRAIN_SHARE:.0%}, score the rest; SEED {args.seed}")
    print_detector_table(detectors)
    print_forecaster_table(forecasters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
