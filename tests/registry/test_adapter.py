"""The registry adapter (portal/adapters/registry.py) against the real docker-registry, served
with the config the registry.config Salt state wrote (tests/support/registry.py); skopeo is
the independent client that pushes and inspects."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests
import yaml

from portal.adapters.registry import (
    BadName,
    DeletionDisabled,
    NotFound,
    Refused,
    Registry,
    Unauthorized,
    Unreachable,
)
from tests.support.processes import free_port
from tests.support.registry import PASSWORD, USER, oci_layout


@pytest.fixture(scope="module")
def pushed(registries, tmp_path_factory):
    """Images on the open registry: OCI and Docker schema 2 of one image, and an index of two."""
    server = registries["open"]
    root = tmp_path_factory.mktemp("images")
    single, multi = oci_layout(root / "single"), oci_layout(root / "multi", arches=("amd64", "arm64"))
    digests = {
        "oci": server.push(single, "alpha/web:1.0"),
        "docker": server.push(single, "alpha/web-docker:1.0", fmt="v2s2"),
        "index": server.push(multi, "alpha/multi:1.0", all_images=True),
    }
    for n in range(3):
        server.push(single, f"beta/page{n}:1")
    return server, digests


def test_the_registry_serves_the_config_the_state_wrote(registries):
    for name, server in registries.items():
        config = yaml.safe_load(server.config_file.read_text())
        assert config["http"]["addr"] == f"127.0.0.1:{server.port}"
        assert server.storage.is_relative_to(server.root)
        assert config["storage"]["delete"]["enabled"] is (name != "no_delete")
        assert ("auth" in config) is (name == "locked")
    assert requests.get(registries["locked"].url + "/v2/", timeout=5).status_code == 401


def test_the_catalog_follows_the_link_header_page_by_page(pushed):
    server, _ = pushed
    first = requests.get(server.url + "/v2/_catalog?n=2", timeout=5)
    assert len(first.json()["repositories"]) == 2 and 'rel="next"' in first.headers["Link"]
    names = Registry(server.url).catalog(page_size=2)
    assert {"alpha/web", "alpha/web-docker", "alpha/multi", "beta/page0", "beta/page1", "beta/page2"} <= set(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("kind, repository, media_type", [
    ("oci", "alpha/web", "application/vnd.oci.image.manifest.v1+json"),
    ("docker", "alpha/web-docker", "application/vnd.docker.distribution.manifest.v2+json"),
])
def test_a_manifest_is_read_as_stored_with_the_digest_skopeo_pushed(pushed, kind, repository, media_type):
    server, digests = pushed
    registry = Registry(server.url)
    m = registry.manifest(repository, "1.0")
    assert m.media_type == media_type and not m.is_list
    assert m.digest == digests[kind] == server.inspect(f"{repository}:1.0")["Digest"]
    assert server.raw_manifest(f"{repository}:1.0") == m.raw  # byte for byte what skopeo reads
    assert registry.digest(repository, "1.0") == m.digest
    assert m.size == sum(layer.size for layer in m.layers) > 0 and len(m.layers) == 2
    config = registry.blob_json(repository, m.config.digest)
    assert (config["architecture"], config["os"], config["created"]) == ("amd64", "linux", "2026-11-30T12:00:00Z")
    assert all(registry.blob_exists(repository, layer.digest) for layer in m.layers)
    assert not registry.blob_exists(repository, "sha256:" + "0" * 64)
    assert registry.manifest(repository, m.digest).raw == m.raw


def test_an_index_lists_one_manifest_per_platform(pushed):
    server, digests = pushed
    registry = Registry(server.url)
    index = registry.manifest("alpha/multi", "1.0")
    assert index.is_list and index.digest == digests["index"] and index.size == 0
    assert sorted(c.platform["architecture"] for c in index.children) == ["amd64", "arm64"]
    arm = next(c for c in index.children if c.platform["architecture"] == "arm64")
    assert registry.blob_json("alpha/multi", registry.manifest("alpha/multi", arm.digest).config.digest)[
        "architecture"] == "arm64"


def test_deleting_by_digest_removes_every_tag_of_it(registries, tmp_path):
    server = registries["open"]
    layout = oci_layout(tmp_path / "img", layers=[{"gone": b"soon deleted\n"}])
    digest = server.push(layout, "gamma/app:1")
    assert server.push(layout, "gamma/app:also") == digest
    registry = Registry(server.url)
    assert registry.tags("gamma/app") == ["1", "also"]
    with pytest.raises(BadName):
        registry.delete("gamma/app", "1")  # a tag is refused here, before the registry's 400
    registry.delete("gamma/app", digest)
    assert requests.get(server.url + "/v2/gamma/app/tags/list", timeout=5).json()["tags"] is None
    assert registry.tags("gamma/app") == []
    assert "gamma/app" in registry.catalog()  # the registry keeps the repository
    with pytest.raises(NotFound):
        registry.manifest("gamma/app", "1")
    with pytest.raises(NotFound):
        registry.delete("gamma/app", digest)


def test_a_registry_without_deletion_says_how_to_enable_it(registries, tmp_path):
    server = registries["no_delete"]
    digest = server.push(oci_layout(tmp_path / "img"), "delta/app:1")
    with pytest.raises(DeletionDisabled) as error:
        Registry(server.url).delete("delta/app", digest)
    assert "storage.delete.enabled" in error.value.message and "hummer:registry:delete_enabled" in error.value.message
    assert Registry(server.url).tags("delta/app") == ["1"]


def test_htpasswd_credentials_are_required_and_named(registries, tmp_path):
    server = registries["locked"]
    server.push(oci_layout(tmp_path / "img"), "epsilon/app:1")
    for registry in (Registry(server.url), Registry(server.url, USER, "wrong-password")):
        with pytest.raises(Unauthorized) as error:
            registry.tags("epsilon/app")
        assert error.value.status == 401 and "credentials" in error.value.message
    assert Registry(server.url, USER, PASSWORD).tags("epsilon/app") == ["1"]
    Registry(server.url, USER, PASSWORD).ping()


def test_no_registry_listening_is_unreachable():
    with pytest.raises(Unreachable) as error:
        Registry(f"http://127.0.0.1:{free_port()}", retries=1).ping()
    assert "connection refused" in error.value.message


@pytest.mark.parametrize("repository, reference", [
    ("../v2/_catalog", "1"), ("alpha/../../v2", "1"), ("Alpha/web", "1"), ("alpha//web", "1"),
    ("-alpha/web", "1"), ("alpha/web", "../../_catalog"), ("alpha/web", ".hidden"),
    ("alpha/web", "x" * 129), ("alpha/web", "sha256:abc"), ("alpha/web", "版本1"), ("alpha/web", "v\u0663"),
    ("alpha/web?n=1", "1"), ("a" * 256, "1"),
])
def test_bad_names_are_refused_before_any_request(repository, reference):
    # Nothing listens there: a request would be Unreachable, not BadName.
    registry = Registry(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(BadName):
        registry.manifest(repository, reference)


def _blobs(layout, descriptor_digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / descriptor_digest.split(":", 1)[1]).read_bytes()


def _pieces(data: bytes, size: int = 7):
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize("name", ["open", "locked"])
def test_a_pushed_image_is_what_skopeo_pulls_back(registries, tmp_path, name):
    """Blob by blob through the adapter (streamed in small pieces), then the manifest under a
    tag: skopeo inspects it and copies it back to an OCI layout with the same digests."""
    server = registries[name]
    layout = oci_layout(tmp_path / "src", layers=[{"a": b"first layer\n" * 100}, {"b": b"second\n" * 50}])
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    raw = _blobs(layout, top["digest"])
    manifest = json.loads(raw)
    registry = Registry(server.url, server.username, server.password)
    sent = 0
    for d in [manifest["config"], *manifest["layers"]]:
        digest, size = registry.upload("zeta/pushed", _pieces(_blobs(layout, d["digest"])),
                                       d["digest"] if d is manifest["config"] else None)
        assert digest == d["digest"]
        sent += size
    assert sent == manifest["config"]["size"] + sum(d["size"] for d in manifest["layers"])
    assert registry.put_manifest("zeta/pushed", "2.0", raw, manifest["mediaType"]) == top["digest"]
    assert server.inspect("zeta/pushed:2.0")["Digest"] == top["digest"]
    assert server.pull("zeta/pushed:2.0", tmp_path / "back") == manifest
    for d in manifest["layers"]:
        assert (tmp_path / "back" / d["digest"][7:]).read_bytes() == _blobs(layout, d["digest"])


def test_a_blob_whose_bytes_do_not_match_its_digest_is_refused_and_leaves_nothing(registries, tmp_path):
    server = registries["open"]
    registry = Registry(server.url)
    claimed = "sha256:" + hashlib.sha256(b"what was promised").hexdigest()
    with pytest.raises(Refused) as error:
        registry.upload("zeta/bad", [b"something else"], claimed)
    assert "DIGEST_INVALID" in error.value.codes
    assert not registry.blob_exists("zeta/bad", claimed)
    # The upload was cancelled: its bytes are gone (the registry's purger removes the rest).
    assert list((server.storage / "docker/registry/v2/repositories/zeta/bad").rglob("data")) == []


def test_a_blob_another_repository_holds_is_mounted_without_sending_it(pushed):
    server, _ = pushed
    registry = Registry(server.url)
    layer = registry.manifest("alpha/web", "1.0").layers[0]
    assert not registry.blob_exists("zeta/mounted", layer.digest)
    assert registry.mount("zeta/mounted", layer.digest, source="alpha/web") is True
    assert registry.blob_exists("zeta/mounted", layer.digest)
    assert registry.mount("zeta/mounted", "sha256:" + "1" * 64, source="alpha/web") is False


def test_an_upload_location_elsewhere_is_not_followed(registries):
    server = registries["open"]
    registry = Registry(server.url)

    class Elsewhere:
        headers = {"Location": "http://198.51.100.7/v2/zeta/x/blobs/uploads/abc"}
    with pytest.raises(Refused):
        registry._location(Elsewhere(), "zeta/x")

    class OtherRepository:
        headers = {"Location": f"{server.url}/v2/other/blobs/uploads/abc"}
    with pytest.raises(Refused):
        registry._location(OtherRepository(), "zeta/x")
