"""One scoring cycle: for each enabled model, self-report from the volume, then (when a version is
served) the latest window, the model's inputs, its prediction, online quality and drift.

A failure is counted by cause and logged, and only the series it feeds are left out of the cycle
(they go stale: exporter.ScorerMetrics.publish); the self-report and online quality, which do not
depend on the window, stay. Nothing a cycle meets stops the loop.

A per-entity model is scored one row per entity per cycle, all rows in one prediction: the newest
row of each entity `window.complete_panel` kept. Its scores, flags and forecasts carry the entity
key and labels; an entity left out (no recent sample, too little history, a non-finite input) has
no series this cycle and is counted in modelkit_scoring_entities{status}. Online quality pools the
entities: forecast errors over every entity's settled forecasts, alarms per entity-day.
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

from ..entities import entity_columns, is_entity_model
from ..errors import ModelkitError
from ..registry import ModelSpec
from ..evaluation import drift
from .exporter import ENTITY_STATUSES, ScorerMetrics, Values
from .model_inputs import build_inputs, drift_features, history_seconds, longest_lag_minutes
from .online_quality import KEEP_SECONDS, WINDOWS, AlarmCounter, ForecastLedger, pooled_mean_errors
from .predictors import Prediction, RemotePredictor, ServedVersions, predict_local, served_file_identity
from .self_report import ModelFacts, VersionsReader, schedule_period_seconds
from .window import MIN_COVERAGE, WindowError, complete_panel, complete_window, last_rows, latest_rows, row_keys

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

    ledgers: dict[tuple[str, str], ForecastLedger] = field(default_factory=dict)  # (entity key, metric); key "" cluster-wide
    alarms: dict[str, AlarmCounter] = field(default_factory=dict)  # by entity key
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
        for spec in self.specs:
            if is_entity_model(spec):
                self.metrics.set_entity_labels(spec.name, spec.entity)
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
        latest = self.latest_inputs(spec, latest_rows(raw, history_rows, step))
        if is_entity_model(spec):
            statuses = ["scored"] * len(latest.keys) + list(latest.left_out.values())
            for status in ENTITY_STATUSES:
                put(values, "modelkit_scoring_entities", (spec.name, status), statuses.count(status))
        if self.remote is not None:
            prediction = self.remote.predict(spec.name, latest.rows, spec.kind, loaded.run_id)
        else:
            prediction = predict_local(loaded, latest.rows, spec.kind)
        if served_file_identity(self.config.models_root, spec.name) != identity:
            raise WindowError("model_replaced", f"{spec.name}: the served file changed while it was scored; next cycle scores the new version")
        if spec.kind == "anomaly-detector":
            add_detector_outputs(values, spec, prediction, state, latest, max(step, self.config.interval_seconds))
        else:
            add_forecasts(values, spec, prediction, state, latest)
        if drift_due:
            state.drift = (loaded.run_id, now, self.drift_values(spec, prediction.version, reference, raw, drift_rows))
        if reference and state.drift and state.drift[0] == loaded.run_id:
            values["modelkit_feature_drift_psi"] = dict(state.drift[2])
            if state.drift[2]:
                put(values, "modelkit_feature_drift_threshold", (spec.name,), self.config.drift_threshold)

    def latest_inputs(self, spec: ModelSpec, recent: pd.DataFrame) -> "LatestRows":
        """The inputs of the newest row (of each entity kept, for a per-entity model); non-finite ones refused."""
        coverage = MIN_COVERAGE if longest_lag_minutes(spec) else 0.0
        if not is_entity_model(spec):
            window = complete_window(recent, spec.name, coverage)
            latest = LatestRows.cluster(window, model_inputs(spec, window, self.config.step_seconds))
        else:
            panel = complete_panel(recent, spec, coverage)
            latest = LatestRows.panel(spec, panel.window, model_inputs(spec, panel.window, self.config.step_seconds), panel.left_out)
        bad = ~np.isfinite(latest.rows).all(axis=1)
        if bad.any() and not is_entity_model(spec):
            names = [name for name, value in zip(latest.feature_names, latest.rows[0]) if not math.isfinite(value)]
            raise WindowError("feature_error", f"{spec.name}: features {', '.join(names)} of the latest row are not finite")
        if bad.any():
            log.warning("%s: entities left out, non-finite features: %s", spec.name, ", ".join(np.asarray(latest.keys)[bad][:10]))
            latest = latest.without(bad, "feature_error")
            if not latest.keys:
                raise WindowError("feature_error", f"{spec.name}: the features of every entity's latest row are not finite")
        return latest

    def drift_values(self, spec: ModelSpec, version: str, reference: dict, raw: pd.DataFrame, rows: int) -> dict:
        """PSI per input over the last `rows`; none when Prometheus does not hold enough of that window yet."""
        try:
            window = complete_panel(raw, spec).window if is_entity_model(spec) else complete_window(raw, spec.name)
            inputs = latest_rows(model_inputs(spec, window, self.config.step_seconds), rows, self.config.step_seconds)
        except WindowError as exc:
            log.info("%s: no drift this cycle: %s", spec.name, exc)
            return {}
        found = {}
        for feature in drift_features(spec):
            if feature in reference:
                value = drift.psi(reference[feature], inputs[feature].to_numpy(dtype=float))
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


@dataclass(frozen=True)
class LatestRows:
    """The rows a cycle predicts: the newest of each entity (one, key "", for a cluster-wide model)."""

    keys: list[str]  # entity keys ("worker-1"), "" for a cluster-wide model
    labels: list[tuple[str, ...]]  # entity label values, () for a cluster-wide model
    rows: np.ndarray  # one input row per entity
    feature_names: list[str]
    time: float  # Unix seconds of the newest grid point
    window: pd.DataFrame  # the completed window (metric values), for forecasts
    spans: list[tuple[int, int]]  # each entity's rows of `window`: [start, end)
    left_out: dict[str, str]  # entity key -> why it is not scored

    @classmethod
    def cluster(cls, window: pd.DataFrame, inputs: pd.DataFrame) -> "LatestRows":
        return cls([""], [()], inputs.iloc[[-1]].to_numpy(dtype=float), list(inputs.columns),
                   window.index[-1].timestamp(), window, [(0, len(window))], {})

    @classmethod
    def panel(cls, spec: ModelSpec, window: pd.DataFrame, inputs: pd.DataFrame, left_out: dict[str, str]) -> "LatestRows":
        columns = entity_columns(spec)
        keys = row_keys(window, spec)
        last = last_rows(keys)
        spans = list(zip(np.r_[0, last[:-1] + 1].tolist(), (last + 1).tolist()))
        labels = [tuple(map(str, row)) for row in window[columns].to_numpy()[last]]
        features = inputs.drop(columns=columns)
        return cls(list(keys[last]), labels, features.to_numpy(dtype=float)[last], list(features.columns),
                   window.index[-1].timestamp(), window, spans, dict(left_out))

    def series(self, position: int) -> tuple[str, ...]:
        """The exporter's entity label values of an entity: its key and labels (none for a cluster-wide model)."""
        return (self.keys[position], *self.labels[position]) if self.labels[position] else ()

    def without(self, drop: np.ndarray, status: str) -> "LatestRows":
        keep = np.flatnonzero(~drop)
        left_out = {**self.left_out, **{self.keys[i]: status for i in np.flatnonzero(drop)}}
        return LatestRows([self.keys[i] for i in keep], [self.labels[i] for i in keep], self.rows[keep], self.feature_names,
                          self.time, self.window, [self.spans[i] for i in keep], left_out)


