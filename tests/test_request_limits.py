"""Oversized requests are refused with 413, in the test client and through a real gunicorn,
without the worker holding the body in memory."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from portal import config as config_module
from tests.support.live_portal import portal_env, serve
from tests.support.waiting import wait_for
from tests.support.web import text

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def test_limits_are_on_by_default_and_configurable(monkeypatch):
    for name in ("HUMMER_MAX_CONTENT_LENGTH", "HUMMER_MAX_FORM_MEMORY_SIZE", "HUMMER_MAX_FORM_PARTS"):
        monkeypatch.delenv(name, raising=False)
    defaults = config_module.load()
    assert defaults["MAX_CONTENT_LENGTH"] == MiB
    assert defaults["MAX_FORM_MEMORY_SIZE"] == 256 * 1024
    assert defaults["MAX_FORM_PARTS"] == 1000
    monkeypatch.setenv("HUMMER_MAX_CONTENT_LENGTH", str(4 * MiB))
    monkeypatch.setenv("HUMMER_MAX_FORM_PARTS", "50")
    changed = config_module.load()
    assert changed["MAX_CONTENT_LENGTH"] == 4 * MiB and changed["MAX_FORM_PARTS"] == 50


def test_an_oversized_login_gets_a_clear_413(web):
    body = "username=ann&password=" + "x" * (2 * MiB)
    response = web.client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "Request too large" in text(response)
    assert "at most 1 MiB per request" in text(response)


def test_an_oversized_htmx_post_gets_the_message_as_a_fragment(web):
    response = web.client.post("/login", data="password=" + "x" * (2 * MiB),
                               content_type="application/x-www-form-urlencoded",
                               headers={"HX-Request": "true", "HX-Target": "main"})
    assert response.status_code == 413
    assert text(response).startswith('<p class="error" role="alert">Request too large')


def test_multipart_text_fields_and_parts_are_bounded(web):
    big_field = {"username": "ann", "password": "x" * (300 * 1024)}   # over 256 KiB, under 1 MiB
    response = web.client.post("/login", data=big_field, content_type="multipart/form-data")
    assert response.status_code == 413
    many_parts = {f"f{i}": "1" for i in range(1200)}
    response = web.client.post("/login", data=many_parts, content_type="multipart/form-data")
    assert response.status_code == 413


def test_the_limit_follows_the_setting(app, web):
    app.config["MAX_CONTENT_LENGTH"] = 4 * MiB
    response = web.client.post("/login", data="password=" + "x" * (2 * MiB),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400      # past the size check: the CSRF token is missing
    response = web.client.post("/login", data="password=" + "x" * (5 * MiB),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413 and "at most 4 MiB" in text(response)


# Through a real gunicorn ---------------------------------------------------------------

def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """The process's resident memory now (VmRSS), or the most it ever had (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def grown(worker: int, before: dict) -> dict:
    return {field: rss_kib(worker, field) - kib for field, kib in before.items()}


def memory(worker: int) -> dict:
    return {field: rss_kib(worker, field) for field in ("VmRSS", "VmHWM")}


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    env = portal_env(f"sqlite:///{tmp / 'h.db'}", tmp / "instance")
    with serve(env, tmp / "gunicorn.log", workers=1, threads=4, ready_path="/static/hummer.css",
               args=("--timeout", "60")) as portal:
        (worker,) = wait_for(lambda: children(portal.proc.pid), timeout=30, what="the gunicorn worker")
        yield portal.port, worker


def send_oversized(port: int, head: bytes, body_chunks, timeout: float = 30) -> tuple[bytes, float]:
    """Send `head`, then keep sending the body in a thread while reading the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(head)
    sent = [0]

    def pump():
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:       # the server answered and closed: the rest is refused
            pass
    started = time.monotonic()
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        elapsed = time.monotonic() - started
        sock.close()
        thread.join(10)
    return answer, elapsed


def test_gunicorn_refuses_200_mb_login_quickly_without_holding_it(gunicorn):
    port, worker = gunicorn
    for _ in range(3):   # warm the worker: imports, templates, the first allocations
        requests.get(f"http://127.0.0.1:{port}/login", timeout=10)
        requests.post(f"http://127.0.0.1:{port}/login", data={"username": "x" * 1000}, timeout=10)
    before = memory(worker)
    size = 200 * MiB
    head = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    chunk = b"a=1&" * (MiB // 4)      # many small fields, as in the attack
    answer, elapsed = send_oversized(port, head, (chunk for _ in range(200)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert elapsed < 10, f"413 took {elapsed:.1f}s"
    # neither now nor at its peak did the worker hold the body
    growth = grown(worker, before)
    assert max(growth.values()) < 20 * 1024, f"the worker grew by {growth} KiB for a refused {size // MiB} MiB body"


def test_gunicorn_refuses_an_endless_chunked_body_without_reading_it(gunicorn):
    port, worker = gunicorn
    before = memory(worker)
    head = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    piece = b"x" * (256 * 1024)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    answer, elapsed = send_oversized(port, head, (chunk for _ in range(400)))   # 100 MiB, never ending
    # Without a length the body is not read at all (413 past the limit if a server passes
    # it on as terminated input; gunicorn does not): the login is refused either way.
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")), answer[:200]
    assert elapsed < 10, f"413 took {elapsed:.1f}s"
    growth = grown(worker, before)
    assert max(growth.values()) < 20 * 1024, f"the worker grew by {growth} KiB"
    # and the worker still serves
    assert requests.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200
