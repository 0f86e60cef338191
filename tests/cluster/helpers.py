"""What the wizard's tests share: waiting for a run through its page, and for no run to be left."""
from __future__ import annotations

from portal.extensions import db
from portal.models import ProvisioningRun
from tests.support.waiting import wait_for
from tests.support.web import text


def wait_run(web, run_url: str, timeout: float = 300) -> str:
    """Poll the run's progress fragment, as the page does, until the run is over; its HTML."""
    seen = [""]

    def finished():
        seen[0] = text(web.get(run_url, htmx="run-progress"))
        return 'data-status="succeeded"' in seen[0] or 'data-status="failed"' in seen[0]
    try:
        wait_for(finished, timeout=timeout, interval=1, what="the run to finish")
    except AssertionError:
        raise AssertionError(f"run did not finish in {timeout}s: {seen[0][:3000]}") from None
    return seen[0]


def wait_no_active_run(timeout: float = 120) -> None:
    """Leave no run going into the next test (its follower thread would outlive the test)."""
    def none_active() -> bool:
        db.session.rollback()  # see what the follower committed
        return db.session.scalar(db.select(ProvisioningRun).where(
            ProvisioningRun.status.in_(("starting", "running")))) is None
    try:
        wait_for(none_active, timeout=timeout, interval=0.5, what="no run to be going")
    except AssertionError:
        pass  # as before: the next test's own checks say what is left


def assign(web, roles_by_minion: dict[str, list[str]], address: str = "127.0.0.1") -> None:
    """Give each minion its roles through the Nodes page's form."""
    for minion, roles in roles_by_minion.items():
        response = web.post(f"/cluster/nodes/{minion}/roles", {"roles": roles, "address": address})
        assert response.status_code == 302, text(response)[:500]
