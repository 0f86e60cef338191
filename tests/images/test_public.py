"""Public images: only an admin marks a repository of a project public (or private again);
the name must lie under the project's own prefix; a public repository is offered in every
other project's deploy form."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import AuditEvent, PublicImage
from portal.services.images import public
from tests.images.manage_support import new_team, push, use_registry
from tests.support.html import find, find_all
from tests.support.web import text


def switch(web, project, repository: str, value: str):
    return web.post(f"/projects/{project.name}/images/public", {"repository": repository, "public": value})


def offered(web, project) -> list[str]:
    page = text(web.get(f"/projects/{project.name}/apps/new"))
    return [o.get("value") for o in find(page, "datalist", id="image-suggestions").find_all("option")]


@pytest.mark.parametrize("who", ["dev", "olivia", "vic", "stranger"])
def test_only_an_admin_marks_public(web, login, make_user, make_project, who):
    project, _people = new_team(make_user, make_project)
    login(who)
    assert switch(web, project, f"{project.name}/web", "1").status_code == 403
    assert public.public_repositories() == []


def test_an_admin_marks_and_unmarks_with_an_audit_event(web, login, make_user, make_project):
    project, _people = new_team(make_user, make_project)
    repo = f"{project.name}/web"
    login("root")
    response = switch(web, project, repo, "1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/images/retention")
    assert public.is_public(repo) and public.public_repositories() == [repo]
    assert db.session.scalar(db.select(PublicImage.marked_by)) == "root"
    assert switch(web, project, repo, "1").status_code == 302  # again: no second row, no second event
    assert switch(web, project, repo, "0").status_code == 302
    assert not public.is_public(repo)
    events = [(e.action, e.object_name) for e in db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action.like("image.p%")).order_by(AuditEvent.id))]
    assert events == [("image.public", repo), ("image.private", repo)]


@pytest.mark.parametrize("repository,public_value", [
    ("other/web", "1"), ("web", "1"), ("{p}", "1"), ("{p}/../other/web", "1"), ("{p}/Web", "1"),
    ("{p}/web?x=1", "1"), ("{p}/" + "a" * 300, "1"), ("{p}/web", "yes"), ("{p}/web", ""),
])
def test_bad_repositories_and_values_are_refused_with_a_reason(web, login, make_user, make_project,
                                                               repository, public_value):
    project, _people = new_team(make_user, make_project)
    login("root")
    response = switch(web, project, repository.format(p=project.name), public_value)
    assert response.status_code == 422
    assert find(text(response), "article", class_="error-page") is not None
    assert public.public_repositories() == []


@pytest.mark.parametrize("name", ["open", "locked"])
def test_a_public_repository_is_offered_to_other_projects(app, registries, tmp_path, web, login, make_user,
                                                          make_project, name):
    server = registries[name]
    use_registry(app, server)
    owner, people = new_team(make_user, make_project, prefix="pub")
    other = make_project(f"x{owner.name}", {people["dev"]: "developer"})
    push(server, tmp_path, f"{owner.name}/base", "1.0")
    push(server, tmp_path, f"{owner.name}/secret", "1.0")
    login("root")
    page = text(web.get(f"/projects/{owner.name}/images/retention"))
    forms = find_all(page, "form", action=f"/projects/{owner.name}/images/public")
    assert {f.find("input", name="repository").get("value") for f in forms} == {
        f"{owner.name}/base", f"{owner.name}/secret"}
    assert switch(web, owner, f"{owner.name}/base", "1").status_code == 302
    web.logout()

    login("dev")
    names = offered(web, other)
    assert f"{server.host}/{owner.name}/base:1.0" in names
    assert not any("/secret:" in n for n in names)
