"""No user-visible string escapes translation: every template's literal text and every message
the Python code shows a user goes through gettext (README, "Languages").

Both tests print each finding as file:line and the text, so a new page or message that is not
marked fails here the day it lands.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import wtforms
from wtforms import validators as wtf_validators
from wtforms.fields.choices import SelectChoice

ROOT = Path(__file__).resolve().parent.parent
PORTAL = ROOT / "portal"
TEMPLATES = PORTAL / "templates"

# A word with letters (any script); digits, punctuation and symbols (· × – → ←) are no words.
WORD = re.compile(r"[^\W\d_]+")
# Words that are the same in every language, so they may stand as they are:
#   Hummer              the product's name;
#   KiB, MiB, GiB, TiB  IEC unit symbols;
#   ACRONYM             a word of two or more capitals: CPU, UTC, TCP, UDP, HTTP, GET, SSH, YAML
#                       (written so in Chinese too; the glossary keeps them as they are).
ALLOWED_WORDS = frozenset({"Hummer", "KiB", "MiB", "GiB", "TiB"})
ACRONYM = re.compile(r"[A-Z]{2,}")
# Elements whose text is code, a command, a log or a script, never translated.
CODE_ELEMENTS = frozenset({"code", "pre", "kbd", "samp", "script", "style"})
# Attributes a person reads (or a screen reader speaks); data-label is shown by CSS
# (hummer.css, table.stack), hx-confirm and data-*confirm texts in a dialog.
TEXT_ATTRIBUTES = frozenset({"title", "placeholder", "alt", "label", "aria-label", "aria-description",
                             "aria-roledescription", "aria-valuetext", "aria-placeholder", "hx-confirm",
                             "hx-prompt", "data-label"})
TEXT_DATA_ATTRIBUTE = re.compile(r"data-[a-z-]*(confirm|message|prompt|title|label)$")
BUTTON_INPUTS = frozenset({"submit", "button", "reset"})
HOLE = "\ue000"  # where a {{ expression }} (or a {% trans %} block) was: not literal text
STATEMENT = "\ue001"  # where a {% statement %} was: it separates texts ({% else %}) but shows nothing
# A macro's text that is attributes for a tag (`disabled aria-describedby="{{ id }}"`), not words.
ATTRIBUTE_TEXT = re.compile(r'\s*(?:[a-z][a-z-]*(?:="[^"]*")?\s+)*[a-z][a-z-]*="[^"]*"\s*')


def words_not_allowed(text: str) -> list[str]:
    return [w for w in WORD.findall(text.replace(HOLE, " ").replace(STATEMENT, " "))
            if w not in ALLOWED_WORDS and not ACRONYM.fullmatch(w)]


def shown_text(text: str) -> str:
    """A finding's text: expressions as {{…}}, whitespace collapsed."""
    return " ".join(text.replace(HOLE, "{{…}}").replace(STATEMENT, " ").split())


