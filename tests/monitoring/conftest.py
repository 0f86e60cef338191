"""Fixtures for the monitoring tests: the portal reading the suite's real InfluxDB (its
configuration and database made by the monitoring formula's states), points written in
Telegraf's shape by the stand-in (tests/support/telegraf.py), apps on the real test cluster."""
from __future__ import annotations

import pytest

from tests.apps.conftest import apps_api, core_api, deploy_form, kproject, kube_app, plan, ready  # noqa: F401


@pytest.fixture
def metrics_app(app, influx_empty):
    app.config.update(INFLUXDB_URL=influx_empty.url, INFLUXDB_DATABASE=influx_empty.database)
    return influx_empty
