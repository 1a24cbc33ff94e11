"""Live scoring (`modelkit watch`): the served models scored on the latest Prometheus window every
interval, and the models reporting on themselves, exported as Prometheus metrics.

One module per job: `window` (the latest window from Prometheus), `model_inputs` (the training
feature code, through one adapter), `predictors` (in-process or the InferenceService), `self_report`
(versions on the models volume), `online_quality` (forecasts against actuals, alarm rate), drift
(PSI against the training reference, `modelkit.evaluation.drift`), `exporter` (the metric families and their stale label sets),
`http_server`, `scorer` (one cycle), `cli`. Metric names: docs/ARCHITECTURE.md "Live scoring".

`batch` is the same for data in hand (`modelkit score`, backtests): read a metrics file, train a
registry model on values, score values with a version; its Python API is re-exported here.
"""

from .batch import read_metrics_file, score_values, summarise, train_on_values

__all__ = ["read_metrics_file", "score_values", "summarise", "train_on_values"]
