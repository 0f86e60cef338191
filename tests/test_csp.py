"""Content-Security-Policy: sent on every response, allowing only the portal's own scripts
and styles; htmx configured to need no eval and no injected styles; templates free of
inline scripts, styles and handlers (this test keeps them so); and the browser harness
fails a test on any CSP violation."""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from portal.web import CONTENT_SECURITY_POLICY
from tests.support.web import text

TEMPLATES = Path(__file__).resolve().parent.parent / "portal" / "templates"
STATIC = Path(__file__).resolve().parent.parent / "portal" / "static"

# What the policy (script-src/style-src 'self', no 'unsafe-inline', no 'unsafe-eval') blocks,
# or what htmx could only do with eval.
FORBIDDEN = {
    "inline <script> (put it in portal/static/hummer.js)": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "inline event handler (on...=)": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I | re.S),
    "hx-on (needs eval)": re.compile(r"\b(?:data-)?hx-on\b", re.I),
    "style attribute (use a class in hummer.css)": re.compile(r"<[^>]*\sstyle\s*=", re.I | re.S),
    "<style> element (use hummer.css)": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "js: value for hx-vals/hx-headers/hx-vars (needs eval)":
        re.compile(r"""hx-(?:vals|headers|vars)\s*=\s*["']\s*(?:js|javascript):""", re.I),
    "hx-trigger event filter [...] (needs eval)": re.compile(r"""hx-trigger\s*=\s*["'][^"']*\[""", re.I),
}


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_policy_allows_only_the_portals_own_sources():
    d = directives(CONTENT_SECURITY_POLICY)
    assert d["default-src"] == ["'self'"]
    assert d["script-src"] == ["'self'"] and d["style-src"] == ["'self'"]
    assert d["connect-src"] == ["'self'"] and d["object-src"] == ["'none'"]
    assert d["frame-ancestors"] == ["'none'"] and d["form-action"] == ["'self'"]
    assert d["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("method, path, status", [
    ("get", "/login", 200), ("get", "/static/hummer.css", 200), ("get", "/no-such-page", 404),
    ("post", "/login", 400), ("get", "/projects", 302),
])
def test_every_response_carries_the_security_headers(web, method, path, status):
    response = getattr(web.client, method)(path)
    response.close()      # a static file's handle
    assert response.status_code == status
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_htmx_is_configured_for_the_policy(web):
    page = text(web.get("/login"))
    meta = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", page)
    assert meta, "no htmx-config meta tag"
    config = json.loads(unescape(meta.group(1)))
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False     # htmx would inject a <style> element
    assert config["allowScriptTags"] is False
    css = (STATIC / "hummer.css").read_text()
    assert ".htmx-indicator" in css and ".htmx-request .htmx-indicator" in css   # shipped instead


def test_templates_have_no_inline_scripts_styles_or_handlers():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        source = path.read_text()
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(source):
                line = source.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(TEMPLATES)}:{line}: {what}: {match.group(0)[:80]!r}")
    assert not found, "blocked by the Content-Security-Policy:\n" + "\n".join(found)


def test_the_scan_finds_each_forbidden_pattern():
    samples = ['<script>alert(1)</script>', '<button onclick="go()">', '<div hx-on::after-request="x()">',
               '<p style="color: red">', '<style>p {}</style>', '<a href="javascript:go()">',
               """<div hx-vals='js:{a: 1}'>""", '<input hx-trigger="keyup[key==\'Enter\']">']
    for sample, (what, pattern) in zip(samples, FORBIDDEN.items(), strict=True):
        assert pattern.search(sample), what
    allowed = ['<script src="/static/vendor/htmx.min.js" defer></script>', '<form action="/x" method="post">',
               '<div hx-swap="none" hx-include="[name=q]">', '<input hx-trigger="input changed delay:200ms, search">']
    for sample in allowed:
        assert not any(p.search(sample) for p in FORBIDDEN.values()), sample


@pytest.mark.browser
def test_the_browser_harness_fails_on_a_violation(app):
    from selenium.webdriver.common.by import By

    from tests.support.browser import browsing, csp_violations, wait_for

    @app.route("/csp-probe")
    def csp_probe():
        return ('<!doctype html><html><head><title>probe</title></head><body>'
                '<p id="styled" style="color: rgb(255, 0, 0)">styled</p>'
                '<script>document.title = "ran";</script></body></html>')

    with pytest.raises(AssertionError, match="Content-Security-Policy violations"):
        with browsing(app) as driver:
            driver.get(driver.base + "/login")
            wait_for(driver, lambda d: d.execute_script("return !!window.htmx"))
            assert driver.execute_script("return htmx.config.allowEval") is False
            assert csp_violations(driver) == []          # the real pages break no rule
            driver.get(driver.base + "/csp-probe")
            wait_for(driver, lambda d: d.find_elements(By.ID, "styled"))
            assert driver.title == "probe"                # the inline script did not run
