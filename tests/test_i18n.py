"""The language a page speaks, through HTTP: the user's choice (profile page, footer switch),
else Accept-Language, else HUMMER_DEFAULT_LOCALE; and times, numbers and sizes in it (Babel)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import render_template_string
from flask_babel import force_locale, gettext

from portal import config, create_app, i18n
from portal.extensions import db
from portal.models import AuditEvent, User
from portal.templating import age, since, size
from tests.support import databases
from tests.support.html import error_beside, field_value, find
from tests.support.web import Web, text

CJK = re.compile(r"[\u4e00-\u9fff]")


def lang_of(response) -> str:
    """<html lang> of a page."""
    return find(text(response), "html").get("lang")


def chinese(message: str, **values) -> str:
    """`message` as the zh_Hans catalogue has it: a test fails on an untranslated string."""
    with force_locale("zh_Hans"):
        translated = gettext(message, **values)
    assert CJK.search(translated), f"{message!r} is not translated into zh_Hans"
    return translated


# Accept-Language --------------------------------------------------------------------

@pytest.mark.parametrize("header, lang", [
    (None, "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
    ("zh", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh-Hans", "zh-Hans"), ("zh-Hans-HK", "zh-Hans"),
    ("en-GB,en;q=0.9", "en"),
    ("fr-FR, zh;q=0.5", "zh-Hans"),      # a language we do not ship is skipped, not the end
    ("zh-TW, en;q=0.5", "en"),           # Traditional Chinese is not zh_Hans
    ("de, fr;q=0.5", "en"),              # nothing we ship: the default
    ("en;q=0.2, zh-CN;q=0.9", "zh-Hans"),  # by quality, not by order
    ("zh-CN;q=0, en", "en"),             # q=0: "not this one"
])
def test_accept_language_picks_the_page_language(web, header, lang):
    headers = {"Accept-Language": header} if header else {}
    response = web.get("/login", headers=headers)
    assert lang_of(response) == lang
    assert "Accept-Language" in response.headers["Vary"]


def test_a_page_in_chinese_says_so_in_words_too(web, login, team):
    login("vic")
    page = text(web.get("/profile", headers={"Accept-Language": "zh-CN"}))
    assert find(page, "html").get("lang") == "zh-Hans"
    assert find(page, "section", id="language-choice").find("h2").text == chinese("Language")
    assert find(page, "form", class_="inline language-switch").get("aria-label") == chinese("Language")


# HUMMER_DEFAULT_LOCALE ---------------------------------------------------------------

@pytest.fixture
def chinese_by_default(database_url, tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret",
                      "INSTANCE_PATH": str(tmp_path / "instance"), "DEFAULT_LOCALE": "zh-Hans"})
    with app.app_context():
        yield Web(app.test_client())


def test_default_locale_answers_when_the_browser_asks_for_nothing_we_ship(chinese_by_default):
    web = chinese_by_default
    assert web.app.config["DEFAULT_LOCALE"] == "zh_Hans"  # the BCP 47 spelling is taken too
    assert lang_of(web.get("/login")) == "zh-Hans"
    assert lang_of(web.get("/login", headers={"Accept-Language": "fr"})) == "zh-Hans"
    assert lang_of(web.get("/login", headers={"Accept-Language": "en-US"})) == "en"


@pytest.mark.parametrize("value", ["fr", "zh_CN", "english", "zh-TW"])
def test_an_unknown_default_locale_stops_the_portal_at_startup(monkeypatch, value):
    monkeypatch.setenv("HUMMER_DEFAULT_LOCALE", value)
    with pytest.raises(SystemExit, match=f"HUMMER_DEFAULT_LOCALE must be one of en, zh_Hans .*got '{value}'"):
        config.load()


def test_an_unknown_default_locale_in_the_app_config_is_refused_too(tmp_path):
    with pytest.raises(SystemExit, match="HUMMER_DEFAULT_LOCALE must be one of"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x" * 32,
                    "INSTANCE_PATH": str(tmp_path), "DEFAULT_LOCALE": "klingon"})


# The user's choice (profile page) ------------------------------------------------------

def stored_locale(username: str) -> str | None:
    db.session.expire_all()
    return db.session.scalar(db.select(User.locale).filter_by(username=username))


def test_the_profile_choice_beats_the_browser_and_automatic_gives_it_back(web, login, team):
    login("vic")
    english = {"Accept-Language": "en-US,en;q=0.9"}
    page = text(web.get("/profile", headers=english))
    assert field_value(page, "language") == ""  # Automatic (browser) until a choice is made
    assert [o.text for o in find(page, "select", id="language").find_all("option")] == [
        "Automatic (browser)", "English", "简体中文"]

    saved = web.post("/profile/language", {"language": "zh_Hans"}, headers=english)
    assert saved.status_code == 302 and saved.headers["Location"] == "/profile"
    assert stored_locale("vic") == "zh_Hans"
    page = text(web.get("/profile", headers=english))
    assert find(page, "html").get("lang") == "zh-Hans"
    assert chinese("Language saved.") in find(page, id="flashes").text  # the flash in the new language
    assert field_value(page, "language") == "zh_Hans"

    web.post("/profile/language", {"language": ""}, headers=english)
    assert stored_locale("vic") is None
    page = text(web.get("/profile", headers=english))
    assert lang_of(web.get("/profile", headers=english)) == "en"
    assert "Language saved." in find(page, id="flashes").text
    assert lang_of(web.get("/profile", headers={"Accept-Language": "zh-CN"})) == "zh-Hans"


def test_the_choice_is_the_users_wherever_they_log_in(web, login, team, client):
    login("vic")
    web.post("/profile/language", {"language": "zh_Hans"})
    other = Web(client.application.test_client())  # another browser, asking for English
    assert other.login("vic", "correct-horse-1").status_code == 302
    assert lang_of(other.get("/projects", headers={"Accept-Language": "en"})) == "zh-Hans"
    assert lang_of(web.get("/projects", headers={"Accept-Language": "en"})) == "zh-Hans"
    # Another user's pages are not affected.
    assert other.logout().status_code == 302
    assert other.login("dev", "correct-horse-1").status_code == 302
    assert lang_of(other.get("/projects")) == "en"


def test_a_language_we_do_not_ship_is_refused_and_nothing_changes(web, login, team):
    login("vic")
    web.post("/profile/language", {"language": "zh_Hans"})
    refused = web.post("/profile/language", {"language": "fr"})
    assert refused.status_code == 422
    assert error_beside(text(refused), "language")  # WTForms' "Not a valid choice", beside the field
    assert stored_locale("vic") == "zh_Hans"
    assert web.post("/language", {"language": "klingon", "next": "/projects"}).status_code == 422
    assert stored_locale("vic") == "zh_Hans"


# The footer's switch -----------------------------------------------------------------

def test_the_footer_switch_works_for_a_visitor_and_comes_back_to_the_page(web):
    english = {"Accept-Language": "en"}
    page = text(web.get("/login?next=/projects", headers=english))
    switch = find(page, "form", class_="inline language-switch")
    assert switch.get("method") == "post" and switch.get("action") == "/language"
    assert field_value(switch, "next") == "/login?next=/projects"
    assert [b.get("value") for b in switch.find_all("button")] == ["zh_Hans"]  # English is current
    assert switch.find("span", lang="en").get("aria-current") == "true"

    moved = web.post("/language", {"language": "zh_Hans", "next": "/login?next=/projects"}, headers=english)
    assert moved.status_code == 302 and moved.headers["Location"] == "/login?next=/projects"
    assert lang_of(web.get("/login", headers=english)) == "zh-Hans"  # kept in the session
    web.post("/language", {"language": "en", "next": "/login"}, headers={"Accept-Language": "zh-CN"})
    assert lang_of(web.get("/login", headers={"Accept-Language": "zh-CN"})) == "en"


def test_a_visitors_choice_carries_into_the_session_until_the_user_chooses(web, team):
    web.post("/language", {"language": "zh_Hans", "next": "/login"})
    assert web.login("vic", "correct-horse-1").status_code == 302
    assert lang_of(web.get("/projects", headers={"Accept-Language": "en"})) == "zh-Hans"
    assert stored_locale("vic") is None
    web.post("/profile/language", {"language": "en"})
    assert lang_of(web.get("/projects", headers={"Accept-Language": "zh-CN"})) == "en"


def test_the_footer_switch_stores_a_logged_in_users_choice(web, login, team):
    login("vic")
    switched = web.post("/language", {"language": "zh_Hans", "next": "/projects/alpha/members"})
    assert switched.headers["Location"] == "/projects/alpha/members"
    assert stored_locale("vic") == "zh_Hans"
    # htmx (the boosted form) gets a whole new document: <html lang> and every string change.
    switched = web.post("/language", {"language": "en", "next": "/projects"}, htmx=True)
    assert switched.headers["HX-Redirect"] == "/projects" and stored_locale("vic") == "en"


@pytest.mark.parametrize("target", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "evil",
    "/\r\nSet-Cookie: x=1", "", "/logout",  # the last: a POST-only URL, nothing to GET back to
    "/no/such/page",
])
def test_the_switch_goes_back_only_to_a_page_of_the_portal(web, login, team, target):
    login("vic")
    response = web.post("/language", {"language": "zh_Hans", "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_the_switch_needs_the_csrf_token(web):
    refused = web.post("/language", {"language": "zh_Hans", "next": "/login"}, csrf=False)
    assert refused.status_code == 400
    assert lang_of(web.get("/login")) == "en"


# Babel: times, numbers, sizes -----------------------------------------------------------

def test_the_audit_log_speaks_chinese_times(web, login, team):
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for minutes in (3, 125, 60 * 24 * 5):
        db.session.add(AuditEvent(actor_name="olivia", action="project.rename", object_type="project",
                                  object_name="alpha", project_name="alpha", project_id=team[0].id,
                                  at=now - timedelta(minutes=minutes)))
    db.session.add(AuditEvent(actor_name="olivia", action="project.rename", object_type="project",
                              object_name="alpha", project_name="alpha", project_id=team[0].id,
                              at=datetime(2020, 1, 2, 3, 4, 5)))
    db.session.commit()
    login("olivia")
    web.post("/profile/language", {"language": "zh_Hans"})
    page = text(web.get("/projects/alpha/audit"))
    times = [t.text for t in find(page, "main").find_all("time")]
    assert times == ["3分钟前", "2小时前", "5天前", "2020年1月2日"], times
    assert find(page, "main").find("time", datetime="2020-01-02T03:04:05Z").get("title") \
        == "2020年1月2日 03:04:05 UTC"
    web.post("/profile/language", {"language": "en"})
    page = text(web.get("/projects/alpha/audit"))
    assert [t.text for t in find(page, "main").find_all("time")] == ["3 min ago", "2 h ago", "5 days ago",
                                                                      "2020-01-02"]


def render_in(app, accept_language: str, source: str, **values) -> str:
    """A template rendered in a request whose browser asks for `accept_language` (in an app
    context of its own, as under a server: Flask-Babel keeps the locale in `g`)."""
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": accept_language}):
        return render_template_string(source, **values)


def test_numbers_sizes_and_times_follow_the_locale(app):
    now = datetime.now(timezone.utc)
    source = ("{{ n|number }}|{{ b|size }}|{{ t|ago }}|{{ t|since }}|{{ iso|since }}|{{ just|ago }}"
              "|{{ none|number }}{{ none|size }}{{ none|ago }}")
    values = {"n": 1234567, "b": 1.5 * 1024 ** 3, "t": now - timedelta(minutes=3),
              "iso": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), "just": now, "none": None}
    assert render_in(app, "en", source, **values).split("|") == [
        "1,234,567", "1.5 GiB", "3 min ago", "3m ago", "2h ago", "just now", ""]
    assert render_in(app, "zh-CN", source, **values).split("|") == [
        "1,234,567", "1.5 GiB", "3分钟前", "3分钟前", "2小时前", chinese("just now"), ""]


@pytest.mark.parametrize("accept_language, ages, sinces", [
    ("en", ["20s", "3m", "2h", "5d", ""], ["20s ago", "3m ago", "2h ago", "5d ago", ""]),
    ("zh-CN", ["20秒", "3分钟", "2小时", "5天", ""], ["20秒前", "3分钟前", "2小时前", "5天前", ""]),
])
def test_kubernetes_ages_are_whole_units_in_the_locale(app, accept_language, ages, sinces):
    now = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    stamps = ["2026-12-03T11:59:40Z", "2026-12-03T11:57:00Z", "2026-12-03T09:10:00Z",  # 2 h 50 min: 2h
              "2026-11-28T11:00:00Z", "not a time"]
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": accept_language}):
        assert [age(s, now) for s in stamps] == ages
        assert [since(s, now) for s in stamps] == sinces


@pytest.mark.parametrize("value, shown", [
    (0, "0 B"), (900, "900 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (512 * 1024 ** 2, "512 MiB"),
    (1.5 * 1024 ** 3, "1.5 GiB"), (1024 ** 4 * 2.25, "2.2 TiB"), (1234 * 1024 ** 6, "1,234 EiB"), ("x", "x"),
])
def test_the_size_filter_uses_binary_units(app, value, shown):
    assert size(value) == shown


def test_html_lang_is_the_bcp47_form_of_every_language():
    assert [i18n.bcp47(code) for code in i18n.LANGUAGES] == ["en", "zh-Hans"]
    assert set(i18n.NAMES) == set(i18n.LANGUAGES)


# ./hummer i18n ---------------------------------------------------------------------------

def test_hummer_i18n_answers_help_at_once_and_refuses_what_it_does_not_know(tmp_path):
    from tests.test_cli import hummer
    listed = hummer("help", tmp_path=tmp_path)
    assert re.search(r"^  i18n \[WHAT\] +extract the translatable strings", listed.stdout, re.M), listed.stdout
    for args in (["i18n", "--help"], ["i18n", "-h"], ["help", "i18n"]):
        done = hummer(*args, tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: ./hummer i18n [extract | update | compile | check | add LANG]")
        assert "add LANG   start a catalogue for LANG" in done.stdout and "installing" not in done.stderr
    for args, says in ((["i18n", "bogus"], "i18n takes extract, update, compile, check or add LANG, got 'bogus'"),
                       (["i18n", "add"], "i18n add needs one LANG"),
                       (["i18n", "compile", "now"], "i18n compile takes no further arguments")):
        done = hummer(*args, tmp_path=tmp_path)
        assert done.returncode == 2 and says in done.stderr, done.stderr


def test_adding_a_language_starts_its_catalogue_and_the_check_lists_what_is_left(tmp_path):
    """scripts/catalogues.py (what ./hummer i18n runs) on a copy of the code: add de, check."""
    import shutil
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    copy = tmp_path / "repo"
    shutil.copytree(root / "portal", copy / "portal", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "scripts", copy / "scripts")
    shutil.copy(root / "babel.cfg", copy)

    def run(*args):
        return subprocess.run([sys.executable, str(copy / "scripts" / "catalogues.py"), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    assert run("check").returncode == 0
    added = run("add", "de")
    assert added.returncode == 0, added.stderr
    assert "add 'de' to LANGUAGES and its own name to NAMES in portal/i18n.py" in added.stdout
    german = (copy / "portal/translations/de/LC_MESSAGES/messages.po").read_text()
    assert 'msgid "Language saved."\nmsgstr ""' in german and "Language: de" in german
    checked = run("check")
    assert checked.returncode == 1 and "de: untranslated: 'Language saved.'" in checked.stdout
    assert "de/LC_MESSAGES/messages.mo is missing" in checked.stdout
    refused = run("add", "de")
    assert refused.returncode == 1 and "exists already" in refused.stderr
    assert "is not a locale Babel knows" in run("add", "xx_Nowhere").stderr


def test_a_chinese_page_shows_relative_times_and_the_thousands_separator(web, login, team):
    """The audit log of over 1,234 events in Chinese: each time as 分钟前, the count in the pager
    with its thousands separator (the pager writes page.total with the `number` filter)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    db.session.execute(db.insert(AuditEvent), [
        {"actor_name": "root", "action": "project.rename", "object_type": "project", "object_name": "alpha",
         "project_name": "alpha", "detail": "", "remote_addr": "", "at": now - timedelta(minutes=3)}
        for _ in range(1234)])
    db.session.commit()
    login("root")
    web.post("/profile/language", {"language": "zh_Hans"})
    page = text(web.get("/admin/audit"))
    times = [t.text for t in find(page, "main").find_all("time")]
    assert "3分钟前" in times and set(times) <= {"3分钟前", chinese("just now")}, times  # and root's login
    total = db.session.scalar(db.select(db.func.count(AuditEvent.id)))  # and root's login
    assert total > 1234
    pager = find(page, "nav", class_="pager")
    assert pager is not None and f"{total:,}" in pager.text, \
        f"the pager should show the total as {total:,} ({{{{ page.total|number }}}}): {pager and pager.text}"


