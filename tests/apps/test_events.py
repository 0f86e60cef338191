"""The app page's events fragment is served from the watch-fed cache of Events: its
10-second poll makes no API call, however many viewers and pods there are."""
from __future__ import annotations

import threading

import pytest

from portal.services import kube_access
from tests.apps.conftest import wait_for
from tests.support.web import text

pytestmark = pytest.mark.kube


def test_the_events_poll_reads_the_cache_not_the_api(running, web, monkeypatch):
    url = f"/projects/{running}/apps/web/events"
    page = wait_for(lambda: (lambda t: "ScalingReplicaSet" in t and t)(text(web.get(url))),
                    what="the Deployment's ScalingReplicaSet event on the fragment")
    assert "Deployment/web" in page
    kube = kube_access.kube()
    calls, real, me = [], kube.request, threading.get_ident()

    def counting(*args, **kw):
        if threading.get_ident() == me:
            calls.append(args[:2])
        return real(*args, **kw)
    monkeypatch.setattr(kube, "request", counting)
    for _ in range(3):
        assert web.get(url).status_code == 200
    assert calls == []
