"""Pushing uploaded archives (portal/services/images/push.py) into the real registry, with and
without auth; skopeo reads back what was pushed. A refused archive leaves no tag."""
from __future__ import annotations

import io
import json

import pytest

from portal.adapters.registry import NotFound, Registry
from portal.services.errors import Invalid
from portal.services.images import archive
from portal.services.images.push import push_archive
from tests.support.archives import config_for, docker_save, layer, oci_archive, sha, tar_of

LIMIT = 64 << 20


def client(server) -> Registry:
    return Registry(server.url, server.username, server.password)


def push(server, data: bytes, **kw):
    kw.setdefault("project", "shop")
    kw.setdefault("name", "web")
    kw.setdefault("tag", "1.0")
    return push_archive(client(server), io.BytesIO(data), limit=LIMIT, **kw)


@pytest.mark.parametrize("name", ["open", "locked"])
def test_a_docker_save_archive_is_pushed_and_skopeo_pulls_it_back(registries, tmp_path, monkeypatch, name):
    monkeypatch.setattr(archive, "SMALL", 1024)  # the big layer streams straight on to the registry
    server = registries[name]
    big = layer({"data": b"".join(bytes([i % 251]) * 64 for i in range(2000))})
    layers = [big, layer({"etc/motd": b"hi\n"})]
    pushed = push(server, docker_save(layers), name=f"saved-{name}")
    assert pushed.repository == f"shop/saved-{name}" and pushed.size == sum(len(x) for x in layers)
    assert server.inspect(f"shop/saved-{name}:1.0")["Digest"] == pushed.digest
    manifest = server.pull(f"shop/saved-{name}:1.0", tmp_path / "back")
    assert [d["digest"] for d in manifest["layers"]] == [sha(x) for x in layers]
    assert (tmp_path / "back" / sha(big)[7:]).read_bytes() == big


def test_an_oci_archive_is_pushed_under_the_tag_asked_for(registries):
    server = registries["open"]
    pushed = push(server, oci_archive(ref="ignored"), name="oci", tag="2.0")
    assert client(server).tags("shop/oci") == ["2.0"]
    assert client(server).manifest("shop/oci", "2.0").digest == pushed.digest


def test_pushing_the_same_image_again_sends_only_what_the_registry_lacks(registries):
    server = registries["open"]
    data = docker_save([layer({"same": b"again\n"})])
    first = push(server, data, name="again", tag="1")
    second = push(server, data, name="again", tag="2")
    assert first.digest == second.digest and second.bytes_sent < first.bytes_sent
    assert client(server).tags("shop/again") == ["1", "2"]


def test_a_refused_archive_leaves_no_tag(registries):
    server = registries["open"]
    good = [layer({"hello": b"hello\n"})]
    names = [f"{sha(good[0])[7:]}/layer.tar"]
    altered = tar_of([(names[0], layer({"hello": b"HELLO\n"})), ("c.json", config_for(good)),
                      ("manifest.json", json.dumps([{"Config": "c.json", "Layers": names}]).encode())])
    with pytest.raises(Invalid) as error:
        push(server, altered, name="altered")
    assert "diff-ids" in error.value.message
    with pytest.raises(NotFound):
        client(server).manifest("shop/altered", "1.0")
    assert "shop/altered" not in client(server).catalog()  # its blobs were small: nothing was sent


def test_an_archive_of_several_images_needs_a_choice(registries):
    server = registries["open"]
    a, b = [layer({"a": b"a\n"})], [layer({"b": b"b\n"})]
    entries = []
    manifest = []
    for n, layers in (("one", a), ("two", b)):
        config = config_for(layers)
        entries += [(f"{n}/layer.tar", layers[0]), (f"{n}.json", config)]
        manifest.append({"Config": f"{n}.json", "RepoTags": [f"shop/{n}:1"], "Layers": [f"{n}/layer.tar"]})
    data = tar_of(entries + [("manifest.json", json.dumps(manifest).encode())])
    with pytest.raises(Invalid) as error:
        push(server, data, name="several")
    assert error.value.field == "image" and "shop/one:1, shop/two:1" in error.value.message
    pushed = push(server, data, name="several", image="shop/two:1")
    assert client(server).manifest("shop/several", "1.0").config.digest == sha(config_for(b)) and pushed.digest


@pytest.mark.parametrize("field, changes", [
    ("name", {"name": "Web"}), ("name", {"name": "../v2"}), ("name", {"name": "web/../x"}),
    ("tag", {"tag": "-1"}), ("tag", {"tag": "a" * 129}), ("tag", {"tag": "1.0?x=1"}),
])
def test_names_the_registry_would_refuse_are_explained_beside_their_field(registries, field, changes):
    with pytest.raises(Invalid) as error:
        push(registries["open"], docker_save(), **changes)
    assert error.value.field == field


class CountedReads(io.BytesIO):
    """An upload that counts the reads made of it (each read of a request body costs the
    worker gunicorn's copying of its buffer, however small the read)."""

    reads = 0

    def read(self, size=-1):
        self.reads += 1
        return super().read(size)


def test_a_large_upload_is_read_in_pieces_of_a_mib(registries):
    """tarfile's stream mode reads 10 KiB at a time unless told otherwise: some 1,600 reads for
    these 16 MiB, each one copying what gunicorn's body reader holds of its last recv()."""
    big = layer({"data": bytes(range(256)) * (16 << 12)})  # 16 MiB
    upload = CountedReads(tar_of([(f"{sha(big)[7:]}/layer.tar", big), ("c.json", config_for([big])),
                                  ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["shop/web:1.0"],
                                                                 "Layers": [f"{sha(big)[7:]}/layer.tar"]}]).encode())]))
    pushed = push_archive(client(registries["open"]), upload, project="shop", name="big", tag="1", limit=LIMIT)
    assert pushed.size == len(big)
    assert upload.reads <= len(upload.getvalue()) // archive.CHUNK + 4
