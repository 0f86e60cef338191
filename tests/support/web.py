"""A test client that behaves like a browser form: it sends the CSRF token it was given."""
from __future__ import annotations

import re

from flask import has_app_context
from flask.testing import FlaskClient

from tests.support.html import error_beside  # noqa: F401 (imported from here by the tests)

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class Web:
    """Each request runs in an app context of its own, as under a real server.

    Tests keep an outer app context to read the database; sharing it would let
    `g` (and Flask-Login's cached user) and the session leak between requests.
    After each request the test's session starts a new transaction, so it sees
    what the request committed.
    """

    def __init__(self, client: FlaskClient):
        self.client = client
        self.app = client.application
        self._token: str | None = None

    def _send(self, method: str, *args, **kw):
        from portal.extensions import db
        with self.app.app_context():
            response = getattr(self.client, method)(*args, **kw)
        if has_app_context():
            db.session.rollback()
        return response

    def token(self) -> str:
        if self._token is None:
            # Logged in, /login moves on to the dashboard, whose page carries the token too.
            html = self._send("get", "/login", follow_redirects=True).get_data(as_text=True)
            match = TOKEN.search(html)
            assert match, "no CSRF token on the login page"
            self._token = match.group(1) or match.group(2)
        return self._token

    def get(self, url: str, htmx: bool | str = False, **kw):
        """htmx=True (or an element id) sends the headers of an htmx swap of that element."""
        headers = kw.pop("headers", {})
        if htmx:
            headers.update({"HX-Request": "true", "HX-Target": htmx if isinstance(htmx, str) else "target"})
        return self._send("get", url, headers=headers, **kw)

    def post(self, url: str, data: dict | None = None, htmx: bool | str = False, csrf: bool = True, **kw):
        data = dict(data or {})
        headers = kw.pop("headers", {})
        if csrf:
            data.setdefault("csrf_token", self.token())
        if htmx:
            headers.update({"HX-Request": "true", "HX-Target": htmx if isinstance(htmx, str) else "target"})
        response = self._send("post", url, data=data, headers=headers, **kw)
        if url.startswith("/login") and (response.status_code == 302 or "HX-Redirect" in response.headers):
            self._token = None  # a login rotates the CSRF token: use the new session's
        return response

    def login(self, username: str, password: str):
        return self.post("/login", {"username": username, "password": password})

    def logout(self):
        return self.post("/logout")


def text(response) -> str:
    return response.get_data(as_text=True)
