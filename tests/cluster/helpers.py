"""What the wizard's tests share: waiting for a run through its page, and for no run to be left."""
from __future__ import annotations

import time

from portal.extensions import db
from portal.models import ProvisioningRun
from tests.support.web import text


def wait_run(web, run_url: str, timeout: float = 300) -> str:
    """Poll the run's progress fragment, as the page does, until the run is over; its HTML."""
    deadline = time.monotonic() + timeout
    html = ""
    while time.monotonic() < deadline:
        html = text(web.get(run_url, htmx="run-progress"))
        if 'data-status="succeeded"' in html or 'data-status="failed"' in html:
            return html
        time.sleep(1)
    raise AssertionError(f"run did not finish in {timeout}s: {html[:3000]}")


def wait_no_active_run(timeout: float = 120) -> None:
    """Leave no run going into the next test (its follower thread would outlive the test)."""
    deadline = time.monotonic() + timeout
    while db.session.scalar(db.select(ProvisioningRun).where(
            ProvisioningRun.status.in_(("starting", "running")))) and time.monotonic() < deadline:
        time.sleep(0.5)
        db.session.rollback()


def assign(web, roles_by_minion: dict[str, list[str]], address: str = "127.0.0.1") -> None:
    """Give each minion its roles through the Nodes page's form."""
    for minion, roles in roles_by_minion.items():
        response = web.post(f"/cluster/nodes/{minion}/roles", {"roles": roles, "address": address})
        assert response.status_code == 302, text(response)[:500]
