"""One scoring cycle: for each enabled model, self-report from the volume, then (when a version is
served) the latest window, the model's inputs, its prediction, online quality and drift.

A failure is counted by cause and logged, and only the series it feeds are left out of the cycle
(they go stale: exporter.ScorerMetrics.publish); the self-report and online quality, which do not
depend on the window, stay. Nothing a cycle meets stops the loop.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ModelkitError
from ..registry import ModelSpec
from ..evaluation import drift
from .exporter import ScorerMetrics, Values
from .model_inputs import build_inputs, drift_features, history_seconds, longest_lag_minutes
from .online_quality import WINDOWS, AlarmCounter, ForecastLedger
from .predictors import Prediction, RemotePredictor, ServedVersions, predict_local, served_file_identity
from .self_report import ModelFacts, VersionsReader, schedule_period_seconds
from .window import MIN_COVERAGE, WindowError, complete_window

log = logging.getLogger("modelkit.scoring")

# (spec, window seconds, step seconds, end Unix seconds) -> the metrics on that grid, NaN for gaps
WindowSource = Callable[[ModelSpec, int, int, float], pd.DataFrame]


@dataclass
class ScorerConfig:
    models_root: Path
    interval_seconds: float = 60
    step_seconds: int = 60
    drift_hours: float = 24
    drift_threshold: float = drift.DEFAULT_THRESHOLD
    # PSI over a day's window moves slowly: recomputed every 15 min (one longer query), re-exported between
    drift_every_seconds: float = 900


@dataclass
class ModelState:
    """What the scorer remembers of a model between cycles (bounded: online_quality)."""

    ledgers: dict[str, ForecastLedger] = field(default_factory=dict)
    alarms: AlarmCounter | None = None
    last_success: float | None = None
    drift: tuple[str, float, dict[tuple[str, ...], float]] | None = None  # (version, computed at, PSI by label set)


class Scorer:
    def __init__(self, specs: list[ModelSpec], config: ScorerConfig, source: WindowSource,
                 remote: RemotePredictor | None = None, clock: Callable[[], float] = time.time):
        self.specs = [spec for spec in specs if spec.enabled]
        self.config = config
        self.source = source
        self.remote = remote
        self.clock = clock
        self.metrics = ScorerMetrics(config.interval_seconds)
        self.versions = ServedVersions(config.models_root)
        self.reader = VersionsReader(config.models_root)
        self.states = {spec.name: ModelState() for spec in self.specs}
        self.schedules = {spec.name: schedule_period_seconds(spec.schedule) for spec in self.specs}
        self.cycles = 0

    @property
    def ready(self) -> bool:
        return self.cycles > 0

    def cycle(self) -> None:
        began = time.perf_counter()
        now = self.clock()
        for spec in self.specs:
            model_began = time.perf_counter()
            try:
                values = self.model_values(spec, now)
            except Exception:  # a bug must not stop the other models or the loop
                log.exception("%s: scoring failed unexpectedly", spec.name)
                self.metrics.count_error(spec.name, "other")
                values = {}
            self.metrics.publish(spec.name, values)
            self.metrics.model_duration.labels(spec.name).observe(time.perf_counter() - model_began)
        self.metrics.cycle_duration.observe(time.perf_counter() - began)
        self.cycles += 1

    def model_values(self, spec: ModelSpec, now: float) -> Values:
        state = self.states[spec.name]
        facts = self.reader.facts(spec.name)
        values: Values = {}
        try:
            served = self.versions.current(spec.name)
            if served is not None:
                identity, loaded = served
                add_served(values, spec, loaded.run_id, facts, now)
                self.score(spec, values, state, loaded, identity, facts, now)
                state.last_success = now
        except WindowError as exc:
            log.warning("%s: %s: %s", spec.name, exc.cause, exc)
            self.metrics.count_error(spec.name, exc.cause)
        add_self_report(values, spec, facts, self.schedules[spec.name])
        add_online_quality(values, spec, state, now)
        if state.last_success is not None:
            put(values, "modelkit_scoring_last_success_timestamp_seconds", (spec.name,), state.last_success)
        if spec.kind == "anomaly-detector" and "maxFalseAlarmsPerDay" in spec.thresholds:
            put(values, "modelkit_anomaly_alarm_budget_per_day", (spec.name,), spec.thresholds["maxFalseAlarmsPerDay"])
        return values

    def score(self, spec, values: Values, state: ModelState, loaded, identity, facts: ModelFacts, now: float) -> None:
        step = self.config.step_seconds
        history_rows = history_seconds(spec, step) // step
        reference = facts.reference_by_run.get(loaded.run_id) or {}
        drift_due = bool(reference) and (state.drift is None or state.drift[0] != loaded.run_id
                                         or now - state.drift[1] >= self.config.drift_every_seconds)
        drift_rows = int(self.config.drift_hours * 3600 // step) if drift_due else 0
        raw = self.source(spec, (history_rows + drift_rows) * step, step, now)
        window = complete_window(raw.iloc[-history_rows:], spec.name, MIN_COVERAGE if longest_lag_minutes(spec) else 0.0)
        inputs = model_inputs(spec, window, step)
        latest = inputs.iloc[[-1]].to_numpy(dtype=float)
        if not np.isfinite(latest).all():
            bad = [name for name, value in zip(inputs.columns, latest[0]) if not math.isfinite(value)]
            raise WindowError("feature_error", f"{spec.name}: features {', '.join(bad)} of the latest row are not finite")
        if self.remote is not None:
            prediction = self.remote.predict(spec.name, latest, spec.kind, loaded.run_id)
        else:
            prediction = predict_local(loaded, latest, spec.kind)
        if served_file_identity(self.config.models_root, spec.name) != identity:
            raise WindowError("model_replaced", f"{spec.name}: the served file changed while it was scored; next cycle scores the new version")
        latest_time = window.index[-1].timestamp()
        if spec.kind == "anomaly-detector":
            add_detector_outputs(values, spec, prediction, state, latest_time, max(step, self.config.interval_seconds))
        else:
            add_forecasts(values, spec, prediction, state, window, latest_time)
        if drift_due:
            state.drift = (loaded.run_id, now, self.drift_values(spec, prediction.version, reference, raw, drift_rows))
        if reference and state.drift and state.drift[0] == loaded.run_id:
            values["modelkit_feature_drift_psi"] = dict(state.drift[2])
            if state.drift[2]:
                put(values, "modelkit_feature_drift_threshold", (spec.name,), self.config.drift_threshold)

    def drift_values(self, spec: ModelSpec, version: str, reference: dict, raw: pd.DataFrame, rows: int) -> dict:
        """PSI per input over the last `rows`; none when Prometheus does not hold enough of that window yet."""
        try:
            inputs = model_inputs(spec, complete_window(raw, spec.name), self.config.step_seconds)
        except WindowError as exc:
            log.info("%s: no drift this cycle: %s", spec.name, exc)
            return {}
        found = {}
        for feature in drift_features(spec):
            if feature in reference:
                value = drift.psi(reference[feature], inputs[feature].to_numpy(dtype=float)[-rows:])
                if value is not None:
                    found[(spec.name, version, feature)] = value
        return found

    def run_forever(self, stop: threading.Event) -> None:
        """A cycle every interval (measured from cycle start; a slow cycle is followed at once by the next)
        until `stop` is set, which ends the wait at once (SIGTERM within the pod's grace period)."""
        while not stop.is_set():
            began = time.monotonic()
            self.cycle()
            stop.wait(max(0.0, self.config.interval_seconds - (time.monotonic() - began)))


def model_inputs(spec: ModelSpec, window: pd.DataFrame, step: int) -> pd.DataFrame:
    try:
        return build_inputs(spec, window, step)
    except ModelkitError as exc:
        raise WindowError("feature_error", f"features of {spec.name}: {exc}") from exc


def put(values: Values, name: str, labels: tuple[str, ...], value: float) -> None:
    values.setdefault(name, {})[labels] = float(value)


def add_served(values: Values, spec: ModelSpec, version: str, facts: ModelFacts, now: float) -> None:
    put(values, "modelkit_model_info", (spec.name, version, spec.kind), 1)
    created = facts.created_at_by_run.get(version)
    if created is not None:
        put(values, "modelkit_model_served_age_seconds", (spec.name, version), now - created)


def add_self_report(values: Values, spec: ModelSpec, facts: ModelFacts, schedule_seconds: float) -> None:
    put(values, "modelkit_model_schedule_seconds", (spec.name,), schedule_seconds)
    if facts.last_training is not None:
        put(values, "modelkit_model_last_training_timestamp_seconds", (spec.name,), facts.last_training)
    if facts.last_accepted_training is not None:
        put(values, "modelkit_model_last_accepted_training_timestamp_seconds", (spec.name,), facts.last_accepted_training)
    if facts.last_gate_accepted is not None:
        put(values, "modelkit_model_last_gate_accepted", (spec.name,), int(facts.last_gate_accepted))


def add_detector_outputs(values: Values, spec: ModelSpec, prediction: Prediction, state: ModelState,
                         latest_time: float, gap_seconds: float) -> None:
    flagged = bool(prediction.predictions[0] == -1)
    put(values, "modelkit_anomaly_flag", (spec.name, prediction.version), int(flagged))
    if prediction.scores is not None:
        put(values, "modelkit_anomaly_score", (spec.name, prediction.version), prediction.scores[0])
    state.alarms = state.alarms or AlarmCounter(int(gap_seconds))
    state.alarms.record(latest_time, flagged)


def add_forecasts(values: Values, spec: ModelSpec, prediction: Prediction, state: ModelState,
                  window: pd.DataFrame, latest_time: float) -> None:
    horizon = spec.forecast_horizon_minutes
    changes = np.atleast_2d(prediction.predictions)[0]
    seconds = window.index.asi8 // 1_000_000_000
    for metric, change in zip(spec.metric_names, changes):
        current = float(window[metric].iloc[-1])
        put(values, "modelkit_forecast", (spec.name, prediction.version, metric, str(horizon)), current + change)
        ledger = state.ledgers.setdefault(metric, ForecastLedger())
        recent = seconds >= (ledger.pending[0].target_time if ledger.pending else latest_time)
        ledger.settle(dict(zip(seconds[recent].astype(float), window[metric].to_numpy()[recent])), latest_time)
        ledger.add(latest_time + horizon * 60, current + change, current)


def add_online_quality(values: Values, spec: ModelSpec, state: ModelState, now: float) -> None:
    for metric, ledger in state.ledgers.items():
        for window, seconds in WINDOWS.items():
            errors = ledger.mean_errors(seconds, now)
            if errors is not None:
                put(values, "modelkit_forecast_abs_error", (spec.name, metric, window), errors[0])
                put(values, "modelkit_forecast_last_value_abs_error", (spec.name, metric, window), errors[1])
    if state.alarms is not None:
        rate = state.alarms.per_day(WINDOWS["24h"], now)
        if rate is not None:
            put(values, "modelkit_anomaly_alarms_per_day", (spec.name, "24h"), rate)
