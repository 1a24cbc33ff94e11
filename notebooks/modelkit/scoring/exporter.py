"""The scorer's metric families (names and labels: /work contract, docs/ARCHITECTURE.md) and the rule
that keeps them honest: each cycle a model publishes the complete set of label sets it has values
for; any label set it published before and not now is removed, so its series goes stale in
Prometheus instead of showing an old or made-up value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
    "modelkit_feature_drift_threshold": ("PSI above which a feature counts as drifted", ("model",)),
}
ERROR_CAUSES = ("prometheus_unreachable", "prometheus_empty", "prometheus_bad_answer", "endpoint_down", "endpoint_error",
                "model_replaced", "feature_error", "other")

# name -> {label values (model first) -> value}
Values = dict[str, dict[tuple[str, ...], float]]


class ScorerMetrics:
    def __init__(self, interval_seconds: float):
        self.registry = CollectorRegistry()
        self.gauges = {name: Gauge(name, doc, labels, registry=self.registry) for name, (doc, labels) in GAUGES.items()}
        self.model_duration = Histogram("modelkit_scoring_duration_seconds", "Time to score one model in a cycle",
                                        ("model",), registry=self.registry)
        self.cycle_duration = Histogram("modelkit_scoring_cycle_duration_seconds", "Time of a whole scoring cycle",
                                        registry=self.registry)
        self.errors = Counter("modelkit_scoring_errors", "Scoring failures by cause", ("model", "cause"), registry=self.registry)
        Gauge("modelkit_scoring_interval_seconds", "Configured scoring interval", registry=self.registry).set(interval_seconds)
        self.input_source = Gauge("modelkit_scoring_input_source", "1 for where the scored windows come from "
                                  "(prometheus, or synthetic in the demo)", ("source",), registry=self.registry)
        self._published: dict[str, dict[str, set[tuple[str, ...]]]] = {}

    def set_input_source(self, source: str) -> None:
        self.input_source.labels(source).set(1)

    def count_error(self, model: str, cause: str) -> None:
        self.errors.labels(model, cause if cause in ERROR_CAUSES else "other").inc()

    def publish(self, model: str, values: Values) -> None:
        """Set the model's label sets to `values`; remove the ones it published before and not now."""
        before = self._published.get(model, {})
        for name, gauge in self.gauges.items():
            now = values.get(name, {})
            for labels in before.get(name, set()) - set(now):
                gauge.remove(*labels)
            for labels, value in now.items():
                gauge.labels(*labels).set(value)
        self._published[model] = {name: set(v) for name, v in values.items() if v}

    def published_models(self) -> list[str]:
        return list(self._published)

    def text(self) -> str:
        return generate_latest(self.registry).decode()
