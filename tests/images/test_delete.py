"""Deleting a tag against the real registry: the confirm page names what goes with it, the
registry deletes by digest, the portal's push records and the audit log follow; a registry
with deletion disabled changes nothing and says how to enable it."""
from __future__ import annotations

import pytest

from portal.adapters.registry import NotFound
from portal.extensions import db
from portal.models import AuditEvent, ImagePush
from tests.images.conftest import Site, project_for, use_registry
from tests.support.html import find
from tests.support.web import text


def record(site, repository: str, tag: str, digest: str, by: str = "olivia") -> None:
    db.session.add(ImagePush(project_id=site.project.id, repository=repository, tag=tag, digest=digest,
                             size=1, pushed_by=by))
    db.session.commit()


def pushes(repository: str) -> set[str]:
    return set(db.session.scalars(db.select(ImagePush.tag).where(ImagePush.repository == repository)))


def test_deleting_a_tag_takes_the_tags_that_share_its_digest(site, images):
    name = site.name
    repo = f"{name}/web"
    digest = site.push(images["a"], repo, "1.0")
    site.push(images["a"], repo, "stable")
    site.push(images["b"], repo, "2.0")
    for tag in ("1.0", "stable"):
        record(site, repo, tag, digest)
    record(site, repo, "2.0", site.server.inspect(f"{repo}:2.0")["Digest"])
    dev = site.as_user("dev")

    url = f"/projects/{name}/images/{repo}/-/tags/1.0/delete"
    confirm = dev.get(url)
    assert confirm.status_code == 200
    page = text(confirm)
    shared = find(page, id="shared-tags")
    assert shared is not None and [c.text for c in shared.find_all("code")] == ["stable"]
    assert digest in find(page, id="confirm").text
    assert find(page, id="apps-using") is None and find(page, id="apps-none") is None  # no cluster here
    assert find(page, "input", name="digest").get("value") == digest

    done = dev.post(url, {"digest": digest})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/projects/{name}/images/{repo}")
    assert site.registry().tags(repo) == ["2.0"]
    with pytest.raises(AssertionError):
        site.server.inspect(f"{repo}:1.0")  # skopeo finds it no more
    with pytest.raises(NotFound):
        site.registry().manifest(repo, digest)
    assert pushes(repo) == {"2.0"}
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "image.delete"))
    assert event.object_name == f"{repo}:1.0" and event.actor_name == "dev" and event.project_id == site.project.id
    assert digest in event.detail and "stable" in event.detail
    after = text(dev.get(f"/projects/{name}/images/{repo}"))
    assert "1.0" in after and "stable" in after  # the flash names what went
    assert find(after, "tr", data_tag="1.0") is None and find(after, "tr", data_tag="2.0") is not None


def test_a_viewer_cannot_delete(open_site, images):
    name = open_site.name
    repo = f"{name}/web"
    digest = open_site.push(images["a"], repo, "1.0")
    vic = open_site.as_user("vic")
    assert vic.get(f"/projects/{name}/images/{repo}/-/tags/1.0/delete").status_code == 403
    assert vic.post(f"/projects/{name}/images/{repo}/-/tags/1.0/delete", {"digest": digest}).status_code == 403
    assert open_site.registry().tags(repo) == ["1.0"]


def test_a_tag_moved_meanwhile_is_not_deleted(open_site, images):
    name = open_site.name
    repo = f"{name}/web"
    seen = open_site.push(images["a"], repo, "1.0")
    now = open_site.push(images["b"], repo, "1.0")  # pushed again after the page was shown
    answer = open_site.as_user("dev").post(f"/projects/{name}/images/{repo}/-/tags/1.0/delete", {"digest": seen})
    assert answer.status_code == 409
    assert "changed meanwhile" in find(text(answer), id="delete-error").text
    assert open_site.registry().digest(repo, "1.0") == now
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "image.delete")) is None


def test_deletion_disabled_on_the_registry_says_so_and_changes_nothing(app, client, registries, people,
                                                                       make_project, images):
    server = registries["no_delete"]
    use_registry(app, server)
    site = Site(server, project_for(make_project, people), people, client)
    repo = f"{site.name}/web"
    digest = site.push(images["a"], repo, "1.0")
    record(site, repo, "1.0", digest)
    answer = site.as_user("dev").post(f"/projects/{site.name}/images/{repo}/-/tags/1.0/delete", {"digest": digest})
    assert answer.status_code == 409
    message = find(text(answer), id="delete-error").text
    assert "Deleting is disabled" in message and "storage.delete.enabled" in message
    assert site.registry().tags(repo) == ["1.0"] and server.inspect(f"{repo}:1.0")["Digest"] == digest
    assert pushes(repo) == {"1.0"}
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "image.delete")) is None


def test_deleting_a_tag_that_is_not_there(open_site):
    name = open_site.name
    dev = open_site.as_user("dev")
    assert dev.get(f"/projects/{name}/images/{name}/nothing/-/tags/1.0/delete").status_code == 404
    assert dev.post(f"/projects/{name}/images/{name}/nothing/-/tags/1.0/delete",
                    {"digest": "sha256:" + "1" * 64}).status_code == 404
