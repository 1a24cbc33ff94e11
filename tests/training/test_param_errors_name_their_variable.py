"""check-params names the PipelineRun param of a bad value from ConfigError.variable (set by
modelkit.settings for every variable it checks), not by parsing the message."""

from __future__ import annotations

import pytest

from modelkit.errors import ConfigError
from modelkit.training.params import check_params


@pytest.mark.parametrize("variable, value, param", [
    ("TRAINING_HOURS", "0", "training-hours"),
    ("DATA_SOURCE", "bogus", "data-source"),
    ("SEED", "-1", None),
    ("PROMETHEUS_CA_BUNDLE", "/no/such/ca.crt", None),
    ("NOTEBOOK_PATH", "../outside.ipynb", "notebook-path"),
    ("INFERENCE_SERVICE_NAME", "Not_A_Label", "inference-service-name"),
])
def test_the_error_carries_the_variable_and_names_its_param(variable, value, param):
    with pytest.raises(ConfigError) as caught:
        check_params({"MODEL_NAME": "anomaly-detector", "DATA_SOURCE": "synthetic", variable: value})
    assert caught.value.variable == variable
    prefix = f"{variable} (PipelineRun param `{param}`): " if param else f"{variable}: "
    assert str(caught.value).startswith(prefix), str(caught.value)
