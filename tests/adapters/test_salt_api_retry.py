"""The salt-api client's retries (urllib3.Retry) against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.adapters.salt import SaltAPI, SaltUnavailable


class FlakySaltAPI:
    """A stand-in salt-api: answers each request with the next (status, headers) of `script`
    (then 200 with a login or call answer), and records what it was asked."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[str, str, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.requests.append((self.command, self.path, time.monotonic()))
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                if status == 200:
                    answer = ({"return": [{"token": "t0k3n", "expire": time.time() + 3600}]}
                              if self.path == "/login" else {"return": [{"hm-node1": True}]})
                    body = json.dumps(answer).encode()
                else:
                    body = f"<html><body>HTTP {status} on purpose</body></html>".encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json" if status == 200 else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_503_with_retry_after_is_tried_again_after_the_wait_it_asks_for():
    with FlakySaltAPI([(503, {"Retry-After": "1"})]) as server:
        api = SaltAPI(server.url, "hummer", "secret", retries=3, backoff=0.01)
        assert api.local("hm-node1", "test.ping") == {"hm-node1": True}
    (_, _, asked), (_, _, retried) = server.requests[:2]
    assert [path for _, path, _ in server.requests] == ["/login", "/login", "/"]
    assert retried - asked >= 0.9  # Retry-After: 1, not the 0.01 s backoff


def test_502_and_504_are_retried_until_the_retries_are_spent_then_unavailable():
    with FlakySaltAPI([(502, {}), (504, {}), (503, {})]) as server:
        api = SaltAPI(server.url, "hummer", "secret", retries=3, backoff=0.01)
        with pytest.raises(SaltUnavailable) as error:
            api.login()
    assert error.value.status == 503 and "HTTP 503 on purpose" in str(error.value)
    assert len(server.requests) == 3


def test_a_500_is_not_retried_the_job_may_have_started():
    with FlakySaltAPI([(500, {})]) as server:
        api = SaltAPI(server.url, "hummer", "secret", retries=3, backoff=0.01)
        api.token, api.token_expires = "t0k3n", time.time() + 3600
        with pytest.raises(SaltUnavailable) as error:
            api.local("hm-node1", "test.ping")
    assert error.value.status == 500
    assert [path for _, path, _ in server.requests] == ["/"]


def test_connection_refused_is_retried_then_unavailable():
    with FlakySaltAPI([]) as server:
        url = server.url
    api = SaltAPI(url, "hummer", "secret", retries=3, backoff=0.01)  # nothing listens there now
    with pytest.raises(SaltUnavailable, match="cannot connect"):
        api.login()
