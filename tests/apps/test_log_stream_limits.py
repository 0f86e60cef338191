"""Live-log streams against the real cluster: past the per-user limit the next stream gets
the reason instead of a stream; closing one (the client going away) frees its slot."""
from __future__ import annotations

import pytest

from portal.services import streams
from tests.apps.conftest import deploy_form, wait_for
from tests.support.web import Web, text

pytestmark = pytest.mark.kube

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def web_app(kproject, login, web, apps_api):
    login("vic")
    dev = Web(web.app.test_client())
    dev.login("dev", "correct-horse-1")
    response = dev.post(f"/projects/{kproject.name}/apps/new", deploy_form("web", replicas=1))
    assert response.status_code == 302, text(response)[-2000:]
    wait_for(lambda: (apps_api.read_namespaced_deployment_status("web", kproject.name).status.ready_replicas or 0) == 1,
             timeout=60, what="web ready")
    return kproject.name


def open_stream(web, ns):
    response = web.get(f"/projects/{ns}/apps/web/logs/stream", headers=SSE, buffered=False)
    first = next(iter(response.response))
    return response, first.decode() if isinstance(first, bytes) else first


def test_streams_past_the_limit_get_the_reason_and_a_closed_one_frees_its_slot(app, web_app, web, team_ids):
    ns = web_app
    one, first = open_stream(web, ns)
    assert first.startswith("retry: 3000")
    two, _ = open_stream(web, ns)
    assert streams.slots().in_use(team_ids["vic"]) == 2

    refused = web.get(f"/projects/{ns}/apps/web/logs/stream", headers=SSE)
    assert "event: limit" in text(refused) and "You are already following 2 live logs" in text(refused)
    plain = web.get(f"/projects/{ns}/apps/web/logs/stream")
    assert plain.status_code == 429

    one.close()                                   # what the server does when the client goes away
    assert streams.slots().in_use(team_ids["vic"]) == 1
    three, first = open_stream(web, ns)
    assert first.startswith("retry: 3000")
    for response in (two, three):
        response.close()
    assert streams.slots().in_use() == 0


@pytest.fixture
def team_ids(kproject):
    return {m.user.username: m.user.id for m in kproject.memberships}
