"""Train and evaluate the forecaster of one run; the notebook shows and publishes the result.

An entity model (registry `entity:`) is one forecaster trained on every entity's rows (inputs,
targets and baselines from each entity's own history), split at the same times for every
entity; `metrics.worst_entities` names the entities where it beats the naive forecasts least."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.multioutput import MultiOutputRegressor

from .. import features as feature_module
from ..data import load_training_frame
from ..data.prometheus import PrometheusClient
from ..entities import entity_columns
from ..errors import ConfigError
from ..evaluation import forecast_targets as ff
from ..evaluation.anomaly import WORST_ENTITIES
from ..evaluation.forecast import evaluate
from ..evaluation.replay import record_window
from ..recorded_source import RecordedSeries
from . import forecaster
from . import warmup
from .frame_checks import check_frame
from .metadata import build_metadata
from .run_context import TrainingRun
from .splits import TimeSplit, split_by_time

KINDS = ("forecaster",)
FRACTIONS = (0.8, 0.0, 0.2)  # no validation slice: nothing is tuned on held-out data
PROBE_ROWS = 4


@dataclass
class ForecastResult:
    run: TrainingRun
    frame: pd.DataFrame
    provenance: dict[str, Any]
    step_seconds: int
    warmup_hours: int
    split: TimeSplit  # rows: features, targets, 'seasonal_naive:<m>' and 'current:<m>' columns
    model: MultiOutputRegressor
    predictions: dict[str, np.ndarray]  # method -> predicted change on the test slice
    metrics: dict[str, Any]
    replay: dict[str, Any]  # the test slice for the gate's replay

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self.run.spec.metric_names

    @property
    def horizon_minutes(self) -> int:
        return self.run.spec.forecast_horizon_minutes

    @property
    def target_names(self) -> list[str]:
        return ff.target_names(self.metric_names, self.horizon_minutes)

    def outputs(self) -> dict[str, Any]:
        return {
            "names": self.target_names,
            "meaning": (
                f"predict returns, per input row, the expected change of each metric over the next {self.horizon_minutes} "
                f"minutes, in the metric's unit, in this order; the forecast level = current value + change"
            ),
            "horizon_minutes": self.horizon_minutes,
        }

    def probe_input(self) -> list[list[float]]:
        rows = self.split.test[list(self.run.spec.features)].to_numpy(dtype=float)
        return rows[np.linspace(0, len(rows) - 1, PROBE_ROWS).astype(int)].tolist()

    def metadata(self) -> dict[str, Any]:
        return build_metadata(
            self.run,
            metrics=self.metrics,
            outputs=self.outputs(),
            provenance=self.provenance,
            probe_input=self.probe_input(),
            replay=self.replay,
            reference_inputs=self.split.train[list(self.run.spec.features)],
            details={
                "algorithm": "MultiOutputRegressor(VotingRegressor(HistGradientBoostingRegressor(absolute error), "
                             "no change)) of the change over the horizon",
                "tree_weight": self.model.estimators_[0].weights[0],
                "horizon_minutes": self.horizon_minutes,
                "warmup_hours_loaded": self.warmup_hours,
                "baselines": {
                    "last_value": "level at t + horizon = level at t (change 0)",
                    "seasonal_naive": "level at t + horizon = level one day earlier",
                    "weekly_naive": "level at t + horizon = level one week earlier (when the window holds a week before the test rows)",
                },
                "split": self.split.describe(),
            },
        )


def _horizon(run: TrainingRun) -> int:
    horizon = run.spec.forecast_horizon_minutes
    if not horizon or horizon >= ff.MINUTES_PER_DAY:
        raise ConfigError(f"model {run.spec.name!r} field `forecastHorizonMinutes`: must be between 1 and {ff.MINUTES_PER_DAY - 1}, got {horizon!r}")
    return horizon


def train(run: TrainingRun, end: datetime | None = None, client: PrometheusClient | RecordedSeries | None = None) -> ForecastResult:
    """TRAINING_HOURS of examples; the warm-up history their lags need is loaded in addition.
    `end`: last time of the data window (default now; tests pin it); `client`: where real values
    come from (default: the run's Prometheus).

    Trained and judged on the untouched values only (the real ones, or the clean synthetic
    series): injected anomaly events exist to test the detector and would teach the forecaster
    that every excursion snaps back, and grade it on that."""
    horizon = _horizon(run)
    features = feature_module.parse_features(run.spec.features, run.spec.metric_names)
    warmup_hours = warmup.warmup_hours(run.spec)
    loaded = load_training_frame(run.spec, run.data_settings(extra_hours=warmup_hours), end=end, client=client)
    metrics_in = run.spec.metric_names
    labels_in = entity_columns(run.spec)
    step = check_frame(loaded.frame, metrics_in, labels_in)
    values = loaded.untouched

    inputs = feature_module.build_features(values, features, step, labels_in)
    targets = ff.build_targets(values, metrics_in, horizon, step, labels_in).drop(columns=labels_in)
    seasonal = ff.seasonal_naive_change(values, metrics_in, horizon, step, entity_columns=labels_in).drop(columns=labels_in)
    weekly = ff.seasonal_naive_change(values, metrics_in, horizon, step, ff.MINUTES_PER_WEEK, labels_in).drop(columns=labels_in)
    levels = values[list(metrics_in)].add_prefix("current:")
    parts = [inputs, targets, seasonal.add_prefix("seasonal_naive:"), weekly.add_prefix("weekly_naive:"), levels]
    rows = pd.concat([part.reset_index(drop=True) for part in parts], axis=1).set_axis(values.index)
    feature_names, target_names = list(run.spec.features), list(targets.columns)
    rows = rows[rows[feature_names + target_names + [f"seasonal_naive:{m}" for m in metrics_in]].notna().all(axis=1).to_numpy()]
    split = split_by_time(rows, FRACTIONS, gap_rows=feature_module.rows_for(horizon, step, "forecast horizon"), panel=bool(labels_in))

    # time order for the fit: its weight is chosen on the latest training rows (forecaster.choose_tree_weight)
    train_rows = split.train.sort_index(kind="stable")
    model = forecaster.fit(train_rows[feature_names], train_rows[target_names], run.settings.seed)
    test = split.test
    predictions = {
        "model": model.predict(test[feature_names].to_numpy(dtype=float)),
        "last_value": np.zeros((len(test), len(metrics_in))),
        "seasonal_naive": test[[f"seasonal_naive:{m}" for m in metrics_in]].to_numpy(dtype=float),
    }
    same_time_last_week = test[[f"weekly_naive:{m}" for m in metrics_in]].to_numpy(dtype=float)
    if not np.isnan(same_time_last_week).any():  # the window holds a week before every test row
        predictions["weekly_naive"] = same_time_last_week
    current = test[list(levels.columns)].set_axis(list(metrics_in), axis=1)
    metrics = evaluate(current, test[target_names], predictions)
    metrics["judged_on"] = "untouched rows (no injected anomaly in inputs, targets or history)"
    if labels_in:
        metrics.update(entity_summary(feature_module.row_entities(test, labels_in), current, test[target_names], predictions))
    replay = record_window(values[labels_in + list(metrics_in)], test.index.min(), step, ff.warmup_minutes(features),
                           entity_columns=labels_in)
    return ForecastResult(run, loaded.frame, loaded.provenance, step, warmup_hours, split, model, predictions, metrics, replay)


def entity_summary(entities: np.ndarray, current: pd.DataFrame, actual: pd.DataFrame, predictions: dict[str, np.ndarray],
                   count: int = WORST_ENTITIES) -> dict[str, Any]:
    """The entity count and the `count` entities with the highest MAE ratio (the worst of model MAE over
    each baseline's, on each metric: above 1, a naive forecast does better on that entity)."""
    ratios = {}
    for key in dict.fromkeys(entities):
        rows = entities == key
        judged = evaluate(current[rows], actual[rows], {method: p[rows] for method, p in predictions.items()})
        ratios[key] = judged["mae_ratio"]
    worst = sorted(ratios.items(), key=lambda item: -item[1])[:count]
    return {"entities": len(ratios), "worst_entities": [{"entity": key, "mae_ratio": ratio} for key, ratio in worst]}
