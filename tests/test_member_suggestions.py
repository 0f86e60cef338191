"""The Members page suggests usernames only as the owner types: from three characters on,
at most ten, never disabled accounts or people already in the project."""
import re

import pytest

from tests.support.web import text


def options(response) -> list[str]:
    return re.findall(r'<option value="([^"]+)">', text(response))


@pytest.fixture
def crowd(team, make_user):
    project, people = team
    for i in range(15):
        make_user(f"sam{i:02d}")
    make_user("samoff", disabled=True)
    make_user("dev-two")
    return project


def test_the_members_page_lists_no_usernames(web, login, crowd):
    login("olivia")
    page = web.get("/projects/alpha/members")
    assert page.status_code == 200
    assert '<datalist id="usernames"></datalist>' in text(page)
    assert "sam00" not in text(page) and "stranger" not in text(page)


@pytest.mark.parametrize("typed", ["", "s", "sa", "  sa  "])
def test_fewer_than_three_characters_suggest_nothing(web, login, crowd, typed):
    login("olivia")
    response = web.get(f"/projects/alpha/members/suggest?username={typed}", htmx="usernames")
    assert response.status_code == 200
    assert options(response) == []


def test_suggestions_are_bounded_and_skip_disabled_accounts(web, login, crowd):
    login("olivia")
    response = web.get("/projects/alpha/members/suggest?username=sam", htmx="usernames")
    assert options(response) == [f"sam{i:02d}" for i in range(10)]
    assert options(web.get("/projects/alpha/members/suggest?username=samo", htmx="usernames")) == []
    assert options(web.get("/projects/alpha/members/suggest?username=sam1", htmx="usernames")) == [
        f"sam{i}" for i in range(10, 15)]


def test_members_already_in_the_project_are_not_suggested(web, login, crowd):
    login("olivia")
    assert options(web.get("/projects/alpha/members/suggest?username=dev", htmx="usernames")) == ["dev-two"]


@pytest.mark.parametrize("typed", ["%%%", "___", "s%m"])
def test_like_wildcards_are_literal(web, login, crowd, typed):
    login("olivia")
    assert options(web.get("/projects/alpha/members/suggest", query_string={"username": typed},
                           htmx="usernames")) == []


@pytest.mark.parametrize("who, status", [("vic", 403), ("dev", 403), ("stranger", 404)])
def test_only_owners_get_suggestions(web, login, crowd, who, status):
    login(who)
    response = web.get("/projects/alpha/members/suggest?username=sam", htmx="usernames")
    assert response.status_code == status and "sam00" not in text(response)


@pytest.mark.browser
def test_the_datalist_fills_as_the_owner_types(app, crowd):
    from selenium.webdriver.common.by import By

    from tests.support.browser import browsing, find, htmx_idle, log_in, wait_for

    def suggested(d):
        return [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "#usernames option")]

    with browsing(app) as d:
        log_in(d, "olivia")
        d.get(d.base + "/projects/alpha/members")
        field = find(d, By.ID, "username")
        field.send_keys("sa")
        wait_for(d, htmx_idle)
        assert suggested(d) == []
        field.send_keys("m1")
        wait_for(d, lambda d: suggested(d) == [f"sam{i}" for i in range(10, 15)],
                 message="no suggestions after four characters")
