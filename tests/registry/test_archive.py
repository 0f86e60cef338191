"""Reading uploaded image archives (portal/services/images/archive.py): docker save and OCI
layouts, gzipped or not, streamed in one pass; every bad archive is refused with its reason."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from portal.services.images import archive
from portal.services.images.archive import ArchiveInvalid
from tests.support.archives import config_for, docker_save, layer, oci_archive, sha, tar_of

LIMIT = 64 << 20


class Sink:
    """Takes streamed blobs as the registry would; records how they came."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.largest_chunk = 0
        self.chunks = 0

    def blob(self, chunks):
        h, parts = hashlib.sha256(), []
        for chunk in chunks:
            self.largest_chunk = max(self.largest_chunk, len(chunk))
            self.chunks += 1
            h.update(chunk)
            parts.append(chunk)
        data = b"".join(parts)
        self.blobs["sha256:" + h.hexdigest()] = data
        return "sha256:" + h.hexdigest(), len(data)


def read(data: bytes, sink=None, limit=LIMIT):
    return archive.read(io.BytesIO(data), sink or Sink(), limit)


def test_a_docker_save_archive_gives_its_image_with_a_manifest_to_push():
    layers = [layer({"hello": b"hello\n"}), layer({"etc/motd": b"two\n"})]
    [image] = read(docker_save(layers, tags=("shop/web:1.0", "shop/web:latest")))
    assert image.tags == ["shop/web:1.0", "shop/web:latest"]
    manifest = json.loads(image.manifest)
    assert image.media_type == manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert [d["digest"] for d in manifest["layers"]] == [sha(x) for x in layers]
    assert manifest["config"]["digest"] == sha(config_for(layers))
    assert image.config["architecture"] == "amd64"
    # Small blobs wait in memory for the push: every one the manifest names.
    assert set(image.pending) == {manifest["config"]["digest"], *(sha(x) for x in layers)}


def test_big_layers_are_streamed_to_the_sink_in_chunks_never_whole(monkeypatch):
    monkeypatch.setattr(archive, "SMALL", 1024)
    monkeypatch.setattr(archive, "CHUNK", 4096)
    big = layer({"data": bytes(range(256)) * 200})  # about 51 KiB
    sink = Sink()
    [image] = read(docker_save([big, layer({"x": b"small"})]), sink)
    assert sink.blobs[sha(big)] == big
    assert sink.largest_chunk <= 4096 and sink.chunks >= len(big) // 4096
    assert sha(big) not in image.pending and [b.digest for b in image.layers][0] == sha(big)


def test_a_gzipped_archive_and_an_oci_layout_are_read_alike(monkeypatch):
    [saved] = read(docker_save(gz=True))
    assert saved.tags == ["shop/web:1.0"]
    monkeypatch.setattr(archive, "SMALL", 8192)  # the gzipped layer streams: its diff-id is computed on the way
    noise = layer({"noise": b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(2000))})  # 64 KiB
    sink = Sink()
    [oci] = read(oci_archive([noise], ref="2.0"), sink)
    assert oci.tags == ["2.0"] and oci.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert oci.layers[0].digest in sink.blobs and oci.layers[0].digest not in oci.pending
    assert oci.layers[0].diff_id == sha(noise) != oci.layers[0].digest


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _with_changed_layer() -> bytes:
    layers = [layer({"hello": b"hello\n"})]
    config = config_for(layers)
    other = [layer({"hello": b"HELLO\n"})]
    names = [f"{sha(layers[0])[7:]}/layer.tar"]
    manifest = [{"Config": "c.json", "RepoTags": ["a:1"], "Layers": names}]
    return tar_of([(names[0], other[0]), ("c.json", config), ("manifest.json", json.dumps(manifest).encode())])


TWO_LAYERS = [layer({"hello": b"hello\n"}), layer({"etc/motd": b"two\n"})]


BAD = {
    "not a tar": (b"PK\x03\x04 this is a zip file, not a tar" * 40, "not a tar archive"),
    "empty": (b"", "The file is empty."),
    "cut short": (_cut(docker_save(layers=[layer({"f": bytes(200_000)})])), "cut short"),
    "cut short, gzipped": (_cut(docker_save(gz=True, layers=[layer({"f": bytes(range(256)) * 900})])), "cut short"),
    "a name with ..": (docker_save(extra=[("../evil", b"x")]), "outside itself"),
    "an absolute name": (docker_save(extra=[("/etc/evil", b"x")]), "absolute"),
    "a symlink": (docker_save(extra=[("link", tarfile.SYMTYPE, "/etc/shadow")]), "link or a special file"),
    "a hard link": (docker_save(extra=[("hard", tarfile.LNKTYPE, "manifest.json")]), "link or a special file"),
    "a device": (docker_save(extra=[("dev", tarfile.CHRTYPE, "")]), "link or a special file"),
    "no manifest": (tar_of([("layer.tar", layer({"a": b"b"}))]), "no manifest.json"),
    "a manifest pointing outside": (docker_save(manifest=[{"Config": "../../etc/passwd", "Layers": []}]),
                                    "outside the archive"),
    "a missing layer": (docker_save(manifest=[{"Config": sha(config_for(TWO_LAYERS))[7:] + ".json",
                                               "Layers": ["nothere/layer.tar"]}]), "not in the archive"),
    "a missing config": (docker_save(manifest=[{"Config": "gone.json", "Layers": []}]), "not in the archive"),
    "a layer that is not the one its diff-id names": (_with_changed_layer(), "do not match the diff-ids"),
    "an OCI blob that does not match its name": (oci_archive(damage_blob=True), "does not match its digest"),
    "a file twice": (docker_save(extra=[("manifest.json", b"[]")]), "twice"),
    "a manifest that is not JSON": (tar_of([("manifest.json", b"{not json")]), "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_archive_is_refused_with_its_reason(case):
    data, message = BAD[case]
    with pytest.raises(ArchiveInvalid) as error:
        read(data)
    assert message in error.value.message
    assert error.value.field == "archive"


def test_an_archive_over_the_limit_is_refused_while_it_is_read():
    data = docker_save(layers=[layer({"big": bytes(range(256)) * 4000})])
    stream = io.BytesIO(data)
    with pytest.raises(ArchiveInvalid) as error:
        archive.read(stream, Sink(), limit=100_000)
    assert "larger than the limit of 100000 bytes" in error.value.message
    assert stream.tell() < len(data)  # it stopped reading


def test_a_gzip_bomb_is_cut_by_the_limit_on_what_is_read():
    bomb = gzip.compress(tar_of([("zeros", bytes(50_000_000))]), mtime=0)
    assert len(bomb) < 100_000
    sink = Sink()
    with pytest.raises(ArchiveInvalid) as error:
        read(bomb, sink, limit=len(bomb) * 4)
    assert "larger than the limit" in error.value.message
    assert sink.blobs == {}  # refused from the member's header, before its bytes were sent on
