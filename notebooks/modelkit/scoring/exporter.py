"""The scorer's metric families (names and labels: /work contract, docs/ARCHITECTURE.md) and the rule
that keeps them honest: each cycle a model publishes the complete set of label sets it has values
for, which replaces what it published before; a label set not published now is gone from /metrics,
so its series goes stale in Prometheus instead of showing an old or made-up value.

A per-entity model's ENTITY_FAMILIES carry, after their own labels, `entity` (the entity key,
"worker-1", which alert texts and the dashboard use whatever the labels are) and the model's entity
labels (`instance="worker-1"`); label names therefore differ between models of one family, which is
why the gauges are rendered by a collector from the published values rather than by
prometheus_client's fixed-label Gauge."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

GAUGES = {
    "modelkit_anomaly_score": ("Detector decision_function on the latest row (lower = more anomalous, < 0 = flagged)", ("model", "version")),
    "modelkit_anomaly_flag": ("1 when the served detector flags the latest row, else 0", ("model", "version")),
    "modelkit_forecast": ("Forecast level of the metric at now + horizon", ("model", "version", "metric", "horizon_minutes")),
    "modelkit_scoring_last_success_timestamp_seconds": ("Unix time of the model's last successful scoring", ("model",)),
    "modelkit_model_info": ("1 for the served version of the model", ("model", "version", "kind")),
    "modelkit_model_served_age_seconds": ("Seconds since the served version was trained (created_at)", ("model", "version")),
    "modelkit_model_last_training_timestamp_seconds": ("created_at of the newest version, any verdict", ("model",)),
    "modelkit_model_last_accepted_training_timestamp_seconds": ("created_at of the newest version the gate accepted", ("model",)),
    "modelkit_model_last_gate_accepted": ("1 when the gate accepted the newest judged version, else 0", ("model",)),
    "modelkit_model_schedule_seconds": ("Period of the model's training schedule (longest gap between firings)", ("model",)),
    "modelkit_forecast_abs_error": ("Rolling MAE of forecasts whose horizon has passed, against the actual value", ("model", "metric", "window")),
    "modelkit_forecast_last_value_abs_error": ("Rolling MAE of the last-value baseline over the same forecasts", ("model", "metric", "window")),
    "modelkit_anomaly_alarms_per_day": ("Alarms (runs of flagged rows) per day over the window", ("model", "window")),
    "modelkit_anomaly_alarm_budget_per_day": ("The registry's maxFalseAlarmsPerDay", ("model",)),
    "modelkit_feature_drift_psi": ("PSI of the live window against the training reference of the served version", ("model", "version", "feature")),
    "modelkit_scoring_entities": ("Entities of a per-entity model in the cycle's window by status: scored, or left out "
                                  "(no_recent_sample, too_little_history, feature_error)", ("model", "status")),
    "modelkit_feature_drift_threshold": ("PSI above which a feature counts as drifted", ("model",)),
}
# Families with one series per entity for a per-entity model; label values: own labels, entity key, entity labels.
ENTITY_FAMILIES = ("modelkit_anomaly_score", "modelkit_anomaly_flag", "modelkit_forecast")
ENTITY_KEY_LABEL = "entity"
ENTITY_STATUSES = ("scored", "no_recent_sample", "too_little_history", "feature_error")
ERROR_CAUSES = ("prometheus_unreachable", "prometheus_empty", "prometheus_bad_answer", "endpoint_down", "endpoint_error",
                "model_replaced", "feature_error", "other")

# name -> {label values (model first) -> value}
Values = dict[str, dict[tuple[str, ...], float]]


class PublishedGauges:
    """The GAUGES families from each model's last published values (a prometheus_client collector)."""

    def __init__(self) -> None:
        self.values: dict[str, Values] = {}
        self.entity_labels: dict[str, tuple[str, ...]] = {}

    def describe(self):
        return [GaugeMetricFamily(name, doc) for name, (doc, _) in GAUGES.items()]

    def collect(self):
        published = list(self.values.items())  # publish() swaps whole dicts: a consistent snapshot per model
        for name, (doc, labels) in GAUGES.items():
            family = GaugeMetricFamily(name, doc)
            for model, values in published:
                names = labels
                if name in ENTITY_FAMILIES and self.entity_labels.get(model):
                    names = (*labels, ENTITY_KEY_LABEL, *self.entity_labels[model])
                for key, value in values.get(name, {}).items():
                    family.add_sample(name, dict(zip(names, key)), value)
            yield family


class ScorerMetrics:
    def __init__(self, interval_seconds: float):
        self.registry = CollectorRegistry()
        self.gauges = PublishedGauges()
        self.registry.register(self.gauges)
        self.model_duration = Histogram("modelkit_scoring_duration_seconds", "Time to score one model in a cycle",
                                        ("model",), registry=self.registry)
        self.cycle_duration = Histogram("modelkit_scoring_cycle_duration_seconds", "Time of a whole scoring cycle",
                                        registry=self.registry)
        self.errors = Counter("modelkit_scoring_errors", "Scoring failures by cause", ("model", "cause"), registry=self.registry)
        Gauge("modelkit_scoring_interval_seconds", "Configured scoring interval", registry=self.registry).set(interval_seconds)
        self.input_source = Gauge("modelkit_scoring_input_source", "1 for where the scored windows come from "
                                  "(prometheus, or synthetic in the demo)", ("source",), registry=self.registry)

    def set_input_source(self, source: str) -> None:
        self.input_source.labels(source).set(1)

    def count_error(self, model: str, cause: str) -> None:
        self.errors.labels(model, cause if cause in ERROR_CAUSES else "other").inc()

    def set_entity_labels(self, model: str, labels: tuple[str, ...]) -> None:
        """The entity label names of a per-entity model's ENTITY_FAMILIES series (after the entity key)."""
        self.gauges.entity_labels[model] = tuple(labels)

    def publish(self, model: str, values: Values) -> None:
        """The model's label sets become exactly `values` (a new dict each cycle: it is not copied)."""
        self.gauges.values[model] = {name: series for name, series in values.items() if series}

    def text(self) -> str:
        return generate_latest(self.registry).decode()
