"""The dashboard against the real API server (kubelet simulated) and the real Salt master:
nodes ready, the API and Salt reachable, and each project's apps as running, degraded or
stopped."""
import html
import re

import pytest

from tests.apps.conftest import deploy_form, kproject, kube_app, plan, wait_for  # noqa: F401 (fixtures)
from tests.support.web import text


def status_cell(web, project: str) -> str:
    body = html.unescape(text(web.get("/dashboard/projects", htmx="project-status")))
    row = re.search(rf'<tr id="project-{project}">(.*?)</tr>', body, re.S)
    assert row, body
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1))).strip()


@pytest.mark.kube
def test_dashboard_shows_cluster_health_and_app_status(kproject, kubelet, login, web, kube_cluster):  # noqa: F811
    ns = kproject.name
    kubelet.registry_checker = lambda image: not image.endswith(":missing")
    login("dev")
    card = html.unescape(text(web.get("/dashboard/health", htmx="health")))
    assert re.search(r"<dt>Kubernetes API</dt>\s*<dd class=\"check-ok\">.*reachable, v1\.", card, re.S), card
    assert re.search(r"<dt>Nodes ready</dt>\s*<dd class=\"check-ok\">.*(\d+) of \1", card, re.S), card
    assert "no apps" in status_cell(web, ns)

    assert web.post(f"/projects/{ns}/apps/new", deploy_form("web", replicas=1)).status_code == 302
    wait_for(lambda: "running" in status_cell(web, ns), timeout=60, what="web running on the dashboard")
    assert status_cell(web, ns).startswith(f"{kproject.display_name} {ns} 1 running")

    assert web.post(f"/projects/{ns}/apps/new", deploy_form("broken", tag="missing", replicas=1)
                    ).status_code == 302
    wait_for(lambda: "degraded" in status_cell(web, ns), timeout=30, what="the project degraded")
    assert "1 of 2 not ready" in status_cell(web, ns)

    for app in ("web", "broken"):
        assert web.post(f"/projects/{ns}/apps/{app}/stop").status_code == 302
    wait_for(lambda: "stopped" in status_cell(web, ns), timeout=30, what="the project stopped")


def test_health_card_reaches_the_real_salt_master(app, salt_env, salt_api, make_user, login, web):
    app.config.update(SALT_API_URL=salt_env.api_url, SALT_API_USER=salt_env.api_user,
                      SALT_API_PASSWORD=salt_env.api_password, SALT_API_EAUTH=salt_env.eauth)
    accepted = len(salt_api.keys()["minions"])
    make_user("ann")
    login("ann")
    card = html.unescape(text(web.get("/dashboard/health", htmx="health")))
    assert re.search(rf"<dt>Salt</dt>\s*<dd class=\"check-ok\">.*reachable, {accepted} minions?\b", card, re.S), card
    app.config["SALT_API_PASSWORD"] = "wrong"
    card = html.unescape(text(web.get("/dashboard/health", htmx="health")))
    assert re.search(r"<dt>Salt</dt>\s*<dd class=\"check-bad\">.*refuses the portal's credentials", card, re.S), card
