"""The metric names of the scorer's contract (`modelkit watch`, issue 12; README "Live scoring in
the cluster"), which the chart's rules and dashboard may use, plus the standard series Prometheus
itself makes (`up` per target, `ALERTS` per alert)."""

SCORER_METRICS = frozenset({
    "modelkit_anomaly_score", "modelkit_anomaly_flag", "modelkit_forecast",
    "modelkit_scoring_errors_total", "modelkit_scoring_last_success_timestamp_seconds",
    "modelkit_scoring_interval_seconds",
    "modelkit_model_info", "modelkit_model_served_age_seconds", "modelkit_model_last_training_timestamp_seconds",
    "modelkit_model_last_accepted_training_timestamp_seconds", "modelkit_model_last_gate_accepted",
    "modelkit_model_schedule_seconds", "modelkit_forecast_abs_error", "modelkit_forecast_last_value_abs_error",
    "modelkit_anomaly_alarms_per_day", "modelkit_anomaly_alarm_budget_per_day",
    "modelkit_feature_drift_psi", "modelkit_feature_drift_threshold", "modelkit_scoring_entities",
})
# Histograms are exported as <name>_bucket, _sum and _count.
HISTOGRAMS = ("modelkit_scoring_duration_seconds", "modelkit_scoring_cycle_duration_seconds")
SCORER_METRICS |= {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
STANDARD_METRICS = frozenset({"up", "ALERTS"})
