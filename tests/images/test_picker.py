"""The deploy form's image list: the project's own tags (newest pushes first) and the public
ones, as full pull names; free text stays allowed; no registry, or one that does not answer,
leaves the form as it was; ?image= prefills the field, judged on submit like a typed value."""
from __future__ import annotations

import time

import pytest

from tests.images.manage_support import new_team, push, record, use_registry
from tests.support.html import field_value, find
from tests.support.processes import free_port
from tests.support.web import error_beside, text


def offered(web, project) -> list[str]:
    response = web.get(f"/projects/{project.name}/apps/new")
    assert response.status_code == 200
    page = text(response)
    assert field_value(page, "image") == "" and find(page, "input", id="image").get("list") == "image-suggestions"
    return [o.get("value") for o in find(page, "datalist", id="image-suggestions").find_all("option")]


@pytest.mark.parametrize("name", ["open", "locked"])
def test_the_picker_lists_the_projects_tags_newest_first(app, registries, tmp_path, web, login, make_user,
                                                         make_project, name):
    server = registries[name]
    use_registry(app, server)
    project, _people = new_team(make_user, make_project)
    stranger_project = make_project(f"s{project.name}", {})
    repo = f"{project.name}/web"
    record(project, repo, "1.0", push(server, tmp_path, repo, "1.0"), 1)
    record(project, repo, "2.0", push(server, tmp_path, repo, "2.0"), 2)
    push(server, tmp_path, f"{stranger_project.name}/web", "9.9")
    login("dev")
    names = offered(web, project)
    assert names == [f"{server.host}/{repo}:2.0", f"{server.host}/{repo}:1.0"]


def test_without_a_registry_the_form_works_as_before(web, login, make_user, make_project):
    project, _people = new_team(make_user, make_project)
    login("dev")
    assert offered(web, project) == []


def test_an_unreachable_registry_costs_no_time_and_no_error(app, web, login, make_user, make_project):
    app.config["REGISTRY_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    project, _people = new_team(make_user, make_project)
    login("dev")
    started = time.monotonic()
    assert offered(web, project) == []
    assert time.monotonic() - started < 5


def test_image_in_the_query_prefills_the_field_and_is_judged_on_submit(web, login, make_user, make_project):
    project, _people = new_team(make_user, make_project)
    login("dev")
    chosen = "127.0.0.1:5000/team/web:1.0"
    page = text(web.get(f"/projects/{project.name}/apps/new?image={chosen}"))
    assert field_value(page, "image") == chosen and field_value(page, "tag") == ""
    bad = text(web.get(f"/projects/{project.name}/apps/new?image=%3Cscript%3EBAD"))
    assert field_value(bad, "image") == "<script>BAD" and "<script>BAD" not in bad
    response = web.post(f"/projects/{project.name}/apps/new", {
        "name": "web", "image": "<script>BAD", "tag": "", "replicas": "1", "op": "yaml",
        "ports-0-container_port": "", "env-0-name": ""})
    assert response.status_code == 422
    assert "Not an image reference" in error_beside(text(response), "image")
