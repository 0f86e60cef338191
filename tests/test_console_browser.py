"""The console as a person sees it, in headless Chromium: the main pages hold at 360, 1,400
and 1,920 px with long names (no sideways scroll), in English and, at 360 and 1,400 px, in
Simplified Chinese, meet WCAG AA contrast, mark where you are, and confirm or ask before
changes. Screenshots land in the test's tmp dir (Chinese ones under zh_Hans/)."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import current_app
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from portal.extensions import db
from portal.models import AuditEvent, Build, BuildLogChunk, ResourcePlan, Role, TrashedVolume, User, Volume
from tests.support.browser import browsing, find, htmx_idle, wait_for
from tests.support.browser import log_in as browser_log_in
from tests.support.contrast import offenders

pytestmark = pytest.mark.browser

LONG_PROJECT = ("long-project-name-" * 4)[:62] + "z"   # 63 characters, the most a namespace has
LONG_USER = ("long-user-name-" * 5)[:63] + "z"        # 64 characters, the most a username has
LONG_VOLUME = ("long-volume-name-" * 3)[:49] + "z"    # 50 characters, the most a volume name has
WIDTHS = (360, 1400, 1920)
# Each language's browser (its Accept-Language) and the widths its screenshots are taken at.
LANGUAGES = {"en": ("en-US,en", WIDTHS), "zh_Hans": ("zh-CN,zh", (360, 1400))}


@pytest.fixture
def browser(app):
    with browsing(app) as driver:
        yield driver


@pytest.fixture
def seeded(make_user, make_project):
    """An admin with a 64-character name, a 63-character project, a plan and some history."""
    assert len(LONG_PROJECT) == 63 and len(LONG_USER) == 64
    admin = make_user(LONG_USER, admin=True)
    bob = make_user("bob")
    project = make_project(LONG_PROJECT, {admin: Role.OWNER, bob: Role.VIEWER})
    project.display_name = "A display name long enough to need wrapping on a phone, twice over"
    project.description = "Shop front " + "x" * 90
    make_project("shop", {admin: Role.OWNER})
    db.session.add(ResourcePlan(name="small-" + "s" * 50, cpu_request="250m", memory_request="256Mi",
                                cpu_limit="500m", memory_limit="512Mi", is_default=True))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for minutes, action in ((2, "project.quota"), (30, "member.add"), (200, "project.create")):
        db.session.add(AuditEvent(actor_name=LONG_USER, action=action, object_type="project",
                                  object_name=LONG_PROJECT, project_name=LONG_PROJECT,
                                  project_id=project.id,
                                  detail="cpu=" + "9" * 80, remote_addr="127.0.0.1",
                                  at=now - timedelta(minutes=minutes)))
    # A failed Git build with a long URL, a long failing line and a long log line.
    db.session.flush()
    build = Build(id=7, project_id=project.id, repository=f"{LONG_PROJECT}/web", tag="1." + "0" * 60, source="git",
                  git_url="https://git.example.com/" + "deeply/nested/" * 6 + "shop.git", git_ref="main",
                  commit="f" * 40, status="failed", started_by=LONG_USER, started_at=now - timedelta(minutes=3),
                  finished_at=now - timedelta(minutes=2), message='building at STEP "RUN make ' + "x" * 120 + '"')
    db.session.add(build)
    db.session.flush()
    db.session.add(BuildLogChunk(build_id=build.id, text="STEP 1/2: FROM busybox\n" + "y" * 300 + "\n"))
    # A volume with a 50-character name, 90 % full, holding long file names; one in the trash.
    volume = Volume(project=project, name=LONG_VOLUME, capacity="1Gi", capacity_bytes=1024 ** 3,
                    description="Uploads of the shop " + "z" * 80, directory=f"{LONG_PROJECT}.{LONG_VOLUME}",
                    server="10.0.1.250", path=f"/hummer/{LONG_PROJECT}.{LONG_VOLUME}",
                    usage_bytes=int(0.9 * 1024 ** 3), usage_at=now)
    db.session.add(volume)
    db.session.add(TrashedVolume(project_name=LONG_PROJECT, name=LONG_VOLUME, capacity="1Gi",
                                 capacity_bytes=1024 ** 3, trash_name=f"{LONG_PROJECT}.{LONG_VOLUME}--1"))
    db.session.commit()
    folder = Path(current_app.config["NFS_ROOT"]) / volume.directory
    (folder / ("nested-folder-" * 8)).mkdir(parents=True)
    (folder / ("a-rather-long-file-name-" * 8 + ".tar.gz")).write_bytes(b"x" * 12345)
    return admin, project


def set_width(d, width: int, height: int = 900):
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def settled(d) -> bool:
    """htmx loaded, no request in flight, and every lazy fragment (hx-trigger=load) swapped in."""
    return d.execute_script(
        "return !!window.htmx && document.readyState === 'complete'"
        " && document.querySelectorAll('.htmx-request, [hx-trigger=load]').length === 0")


def visit(d, url: str):
    d.get(d.base + url)
    wait_for(d, settled, timeout=30, message=f"{url} did not settle")


def overflow(d) -> dict:
    return d.execute_script(
        "const e = document.documentElement;"
        "return {scroll: e.scrollWidth, client: e.clientWidth,"
        " wide: Array.from(document.body.querySelectorAll('*')).filter(n => {"
        "   const r = n.getBoundingClientRect(); return r.right > e.clientWidth + 1 && r.width > 0"
        "   && !n.closest('.table-scroll') && getComputedStyle(n).position !== 'fixed'; })"
        "   .slice(0, 5).map(n => n.tagName + '.' + n.className + ' ' + (n.textContent || '').trim().slice(0, 40))};")


def screenshot(d, path):
    height = min(d.execute_script("return document.documentElement.scrollHeight"), 4000)
    width = d.execute_script("return window.innerWidth")
    set_width(d, width, height)
    d.save_screenshot(str(path))
    set_width(d, width)


def log_in(d, username: str):
    browser_log_in(d, username)
    wait_for(d, settled, timeout=30)


def main_pages(project: str) -> dict[str, str]:
    return {
        "dashboard": "/", "projects": "/projects", "project": f"/projects/{project}",
        "members": f"/projects/{project}/members", "settings": f"/projects/{project}/settings",
        "project-audit": f"/projects/{project}/audit", "users": "/admin/users", "plans": "/admin/plans",
        "audit": "/admin/audit", "cluster": "/cluster", "apps": f"/projects/{project}/apps",
        "deploy": f"/projects/{project}/apps/new",
        "builds": f"/projects/{project}/builds", "build-new": f"/projects/{project}/builds/new",
        "build": f"/projects/{project}/builds/7",
        "volumes": f"/projects/{project}/volumes", "volume-new": f"/projects/{project}/volumes/new",
        "volume": f"/projects/{project}/volumes/{LONG_VOLUME}",
        "files": f"/projects/{project}/volumes/{LONG_VOLUME}/files", "trash": "/admin/volumes/trash",
    }


def check_page(d, name, tmp_path, width, problems):
    screenshot(d, tmp_path / f"{name}-{width}.png")
    o = overflow(d)
    if o["scroll"] > o["client"]:
        problems.append(f"{name} at {width}px scrolls sideways ({o['scroll']} > {o['client']}): {o['wide']}")
    bad = offenders(d)
    if bad:
        problems.append(f"{name} at {width}px: contrast below AA: {bad[:5]}")


def check_pages(app, username: str, pages: dict[str, tuple[str, str]], tmp_path, widths=(360, 1400)):
    """Log in as `username` at each width and check each page (name -> (url, the id of an
    element it must show)): nothing scrolls sideways and the contrast meets AA."""
    problems: list[str] = []
    with browsing(app) as d:
        for width in widths:
            set_width(d, width)
            d.delete_all_cookies()
            visit(d, "/login")
            log_in(d, username)
            for name, (url, element_id) in pages.items():
                visit(d, url)
                assert d.find_elements(By.ID, element_id), f"{name}: no #{element_id} on {url}"
                check_page(d, name, tmp_path, width, problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_main_pages_hold_and_meet_contrast(app, seeded, tmp_path, language):
    accept_language, widths = LANGUAGES[language]
    shots = tmp_path if language == "en" else tmp_path / language
    shots.mkdir(exist_ok=True)
    problems: list[str] = []
    with browsing(app, accept_language=accept_language) as d:
        for width in widths:
            set_width(d, width)
            d.delete_all_cookies()
            visit(d, "/login")
            assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == language.replace("_", "-")
            check_page(d, "login", shots, width, problems)
            log_in(d, LONG_USER)
            for name, url in main_pages(LONG_PROJECT).items():
                visit(d, url)
                assert d.find_elements(By.TAG_NAME, "h1"), f"{name}: no heading (an error page?)"
                check_page(d, name, shots, width, problems)
    assert not problems, "\n".join(problems)
    assert (shots / "dashboard-360.png").stat().st_size > 1000
    assert (shots / "users-1400.png").exists()


def test_long_username_keeps_the_users_actions_in_view(browser, seeded):
    d = browser
    set_width(d, 360)
    log_in(d, LONG_USER)
    visit(d, "/admin/users")
    row = d.find_element(By.ID, f"user-{seeded[0].id}")
    link = row.find_element(By.LINK_TEXT, "Reset password")
    box = d.execute_script("const r = arguments[0].getBoundingClientRect(); "
                           "const s = arguments[1].getBoundingClientRect();"
                           "return {right: r.right, scrollRight: s.right}", link,
                           d.find_element(By.CSS_SELECTOR, "#user-rows .table-scroll"))
    assert box["right"] <= box["scrollRight"] + 1, box


def test_current_page_is_marked_visibly(browser, seeded):
    d = browser
    log_in(d, LONG_USER)
    visit(d, f"/projects/{LONG_PROJECT}/members")
    top = d.find_element(By.CSS_SELECTOR, "nav.top a[aria-current=page]")
    tab = d.find_element(By.CSS_SELECTOR, "nav.tabs a[aria-current=page]")
    assert top.text == "Projects" and tab.text == "Members"
    other_tab = d.find_element(By.CSS_SELECTOR, "nav.tabs").find_element(By.LINK_TEXT, "Overview")
    style = "const s = getComputedStyle(arguments[0]); return [s.backgroundColor, s.color, s.fontWeight]"
    assert d.execute_script(style, tab) != d.execute_script(style, other_tab)
    assert d.execute_script("return getComputedStyle(arguments[0]).fontWeight", top) == "700"
    # The switcher lists the other project and goes there.
    d.find_element(By.CSS_SELECTOR, "details.switcher summary").click()
    d.find_element(By.CSS_SELECTOR, "details.switcher").find_element(By.PARTIAL_LINK_TEXT, "Shop").click()
    wait_for(d, lambda d: d.current_url.endswith("/projects/shop"))


def test_role_change_says_saved_and_disable_asks_first(browser, seeded):
    d = browser
    log_in(d, LONG_USER)
    visit(d, f"/projects/{LONG_PROJECT}/members")
    Select(d.find_element(By.CSS_SELECTOR, "select[aria-label='Role of bob']")).select_by_value("developer")
    status = wait_for(d, lambda d: [s for s in d.find_elements(By.CSS_SELECTOR, "#inline-status[role=status]")
                                    if "Saved: bob is now developer." in s.text], message="no Saved status")
    assert status[0].is_displayed()
    assert not offenders(d)

    visit(d, "/admin/users")
    bob = db.session.scalar(db.select(User).filter_by(username="bob"))
    row = f"user-{bob.id}"
    d.find_element(By.ID, row).find_element(By.LINK_TEXT, "Disable").click()
    alert = wait_for(d, lambda d: d.switch_to.alert, message="no confirmation asked")
    assert "bob can no longer log in" in alert.text
    alert.dismiss()
    wait_for(d, htmx_idle)
    db.session.rollback()  # a new transaction sees what the live server committed
    assert db.session.get(User, bob.id).disabled is False
    d.find_element(By.ID, row).find_element(By.LINK_TEXT, "Disable").click()
    wait_for(d, lambda d: d.switch_to.alert).accept()
    wait_for(d, lambda d: "disabled" in d.find_element(By.ID, row).text)
    assert "bob disabled." in find(d, By.ID, "inline-status").text
    db.session.rollback()  # a new transaction sees what the live server committed
    assert db.session.get(User, bob.id).disabled is True


def test_dashboard_fills_in_health_and_project_status(browser, seeded):
    d = browser
    log_in(d, LONG_USER)
    visit(d, "/")
    health = d.find_element(By.ID, "health").text
    assert "Kubernetes API" in health and "not configured" in health and "Salt" in health
    status = d.find_element(By.ID, "project-status").text
    assert "App status needs the cluster." in status and "shop" in status
    activity = d.find_element(By.ID, "activity").text
    assert "changed the quota" in activity and "min ago" in activity
    when = d.find_element(By.CSS_SELECTOR, "#activity time")
    assert when.get_attribute("title").endswith(" UTC")


def test_contrast_checker_catches_muted_text_on_a_button(browser, seeded):
    """The checker itself: Pico's muted hgroup text on a blue button (the old 'New project')."""
    d = browser
    visit(d, "/login")
    assert not offenders(d)
    d.execute_script("""const h = document.createElement('hgroup');
        h.innerHTML = '<h2>Projects</h2><a role="button" href="#">New project</a>';
        document.querySelector('main').appendChild(h);""")
    bad = offenders(d)
    assert [b["text"] for b in bad] == ["New project"], bad
    assert bad[0]["ratio"] < 2
