"""What every template keeps to: each form that posts carries the CSRF field from the one
csrf_input() global, and no template compares role strings (it asks role.at_least(Role.X),
or the route passes a boolean)."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support.web import text

pytestmark = pytest.mark.reuse_app  # many requests: one app (tests/conftest.py)

TEMPLATES = Path(__file__).resolve().parent.parent / "portal" / "templates"
ROLE_NAMES = "owner|developer|viewer"


def templates() -> list[Path]:
    found = sorted(TEMPLATES.rglob("*.html"))
    assert len(found) > 40
    return found


def post_forms(source: str) -> list[str]:
    """The source of each <form method="post">…</form> of a template."""
    return re.findall(r"<form\b[^>]*\bmethod=\"post\"[^>]*>.*?</form>", source, re.I | re.S)


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_posting_form_uses_csrf_input(path):
    source = path.read_text()
    for form in post_forms(source):
        assert form.count("{{ csrf_input() }}") == 1, form[:200]
    # No other way of writing the token into a form: no hand-made input, no hidden_tag(),
    # no form.csrf_token (base.html's hx-headers, for htmx requests, is not a form field).
    assert "hidden_tag(" not in source
    assert not re.search(r"name=[\"']csrf_token", source)
    assert not re.search(r"\.csrf_token\b", source)
    assert "csrf_token()" not in source.replace("hx-headers='{\"X-CSRFToken\": \"{{ csrf_token() }}\"}'", "")


ROLE_COMPARISON = [
    re.compile(rf"(==|!=)\s*['\"]({ROLE_NAMES})['\"]", re.I),       # x == 'owner'
    re.compile(rf"['\"]({ROLE_NAMES})['\"]\s*(==|!=|in\b|not\s+in\b)", re.I),  # 'owner' == x, 'owner' in x
    re.compile(r"\brole(\.value)?\s*(==|!=|in\b|not\s+in\b|[<>]=?)"),  # role.value == …, role in …
    re.compile(r"\.role\b\s*(==|!=|in\b|not\s+in\b)"),                 # m.role == …
    re.compile(r"\.rank\b"),                                          # comparing ranks by hand
]


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_compares_role_strings(path):
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        for pattern in ROLE_COMPARISON:
            assert not pattern.search(line), f"{path.name}:{line_no}: {line.strip()} (use role.at_least(Role.X))"


class _Forms(HTMLParser):
    """Each posting form of a page, with the names and values of its hidden inputs."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._open = {"action": a.get("action"), "hidden": {}}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and a.get("type") == "hidden":
            self._open["hidden"].setdefault(a.get("name"), []).append(a.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def forms_of(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@pytest.mark.parametrize("url", ["/profile", "/projects/alpha/members", "/projects/alpha/settings",
                                 "/projects/alpha/delete", "/admin/users", "/admin/users/new",
                                 "/projects/new", "/cluster", "/cluster/preflight"])
def test_each_form_on_a_page_carries_the_sessions_token(web, login, team, make_user, url):
    make_user("sleeper", disabled=True)  # the user list shows its "Enable" form
    login("root")
    response = web.get(url)
    assert response.status_code == 200, url
    html = text(response)
    forms = forms_of(html)
    assert len(forms) > 1, url  # the page's own and the logout button
    # One token per page (the one htmx sends too), once in each form.
    (page_token,) = re.findall(r'"X-CSRFToken": "([^"]+)"', html)
    for form in forms:
        assert form["hidden"].get("csrf_token") == [page_token], form


def test_the_login_form_carries_the_token_too(web):
    # The login form, beside the footer's language switch (which carries it too).
    (form,) = [f for f in forms_of(text(web.get("/login"))) if f["action"].startswith("/login")]
    (token,) = form["hidden"]["csrf_token"]
    assert len(token) > 20
