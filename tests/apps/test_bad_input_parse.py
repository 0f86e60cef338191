"""The deploy form's bad input, judged without a cluster: services.apps.parse() refuses
each case with a message for its field, and the deploy page (no cluster configured:
parse runs before any call to Kubernetes) shows that message beside the field and
deploys nothing. tests/apps/test_deploy.py keeps a few of these cases on a real namespace."""
from __future__ import annotations

import pytest

from portal.apps.forms import AppForm
from portal.extensions import db
from portal.models import AuditEvent
from portal.services import apps
from tests.apps.conftest import deploy_form
from tests.support.web import error_beside, text

BAD = [
    ({"name": "Web_App"}, "name", "DNS-1123 label"),
    ({"name": "9lives"}, "name", "starting with a letter"),
    ({"name": ""}, "name", "App name is required."),
    ({"name": "a" * 41}, "name", "at most 40 characters"),
    ({"image": ""}, "image", "Image is required"),
    ({"image": "Bad Image"}, "image", "no spaces"),
    ({"tag": "-x"}, "tag", "A tag is letters"),
    ({"replicas": "1001"}, "replicas", "from 0 to 1000"),
    ({"replicas": "-1"}, "replicas", "from 0 to 1000"),
    ({"replicas": "two"}, "replicas", "from 0 to 1000"),
    ({"ports-0-container_port": "0"}, "ports-0-container_port", "from 1 to 65535"),
    ({"ports-0-container_port": "70000"}, "ports-0-container_port", "from 1 to 65535"),
    ({"ports-1-container_port": "8080", "ports-1-name": "again"}, "ports-1-container_port",
     "Port 8080/TCP is listed twice."),
    ({"ports-1-container_port": "9090", "ports-1-name": "http"}, "ports-1-name", "used twice"),
    ({"ports-0-name": "Not_Valid"}, "ports-0-name", "at most 15 lower-case"),
    ({"ports-0-exposure": "external", "ports-0-node_port": "80"}, "ports-0-node_port", "30000 to 32767"),
    ({"ports-0-node_port": "30080"}, "ports-0-node_port", "needs external exposure"),
    ({"env-0-name": "1BAD"}, "env-0-name", "as Kubernetes accepts"),
    ({"env-0-name": "MY=VAR"}, "env-0-name", "as Kubernetes accepts"),
    ({"env-1-name": "GREETING", "env-1-value": "again"}, "env-1-name", "GREETING is set twice."),
    ({"env-0-source": "secret", "env-0-secret": "db", "env-0-key": ""}, "env-0-key", "Name the key"),
    ({"plan": "", "cpu_request": "lots"}, "cpu_request", "not a Kubernetes quantity"),
    ({"plan": "", "memory_limit": "12XB"}, "memory_limit", "not a Kubernetes quantity"),
    ({"plan": "", "cpu_request": "2", "cpu_limit": "1"}, "cpu_limit", "must not be below the request"),
    ({"plan": "huge"}, "plan", "No plan named 'huge'."),
    ({"autoscale": "y", "min_replicas": "5", "max_replicas": "2"}, "max_replicas", "min ≤ max"),
    ({"autoscale": "y", "cpu_target": "0"}, "cpu_target", "from 1 to 100"),
    ({"readiness-kind": "http", "readiness-path": "healthz"}, "readiness-path", "starts with '/'"),
    ({"liveness-kind": "tcp", "liveness-port": ""}, "liveness-port", "from 1 to 65535"),
    ({"liveness-kind": "exec", "liveness-command": ""}, "liveness-command", "needs a command"),
    ({"command": "echo 'oops"}, "command", "Unbalanced quote"),
    ({"workdir": "srv"}, "workdir", "absolute path"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": "data"}, "volumes-0-mount_path", "is absolute"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": "/srv/../etc"}, "volumes-0-mount_path", "has no '..'"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": "/"}, "volumes-0-mount_path", "not '/' itself"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": ""}, "volumes-0-mount_path", "Give the path"),
    ({"volumes-0-volume": "", "volumes-0-mount_path": "/data"}, "volumes-0-volume", "Choose the volume"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": "/data", "volumes-1-volume": "logs",
      "volumes-1-mount_path": "/data/"}, "volumes-1-mount_path", "already mounted at /data"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": "/d", "volumes-0-sub_path": "/abs"},
     "volumes-0-sub_path", "relative to the volume"),
    ({"volumes-0-volume": "data", "volumes-0-mount_path": "/d", "volumes-0-sub_path": "a/../../b"},
     "volumes-0-sub_path", "no '..'"),
]


IDS = [f"{f}:{m[:20]}" for _, f, m in BAD]


def submitted(app, changes: dict) -> dict:
    """What the deploy route hands the service: the form's data, as WTForms reads the post."""
    posted = deploy_form("web")
    posted.update(changes)
    with app.test_request_context("/", method="POST", data=posted):
        return AppForm(meta={"csrf": False}).data


@pytest.mark.parametrize("changes, field, message", BAD, ids=IDS)
def test_the_parser_refuses_bad_input_with_a_message_for_the_field(app, plan, changes, field, message):
    with pytest.raises(apps.SpecInvalid) as refused:
        apps.parse(submitted(app, changes))
    assert message in refused.value.errors.get(field, ""), refused.value.errors


def test_a_mount_names_a_volume_of_the_project(app, plan):
    data = submitted(app, {"volumes-0-volume": "data", "volumes-0-mount_path": "/srv/./data/",
                           "volumes-0-sub_path": "./site/", "volumes-0-read_only": "y"})
    with pytest.raises(apps.SpecInvalid) as refused:
        apps.parse(data, volumes=["logs"])
    assert "no volume named data" in refused.value.errors["volumes-0-volume"]
    mount = apps.parse(data, volumes=["data"]).volumes[0]
    assert (mount.claim, mount.mount_path, mount.sub_path, mount.read_only) == ("data", "/srv/data", "site", True)


def test_the_good_form_parses(app, plan):
    spec = apps.parse(submitted(app, {}))
    assert (spec.name, spec.image_ref, spec.replicas, spec.plan) == ("web", "hummer/web:1.0", 2, "small")


@pytest.mark.parametrize("changes, field, message", BAD, ids=IDS)
def test_bad_input_is_explained_beside_the_field(team, plan, login, web, changes, field, message):
    login("dev")
    data = deploy_form("web")
    data.update(changes)
    response = web.post(f"/projects/{team[0].name}/apps/new", data, htmx="app-form")
    assert response.status_code == 422
    assert message in error_beside(text(response), field), text(response)[:3000]
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)
                             .filter_by(action="app.deploy")) == 0
