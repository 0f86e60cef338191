"""The builds API on the real Git daemon and registry: a bad field is a 422 beside it (the Git
build form's messages) and nothing queues; a queued build is listed, read, polled and
cancelled, the audit naming the token; and one real build (buildah) that a pipeline submits
and polls with ?wait= until it is pushed."""
from __future__ import annotations

import uuid

import pytest

from portal.extensions import db
from portal.models import AuditEvent, Build
from portal.services.builds import queue
from tests.api.conftest import bearer
from tests.support.waiting import wait_for


@pytest.fixture
def building(app, registries, team, make_token, tmp_path):
    """Project alpha building into the open registry; a developer's and a viewer's token."""
    app.config.update(REGISTRY_URL=registries["open"].url, BUILD_DIR=str(tmp_path / "builds"))
    _project, people = team
    yield {"dev": bearer(make_token(people["dev"], name="ci-build")),
           "vic": bearer(make_token(people["vic"], "viewer"))}
    wait_for(lambda: not db.session.scalar(db.select(Build).where(
        Build.status.in_(("queued", "building", "pushing")))) or db.session.commit(),
        timeout=60, what="no build left going")


@pytest.fixture
def held(app):
    """The host's one build slot held: what is submitted stays queued."""
    app.config["BUILD_CONCURRENCY"] = 1
    slot = queue.acquire_slot(app)
    yield
    slot.release()


def git_source(git_daemon, base: str = "scratch") -> dict:
    name = f"api-{uuid.uuid4().hex[:8]}.git"
    repo = git_daemon.repo(name, {"app/Dockerfile": f"FROM {base}\nARG V=1\nRUN echo version $V\n"})
    return {"url": git_daemon.url(name), "repo": repo}


@pytest.fixture
def source(git_daemon):
    return git_source(git_daemon)


def body(source, **over):
    return {"git_url": source["url"], "git_ref": source["repo"].branch, "git_path": "app", "name": "shop",
            "tag": "1.0", **over}


def count() -> int:
    db.session.commit()
    return db.session.scalar(db.select(db.func.count(Build.id)))


@pytest.mark.parametrize("over, field, words", [
    ({"name": "Web App"}, "name", "is not an image name"),
    ({"tag": "-bad"}, "tag", "A tag is up to 128"),
    ({"build_args": "no equals sign"}, "build_args", "NAME=value"),
    ({"build_args": {"A\nB": "1"}}, "build_args", "line break"),
    ({"build_args": {"1BAD": "1"}}, "build_args", "NAME=value"),
    ({"git_url": ""}, "git_url", "Give the Git repository's URL"),
    ({"git_url": "ext::sh -c touch% /tmp/pwned"}, "git_url", ""),
    ({"git_ref": "no-such-branch"}, "git_ref", "no-such-branch"),
    ({"git_path": "nowhere"}, "git_path", "no directory nowhere"),
    ({"dockerfile": "../Dockerfile"}, "dockerfile", "outside"),
])
def test_a_bad_field_is_a_422_beside_it_and_nothing_queues(client, building, source, over, field, words):
    answer = client.post("/api/v1/projects/alpha/builds", json=body(source, **over), headers=building["dev"])
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    errors = answer.get_json()["errors"]
    assert [e["field"] for e in errors] == [field] and errors[0]["pointer"] == f"/{field}"
    assert words in errors[0]["message"]
    assert count() == 0


def test_a_queued_build_is_listed_polled_and_cancelled(app, client, building, held, source):
    dev, vic = building["dev"], building["vic"]
    assert client.post("/api/v1/projects/alpha/builds", json=body(source), headers=vic).status_code == 403
    made = client.post("/api/v1/projects/alpha/builds", json=body(source, build_args={"V": "7", "EMPTY": ""}),
                       headers=dev)
    assert made.status_code == 201, made.get_data(as_text=True)
    build = made.get_json()
    assert (build["status"], build["done"], build["repository"], build["tag"]) == ("queued", False, "alpha/shop", "1.0")
    assert build["commit"] == source["repo"].commit and build["git_path"] == "app"
    assert build["build_args"] == {"V": "7", "EMPTY": ""} and build["started_by"] == "dev"
    assert build["image"] == f"{app.config['REGISTRY_URL'].split('//')[1]}/alpha/shop:1.0"
    url = f"/api/v1/projects/alpha/builds/{build['id']}"

    listed = client.get("/api/v1/projects/alpha/builds", headers=vic).get_json()
    assert [b["id"] for b in listed["items"]] == [build["id"]] and listed["total"] == 1
    polled = client.get(url + "?wait=1", headers=vic).get_json()
    assert polled["status"] == "queued" and not polled["done"] and polled["waited"] >= 1
    assert client.get(url + "/log", headers=vic).get_json() == {"status": "queued", "done": False, "total": 0,
                                                                 "lines": []}

    assert client.post(url + "/cancel", headers=vic).status_code == 403
    cancelled = client.post(url + "/cancel", headers=dev)
    assert cancelled.status_code == 200
    assert (cancelled.get_json()["status"], cancelled.get_json()["done"]) == ("cancelled", True)
    assert cancelled.get_json()["message"] == "Cancelled by dev."
    again = client.post(url + "/cancel", headers=dev)
    assert again.status_code == 422 and "already ended" in again.get_json()["detail"]
    assert client.get(url + "?wait=5", headers=vic).get_json()["waited"] < 5  # an ended build: no wait
    events = db.session.execute(db.select(AuditEvent.action, AuditEvent.via_token).where(
        AuditEvent.action.like("build.%")).order_by(AuditEvent.id)).all()
    assert [tuple(e) for e in events] == [("build.queued", "ci-build"), ("build.cancelled", "ci-build")]
    assert client.get("/api/v1/projects/alpha/builds/999999", headers=vic).status_code == 404


def test_no_registry_is_a_503_and_nothing_queues(app, client, building, source):
    app.config["REGISTRY_URL"] = ""
    answer = client.post("/api/v1/projects/alpha/builds", json=body(source), headers=building["dev"])
    assert answer.status_code == 503 and "No registry is configured" in answer.get_json()["detail"]
    assert count() == 0


def test_a_pipeline_builds_and_polls_until_pushed(client, building, busybox_base, git_daemon, registries):
    source = git_source(git_daemon, busybox_base)
    made = client.post("/api/v1/projects/alpha/builds", headers=building["dev"],
                       json=body(source, tag="ci", build_args={"V": "42"}))
    assert made.status_code == 201, made.get_data(as_text=True)
    url = f"/api/v1/projects/alpha/builds/{made.get_json()['id']}"
    polls = []
    while not polls or not polls[-1]["done"]:
        assert len(polls) < 10, polls[-1]
        polls.append(client.get(url + "?wait=30", headers=building["vic"]).get_json())
    build = polls[-1]
    assert build["status"] == "pushed", (build["message"], client.get(url + "/log", headers=building["vic"]).get_json())
    assert build["digest"] == registries["open"].inspect("alpha/shop:ci")["Digest"]
    log = client.get(url + "/log?tail=3", headers=building["vic"]).get_json()
    assert log["done"] and len(log["lines"]) == 3 and log["total"] > 3
    assert "pushed" in log["lines"][-1]
    full = client.get(url + "/log?tail=10000", headers=building["vic"]).get_json()["lines"]
    assert any(line.strip() == "version 42" for line in full), full
