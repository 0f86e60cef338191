"""A small JSON client for the API server, over one urllib3 pool."""
from __future__ import annotations

import json
from urllib.parse import quote

import urllib3


class ApiError(Exception):
    def __init__(self, status: int, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Rest:
    """A small JSON client over one urllib3 pool (the python client's models
    are far too slow for thousands of pods)."""

    def __init__(self, api_url: str, token: str, ca_file: str, maxsize: int = 32):
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                        "User-Agent": "hummer-kubelet-sim"}
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=maxsize, block=False, cert_reqs="CERT_REQUIRED",
                                        ca_certs=ca_file, retries=False)

    def request(self, method: str, path: str, body=None, params: dict | None = None,
                content_type: str = "application/json", timeout: float = 30.0):
        url = self.api_url + path
        if params:
            url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        r = self.pool.request(method, url, body=data, headers=headers,
                              timeout=urllib3.Timeout(connect=5, read=timeout))
        try:
            doc = json.loads(r.data) if r.data else None
        except ValueError:
            doc = r.data.decode(errors="replace")
        if r.status >= 300:
            raise ApiError(r.status, doc)
        return doc

    def stream(self, path: str, params: dict, read_timeout: float):
        url = self.api_url + path + "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        return self.pool.request("GET", url, headers=self.headers, preload_content=False,
                                 timeout=urllib3.Timeout(connect=5, read=read_timeout))