def skeleton(source: str, name: str) -> str:
    """The template's literal text (Jinja's `data` tokens) with every {{ expression }} and
    every {% trans %} block's content replaced by HOLE and {% statements %} dropped, on the
    template's own lines, so that an HTML parser reads it as the browser reads the page.
    A {% statement %} leaves STATEMENT, so that the texts of {% if %}…{% else %}… stay apart."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    out: list[str] = []
    line = 1
    in_trans = False
    after_block_begin = False
    for lineno, token, value in env.lex(source, name):
        if lineno > line:
            out.append("\n" * (lineno - line))
            line = lineno
        if token == "block_begin":
            after_block_begin = True
            out.append(STATEMENT)
            continue
        if token == "whitespace":
            continue
        if after_block_begin and token == "name":
            if value == "trans":
                in_trans = True
                out.append(HOLE)
            elif value == "endtrans":
                in_trans = False
        after_block_begin = False
        if token == "variable_begin":
            out.append(HOLE)
        elif token == "data":
            out.append(re.sub(r"[^\n]+", HOLE, value) if in_trans else value)
            line += value.count("\n")
    return "".join(out)


class _Texts(HTMLParser):
    """Text nodes and user-visible attributes that hold words, with their lines."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.code_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in CODE_ELEMENTS:
            self.code_depth += 1
        line = self.getpos()[0]
        a = dict(attrs)
        for name, value in attrs:
            visible = name in TEXT_ATTRIBUTES or TEXT_DATA_ATTRIBUTE.match(name) or (
                name == "value" and tag == "input" and (a.get("type") or "").lower() in BUTTON_INPUTS)
            if visible and value and words_not_allowed(value):
                self.found.append((line, f'{tag} {name}="{shown_text(value)}"'))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in CODE_ELEMENTS:
            self.code_depth -= 1

    def handle_endtag(self, tag):
        if tag in CODE_ELEMENTS and self.code_depth:
            self.code_depth -= 1

    def handle_data(self, data):
        if self.code_depth:
            return
        start, offset = self.getpos()[0], 0
        for piece in data.split(STATEMENT):  # each branch of an {% if %} on its own
            if words_not_allowed(piece) and not ATTRIBUTE_TEXT.fullmatch(piece):
                first = WORD.search(piece.replace(HOLE, " "))
                self.found.append((start + data[:offset + first.start()].count("\n"), shown_text(piece)))
            offset += len(piece) + 1


def unmarked_template_texts() -> list[str]:
    findings = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        parser = _Texts()
        parser.feed(skeleton(path.read_text(), path.name))
        parser.close()
        findings += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in parser.found]
    return findings


def test_every_template_text_is_marked_for_translation():
    """Each template is lexed with Jinja's own lexer; its literal `data` tokens (outside
    {{ _() }} and {% trans %}) are read with html.parser as the page's text, and any word
    left in a text node or in a user-visible attribute (TEXT_ATTRIBUTES, data-*confirm and
    the like, a button input's value) fails, except the few words of ALLOWED_WORDS and the
    text of code elements (CODE_ELEMENTS: commands and values are not translated)."""
    findings = unmarked_template_texts()
    assert not findings, f"{len(findings)} template texts not marked for translation " \
                         "(wrap them in {{ _() }} or {% trans %}):\n" + "\n".join(findings)


def test_the_template_check_finds_what_it_should():
    """The checker itself, on a made-up template."""
    source = ('{% block title %}Your profile{% endblock %}\n<p>{{ _("Save") }} · {{ n }} MiB</p>\n'
              '<p>{% trans n=1 %}Saved {{ n }} files{% endtrans %}</p><code>kubectl get pods</code>\n'
              '<input type="submit" value="Go"><input name="q" placeholder="{{ _(\'Search\') }}">\n'
              '<a href="{{ url }}"{{ current(x) }} title="Open it">&larr; Back</a>\n'
              '<button hx-confirm="Delete {{ name }}?" data-label="{{ _(\'Apps\') }}">×</button>')
    parser = _Texts()
    parser.feed(skeleton(source, "made-up.html"))
    assert parser.found == [(1, "Your profile"), (4, 'input value="Go"'), (5, 'a title="Open it"'),
                            (5, "← Back"), (6, 'button hx-confirm="Delete {{…}}?"')]


# Python ---------------------------------------------------------------------------------

GETTEXT = frozenset({"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext",
                     "npgettext", "lazy_pgettext"})


def _service_error():
    return importlib.import_module("portal.services.errors").ServiceError


def text_parameters(obj) -> set[str]:
    """The parameters of a callable that carry text shown to the user (empty: not a sink)."""
    import flask
    if obj is flask.flash:
        return {"message"}
    if obj is flask.abort:
        return {"description"}
    if obj is importlib.import_module("portal.web")._error_page:
        return {"title", "message"}
    if not inspect.isclass(obj):
        return set()
    if issubclass(obj, wtforms.Field):
        return {"label", "description", "invalid_value_message", "invalid_choice_message"}
    if obj is SelectChoice:
        return {"label"}
    if issubclass(obj, (wtforms.ValidationError, _service_error())):
        return {"message"}
    if obj.__module__ == wtf_validators.__name__:
        return {"message"}
    return set()


