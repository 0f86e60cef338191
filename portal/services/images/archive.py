"""Reading an uploaded image archive in one pass, as it arrives: a `docker save` archive or an
OCI image layout, as a tar, optionally gzipped.

    images = read(stream, sink, limit=HUMMER_UPLOAD_MAX_BYTES)

`sink` is where blobs go as they stream past (the registry, in push.py): a member too big to
keep (more than SMALL bytes) is handed to `sink.blob(chunks)` while it is read, so that no
layer is ever held whole in memory and nothing is written to disk; small members (manifests,
configs, tiny layers) stay in memory until the archive's manifest says what they are. The
sink answers each blob with its sha256 digest and size; a gzipped layer's uncompressed
digest (its diff-id) is computed on the way too.

Nothing is trusted: a member that is not a plain file or directory, an absolute name, a name
with `..`, a reference in a manifest to a member that is not there, a digest or diff-id that
does not match the bytes, an archive that is cut short or larger than the limit: each is an
ArchiveInvalid with a message for the user. The caller pushes a manifest (a tag) only after
read() returned, so a refused archive leaves no tag; the blobs it streamed become garbage for
the registry's collector.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from flask_babel import gettext as _

from portal.adapters.registry import DOCKER_MANIFEST, OCI_MANIFEST
from portal.services.errors import Invalid

__all__ = ["read", "ArchiveImage", "ArchiveInvalid", "Blob", "BlobSink", "SMALL", "CHUNK"]

SMALL = 4 << 20            # members up to this size stay in memory until the manifest is read
CHUNK = 1 << 20            # bytes per read when streaming a member on, and per read of the upload
JSON_LIMIT = 4 << 20       # a manifest, index or config larger than this is refused
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
GZIP_MAGIC = b"\x1f\x8b"
JSON_NAMES = frozenset({"manifest.json", "index.json", "oci-layout", "repositories"})


class ArchiveInvalid(Invalid):
    """The archive is refused; `message` says why (beside the upload's file field)."""

    def __init__(self, message: str):
        super().__init__("archive", message)


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    diff_id: str  # the sha256 of the uncompressed bytes (the digest itself for a plain tar)


class BlobSink(Protocol):
    def blob(self, chunks: Iterator[bytes]) -> tuple[str, int]:
        """Take one blob's bytes; its sha256 digest and size."""


@dataclass
class ArchiveImage:
    """One image of the archive, ready to push: its manifest's bytes and every blob it names
    (`pending`: small blobs still in memory, for the caller to push before the manifest)."""

    tags: list[str]
    manifest: bytes
    media_type: str
    config: dict
    layers: list[Blob] = field(default_factory=list)
    pending: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _Member:
    blob: Blob
    data: bytes | None  # the bytes, for a small member; None once streamed to the sink


def read(stream: BinaryIO, sink: BlobSink, limit: int) -> list[ArchiveImage]:
    """Every image of the archive (see the module docstring)."""
    counted = _Limited(stream, limit)
    members: dict[str, _Member] = {}
    unpacked = 0
    try:
        # bufsize: tarfile's stream mode reads its fileobj this many bytes at a time (10 KiB by
        # default). gunicorn's body reader holds up to 1 MiB from one recv() and copies what is
        # left of it on every read, so 10 KiB reads cost the worker twice its CPU per upload.
        with tarfile.open(fileobj=counted, mode="r|*", bufsize=CHUNK) as tar:
            for info in tar:
                name = _member_name(info)
                if name is None:
                    continue
                unpacked += info.size  # a gzipped archive may unpack to far more than was sent
                if unpacked > limit:
                    raise _TooLarge()
                if name in members:
                    raise ArchiveInvalid(_("The archive holds %(name)s twice.", name=name))
                keep = info.size <= SMALL or ((name in JSON_NAMES or name.endswith(".json"))
                                              and info.size <= JSON_LIMIT)
                members[name] = _read_member(tar.extractfile(info), info.size, sink, keep)
    except ArchiveInvalid:
        raise
    except _TooLarge:
        raise ArchiveInvalid(_("The archive is larger than the limit of %(limit)s bytes.", limit=limit)) from None
    except (tarfile.ReadError, tarfile.CompressionError, EOFError, zlib.error, OSError) as error:
        if counted.read_bytes == 0:
            raise ArchiveInvalid(_("The file is empty.")) from None
        if "truncated" in str(error).lower() or isinstance(error, EOFError) or counted.at_end:
            raise ArchiveInvalid(_("The archive is cut short: upload the whole file again.")) from None
        raise ArchiveInvalid(_("This is not a tar archive (docker save or an OCI image layout).")) from None
    if "manifest.json" in members:
        return _docker_images(members)
    if "index.json" in members:
        return _oci_images(members)
    raise ArchiveInvalid(_("The archive has no manifest.json (docker save) and no index.json (OCI layout)."))


# --------------------------------------------------------------------------- reading

class _TooLarge(Exception):
    pass


class _Limited:
    """The upload stream, counted: more than `limit` bytes is an error, found while reading."""

    def __init__(self, stream: BinaryIO, limit: int):
        self.stream, self.limit, self.read_bytes, self.at_end = stream, limit, 0, False

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        self.read_bytes += len(data)
        if not data:
            self.at_end = True
        if self.read_bytes > self.limit:
            raise _TooLarge()
        return data


def _member_name(info: tarfile.TarInfo) -> str | None:
    """The member's normalized name; None for a directory; ArchiveInvalid for anything unsafe."""
    raw = info.name
    if raw.startswith("/") or "\\" in raw or "\x00" in raw:
        raise ArchiveInvalid(_("The archive names a file with an absolute or unusual path: %(name)s.",
                               name=raw[:200]))
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveInvalid(_("The archive names a file outside itself: %(name)s.", name=raw[:200]))
    if info.isdir():
        return None
    if not info.isreg():
        raise ArchiveInvalid(_("The archive holds a link or a special file (%(name)s); an image archive "
                               "holds plain files only.", name=raw[:200]))
    return "/".join(parts)


def _read_member(extracted, size: int, sink: BlobSink, keep: bool) -> _Member:
    if keep:
        data = extracted.read()
        if len(data) != size:
            raise EOFError("member truncated")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return _Member(Blob(digest, size, _diff_id(data, digest)), data)
    plain = _PlainDigest()

    def chunks() -> Iterator[bytes]:
        left = size
        while left > 0:
            chunk = extracted.read(min(CHUNK, left))
            if not chunk:
                raise EOFError("member truncated")
            left -= len(chunk)
            plain.update(chunk)
            yield chunk
    digest, sent = sink.blob(chunks())
    if sent != size:
        raise EOFError("member truncated")
    return _Member(Blob(digest, size, plain.hexdigest() or digest), None)


class _PlainDigest:
    """The sha256 of a member's bytes after gunzip when they are gzipped (a layer's diff-id)."""

    def __init__(self):
        self.first = True
        self.inflate = None
        self.hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        if self.first:
            self.first = False
            if chunk[:2] == GZIP_MAGIC:
                self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.inflate is not None:
            self.hash.update(self.inflate.decompress(chunk))

    def hexdigest(self) -> str:
        return "sha256:" + self.hash.hexdigest() if self.inflate is not None else ""


def _diff_id(data: bytes, digest: str) -> str:
    if data[:2] != GZIP_MAGIC:
        return digest
    try:
        return "sha256:" + hashlib.sha256(zlib.decompress(data, 16 + zlib.MAX_WBITS)).hexdigest()
    except zlib.error:
        return digest


def _json(members: dict[str, _Member], name: str, what: str):
    member = members.get(name)
    if member is None:
        raise ArchiveInvalid(_("The archive's %(what)s names %(name)s, which is not in the archive.",
                               what=what, name=name[:200]))
    if member.data is None or member.blob.size > JSON_LIMIT:
        raise ArchiveInvalid(_("%(name)s is too large for a manifest or a config.", name=name[:200]))
    try:
        return json.loads(member.data)
    except ValueError:
        raise ArchiveInvalid(_("%(name)s is not valid JSON.", name=name[:200])) from None


def _reference(name, what: str) -> str:
    """A path a manifest names, normalized; ArchiveInvalid if it leaves the archive."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        raise ArchiveInvalid(_("The archive's %(what)s names an unusable path: %(name)s.",
                               what=what, name=str(name)[:200]))
    normal = posixpath.normpath(name)
    if normal.startswith("../") or normal == "..":
        raise ArchiveInvalid(_("The archive's %(what)s names a path outside the archive: %(name)s.",
                               what=what, name=name[:200]))
    return normal


def _checked_layers(members, names: list[str], diff_ids: list[str], what: str) -> list[Blob]:
    layers = []
    for path in names:
        ref = _reference(path, what)
        if ref not in members:
            raise ArchiveInvalid(_("The archive's %(what)s names the layer %(name)s, which is not in the "
                                   "archive.", what=what, name=ref[:200]))
        layers.append(members[ref].blob)
    if diff_ids is not None and [b.diff_id for b in layers] != list(diff_ids):
        raise ArchiveInvalid(_("The image's layers do not match the diff-ids in its config: the archive "
                               "is damaged or was altered."))
    return layers


def _pending(members, blobs: list[Blob]) -> dict[str, bytes]:
    by_digest = {m.blob.digest: m.data for m in members.values() if m.data is not None}
    return {b.digest: by_digest[b.digest] for b in blobs if b.digest in by_digest}


# --------------------------------------------------------------------------- docker save

def _docker_images(members) -> list[ArchiveImage]:
    entries = _json(members, "manifest.json", "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ArchiveInvalid(_("manifest.json lists no image."))
    images = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise ArchiveInvalid(_("manifest.json is not a docker save manifest."))
        config_path = _reference(entry.get("Config"), "manifest.json")
        config = _json(members, config_path, "manifest.json")
        config_blob = members[config_path].blob
        diff_ids = ((config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None)
        if not isinstance(diff_ids, list):
            raise ArchiveInvalid(_("The image config %(name)s has no rootfs diff-ids.", name=config_path[:200]))
        layers = _checked_layers(members, entry["Layers"], diff_ids, "manifest.json")
        manifest = {
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config_blob.digest, "size": config_blob.size},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP if b.diff_id != b.digest else DOCKER_LAYER,
                        "digest": b.digest, "size": b.size} for b in layers],
        }
        tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        images.append(ArchiveImage(tags, json.dumps(manifest, separators=(",", ":")).encode(), DOCKER_MANIFEST,
                                   config, layers, _pending(members, [config_blob, *layers])))
    return images


# --------------------------------------------------------------------------- OCI layout

def _oci_blob(members, descriptor, what: str) -> _Member:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise ArchiveInvalid(_("The archive's %(what)s has a descriptor without a sha256 digest.", what=what))
    member = members.get(f"blobs/sha256/{digest[7:]}")
    if member is None:
        raise ArchiveInvalid(_("The archive's %(what)s names the blob %(digest)s, which is not in the "
                               "archive.", what=what, digest=digest[:19]))
    if member.blob.digest != digest or member.blob.size != descriptor.get("size", member.blob.size):
        raise ArchiveInvalid(_("The blob %(digest)s does not match its digest or size: the archive is "
                               "damaged or was altered.", digest=digest[:19]))
    return member


def _oci_images(members) -> list[ArchiveImage]:
    index = _json(members, "index.json", "index.json")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ArchiveInvalid(_("index.json lists no image."))
    images = []
    for entry in entries:
        member = _oci_blob(members, entry, "index.json")
        manifest = _json(members, f"blobs/sha256/{member.blob.digest[7:]}", "index.json")
        media_type = (manifest.get("mediaType") if isinstance(manifest, dict) else None) or entry.get("mediaType")
        if media_type != OCI_MANIFEST and media_type != DOCKER_MANIFEST:
            raise ArchiveInvalid(_("The archive holds an image index or an unknown manifest type (%(type)s); "
                                   "upload one image per archive.", type=str(media_type)[:80]))
        where = f"blobs/sha256/{member.blob.digest[7:19]}…"  # the manifest, named by its path
        config_member = _oci_blob(members, manifest.get("config"), where)
        config = _json(members, f"blobs/sha256/{config_member.blob.digest[7:]}", where)
        descriptors = manifest.get("layers") or []
        layers = [_oci_blob(members, d, where).blob for d in descriptors]
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
        if not isinstance(diff_ids, list) or [b.diff_id for b in layers] != diff_ids:
            raise ArchiveInvalid(_("The image's layers do not match the diff-ids in its config: the archive "
                                   "is damaged or was altered."))
        name = ((entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") or "")
        images.append(ArchiveImage([name] if name else [], member.data, media_type, config, layers,
                                   _pending(members, [config_member.blob, *layers])))
    return images
