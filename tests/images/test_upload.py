"""Uploading an image archive through HTTP (portal/images/upload.py): the raw archive as the
body, streamed into the real registry (open and locked); skopeo, the independent client,
pulls back what was pushed. Every refused upload answers with its reason and leaves no tag."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from urllib.parse import urlencode

import pytest
import yaml

from portal.adapters.registry import NotFound, Registry
from portal.extensions import db
from portal.models import AuditEvent, ImagePush
from portal.services.images import archive
from tests.support.archives import config_for, docker_save, layer, oci_archive, sha, tar_of
from tests.support.processes import free_port
from tests.support.registry import RegistryServer, run
from tests.support.web import text

PROJECT = "alpha"


@pytest.fixture
def registry_app(app, registries):
    """The app pointed at a real registry: registry_app("open") or ("locked")."""
    def use(name: str):
        server = registries[name]
        app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME=server.username,
                          REGISTRY_PASSWORD=server.password)
        return server
    return use


def post_archive(web, data, *, project: str = PROJECT, csrf: bool = True, headers: dict | None = None, **query):
    """POST the archive as the raw body, as the page's script does. `data` as a stream goes
    to the app as it is, with the Content-Length of `headers` (none if it names none)."""
    query = {k: v for k, v in query.items() if v is not None}
    sent = {"Content-Type": "application/octet-stream"}
    if csrf:
        sent["X-CSRFToken"] = web.token()
    sent.update(headers or {})
    kw = {"data": data}
    if hasattr(data, "read"):  # the test client would measure a stream: hand it over untouched
        kw = {"environ_overrides": {"wsgi.input": data, "CONTENT_LENGTH": sent.pop("Content-Length", "")}}
    return web._send("post", f"/projects/{project}/images/upload?{urlencode(query)}", headers=sent, **kw)


def tags(server, repository: str) -> list[str]:
    try:
        return Registry(server.url, server.username, server.password).tags(repository)
    except NotFound:
        return []


def skopeo_oci_digest(server, reference: str, path) -> str:
    """skopeo copy docker://<registry>/<reference> oci:<path> keeping the digests; the
    digest of the manifest it wrote."""
    creds = ["--src-creds", f"{server.username}:{server.password}"] if server.username else []
    run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--preserve-digests", *creds,
         f"docker://{server.host}/{reference}", f"oci:{path}:pulled"])
    return json.loads((path / "index.json").read_text())["manifests"][0]["digest"]


NOISE = b"".join(sha(b"%d" % i).encode() for i in range(3000))  # about 210 KiB, compresses poorly


def _archive(kind: str) -> bytes:
    layers = [layer({"noise": NOISE}), layer({"etc/motd": b"uploaded\n"})]
    return {"docker": lambda: docker_save(layers),
            "docker-gz": lambda: docker_save(layers, gz=True),
            "oci": lambda: oci_archive(layers, ref="ignored"),
            "oci-gz": lambda: gzip.compress(oci_archive(layers, ref="ignored"), mtime=0)}[kind]()


@pytest.mark.parametrize("registry", ["open", "locked"])
@pytest.mark.parametrize("kind", ["docker", "docker-gz", "oci", "oci-gz"])
def test_an_archive_is_uploaded_and_skopeo_pulls_it_back(registry_app, login, team, monkeypatch, tmp_path,
                                                         registry, kind):
    monkeypatch.setattr(archive, "SMALL", 64 * 1024)  # the big layer streams straight on to the registry
    server = registry_app(registry)
    name = f"up-{kind}"
    response = post_archive(login("dev"), _archive(kind), name=name, tag="1.0")
    assert response.status_code == 201, text(response)
    answer = response.get_json()
    assert answer["repository"] == f"{PROJECT}/{name}" and answer["tag"] == "1.0"
    assert answer["image"] == f"{server.host}/{PROJECT}/{name}:1.0"
    assert answer["size"] > len(NOISE) // 4
    assert server.inspect(f"{PROJECT}/{name}:1.0")["Digest"] == answer["digest"]
    assert skopeo_oci_digest(server, f"{PROJECT}/{name}:1.0", tmp_path / "pulled") == answer["digest"]
    record = db.session.scalar(db.select(ImagePush).filter_by(repository=f"{PROJECT}/{name}", tag="1.0"))
    assert (record.digest, record.size, record.pushed_by) == (answer["digest"], answer["size"], "dev")
    assert record.project_id == team[0].id
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="image.push"))
    assert event.object_name == f"{PROJECT}/{name}:1.0" and event.actor_name == "dev"


def test_pushing_a_tag_again_moves_it_and_updates_its_record(registry_app, login, team):
    server = registry_app("open")
    web = login("olivia")
    first = post_archive(web, docker_save([layer({"v": b"1\n"})]), name="moving", tag="stable").get_json()
    second = post_archive(web, docker_save([layer({"v": b"2\n"})]), name="moving", tag="stable").get_json()
    assert first["digest"] != second["digest"]
    assert server.inspect(f"{PROJECT}/moving:stable")["Digest"] == second["digest"]
    [record] = db.session.scalars(db.select(ImagePush).filter_by(repository=f"{PROJECT}/moving")).all()
    assert (record.digest, record.pushed_by) == (second["digest"], "olivia")


def test_one_image_of_several_is_picked_by_its_name(registry_app, login, team):
    server = registry_app("open")
    response = post_archive(login("dev"), SEVERAL, name="picked", tag="1", image="shop/two:1")
    assert response.status_code == 201, text(response)
    manifest = json.loads(server.raw_manifest(f"{PROJECT}/picked:1"))
    assert manifest["config"]["digest"] == sha(config_for([layer({"b": b"b\n"})]))


def _several() -> bytes:
    entries, manifest = [], []
    for n, files in (("one", {"a": b"a\n"}), ("two", {"b": b"b\n"})):
        layers = [layer(files)]
        entries += [(f"{n}/layer.tar", layers[0]), (f"{n}.json", config_for(layers))]
        manifest.append({"Config": f"{n}.json", "RepoTags": [f"shop/{n}:1"], "Layers": [f"{n}/layer.tar"]})
    return tar_of(entries + [("manifest.json", json.dumps(manifest).encode())])


def _altered() -> bytes:
    good = [layer({"hello": b"hello\n"})]
    names = [f"{sha(good[0])[7:]}/layer.tar"]
    return tar_of([(names[0], layer({"hello": b"HELLO\n"})), ("c.json", config_for(good)),
                   ("manifest.json", json.dumps([{"Config": "c.json", "Layers": names}]).encode())])


SEVERAL = _several()
BIG_LAYER = [layer({"f": bytes(range(256)) * 1000})]  # 256 KiB: over the limit these tests set
TWO_LAYERS = [layer({"hello": b"hello\n"}), layer({"etc/motd": b"two\n"})]
MISSING = docker_save(TWO_LAYERS, manifest=[{"Config": sha(config_for(TWO_LAYERS))[7:] + ".json",
                                             "Layers": ["nothere/layer.tar"]}])

# case: (archive, query changes, status, field, words of the reason)
BAD = {
    "not a tar": (b"PK\x03\x04 a zip file, not a tar" * 40, {}, 422, "archive", "not a tar archive"),
    "cut short": (docker_save([layer({"f": bytes(range(256)) * 600})])[:100_000], {}, 422, "archive", "cut short"),
    "a name with ..": (docker_save(extra=[("../evil", b"x")]), {}, 422, "archive", "outside itself"),
    "a symlink": (docker_save(extra=[("link", tarfile.SYMTYPE, "/etc/shadow")]), {}, 422, "archive",
                  "link or a special file"),
    "a missing layer": (MISSING, {}, 422, "archive", "not in the archive"),
    "a layer that does not match its diff-id": (_altered(), {}, 422, "archive", "do not match the diff-ids"),
    "an OCI blob that does not match its digest": (oci_archive(damage_blob=True), {}, 422, "archive",
                                                   "does not match its digest"),
    "several images, none picked": (SEVERAL, {}, 422, "image", "holds 2 images (shop/one:1, shop/two:1)"),
    "an image the archive does not hold": (SEVERAL, {"image": "shop/three:1"}, 422, "image", "no image named"),
    "a bad repository name": (docker_save(), {"name": "Bad..Name"}, 422, "name", "not an image name"),
    "a name that climbs": (docker_save(), {"name": "../../v2"}, 422, "name", "not an image name"),
    "a bad tag": (docker_save(), {"tag": "-1"}, 422, "tag", "A tag is up to 128"),
    "no name": (docker_save(), {"name": ""}, 422, "name", "Name the image"),
    "no tag": (docker_save(), {"tag": ""}, 422, "tag", "Give the image a tag"),
    "larger than the limit (Content-Length)": (docker_save(BIG_LAYER), {}, 413, "archive", "more than the limit"),
    "larger than the limit once unpacked": (docker_save([layer({"zeros": bytes(2_000_000)})], gz=True), {}, 422,
                                            "archive", "larger than the limit"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_refused_upload_says_why_and_leaves_no_tag(registry_app, login, team, app, case):
    server = registry_app("open")
    app.config["UPLOAD_MAX_BYTES"] = 200_000
    data, changes, status, field, words = BAD[case]
    name = changes.get("name", "refused")
    query = {"name": name, "tag": changes.get("tag", "1.0"), "image": changes.get("image")}
    response = post_archive(login("dev"), data, **query)
    assert response.status_code == status, text(response)
    answer = response.get_json()
    assert answer["field"] == field and words in answer["message"], answer
    assert "Traceback" not in answer["message"]
    assert tags(server, f"{PROJECT}/refused") == []
    assert db.session.scalar(db.select(ImagePush)) is None
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="image.push")) is None


def test_a_body_without_content_length_gets_411(registry_app, login, team):
    server = registry_app("open")
    web = login("dev")
    for headers in ({}, {"Transfer-Encoding": "chunked"}):
        response = post_archive(web, io.BytesIO(docker_save()), name="unsized", tag="1", headers=headers)
        assert response.status_code == 411
        assert "Content-Length" in response.get_json()["message"]
    assert tags(server, f"{PROJECT}/unsized") == []


def test_an_upload_cut_off_by_the_client_leaves_no_tag(registry_app, login, team, monkeypatch):
    """The browser went away (Cancel, a closed tab): fewer bytes than Content-Length said."""
    monkeypatch.setattr(archive, "SMALL", 1024)
    server = registry_app("open")
    data = docker_save(BIG_LAYER)
    response = post_archive(login("dev"), io.BytesIO(data[: len(data) // 2]), name="cancelled", tag="1",
                            headers={"Content-Length": str(len(data))})
    assert 400 <= response.status_code < 500, text(response)
    assert response.get_json()["field"] == "archive"
    assert tags(server, f"{PROJECT}/cancelled") == []


class StopsMidway(io.RawIOBase):
    """The archive's bytes, as a browser sends them; once half of them are read, the registry
    stops (a registry that goes away mid-push)."""

    def __init__(self, data: bytes, registry: RegistryServer):
        self.data, self.pos, self.registry = data, 0, registry

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.pos >= len(self.data) // 2 and self.registry.daemon.alive():
            self.registry.stop()
        chunk = self.data[self.pos:self.pos + min(len(buffer), 64 * 1024)]
        buffer[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def test_a_registry_that_goes_away_mid_push_gives_503_and_no_tag(app, registries, login, team, monkeypatch,
                                                                  tmp_path):
    """A second docker-registry on the open one's storage (its config, another port) serves
    the upload and stops half-way through; the open one then shows no tag."""
    monkeypatch.setattr(archive, "SMALL", 1024)
    monkeypatch.setattr(archive, "CHUNK", 16 * 1024)
    open_ = registries["open"]
    config = yaml.safe_load(open_.config_file.read_text())
    port = free_port()
    config["http"]["addr"] = f"127.0.0.1:{port}"
    config_file = tmp_path / "config.yml"
    config_file.write_text(yaml.safe_dump(config))
    doomed = RegistryServer("doomed", tmp_path, config_file, port, config=config).start()
    try:
        app.config.update(REGISTRY_URL=doomed.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
        data = docker_save([layer({"noise": NOISE * 8})])  # about 1.7 MiB, streamed in 16 KiB chunks
        response = post_archive(login("dev"), StopsMidway(data, doomed), name="midway", tag="1",
                                headers={"Content-Length": str(len(data))})
    finally:
        doomed.stop()
    assert response.status_code == 503, text(response)
    assert "cannot be reached" in response.get_json()["message"]
    assert tags(open_, f"{PROJECT}/midway") == []
    assert db.session.scalar(db.select(ImagePush)) is None


def test_without_the_csrf_header_nothing_is_pushed(registry_app, login, team):
    server = registry_app("open")
    web = login("dev")
    for headers in ({}, {"X-CSRFToken": "forged"}):
        response = post_archive(web, docker_save(), csrf=False, headers=headers, name="forged", tag="1")
        assert response.status_code == 400
        assert "CSRF" in response.get_json()["message"]
    assert tags(server, f"{PROJECT}/forged") == []


@pytest.mark.parametrize("who, status", [("vic", 403), ("stranger", 404)])
def test_a_viewer_or_a_stranger_pushes_nothing(registry_app, login, team, who, status):
    server = registry_app("open")
    response = post_archive(login(who), docker_save(), name="notyours", tag="1")
    assert response.status_code == status
    assert response.get_json()["message"]
    assert tags(server, f"{PROJECT}/notyours") == []
    assert login(who).get(f"/projects/{PROJECT}/images/upload").status_code == status


def test_without_a_registry_the_upload_answers_503_with_the_reason(login, team):
    response = post_archive(login("dev"), docker_save(), name="nowhere", tag="1")
    assert response.status_code == 503
    assert "HUMMER_REGISTRY_URL" in response.get_json()["message"]


def test_the_upload_page_has_the_form_and_says_javascript_is_needed(registry_app, login, team):
    registry_app("open")
    page = text(login("dev").get(f"/projects/{PROJECT}/images/upload"))
    assert "data-upload" in page and 'id="upload-bar"' in page and "<noscript>" in page
    for field in ('id="name"', 'id="tag"', 'id="image"', 'id="archive"', 'type="file"'):
        assert field in page
    assert f'href="/projects/{PROJECT}/images"' in page
    assert 'data-text-pushing="Pushing to the registry…"' in page