def positional_names(obj) -> list[str]:
    if obj is importlib.import_module("flask").abort:
        return ["code", "description"]
    target = obj.__init__ if inspect.isclass(obj) else obj
    names = [p.name for p in inspect.signature(target).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[1:] if inspect.isclass(obj) else names


class _Module:
    """One module's imports (name -> object) and module-level string constants."""

    def __init__(self, path: Path, tree: ast.Module, root: Path = ROOT):
        self.dotted = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        self.module = importlib.import_module(self.dotted)
        self.constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                          for t in node.targets if isinstance(t, ast.Name)}
        # Imports inside functions too (`from portal.web import _error_page` in a handler).
        self.local_imports = {alias.asname or alias.name: (node.module, alias.name)
                              for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                              and not node.level for alias in node.names}

    def resolve(self, func: ast.expr):
        """The object a call's function names, looked up as the module sees it."""
        if isinstance(func, ast.Name):
            if hasattr(self.module, func.id):
                return getattr(self.module, func.id)
            if func.id in self.local_imports:
                module, name = self.local_imports[func.id]
                found = importlib.import_module(module)
                return getattr(found, name, None) if hasattr(found, name) else _submodule(module, name)
            return None
        if isinstance(func, ast.Attribute):
            owner = self.resolve(func.value)
            return getattr(owner, func.attr, None) if inspect.ismodule(owner) else None
        return None

    def unwrapped(self, node: ast.expr | None) -> bool:
        """A literal string with words that reaches the user as it is (not through gettext)."""
        if node is None:
            return False
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str) and bool(words_not_allowed(node.value))
        if isinstance(node, ast.JoinedStr):
            return any(self.unwrapped(v) for v in node.values if isinstance(v, ast.Constant))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
            return self.unwrapped(node.left) or self.unwrapped(node.right)
        if isinstance(node, ast.IfExp):
            return self.unwrapped(node.body) or self.unwrapped(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            return self.unwrapped(node.func.value)
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.unwrapped(self.constants[node.id])
        return False  # a call (gettext, or a function), a variable, an attribute: not a literal


def _submodule(package: str, name: str):
    try:
        return importlib.import_module(f"{package}.{name}")
    except ImportError:
        return None


def _returns_message_or_none(func: ast.FunctionDef) -> bool:
    """`-> str | None`: portal/validation.py's "an error message, or None" functions."""
    return func.returns is not None and ast.unparse(func.returns).replace(" ", "") in ("str|None", "Optional[str]")


def unmarked_python_messages() -> list[str]:
    findings = []
    for path in sorted(PORTAL.rglob("*.py")):
        if path.name != "cli.py":  # `flask` command output may stay English (the contract)
            findings += messages_in(path)
    return findings


def messages_in(path: Path, root: Path = ROOT) -> list[str]:
    """The unmarked user messages of one module (imported as root-relative dotted name)."""
    findings = []
    relative = path.relative_to(root)
    tree = ast.parse(path.read_text(), str(relative))
    module = _Module(path, tree, root)
    in_services = relative.parts[:2] == ("portal", "services")

    def report(node, what):
        findings.append(f"{relative}:{node.lineno}: {what}: {ast.unparse(node)[:120]}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            obj = module.resolve(node.func)
            names = text_parameters(obj) if obj is not None else set()
            if names:
                positional = positional_names(obj)
                for index, arg in enumerate(node.args):
                    if index < len(positional) and positional[index] in names and module.unwrapped(arg):
                        report(arg, f"{positional[index]} of {ast.unparse(node.func)}()")
                for kw in node.keywords:
                    if kw.arg in names and module.unwrapped(kw.value):
                        report(kw.value, f"{kw.arg}= of {ast.unparse(node.func)}()")
            # form.x.errors.append("..."), form.form_errors.append("...")
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "append" and node.args
                    and isinstance(func.value, ast.Attribute) and func.value.attr in ("errors", "form_errors")
                    and module.unwrapped(node.args[0])):
                report(node.args[0], f"{func.value.attr}.append()")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                # errors["field"] = "...": a service's message beside a field (repeated rows too)
                if (in_services and isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                        and target.value.id == "errors" and module.unwrapped(node.value)):
                    report(node.value, "a field error")
                if (isinstance(target, ast.Attribute) and target.attr == "login_message"
                        and module.unwrapped(node.value)):
                    report(node.value, "login_message")
        elif (isinstance(node, ast.FunctionDef) and relative == Path("portal/validation.py")
              and _returns_message_or_none(node)):
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and module.unwrapped(ret.value):
                    report(ret.value, f"message returned by validation.{node.name}()")
    return findings


def test_every_python_message_to_a_user_is_marked_for_translation():
    """A string literal (a plain string, an f-string, a "..." % x or "...".format(x), or a
    module-level constant holding one) fails here when it reaches a user unwrapped, that is
    not inside _() / _l() / ngettext(), at one of these places:
      - flash(message), abort(code, description), portal.web._error_page(status, title, message);
      - a WTForms field's label, description, invalid_value_message or invalid_choice_message,
        a SelectChoice's label, a WTForms validator's message (positional or message=),
        ValidationError(message);
      - the message of any portal ServiceError subclass (Invalid, NotFound, SpecInvalid, ...),
        raised or built, found by what the name resolves to in its module (an adapter's error
        of the same name is not one: adapters speak to operators and services translate);
      - form.x.errors.append(...) and form.form_errors.append(...);
      - in portal/services, a string stored as errors[field] (the deploy form's row errors);
      - login_manager.login_message;
      - a string returned by a portal/validation.py function annotated `-> str | None`.
    A string whose words are all in ALLOWED_WORDS or acronyms ("TCP", "HTTP GET") may stand.
    Log messages, codes, keys and CLI output (portal/cli.py) are not sinks, so they never fail."""
    findings = unmarked_python_messages()
    assert not findings, f"{len(findings)} messages not marked for translation " \
                         "(wrap them in _() or, at import time, _l()):\n" + "\n".join(findings)


def test_the_python_check_finds_what_it_should(tmp_path, monkeypatch):
    """The checker itself, on a made-up module: sinks with literals fail, gettext, log
    messages, codes, variables and an adapter-like error of the same name do not."""
    package = tmp_path / "madeup_i18n_check"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "routes.py").write_text('''
import logging
from flask import abort, flash
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length
from portal.services.errors import Invalid, NotFound

GONE = "That one is gone."


class NotFoundHere(Exception):  # not a ServiceError: an adapter's own error
    pass


class Form(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=5, message=_l("Short."))])
    tag = StringField(_l("Tag"), description="e.g. latest")
    code = StringField(_l("Code"), validators=[Length(max=3)])


def view(name, form):
    logging.getLogger(__name__).warning("project %s is gone", name)
    flash(f"Project {name} created.", "success")
    flash(_("Project %(name)s created.", name=name), "success")
    flash(name)
    form.name.errors.append(GONE)
    if not name:
        abort(404, "No such thing.")
    raise Invalid("name", "Name is %s." % name) if name else NotFound(_("No such project."))


def other():
    raise NotFoundHere("kube said no")
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    found = [line.split(": ", 1)[1] for line in messages_in(package / "routes.py", tmp_path)]
    assert sorted(found) == sorted([
        "label of StringField(): 'Name'", "message of DataRequired(): 'Enter a name.'",
        "description= of StringField(): 'e.g. latest'", "message of flash(): f'Project {name} created.'",
        "errors.append(): GONE", "description of abort(): 'No such thing.'",
        "message of Invalid(): 'Name is %s.' % name"])
