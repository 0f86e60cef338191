"""Reading pages as a browser does, with a real HTML parser (html.parser), not substring
checks: attribute order, quoting, entities and a random CSRF token do not matter.

    field_value(page, "pod_cidr")        # an input's value, a textarea's text, a select's choice
    error_beside(page, "pod_cidr")       # the message shown next to that field ('' when none)
    form_data(page, "app-form")          # what the browser would post from that form
    find(page, id="nodes").text          # any element, by id / tag / attributes
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                  "track", "wbr"})
# Elements whose end tag HTML lets a page leave out, closed when the next one of them starts.
SELF_CLOSING_SIBLINGS = {"option": {"option"}, "li": {"li"}, "p": {"p"}, "tr": {"tr"}, "td": {"td", "th"},
                         "th": {"td", "th"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = field(default_factory=list)
    parent: Element | None = None

    def get(self, name: str, default=None):
        value = self.attrs.get(name, default)
        return "" if value is None and name in self.attrs else value

    def has(self, name: str) -> bool:
        return name in self.attrs

    @property
    def text(self) -> str:
        """The element's text, whitespace collapsed as a browser shows it."""
        return " ".join("".join(self._texts()).split())

    def _texts(self):
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                yield from child._texts()

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs) -> list[Element]:
        """Descendants with that tag (any when None) whose attributes equal `attrs`
        (class_ for class; True: present at all)."""
        wanted = {k.rstrip("_").replace("_", "-") if k != "class_" else "class": v for k, v in attrs.items()}
        return [e for e in self.iter() if (tag is None or e.tag == tag)
                and all(e.has(k) if v is True else e.get(k) == v for k, v in wanted.items())]

    def find(self, tag: str | None = None, **attrs) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open = self.root

    def handle_starttag(self, tag, attrs):
        closes = SELF_CLOSING_SIBLINGS.get(tag)
        if closes and self.open.tag in closes:
            self.open = self.open.parent
        element = Element(tag, dict(attrs), parent=self.open)
        self.open.children.append(element)
        if tag not in VOID:
            self.open = element

    def handle_startendtag(self, tag, attrs):
        self.open.children.append(Element(tag, dict(attrs), parent=self.open))

    def handle_endtag(self, tag):
        node = self.open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:  # a stray end tag is ignored, as browsers do
            self.open = node.parent

    def handle_data(self, data):
        self.open.children.append(data)


def parse(page: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    return builder.root


def _root(page: str | Element) -> Element:
    return page if isinstance(page, Element) else parse(page)


def find(page: str | Element, tag: str | None = None, **attrs) -> Element | None:
    return _root(page).find(tag, **attrs)


def find_all(page: str | Element, tag: str | None = None, **attrs) -> list[Element]:
    return _root(page).find_all(tag, **attrs)


def _value_of(element: Element) -> str | list[str] | None:
    if element.tag == "textarea":
        text = "".join(element._texts())
        return text[1:] if text.startswith("\n") else text  # a browser drops the first newline
    if element.tag == "select":
        options = element.find_all("option")
        chosen = [o for o in options if o.has("selected")]
        values = [o.get("value", o.text) for o in chosen or options[:1]]
        return values if element.has("multiple") else (values[0] if values else "")
    if element.get("type") in ("checkbox", "radio"):
        return element.get("value", "on") if element.has("checked") else None
    return element.get("value", "")


def field(page: str | Element, name_or_id: str) -> Element:
    """The form field (input, select, textarea) with that id, else the first with that name."""
    root = _root(page)
    fields = [e for e in root.iter() if e.tag in ("input", "select", "textarea")]
    for e in fields:
        if e.get("id") == name_or_id:
            return e
    for e in fields:
        if e.get("name") == name_or_id:
            return e
    raise AssertionError(f"no form field with the id or name {name_or_id!r} on the page")


def field_value(page: str | Element, name_or_id: str):
    """What the field shows: an input's value, a textarea's text, a select's chosen value
    (a list for a multiple select); None for an unchecked box."""
    return _value_of(field(page, name_or_id))


def error_beside(page: str | Element, field_id: str) -> str:
    """The message shown next to a form field (the element with id FIELD-error), or ''."""
    element = find(page, id=f"{field_id}-error")
    return element.text if element is not None else ""


def form_data(page: str | Element, form_id: str = "app-form") -> dict:
    """What a browser would post from the form `form_id`: inputs (checked boxes only),
    selects (their selected option, else the first), textareas; buttons are left out."""
    form = find(page, "form", id=form_id)
    assert form is not None, f"no form with the id {form_id!r} on the page"
    data: dict[str, str] = {}
    for e in form.iter():
        name = e.get("name")
        if not name or e.tag not in ("input", "select", "textarea") or e.get("type") in ("submit", "button"):
            continue
        value = _value_of(e)
        if e.get("type") == "checkbox" and value == "on" and not e.has("value"):
            value = "y"
        if value is None:
            continue
        data[name] = value[-1] if isinstance(value, list) and value else value
    return data
