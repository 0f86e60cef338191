"""Walk the wizard in headless Chromium with htmx running: nodes, plan, apply, against real Salt."""
import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import browsing, log_in, wait_for

pytestmark = pytest.mark.browser


def test_wizard_from_nodes_through_plan_and_apply(salt_portal, make_user, salt_env):
    app = salt_portal
    make_user("root", admin=True)
    m, n1, n2 = salt_env.minion_ids[:3]
    roles = {m: ["master", "registry", "nfs"], n1: ["node", "monitoring"], n2: ["node", "portal"]}
    with browsing(app) as d:
        base = d.base
        log_in(d, "root")
        wait_for(d, lambda d: d.find_elements(By.LINK_TEXT, "Cluster"))
        d.find_element(By.LINK_TEXT, "Cluster").click()
        wait_for(d, lambda d: d.find_elements(By.LINK_TEXT, "2 Nodes"))
        d.find_element(By.LINK_TEXT, "2 Nodes").click()
        wait_for(d, lambda d: m in d.find_element(By.ID, "nodes").text, 30, "minions not listed")

        for minion, wanted in roles.items():
            form = wait_for(d, lambda d, minion=minion: d.find_element(
                By.CSS_SELECTOR, f"form[action='/cluster/nodes/{minion}/roles']"))
            for role in wanted:
                box = form.find_element(By.CSS_SELECTOR, f"input[value='{role}']")
                if not box.is_selected():
                    box.click()
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(d, lambda d, minion=minion: f"Roles of {minion} saved." in d.find_element(By.ID, "flashes").text,
                     30)
        wait_for(d, lambda d: "The roles make a cluster." in d.find_element(By.ID, "nodes").text)

        for kind in ("plan", "apply"):
            d.get(base + "/cluster")
            wait_for(d, lambda d, kind=kind: d.find_elements(By.CSS_SELECTOR, f"button[value='{kind}']"))
            d.find_element(By.CSS_SELECTOR, f"button[value='{kind}']").click()
            wait_for(d, lambda d: d.find_elements(By.ID, "run-progress"), 30, "no progress page")
            # Progress is visible while the run goes on: a bar and node steps filling in.
            wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#run-progress tr.step-succeeded"), 120,
                     "no step finished")
            seen_bar = d.find_element(By.CSS_SELECTOR, "#run-progress progress").get_attribute("value")
            assert seen_bar is not None
            wait_for(d, lambda d: d.find_element(By.ID, "run-progress").get_attribute("data-status")
                     in ("succeeded", "failed"), 240, f"{kind} did not finish")
            assert d.find_element(By.ID, "run-status").text == "succeeded", d.find_element(By.ID, "run-progress").text
            nodes_seen = {td.text for td in d.find_elements(By.CSS_SELECTOR, "#run-progress tbody td:first-child")}
            assert {m, n1, n2} <= nodes_seen


def test_without_salt_the_wizard_says_so_and_disables_what_needs_it(app, make_user):
    """A blank install, no Salt: the banner at once, the Salt actions disabled with the reason."""
    make_user("root", admin=True)
    with browsing(app) as d:
        log_in(d, "root")
        wait_for(d, lambda d: d.find_elements(By.LINK_TEXT, "Cluster"))
        d.find_element(By.LINK_TEXT, "Cluster").click()
        banner = wait_for(d, lambda d: d.find_element(By.ID, "salt-missing"))
        assert banner.is_displayed() and "HUMMER_SALT_API_URL" in banner.text
        current = d.find_element(By.CSS_SELECTOR, "nav.wizard [aria-current=step]")
        assert current.text.startswith("1 Cluster")
        for kind in ("plan", "apply"):
            button = d.find_element(By.CSS_SELECTOR, f"button[value='{kind}']")
            assert not button.is_enabled()
            reason = d.find_element(By.ID, button.get_attribute("aria-describedby"))
            assert reason.is_displayed() and "Needs Salt, which is not configured" in reason.text
        d.find_element(By.LINK_TEXT, "2 Nodes").click()
        wait_for(d, lambda d: d.find_elements(By.ID, "ssh-host"))
        assert "Salt is not configured." in d.find_element(By.ID, "salt-missing").text
        submit = d.find_element(By.CSS_SELECTOR, "#ssh-host button[type=submit]")
        assert not submit.is_enabled()
        assert "Needs Salt" in d.find_element(By.ID, "ssh-host-reason").text
        d.find_element(By.LINK_TEXT, "3 Preflight").click()
        run_checks = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "form[action='/cluster/preflight'] button"))
        assert not run_checks.is_enabled()
        assert d.find_element(By.CSS_SELECTOR, "nav.wizard [aria-current=step]").text.startswith("3 Preflight")


def test_the_nodes_page_fills_in_who_answers_and_holds_at_360_px(salt_portal, make_user, salt_env, tmp_path):
    """One accepted minion runs nowhere: the page shows at once, then each row says whether
    its minion answers; at 360 and 1400 px nothing scrolls sideways and the contrast is AA."""
    from tests.support.salt_harness import make_keypair
    from tests.test_console_browser import check_page, set_width, visit
    make_user("root", admin=True)
    accepted = salt_env.root / "master" / "pki" / "minions" / "hm-ghost"
    accepted.write_bytes(make_keypair(salt_env.root / "hm-ghost-pki", "minion").read_bytes())
    problems: list[str] = []
    try:
        with browsing(salt_portal) as d:
            log_in(d, "root")
            for width in (360, 1400):
                set_width(d, width)
                visit(d, "/cluster/nodes")  # waits until the answers are in: nothing left to load
                assert d.find_element(By.ID, "answer-hm-ghost").text == "not answering"
                assert all(d.find_element(By.ID, f"answer-{m}").text == "answering" for m in salt_env.minion_ids)
                check_page(d, "nodes", tmp_path, width, problems)
    finally:
        accepted.unlink(missing_ok=True)
    assert not problems, "\n".join(problems)
