"""Retention against the real registries: the preview names exactly the oldest tags beyond N
(by Hummer's push records, else the image's creation time), apply deletes exactly those
(skopeo no longer finds them; the kept ones still pull), a digest a kept tag shares stays,
a stale preview is not applied, and N is checked beside its field."""
from __future__ import annotations

import json

import pytest

from portal.extensions import db
from portal.models import AuditEvent, ImagePush, Project
from tests.images.manage_support import new_team, push, record, use_registry
from tests.support.html import find, find_all, form_data
from tests.support.registry import image_manifest
from tests.support.web import error_beside, text

REGISTRIES = ["open", "locked"]


def page_url(project) -> str:
    return f"/projects/{project.name}/images/retention"


def preview(page: str) -> set[str]:
    table = find(page, "table", id="preview")
    return {row.get("data-tag") for row in table.find_all("tr", data_tag=True)} if table else set()


def keep(web, project, value: str):
    return web.post(page_url(project), {"keep_tags": value})


def missing(server, reference: str) -> bool:
    try:
        server.inspect(reference)
    except AssertionError as error:
        return "manifest unknown" in str(error) or "not found" in str(error).lower()
    return False


@pytest.mark.parametrize("name", REGISTRIES)
def test_preview_then_apply_removes_exactly_the_oldest_tags_beyond_n(app, registries, tmp_path, web, login,
                                                                     make_user, make_project, name):
    server = registries[name]
    use_registry(app, server)
    project, _people = new_team(make_user, make_project)
    repo = f"{project.name}/web"
    digests = {}
    # pushed in this order (days), which is not the order of their names
    for tag, day in (("a", 3), ("b", 1), ("c", 5), ("d", 2), ("e", 4)):
        digests[tag] = push(server, tmp_path, repo, tag)
        record(project, repo, tag, digests[tag], day)
    other = f"{project.name}/api"
    push(server, tmp_path, other, "only")

    login("olivia")
    assert keep(web, project, "2").status_code == 302
    db.session.expire_all()
    assert db.session.get(Project, project.id).keep_tags == 2
    page = text(web.get(page_url(project)))
    assert preview(page) == {f"{repo}:a", f"{repo}:b", f"{repo}:d"}
    rows = {r.get("data-tag"): r for r in find(page, "table", id="preview").find_all("tr", data_tag=True)}
    assert digests["b"][:19] in rows[f"{repo}:b"].text

    response = web.post(f"/projects/{project.name}/images/retention/apply", form_data(page, "apply-form"))
    assert response.status_code == 302, text(response)[-2000:]
    for tag in "abd":
        assert missing(server, f"{repo}:{tag}"), tag
    for tag in "ce":
        assert server.pull(f"{repo}:{tag}", tmp_path / f"pulled-{tag}")["layers"]
    assert server.inspect(f"{other}:only")["Digest"]
    db.session.expire_all()
    assert sorted(db.session.scalars(db.select(ImagePush.tag).filter_by(repository=repo))) == ["c", "e"]
    [event] = db.session.scalars(db.select(AuditEvent).filter_by(action="image.prune")).all()
    assert event.detail.startswith("3 tags") and event.project_name == project.name
    assert preview(text(web.get(page_url(project)))) == set()


def test_a_digest_shared_with_a_kept_tag_is_kept(app, registries, tmp_path, web, login, make_user, make_project):
    server = registries["open"]
    use_registry(app, server)
    project, _people = new_team(make_user, make_project)
    repo = f"{project.name}/web"
    same_new = push(server, tmp_path, repo, "new", content="same image")
    same_old = push(server, tmp_path, repo, "old", content="same image")
    assert same_new == same_old
    mid = push(server, tmp_path, repo, "mid")
    record(project, repo, "old", same_old, 1)
    record(project, repo, "mid", mid, 3)
    record(project, repo, "new", same_new, 5)

    login("olivia")
    assert keep(web, project, "1").status_code == 302
    page = text(web.get(page_url(project)))
    assert preview(page) == {f"{repo}:mid"}
    old_row = find(page, "tr", data_tag="old")
    assert old_row.get("data-keep") == "1" and "shares its digest with the kept tag new" in old_row.text

    assert web.post(f"/projects/{project.name}/images/retention/apply",
                    form_data(page, "apply-form")).status_code == 302
    assert missing(server, f"{repo}:mid")
    assert server.inspect(f"{repo}:old")["Digest"] == same_old
    assert server.inspect(f"{repo}:new")["Digest"] == same_new


