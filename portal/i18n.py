"""The user's language: Flask-Babel, its catalogues under portal/translations/.

Which language a request is answered in (select_locale), first that applies:
  1. the user's choice on the profile page (User.locale), or the footer switch's choice of a
     visitor who is not logged in (kept in the session);
  2. the browser's Accept-Language, best quality first, among the languages Hummer ships
     (zh, zh-CN, zh-SG and zh-Hans* are Simplified Chinese; a tag we do not ship is skipped);
  3. HUMMER_DEFAULT_LOCALE (config DEFAULT_LOCALE, "en" unless set).

Templates have `_()`, `gettext()`, `ngettext()` and `{% trans %}`; Python code imports
`gettext as _` (or `lazy_gettext as _l` for module-level strings such as form labels) from
flask_babel. `./hummer i18n` extracts, updates and compiles the catalogues (README,
"Languages").
"""
from __future__ import annotations

from babel import Locale
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, get_locale

# The languages Hummer ships, as Babel names them; the first is the source language.
LANGUAGES = ("en", "zh_Hans")
# Each language's name in itself, as the language switches show it (never translated).
NAMES = {"en": "English", "zh_Hans": "简体中文"}
# Accept-Language tags (lower case) that mean a language we ship under another name.
ALIASES = {"zh": "zh_Hans", "zh-cn": "zh_Hans", "zh-sg": "zh_Hans", "zh-hans": "zh_Hans"}
# The session key of a visitor's choice before logging in (the footer switch).
SESSION_KEY = "locale"

babel = Babel()


def bcp47(code: str) -> str:
    """The BCP 47 form of a Babel name, as <html lang> and Accept-Language write it: zh_Hans -> zh-Hans."""
    return code.replace("_", "-")


def known(code: str | None) -> str | None:
    """`code` as one of LANGUAGES (Babel's zh_Hans or BCP 47's zh-Hans, any case), else None."""
    if not code:
        return None
    wanted = code.strip().replace("_", "-").lower()
    for language in LANGUAGES:
        if bcp47(language).lower() == wanted:
            return language
    return None


def from_tag(tag: str) -> str | None:
    """The language we ship for one Accept-Language tag, or None for a language we do not.

    An exact name (en, zh-Hans), an alias (zh-CN), a Simplified script tag with a region
    (zh-Hans-HK), or a region of a language shipped without one (en-GB -> en)."""
    tag = tag.strip().replace("_", "-").lower()
    exact = known(tag) or ALIASES.get(tag)
    if exact:
        return exact
    parts = tag.split("-")
    if len(parts) > 2 and "-".join(parts[:2]) in ALIASES:
        return ALIASES["-".join(parts[:2])]
    return parts[0] if parts[0] in LANGUAGES else None


def from_accept_language() -> str | None:
    for tag, quality in request.accept_languages:  # best quality first
        language = from_tag(tag) if quality > 0 and tag != "*" else None
        if language:
            return language
    return None


def chosen() -> str | None:
    """The stored choice: the logged-in user's, else this session's (a visitor's)."""
    from flask_login import current_user
    if getattr(current_user, "is_authenticated", False):
        stored = known(current_user.locale)
        if stored:
            return stored
    return known(session.get(SESSION_KEY))


def select_locale() -> str:
    """The user's choice, else Accept-Language, else HUMMER_DEFAULT_LOCALE (module docstring)."""
    if not has_request_context():
        return current_app.config["DEFAULT_LOCALE"]
    return chosen() or from_accept_language() or current_app.config["DEFAULT_LOCALE"]


def current() -> Locale:
    """The locale of this request (or the default one outside a request)."""
    locale = get_locale() if current_app else None
    return locale or Locale.parse(current_app.config["DEFAULT_LOCALE"] if current_app else LANGUAGES[0])


def current_code() -> str:
    """The current language as one of LANGUAGES (zh_Hans, en)."""
    return known(str(current())) or LANGUAGES[0]


def html_lang() -> str:
    """The current language for <html lang>: en, zh-Hans."""
    return bcp47(current_code())


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    # A caller's config (create_app's dict) is checked as HUMMER_DEFAULT_LOCALE is (config.py).
    app.config["DEFAULT_LOCALE"] = default_locale(app.config.get("DEFAULT_LOCALE") or LANGUAGES[0])
    babel.init_app(app, locale_selector=select_locale)

    @app.after_request
    def vary_on_language(response):
        """A page's language may come from Accept-Language: no shared cache may hand one
        browser's language to another."""
        if response.mimetype == "text/html":
            response.vary.add("Accept-Language")
        return response

    app.add_template_global(html_lang)
    app.add_template_global(current_code, "current_language")
    app.add_template_global(NAMES, "LANGUAGE_NAMES")


def default_locale(value: str) -> str:
    """HUMMER_DEFAULT_LOCALE as one of LANGUAGES; any other value stops the portal at startup."""
    language = known(value)
    if language is None:
        raise SystemExit(f"HUMMER_DEFAULT_LOCALE must be one of {', '.join(LANGUAGES)} "
                         f"(or {', '.join(bcp47(code) for code in LANGUAGES)}), got {value!r}")
    return language
