"""The schema module (portal/domain/metrics.py) against what Salt makes: the telegraf.conf the
monitoring.telegraf.config state renders on a Kubernetes node (the inputs that write its
measurements, the database and retention policy, the `host` and `cluster` tags), and the
monitoring formula's defaults for the database, its policies and the rollup.
(tests/salt/test_influxdb.py reads the same back from a real server.)
"""
from __future__ import annotations

import json
import tomllib

import pytest
import yaml

from portal.domain import metrics
from tests.support.salt_harness import STATE_ROOT

NODE = "hm-node1"  # a Kubernetes node (and the monitoring node) of the example cluster


@pytest.fixture(scope="module")
def telegraf_context(salt_env) -> dict:
    """The context the monitoring.telegraf.config state renders telegraf.conf with on NODE."""
    high = salt_env.salt(NODE, "state.show_sls", "monitoring.telegraf.config", timeout=120)[NODE]
    assert isinstance(high, dict), high
    body = high["monitoring-telegraf-config-file-managed"]["file"]
    return next(item["context"] for item in body if isinstance(item, dict) and "context" in item)


def rendered_telegraf(salt_env, context: dict, kubelet_token: bool) -> dict:
    """telegraf.conf as the state writes it on NODE (with or without the kubelet's token from
    the mine), parsed as Telegraf parses it (TOML)."""
    text = salt_env.salt(NODE, "slsutil.renderer", "salt://monitoring/files/telegraf.conf.jinja",
                         "default_renderer=jinja", f"monitoring={json.dumps(context['monitoring'])}",
                         f"kubelet_token={json.dumps(kubelet_token)}", timeout=120)[NODE]
    return tomllib.loads(text)


@pytest.fixture(scope="module")
def telegraf_conf(salt_env, telegraf_context):
    return rendered_telegraf(salt_env, telegraf_context, kubelet_token=True)


def test_telegraf_has_an_input_for_every_measurement_of_the_schema(telegraf_conf):
    inputs = telegraf_conf["inputs"]
    assert set(metrics.TELEGRAF_INPUTS) <= set(inputs)
    for measurement in metrics.MEASUREMENTS.values():
        assert measurement.input in inputs, measurement.name
    # one cpu series per host, tagged cpu=cpu-total (Cpu.TOTAL)
    (cpu,) = inputs["cpu"]
    assert (cpu["totalcpu"], cpu["percpu"]) == (True, False)
    (kubernetes,) = inputs["kubernetes"]
    assert kubernetes["url"].startswith("https://") and kubernetes["bearer_token"]


def test_telegraf_writes_the_schemas_database_and_tags(salt_env, telegraf_conf):
    (out,) = telegraf_conf["outputs"]["influxdb"]
    assert (out["database"], out["retention_policy"]) == (metrics.DATABASE, metrics.RP_RAW)
    assert out["skip_database_creation"] is True  # the database state makes it, with its policies
    assert set(telegraf_conf["global_tags"]) == {metrics.TAG_CLUSTER}
    assert telegraf_conf["global_tags"][metrics.TAG_CLUSTER] == salt_env.example_pillar["hummer"]["cluster"]["name"]
    # the `host` tag: Telegraf's hostname, the node's Kubernetes name
    assert telegraf_conf["agent"]["omit_hostname"] is False and telegraf_conf["agent"]["hostname"] == NODE


def test_without_the_kubelet_token_only_the_host_inputs_are_there(salt_env, telegraf_context):
    inputs = rendered_telegraf(salt_env, telegraf_context, kubelet_token=False)["inputs"]
    assert "kubernetes" not in inputs
    assert {m.input for m in metrics.HOST_MEASUREMENTS} <= set(inputs)


def test_the_database_states_defaults_are_the_schemas():
    defaults = yaml.safe_load((STATE_ROOT / "monitoring/parameters/defaults.yaml").read_text())["values"]
    assert (defaults["database"], defaults["retention_policy"], defaults["retention"]) == (
        metrics.DATABASE, metrics.RP_RAW, metrics.RAW_DURATION)
    rollup = defaults["rollup"]
    assert (rollup["retention_policy"], rollup["retention"], rollup["interval"]) == (
        metrics.RP_ROLLUP, metrics.ROLLUP_DURATION, metrics.ROLLUP_INTERVAL)
    assert {m: tuple(fields) for m, fields in rollup["measurements"].items()} == metrics.ROLLUP