def _layout_created(path, created: str, content: str):
    """An OCI layout whose image says it was built at `created`."""
    path.mkdir(parents=True)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    top = image_manifest(path, [{"content": content.encode()}], created=created)
    top = {k: v for k, v in top.items() if k != "platform"}
    top["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return path


def test_without_a_push_record_the_creation_time_orders(app, registries, tmp_path, web, login, make_user,
                                                       make_project):
    server = registries["open"]
    use_registry(app, server)
    project, _people = new_team(make_user, make_project)
    repo = f"{project.name}/built"
    for tag, created in (("x", "2026-03-01T00:00:00.123456789Z"), ("y", "2025-01-01T00:00:00Z"),
                         ("z", "2026-06-01T08:00:00+02:00")):
        server.push(_layout_created(tmp_path / tag, created, tag), f"{repo}:{tag}")
    login("olivia")
    keep(web, project, "1")
    assert preview(text(web.get(page_url(project)))) == {f"{repo}:x", f"{repo}:y"}


def test_a_stale_preview_is_not_applied(app, registries, tmp_path, web, login, make_user, make_project):
    server = registries["open"]
    use_registry(app, server)
    project, _people = new_team(make_user, make_project)
    repo = f"{project.name}/web"
    for tag, day in (("one", 1), ("two", 2)):
        record(project, repo, tag, push(server, tmp_path, repo, tag), day)
    login("olivia")
    keep(web, project, "1")
    page = text(web.get(page_url(project)))
    assert preview(page) == {f"{repo}:one"}
    record(project, repo, "three", push(server, tmp_path, repo, "three"), 3)  # meanwhile

    response = web.post(f"/projects/{project.name}/images/retention/apply", form_data(page, "apply-form"))
    assert response.status_code == 409
    assert "changed since the preview" in find(text(response), id="retention-conflict").text
    assert preview(text(response)) == {f"{repo}:one", f"{repo}:two"}
    for tag in ("one", "two", "three"):
        assert server.inspect(f"{repo}:{tag}")["Digest"]
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="image.prune")) is None


@pytest.mark.parametrize("value", ["0", "1001", "abc", "2.5", "-1", "٣", "1e3", "99999999999999999999"])
def test_n_must_be_a_whole_number_from_1_to_1000(web, login, make_user, make_project, value):
    project, _people = new_team(make_user, make_project)
    login("olivia")
    keep(web, project, "7")
    response = keep(web, project, value)
    assert response.status_code == 422
    assert "from 1 to 1000" in error_beside(text(response), "keep_tags")
    db.session.expire_all()
    assert db.session.get(Project, project.id).keep_tags == 7


def test_empty_n_keeps_every_tag_and_viewers_only_read(web, login, make_user, make_project):
    project, _people = new_team(make_user, make_project)
    login("olivia")
    keep(web, project, "3")
    assert keep(web, project, " ").status_code == 302
    db.session.expire_all()
    assert db.session.get(Project, project.id).keep_tags is None
    actions = list(db.session.scalars(db.select(AuditEvent.action).filter_by(action="image.retention")))
    assert actions == ["image.retention", "image.retention"]
    web.logout()
    login("vic")
    page = text(web.get(page_url(project)))
    assert "Every tag is kept." in find(page, id="keep-setting").text
    assert not find_all(page, "input", name="keep_tags") and find(page, id="apply-form") is None
    # no registry here: the page says so instead of failing
    assert "No registry is configured" in find(page, id="registry-banner").text
    assert keep(web, project, "2").status_code == 403


def test_a_registry_that_refuses_deletion_leaves_every_tag_and_says_how_to_enable_it(
        app, registries, tmp_path, web, login, make_user, make_project):
    server = registries["no_delete"]
    use_registry(app, server)
    project, _people = new_team(make_user, make_project)
    repo = f"{project.name}/web"
    for tag, day in (("old", 1), ("new", 2)):
        record(project, repo, tag, push(server, tmp_path, repo, tag), day)
    login("olivia")
    keep(web, project, "1")
    page = text(web.get(page_url(project)))
    assert preview(page) == {f"{repo}:old"}
    response = web.post(f"/projects/{project.name}/images/retention/apply", form_data(page, "apply-form"))
    assert response.status_code == 409
    assert "storage.delete.enabled" in find(text(response), id="retention-conflict").text
    assert server.inspect(f"{repo}:old")["Digest"] and server.inspect(f"{repo}:new")["Digest"]
    assert db.session.scalar(db.select(ImagePush).filter_by(repository=repo, tag="old")) is not None
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="image.prune")) is None
