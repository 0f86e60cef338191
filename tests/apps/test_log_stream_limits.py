"""Live-log streams against the real cluster: past the per-user limit the next stream gets
the reason instead of a stream; closing one (the client going away) frees its slot."""
from __future__ import annotations

import time

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


def test_through_gunicorn_a_client_that_goes_away_frees_its_slot(web_app, database_url, kube_cluster, tmp_path):
    """A real gunicorn (one worker, four threads): two streams, the third refused; one
    client drops its connection, and the next stream is admitted once the server noticed."""
    import socket

    import requests

    from tests.conftest import PASSWORD
    from tests.support.live_portal import LivePortal, portal_env
    from tests.support.web import TOKEN

    ns = web_app
    portal = LivePortal(portal_env(database_url, tmp_path / "instance", KUBECONFIG=kube_cluster.kubeconfig),
                        tmp_path / "gunicorn.log", workers=1, threads=4)
    port, url = portal.port, portal.base
    session, opened = requests.Session(), []

    def stream():
        """A raw connection (so that closing it is a client going away); its first bytes."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        opened.append(sock)
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        sock.sendall(f"GET /projects/{ns}/apps/web/logs/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Accept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode())
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2]:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return sock, data.decode(errors="replace")

    try:
        portal.wait_ready(path="/login")
        token = TOKEN.search(session.get(url + "/login", timeout=30).text)
        response = session.post(url + "/login", allow_redirects=False, timeout=30, data={
            "username": "vic", "password": PASSWORD, "csrf_token": token.group(1) or token.group(2)})
        assert response.status_code == 302, response.text[:500]
        first, head = stream()
        assert head.startswith("HTTP/1.1 200") and "retry: 3000" in head, head
        _, head = stream()
        assert "retry: 3000" in head, head
        _, head = stream()
        assert "event: limit" in head and "already following 2 live logs" in head, head

        first.close()                             # the client goes away without a word

        def admitted():
            sock, head = stream()
            sock.close()
            return "retry: 3000" in head
        # the server notices at its next write (the simulated kubelet prints a line every second)
        wait_for(admitted, timeout=60, interval=1, what="a new stream after one client left")
    finally:
        for sock in opened:
            sock.close()
        portal.stop(15)


def test_a_stream_ends_at_its_time_limit_though_the_pod_keeps_printing(app, web_app, web, team_ids):
    """The pod prints a line a second, so the read timeout (the limit) never runs out: the
    stream must still end at LOG_FOLLOW_SECONDS and free its slot."""
    app.config["LOG_FOLLOW_SECONDS"] = 3
    start = time.monotonic()
    response = web.get(f"/projects/{web_app}/apps/web/logs/stream", headers=SSE, buffered=False)
    chunks = [c.decode() if isinstance(c, bytes) else c for c in response.response]  # until it ends
    elapsed = time.monotonic() - start
    response.close()
    assert sum("event: line" in c for c in chunks) >= 1, chunks
    assert 2.5 <= elapsed < 10, f"the stream lasted {elapsed:.1f} s for a limit of 3 s"
    assert streams.slots().in_use(team_ids["vic"]) == 0
