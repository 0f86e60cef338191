"""The user's language: Flask-Babel, its catalogues under portal/translations/.

Which language a request is answered in: the locale_selector below. Templates have
`_()`, `gettext()`, `ngettext()` and `{% trans %}`; Python code imports `gettext as _`
(or `lazy_gettext` for module-level strings such as form labels) from flask_babel.
"""
from __future__ import annotations

from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel

# The languages Hummer ships, as Babel names them; the first is the source language.
LANGUAGES = ("en", "zh_Hans")

babel = Babel()


def select_locale() -> str:
    """Accept-Language, else HUMMER_DEFAULT_LOCALE (also outside a request: a CLI command,
    a background run worker)."""
    if not has_request_context():
        return current_app.config["DEFAULT_LOCALE"]
    wanted = request.accept_languages.best_match([code.replace("_", "-") for code in LANGUAGES])
    if wanted:
        return wanted.replace("-", "_")
    return current_app.config["DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    babel.init_app(app, locale_selector=select_locale)
