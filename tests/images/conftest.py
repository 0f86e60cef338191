"""Fixtures for the Images pages: the portal pointed at one of the real registries of
tests/support/registry.py, a project of a unique name (the registries live for the whole
session, and other tests push into them) with one user per role, and images pushed with skopeo."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

import pytest

from portal.adapters.registry import Registry
from portal.models import Role
from tests.apps.conftest import apps_api, kproject, kube_app, plan  # noqa: F401 (fixtures: test_delete_apps.py)
from tests.conftest import PASSWORD
from tests.support.registry import oci_layout
from tests.support.web import Web


@dataclass
class Site:
    """The portal on one registry: `server` (the registry), `project`, `people`, a logged-in `web`."""

    server: object
    project: object
    people: dict
    client: object

    @property
    def name(self) -> str:
        return self.project.name

    def registry(self) -> Registry:
        return Registry(self.server.url, self.server.username, self.server.password)

    def as_user(self, username: str) -> Web:
        web = Web(self.client.application.test_client())
        assert web.login(username, PASSWORD).status_code == 302
        return web

    def push(self, layout, repository: str, tag: str, **kw) -> str:
        return self.server.push(layout, f"{repository}:{tag}", **kw)


def use_registry(app, server) -> None:
    app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME=server.username,
                      REGISTRY_PASSWORD=server.password)


@pytest.fixture
def people(make_user):
    found = {name: make_user(name) for name in ("olivia", "dev", "vic", "stranger")}
    found["root"] = make_user("root", admin=True)
    return found


def project_for(make_project, people, prefix: str = "img"):
    return make_project(f"{prefix}-{uuid.uuid4().hex[:8]}", {people["olivia"]: Role.OWNER,
                                                            people["dev"]: Role.DEVELOPER,
                                                            people["vic"]: Role.VIEWER})


@pytest.fixture(params=["open", "locked"])
def site(request, app, client, registries, people, make_project):
    """On the open and the locked registry in turn."""
    server = registries[request.param]
    use_registry(app, server)
    return Site(server, project_for(make_project, people), people, client)


@pytest.fixture
def open_site(app, client, registries, people, make_project):
    server = registries["open"]
    use_registry(app, server)
    return Site(server, project_for(make_project, people), people, client)


@pytest.fixture
def images(tmp_path):
    """Two images sharing their first layer: "a" and "b" (OCI layouts), made once per test."""
    shared = {"hello": b"hello from hummer\n"}
    return {"a": oci_layout(tmp_path / "a", [shared, {"etc/motd": b"image a\n"}]),
            "b": oci_layout(tmp_path / "b", [shared, {"etc/motd": b"image b, another layer\n"}])}


def blobs_of(server, reference: str) -> dict[str, int]:
    """The layers and config of an image as skopeo reads its manifest: digest -> size."""
    manifest = json.loads(server.raw_manifest(reference))
    found = {d["digest"]: d["size"] for d in manifest.get("layers") or []}
    found[manifest["config"]["digest"]] = manifest["config"]["size"]
    return found


def layers_size(server, reference: str) -> int:
    manifest = json.loads(server.raw_manifest(reference))
    return sum(d["size"] for d in manifest["layers"])


def raw_digest(server, reference: str) -> str:
    return "sha256:" + hashlib.sha256(server.raw_manifest(reference)).hexdigest()
