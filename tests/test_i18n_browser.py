"""The portal in each language, in headless Chromium: chosen on the profile page, asked for by
the browser (Accept-Language), or switched in the footer before logging in. The pages, a form
error beside its field and a flash message speak the language.

The expected Chinese comes from the zh_Hans catalogue (force_locale) and must hold CJK
characters, so a string left untranslated fails here."""
from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from portal.extensions import db
from portal.models import Project, User
from tests.conftest import PASSWORD
from tests.support.browser import browsing, find, log_in, wait_for
from tests.test_i18n_marking import ROOT

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u4e00-\u9fff]")
NAME_ERROR = ("Project name must be lower-case letters, digits and '-', starting and ending with a letter "
              "or digit (a DNS-1123 label).")
CREATED = "Project demo created."
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def _msgids() -> list[str]:
    with (ROOT / "portal" / "translations" / "zh_Hans" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return [m.id for m in read_po(fh) if isinstance(m.id, str) and m.id]


def msgid_pattern(msgid: str) -> str:
    """A regular expression that matches the texts a msgid becomes: each %(name)s a group."""
    pattern, seen = "", set()
    for i, part in enumerate(PLACEHOLDER.split(msgid)):
        if i % 2 == 0:
            pattern += re.escape(part)
        elif part is None:  # %%
            pattern += "%"
        else:
            pattern += f"(?P={part})" if part in seen else f"(?P<{part}>.+?)"
            seen.add(part)
    return pattern


def test_msgid_patterns_read_the_values_back():
    match = re.fullmatch(msgid_pattern("%(name)s is at 100%% of %(num)d, %(name)s."), "web is at 100% of 3, web.")
    assert match.groupdict() == {"name": "web", "num": "3"}


def in_chinese(app, english: str) -> str:
    """What the zh_Hans catalogue makes of a text as the English page shows it: the msgid that
    reads so (its %(placeholders)s matched against the text), translated with the same values,
    a value that is itself a msgid ("Project name") translated too."""
    with app.app_context(), force_locale("zh_Hans"):
        ids = _msgids()
        if english in ids:
            translated = gettext(english)
        else:
            translated = None
            for msgid in ids:
                if "%(" not in msgid:
                    continue
                match = re.fullmatch(msgid_pattern(msgid), english)
                if match:
                    values = {k: gettext(v) if v in ids else v for k, v in match.groupdict().items()}
                    translated = gettext(msgid, **values)
                    break
    assert translated and CJK.search(translated), f"{english!r} has no Chinese in the zh_Hans catalogue"
    return translated


def page_lang(d) -> str:
    return d.find_element(By.TAG_NAME, "html").get_attribute("lang")


def settled(d) -> bool:
    return d.execute_script("return !!window.htmx && document.readyState === 'complete'"
                            " && document.querySelectorAll('.htmx-request').length === 0")


def visit(d, url: str):
    d.get(d.base + url)
    wait_for(d, settled, timeout=30, message=f"{url} did not settle")


def create_projects(d) -> tuple[str, str]:
    """A bad name, then "demo": the error shown beside the name field, and the flash."""
    visit(d, "/projects/new")
    name = find(d, By.ID, "name")
    name.send_keys("Bad_Name")
    d.find_element(By.CSS_SELECTOR, "#project-form button[type=submit]").click()
    error = wait_for(d, lambda d: d.find_elements(By.ID, "name-error"), message="no error beside the name")[0]
    error_text = error.text
    name = d.find_element(By.ID, "name")
    assert name.get_attribute("aria-describedby") == "name-error"
    name.clear()
    name.send_keys("demo")
    d.find_element(By.CSS_SELECTOR, "#project-form button[type=submit]").click()
    wait_for(d, lambda d: d.current_url.endswith("/projects/demo"), message="demo was not created")
    flash = wait_for(d, lambda d: [p.text for p in d.find_elements(By.CSS_SELECTOR, "#flashes .flash")],
                     message="no flash after creating demo")
    return error_text, flash[0]


def nav_link(d, endpoint_path: str) -> str:
    return d.find_element(By.CSS_SELECTOR, f"nav.top a[href='{endpoint_path}']").text


def test_english_is_the_default(app, make_user):
    make_user("ann")
    with browsing(app, accept_language="en-US,en") as d:
        log_in(d, "ann")
        wait_for(d, settled)
        assert page_lang(d) == "en"
        assert nav_link(d, "/projects") == "Projects"
        assert create_projects(d) == (NAME_ERROR, CREATED)


def test_chinese_chosen_on_the_profile_page(app, make_user):
    make_user("ann")
    with browsing(app, accept_language="en-US,en") as d:
        log_in(d, "ann")
        visit(d, "/profile")
        assert page_lang(d) == "en"
        Select(d.find_element(By.ID, "language")).select_by_visible_text("简体中文")
        d.find_element(By.CSS_SELECTOR, "#language-choice button[type=submit]").click()
        wait_for(d, lambda d: page_lang(d) == "zh-Hans", message="the page did not turn Chinese")
        wait_for(d, settled)
        assert d.current_url.endswith("/profile")
        assert d.find_element(By.ID, "flashes").text == in_chinese(app, "Language saved.")
        assert d.find_element(By.CSS_SELECTOR, "#language-choice h2").text == in_chinese(app, "Language")
        db.session.rollback()  # a new transaction sees what the live server committed
        assert db.session.scalar(db.select(User.locale).filter_by(username="ann")) == "zh_Hans"

        assert nav_link(d, "/projects") == in_chinese(app, "Projects")
        assert nav_link(d, "/profile") == in_chinese(app, "Profile")
        visit(d, "/")
        assert d.find_element(By.TAG_NAME, "h1").text == in_chinese(app, "Dashboard")
        error, flash = create_projects(d)
        assert error == in_chinese(app, NAME_ERROR)
        assert flash == in_chinese(app, CREATED)
        db.session.rollback()  # MariaDB's repeatable read: the snapshot above predates the project
        assert db.session.scalar(db.select(Project.name).filter_by(name="demo")) == "demo"


def test_chinese_asked_for_by_the_browser(app, make_user):
    make_user("ann")
    with browsing(app, accept_language="zh-CN,zh") as d:
        visit(d, "/login")
        assert page_lang(d) == "zh-Hans"
        # The footer offers English, named in English; Chinese is the current language.
        switch = d.find_element(By.CSS_SELECTOR, "footer form.language-switch")
        assert [b.text for b in switch.find_elements(By.TAG_NAME, "button")] == ["English"]
        assert switch.find_element(By.CSS_SELECTOR, "[aria-current=true]").text == "简体中文"
        assert d.find_element(By.CSS_SELECTOR, "form[action^='/login'] button[type=submit]").text \
            == in_chinese(app, "Log in")
        log_in(d, "ann")
        wait_for(d, settled)
        assert page_lang(d) == "zh-Hans"
        assert nav_link(d, "/projects") == in_chinese(app, "Projects")
        error, flash = create_projects(d)
        assert error == in_chinese(app, NAME_ERROR)
        assert flash == in_chinese(app, CREATED)


def test_the_footer_switch_before_logging_in(app, make_user):
    make_user("ann")
    with browsing(app, accept_language="en-US,en") as d:
        visit(d, "/login?next=/projects")
        assert page_lang(d) == "en"
        d.find_element(By.CSS_SELECTOR, "footer form.language-switch button[value=zh_Hans]").click()
        wait_for(d, lambda d: page_lang(d) == "zh-Hans", message="the switch did not turn the page Chinese")
        wait_for(d, settled)
        assert d.current_url.endswith("/login?next=/projects")  # back on the same page
        find(d, By.ID, "username").send_keys("ann")  # the visitor's choice goes on after logging in
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action^='/login'] button[type=submit]").click()
        wait_for(d, lambda d: d.current_url.endswith("/projects"))
        wait_for(d, settled)
        assert page_lang(d) == "zh-Hans"
        d.find_element(By.CSS_SELECTOR, "footer form.language-switch button[value=en]").click()
        wait_for(d, lambda d: page_lang(d) == "en", message="the switch did not turn the page English")
        assert d.current_url.endswith("/projects")
        db.session.rollback()
        assert db.session.scalar(db.select(User.locale).filter_by(username="ann")) == "en"
