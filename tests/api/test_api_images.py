"""The images API against the real registry (tests/support/registry.py): what it lists is what
skopeo, the independent client, reads; deleting a tag goes through the confirm page's rules
(the digest read comes back, the tags on the same digest go with it, the audit names the
token); a registry that refuses or is away says so as a problem."""
from __future__ import annotations

from urllib.parse import quote

from portal.extensions import db
from portal.models import AuditEvent, ImagePush
from tests.api.conftest import bearer
from tests.images.conftest import Site, layers_size, project_for, use_registry
from tests.support.processes import free_port


def record(site, repository: str, tag: str, digest: str, by: str = "olivia") -> None:
    db.session.add(ImagePush(project_id=site.project.id, repository=repository, tag=tag, digest=digest,
                             size=1, pushed_by=by))
    db.session.commit()


def test_the_api_lists_what_skopeo_reads(open_site, images, client, make_token):
    site, name = open_site, open_site.name
    digest_a = site.push(images["a"], f"{name}/web", "1.0")
    site.push(images["a"], f"{name}/web", "latest")
    digest_b = site.push(images["b"], f"{name}/api", "2.0")
    record(site, f"{name}/web", "1.0", digest_a)
    vic = bearer(make_token(site.people["vic"], "viewer"))
    base = f"/api/v1/projects/{name}/images"

    listed = client.get(base, headers=vic).get_json()
    assert [(r["name"], r["tags"], r["own"], r["public"]) for r in listed["items"]] == [
        (f"{name}/api", 1, True, False), (f"{name}/web", 2, True, False)]
    first = client.get(base + "?per_page=1", headers=vic).get_json()
    assert [r["name"] for r in first["items"]] == [f"{name}/api"] and first["total"] == 2
    assert [r["name"] for r in client.get(first["links"]["next"], headers=vic).get_json()["items"]] == [f"{name}/web"]

    tags = client.get(f"{base}/{name}/web/-/tags", headers=vic)
    assert tags.status_code == 200, tags.get_data(as_text=True)
    rows = {t["tag"]: t for t in tags.get_json()["items"]}
    assert set(rows) == {"1.0", "latest"}
    inspected = site.server.inspect(f"{name}/web:1.0")
    assert rows["1.0"]["digest"] == rows["latest"]["digest"] == inspected["Digest"] == digest_a
    assert rows["1.0"]["size"] == layers_size(site.server, f"{name}/web:1.0")
    assert rows["1.0"]["platforms"] == [f"{inspected['Os']}/{inspected['Architecture']}"] == ["linux/amd64"]
    assert rows["1.0"]["created"] == "2026-11-30T12:00:00Z" == inspected["Created"]
    assert rows["1.0"]["pushed_by"] == "olivia" and rows["1.0"]["pushed_at"].endswith("Z")
    assert rows["latest"]["pushed_by"] is None  # pushed by skopeo, past the portal
    paged = client.get(f"{base}/{name}/web/-/tags?per_page=1&page=2", headers=vic).get_json()
    assert [t["tag"] for t in paged["items"]] == ["latest"] and paged["links"]["next"] is None

    one = client.get(f"{base}/{name}/api/-/tags/2.0", headers=vic).get_json()
    assert one["digest"] == digest_b and one["image"].endswith(f"/{name}/api:2.0")
    assert site.server.host in one["image"]
    # the same name with its '/' escaped reaches the same tag
    assert client.get(f"{base}/{quote(name + '/api', safe='')}/-/tags/2.0", headers=vic).get_json() == one

    for missing in (f"{base}/{name}/api/-/tags/9.9", f"{base}/{name}/nothing/-/tags",
                    f"{base}/other/web/-/tags"):  # another project's repository is not found either
        answer = client.get(missing, headers=vic)
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json", missing