def add_detector_outputs(values: Values, spec: ModelSpec, prediction: Prediction, state: ModelState,
                         latest: LatestRows, gap_seconds: float) -> None:
    for position, key in enumerate(latest.keys):
        flagged = bool(prediction.predictions[position] == -1)
        labels = (spec.name, prediction.version, *latest.series(position))
        put(values, "modelkit_anomaly_flag", labels, int(flagged))
        if prediction.scores is not None:
            put(values, "modelkit_anomaly_score", labels, prediction.scores[position])
        state.alarms.setdefault(key, AlarmCounter(int(gap_seconds))).record(latest.time, flagged)


def add_forecasts(values: Values, spec: ModelSpec, prediction: Prediction, state: ModelState, latest: LatestRows) -> None:
    horizon = spec.forecast_horizon_minutes
    changes = np.atleast_2d(prediction.predictions)
    all_seconds = latest.window.index.asi8 // 1_000_000_000
    levels = latest.window[list(spec.metric_names)].to_numpy(dtype=float)
    for position, (key, (start, end)) in enumerate(zip(latest.keys, latest.spans)):
        seconds = all_seconds[start:end]
        for column, (metric, change) in enumerate(zip(spec.metric_names, changes[position])):
            history = levels[start:end, column]
            current = float(history[-1])
            put(values, "modelkit_forecast", (spec.name, prediction.version, metric, str(horizon), *latest.series(position)),
                current + change)
            ledger = state.ledgers.setdefault((key, metric), ForecastLedger())
            recent = seconds >= (ledger.pending[0].target_time if ledger.pending else latest.time)
            ledger.settle(dict(zip(seconds[recent].astype(float), history[recent])), latest.time)
            ledger.add(latest.time + horizon * 60, current + change, current)


def add_online_quality(values: Values, spec: ModelSpec, state: ModelState, now: float) -> None:
    forget_departed(state, now)
    for metric in spec.metric_names:
        ledgers = [ledger for (_, name), ledger in state.ledgers.items() if name == metric]
        for window, seconds in WINDOWS.items():
            errors = pooled_mean_errors(ledgers, seconds, now)
            if errors is not None:
                put(values, "modelkit_forecast_abs_error", (spec.name, metric, window), errors[0])
                put(values, "modelkit_forecast_last_value_abs_error", (spec.name, metric, window), errors[1])
    rates = [rate for counter in state.alarms.values() if (rate := counter.per_day(WINDOWS["24h"], now)) is not None]
    if rates:  # per entity-day: the mean of the entities' rates, so the budget does not grow with the fleet
        put(values, "modelkit_anomaly_alarms_per_day", (spec.name, "24h"), sum(rates) / len(rates))


def forget_departed(state: ModelState, now: float) -> None:
    """Entities not scored for a day leave the online-quality state (memory stays bounded as nodes come and go)."""
    for key in [key for key, counter in state.alarms.items() if counter.last_time is not None and counter.last_time <= now - KEEP_SECONDS]:
        del state.alarms[key]
    for key in [key for key, ledger in state.ledgers.items() if (ledger.newest_time() or 0) <= now - KEEP_SECONDS]:
        del state.ledgers[key]
