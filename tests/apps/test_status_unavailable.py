"""An app's status section while Kubernetes does not answer (here: no cluster configured,
the same 503 as an unreachable one): the section keeps its place and its polling, and shows
the reason inside it. Replaced by the bare error fragment, it would never poll again."""
from __future__ import annotations

from html.parser import HTMLParser

from tests.support.web import text


class _Elements(HTMLParser):
    """Every element's tag, attributes and text (its own and its children's)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict, list[str]]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        words: list[str] = []
        self.found.append((tag, dict(attrs), words))
        if tag not in ("input", "br", "img", "meta", "link"):
            self._open.append(words)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for words in self._open:
            words.append(data)


def elements(html: str) -> list[tuple[str, dict, str]]:
    reader = _Elements()
    reader.feed(html)
    return [(tag, attrs, " ".join("".join(words).split())) for tag, attrs, words in reader.found]


def test_the_status_section_keeps_polling_and_says_why(team, login, web):
    login("vic")
    response = web.get("/projects/alpha/apps/web", htmx="app-status")
    assert response.status_code == 503
    found = elements(text(response))
    assert found, text(response)
    tag, attrs, words = found[0]                        # what htmx swaps in for the section
    assert (tag, attrs.get("id")) == ("section", "app-status"), text(response)
    assert attrs.get("hx-get") == "/projects/alpha/apps/web"
    assert attrs.get("hx-trigger", "").startswith("every 2s")
    assert (attrs.get("hx-target"), attrs.get("hx-swap")) == ("this", "outerHTML")
    assert "data-poll" in attrs                         # paused while the tab is hidden (hummer.js)
    alerts = [w for t, a, w in found if a.get("role") == "alert"]
    assert alerts and "No Kubernetes cluster is configured" in alerts[0]


def test_the_full_page_still_says_why(team, login, web):
    login("vic")
    response = web.get("/projects/alpha/apps/web")
    assert response.status_code == 503
    assert "No Kubernetes cluster is configured" in text(response)
