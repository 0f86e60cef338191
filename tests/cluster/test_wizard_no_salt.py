"""The wizard on a fresh install without Salt: every page says so at once and how to fix it, the
actions that need Salt are disabled with the reason beside them, and the step bar marks where
the setup stands."""
from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.models import ProvisioningRun
from tests.support.web import text

SETTINGS = {"name": "lab", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16",
            "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}
PAGES = ["/cluster", "/cluster/settings", "/cluster/nodes", "/cluster/preflight"]


def banner(html: str) -> str:
    match = re.search(r'<p class="banner" id="salt-missing"[^>]*>(.*?)</p>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


def button(html: str, pattern: str) -> str:
    """The opening tag of the first <button> whose tag or text matches pattern."""
    for match in re.finditer(r"<button\b[^>]*>.*?</button>", html, re.S):
        if re.search(pattern, match.group(0)):
            return match.group(0)
    raise AssertionError(f"no button matching {pattern!r}")


def reason_for(html: str, tag: str) -> str:
    described = re.search(r'aria-describedby="([^"]+)"', tag)
    assert described, f"no reason attached to {tag}"
    match = re.search(rf'<small class="reason" id="{described.group(1)}">(.*?)</small>', html, re.S)
    return match.group(1) if match else ""


@pytest.mark.parametrize("url", PAGES)
def test_every_wizard_page_says_salt_is_missing_and_how_to_configure_it(admin, url):
    response = admin.get(url)
    assert response.status_code == 200, text(response)[:500]
    said = banner(text(response))
    assert "Salt is not configured." in said
    for setting in ("HUMMER_SALT_API_URL", "HUMMER_SALT_API_USER", "HUMMER_SALT_API_PASSWORD"):
        assert setting in said
    assert "README" in said


def test_the_run_page_says_it_too(admin):
    run = ProvisioningRun(run_id="hummer-x", kind="plan", orchestration="orch.cluster", status="failed")
    db.session.add(run)
    db.session.commit()
    assert "Salt is not configured." in banner(text(admin.get(f"/cluster/runs/{run.id}")))


@pytest.mark.parametrize("url, pattern", [
    ("/cluster", r'value="plan"'), ("/cluster", r'value="apply"'), ("/cluster", r"Fetch the kubeconfig"),
    ("/cluster/nodes", r"Install salt-minion over SSH"), ("/cluster/preflight", r"Run the checks"),
])
def test_actions_that_need_salt_are_disabled_with_the_reason_beside_them(admin, url, pattern):
    html = text(admin.get(url))
    tag = button(html, pattern)
    assert re.search(r"\bdisabled\b", tag.split(">", 1)[0]), tag
    assert "Needs Salt, which is not configured" in reason_for(html, tag)


def test_saving_the_settings_needs_no_salt(admin):
    tag = button(text(admin.get("/cluster/settings")), "Save and go to nodes")
    assert "disabled" not in tag
    assert admin.post("/cluster/settings", SETTINGS).status_code == 302


def current_step(html: str) -> str:
    steps = re.findall(r'<li id="step-(\w+)"[^>]*aria-current="step"', html)
    assert len(steps) == 1, steps
    return steps[0]


def test_the_step_bar_marks_where_the_setup_stands(admin):
    html = text(admin.get("/cluster"))
    assert current_step(html) == "settings"  # a blank install: step 1, not "Plan · Apply"
    labels = re.findall(r'<li id="step-\w+"[^>]*>\s*<a [^>]*>([^<]+)</a>', html)
    assert labels == ["1 Cluster", "2 Nodes", "3 Preflight", "4 Plan", "5 Apply", "6 App management"]
    assert 'class="done' not in html
    # Each step's own page marks that step.
    for url, step in (("/cluster/settings", "settings"), ("/cluster/nodes", "nodes"),
                      ("/cluster/preflight", "preflight")):
        assert current_step(text(admin.get(url))) == step
    admin.post("/cluster/settings", SETTINGS)
    html = text(admin.get("/cluster"))
    assert current_step(html) == "nodes"
    assert re.search(r'<li id="step-settings" class="done', html)


def test_the_cards_follow_the_steps_order(admin):
    html = text(admin.get("/cluster"))
    order = [html.find(f'id="{card}"') for card in
             ("card-settings", "card-nodes", "card-preflight", "runs", "registration")]
    assert -1 not in order and order == sorted(order), order
    headers = re.findall(r"<header><strong>([^<]+)</strong>", html)
    assert headers == ["1 · Settings", "2 · Nodes", "3 · Preflight", "4 · Plan, 5 · Apply", "6 · App management"]
