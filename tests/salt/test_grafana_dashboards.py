"""The Grafana dashboards the monitoring formula provisions ask only for what Telegraf writes:
every measurement, field and tag their InfluxQL names is in the one schema module
(portal/domain/metrics.py), so that a renamed field breaks this test, not a chart an operator
opens months later. (Grafana itself has no package here; the formula's files are read as
Grafana would read them.)"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portal.domain import metrics as schema

DASHBOARDS = Path(__file__).resolve().parents[2] / "salt_states/monitoring/files/dashboards"
FROM = re.compile(r'FROM\s+"([^"]+)"', re.I)
FIELD = re.compile(r'(?:mean|last|max|min|sum|count)\(\s*"([^"]+)"\s*\)', re.I)
# a quoted identifier compared in WHERE or listed in GROUP BY: a tag
TAG = re.compile(r'"([^"]+)"\s*(?:=~|!~|=|!=)|,\s*"([^"]+)"')


def queries(path: Path) -> list[tuple[str, str]]:
    board = json.loads(path.read_text())
    return [(panel.get("title", "?"), target["query"])
            for panel in board.get("panels", []) for target in panel.get("targets", []) if target.get("query")]


def test_there_are_two_dashboards_a_cluster_one_and_an_apps_one():
    titles = sorted(json.loads(p.read_text())["title"] for p in DASHBOARDS.glob("*.json"))
    assert titles == ["Hummer apps", "Hummer nodes"]


@pytest.mark.parametrize("path", sorted(DASHBOARDS.glob("*.json")), ids=lambda p: p.stem)
def test_every_query_names_the_schemas_measurements_fields_and_tags(path):
    found = queries(path)
    assert found, f"{path.name} has no queries"
    for title, query in found:
        names = FROM.findall(query)
        assert len(names) == 1, (title, query)
        measurement = schema.MEASUREMENTS.get(names[0])
        assert measurement is not None, f"{path.name} / {title}: {names[0]} is not in the schema"
        fields = FIELD.findall(query)
        assert fields, (title, query)
        assert set(fields) <= set(measurement.fields), (path.name, title, set(fields) - set(measurement.fields))
        tags = {a or b for a, b in TAG.findall(query.split("FROM", 1)[1])} - {names[0]}
        assert tags <= set(measurement.tags), (path.name, title, tags - set(measurement.tags))
