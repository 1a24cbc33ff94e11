"""Evaluation: how good a version is on data, the one code training, the gate and scoring share.

`events` (runs of flags), `anomaly` (point/event/alarm metrics, the false-alarm limit),
`forecast` (MAE/MAPE against naive baselines), `forecast_targets` (change targets and the
baselines' predictions), `probe` (load a version in a fresh process and predict), `replay`
(a recorded held-out window through any version, for the gate), `drift` (PSI of live inputs
against the training reference).
"""
