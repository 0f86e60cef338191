"""The adapter's retries are urllib3's: against a small local HTTP server that answers
503 (with Retry-After) before it answers 200, and that drops a connection."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from urllib3.util.retry import Retry

from portal.adapters import kube as k


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) `fail` times per path, then 200 with an empty list."""

    hits: dict = {}
    fail = 2

    def _answer(self):
        n = self.hits[(self.command, self.path)] = self.hits.get((self.command, self.path), 0) + 1
        body = json.dumps({"kind": "Status", "message": "busy"} if n <= self.fail else {"items": []}).encode()
        self.send_response(503 if n <= self.fail else 200)
        if n <= self.fail:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    _Flaky.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kube = k.Kube({"clusters": [{"name": "c", "cluster": {"server": url}}],
                   "users": [{"name": "u", "user": {"token": "t"}}],
                   "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                   "current-context": "x"}, label="flaky")
    try:
        yield kube
    finally:
        kube.close()
        server.shutdown()
        server.server_close()


def test_the_client_pool_retries_with_urllib3(flaky):
    retries = flaky.api.rest_client.pool_manager.connection_pool_kw["retries"]
    assert isinstance(retries, Retry) and retries is k.RETRY
    assert 503 in retries.status_forcelist and 429 in retries.status_forcelist


def test_a_busy_server_is_asked_again_for_reads_only(flaky):
    started = time.monotonic()
    assert flaky.list("deployments", "ns") == []            # 503, 503, then 200
    assert _Flaky.hits[("GET", "/apis/apps/v1/namespaces/ns/deployments")] == 3
    assert time.monotonic() - started < 2
    # a write that got a 5xx may have been applied: it is not sent again
    with pytest.raises(k.Unavailable) as e:
        flaky.create("deployments", "ns", {"metadata": {"name": "web"}})
    assert e.value.status == 503 and e.value.message == "busy"
    assert _Flaky.hits[("POST", "/apis/apps/v1/namespaces/ns/deployments")] == 1