# The migration ---------------------------------------------------------------------------

BEFORE_LOCALE = "d7a3f1c9e2b5"


@pytest.fixture(params=databases.backends())
def empty_url(request, tmp_path):
    """An empty database on each backend (as tests/test_migrations.py makes them)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
    else:
        with databases.mariadb_database() as url:
            yield url


def test_the_locale_migration_adds_an_empty_choice_and_goes_back(empty_url, tmp_path):
    """user.locale: NULL (the browser's language) for every existing user; downgrade drops it."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from tests.test_migrations import make_app
    app = make_app(empty_url, tmp_path)
    with app.app_context():
        upgrade(revision=BEFORE_LOCALE)
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO user (id, username, email, password_hash, is_admin, disabled, failed_logins, "
                "session_generation, created_at) VALUES (4, 'ann', '', 'x', 0, 0, 0, 0, :at)"),
                {"at": datetime(2026, 12, 1)})
        upgrade()
        columns = {c["name"]: c for c in sa.inspect(db.engine).get_columns("user")}
        assert columns["locale"]["nullable"] is True
        assert db.session.scalar(db.select(User.locale).filter_by(username="ann")) is None
        # The session's read holds a metadata lock on `user` on MariaDB; the downgrade's
        # ALTER TABLE would wait for it forever.
        db.session.remove()
        downgrade(revision=BEFORE_LOCALE)
        assert "locale" not in {c["name"] for c in sa.inspect(db.engine).get_columns("user")}
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT username FROM user WHERE id = 4")).scalar() == "ann"
        upgrade()
        db.session.remove()
        db.engine.dispose()
