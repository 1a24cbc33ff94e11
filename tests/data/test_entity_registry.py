"""The registry's per-entity fields (entity, metrics[].entityJoin, syntheticEntities): the typed spec,
and one clear error per bad entry naming the model and the field. Label names follow Prometheus'
data model (https://prometheus.io/docs/concepts/data_model/: `[a-zA-Z_][a-zA-Z0-9_]*`, names
starting with `__` reserved for internal use)."""

from __future__ import annotations

import pytest

from modelkit.errors import ConfigError
from modelkit.registry import BROADCAST, GROUP, validate_entries

from .entity_helpers import NODE_MODEL, entity_entry, entity_spec
from .helpers import registry_spec, spec


def test_the_entity_fields_become_the_typed_spec(tmp_path):
    node = entity_spec(tmp_path, syntheticEntities=12)
    assert node.entity == ("instance",) and node.synthetic_entities == 12
    assert [m.entity_join for m in node.metrics] == [GROUP, GROUP, GROUP, BROADCAST]
    assert entity_spec(tmp_path, entity=["namespace", "pod"]).entity == ("namespace", "pod")
    assert entity_spec(tmp_path).synthetic_entities == 3  # the default


def test_a_cluster_wide_entry_has_no_entity():
    forecaster = registry_spec("predictive-analytics")
    assert forecaster.entity == () and all(m.entity_join == GROUP for m in forecaster.metrics)


def test_the_default_detector_is_per_node_with_the_cluster_ratio_broadcast():
    detector = registry_spec()
    assert detector.entity == ("instance",) and detector.synthetic_entities == 6
    joins = {m.name: m.entity_join for m in detector.metrics}
    assert joins == {**dict.fromkeys(detector.metric_names, GROUP), "pod_cpu_to_request_ratio": "broadcast"}


def without_entity(entry):
    entry.pop("entity")
    return entry


CASES = {
    "bad label name": (entity_entry(entity=["node-name"]), "field `entity.0`: 'node-name' does not match"),
    "label starting with a digit": (entity_entry(entity=["1node"]), "field `entity.0`"),
    "reserved label": (entity_entry(entity=["__name__"]), "field `entity[0]`: '__name__' starts with '__'"),
    "label modelkit writes": (entity_entry(entity=["model"]), "field `entity[0]`: 'model' would clash"),
    "label named like a metric": (entity_entry(entity=["node_cpu_utilisation"]), "field `entity[0]`: 'node_cpu_utilisation' would clash"),
    "duplicate label": (entity_entry(entity=["instance", "instance"]), "field `entity`: label 'instance' is listed twice"),
    "empty entity": (entity_entry(entity=[]), "field `entity`: [] should be non-empty"),
    "four labels": (entity_entry(entity=["a", "b", "c", "d"]), "field `entity`"),
    "entity not a list": (entity_entry(entity="instance"), "field `entity`: 'instance' is not of type 'array'"),
    "unknown join": (entity_entry(metrics=[{**NODE_MODEL["metrics"][0], "entityJoin": "refuse"}]), "field `metrics.0.entityJoin`"),
    "broadcast without entity": (without_entity(entity_entry()), "field `metrics[3].entityJoin`: only for a per-entity model"),
    "synthetic entities without entity": (without_entity(entity_entry(syntheticEntities=4, metrics=NODE_MODEL["metrics"][:3],
                                                                features=NODE_MODEL["features"][:3])),
                                          "field `syntheticEntities`: only for a per-entity model"),
    "every metric broadcast": (entity_entry(metrics=[{**m, "entityJoin": "broadcast"} for m in NODE_MODEL["metrics"]]),
                               "field `metrics`: every metric has entityJoin: broadcast"),
    "zero synthetic entities": (entity_entry(syntheticEntities=0), "field `syntheticEntities`: 0 is less than the minimum of 1"),
    "too many synthetic entities": (entity_entry(syntheticEntities=1001), "field `syntheticEntities`: 1001 is greater than the maximum of 1000"),
}


@pytest.mark.parametrize("entry, message", CASES.values(), ids=CASES.keys())
def test_a_bad_entity_entry_names_the_model_and_the_field(entry, message):
    with pytest.raises(ConfigError) as caught:
        validate_entries([entry], source="values.yaml")
    assert "values.yaml: models[0] ('node-detector')" in str(caught.value)
    assert message in str(caught.value)