def test_deleting_a_tag_takes_the_tags_on_its_digest_and_names_the_token(open_site, images, client, make_token):
    site, name = open_site, open_site.name
    repo = f"{name}/web"
    digest = site.push(images["a"], repo, "1.0")
    site.push(images["a"], repo, "stable")
    site.push(images["b"], repo, "2.0")
    record(site, repo, "1.0", digest)
    dev = bearer(make_token(site.people["dev"], name="ci-clean"))
    url = f"/api/v1/projects/{name}/images/{repo}/-/tags/1.0"

    plan = client.get(url + "/deletion", headers=dev).get_json()
    assert plan == {"repository": repo, "tag": "1.0", "digest": digest, "tags": ["1.0", "stable"],
                    "tags_partial": False, "apps": None, "apps_error": ""}  # apps: no cluster here

    vic = bearer(make_token(site.people["vic"], "viewer"))
    assert client.get(url + "/deletion", headers=vic).status_code == 403
    assert client.delete(f"{url}?digest={digest}", headers=vic).status_code == 403
    dev_read_only = bearer(make_token(site.people["dev"], "viewer"))
    assert client.delete(f"{url}?digest={digest}", headers=dev_read_only).status_code == 403
    no_digest = client.delete(url, headers=dev)
    assert no_digest.status_code == 422 and no_digest.get_json()["errors"][0]["field"] == "digest"
    assert sorted(site.registry().tags(repo)) == ["1.0", "2.0", "stable"]

    done = client.delete(f"{url}?digest={digest}", headers=dev)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json() == {"digest": digest, "deleted": ["1.0", "stable"]}
    assert site.registry().tags(repo) == ["2.0"]
    assert not db.session.scalars(db.select(ImagePush).where(ImagePush.repository == repo)).all()
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "image.delete"))
    assert (event.object_name, event.actor_name, event.via_token) == (f"{repo}:1.0", "dev", "ci-clean")
    assert client.get(url, headers=dev).status_code == 404


def test_a_tag_moved_meanwhile_is_a_409_and_stays(open_site, images, client, make_token):
    site, name = open_site, open_site.name
    repo = f"{name}/web"
    seen = site.push(images["a"], repo, "1.0")
    now = site.push(images["b"], repo, "1.0")
    dev = bearer(make_token(site.people["dev"]))
    answer = client.delete(f"/api/v1/projects/{name}/images/{repo}/-/tags/1.0?digest={seen}", headers=dev)
    assert answer.status_code == 409 and answer.mimetype == "application/problem+json"
    assert "changed meanwhile" in answer.get_json()["detail"]
    assert site.registry().digest(repo, "1.0") == now
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "image.delete")) is None


def test_a_registry_with_deletion_disabled_is_a_409_that_says_how_to_enable_it(
        app, client, registries, people, make_project, images, make_token):
    server = registries["no_delete"]
    use_registry(app, server)
    site = Site(server, project_for(make_project, people), people, client)
    repo = f"{site.name}/web"
    digest = site.push(images["a"], repo, "1.0")
    answer = client.delete(f"/api/v1/projects/{site.name}/images/{repo}/-/tags/1.0?digest={digest}",
                           headers=bearer(make_token(people["dev"])))
    assert answer.status_code == 409 and "storage.delete.enabled" in answer.get_json()["detail"]
    assert site.registry().tags(repo) == ["1.0"]


def test_a_registry_away_is_a_503_and_none_configured_too(app, client, team, make_token):
    _project, members = team
    vic = bearer(make_token(members["vic"], "viewer"))
    app.config["REGISTRY_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    away = client.get("/api/v1/projects/alpha/images", headers=vic)
    assert away.status_code == 503 and "cannot be reached" in away.get_json()["detail"]
    app.config["REGISTRY_URL"] = ""
    none = client.get("/api/v1/projects/alpha/images/alpha/web/-/tags", headers=vic)
    assert none.status_code == 503 and "No registry is configured" in none.get_json()["detail"]
