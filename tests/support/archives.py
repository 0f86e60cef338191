"""Image archives as `docker save` and `skopeo copy ... oci-archive:` write them, built in the
test (small, reproducible layers), with knobs to damage them as an attacker would."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile


def layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(layers: list[bytes], arch: str = "amd64") -> bytes:
    return json.dumps({"architecture": arch, "os": "linux", "created": "2026-11-30T12:00:00Z",
                       "config": {"Cmd": ["/hello"]},
                       "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]}}).encode()


def tar_of(entries: list[tuple], gz: bool = False) -> bytes:
    """A tar of (name, bytes) files, or (name, TarInfo-type, linkname) links; gzipped on request."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            info.mtime = 1_700_000_000
            if len(entry) == 3:
                info.type, info.linkname = entry[1], entry[2]
                tar.addfile(info)
            else:
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    data = buf.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


def docker_save(layers: list[bytes] | None = None, tags=("shop/web:1.0",), *, manifest: list | None = None,
                extra: list[tuple] = (), config: bytes | None = None, gz: bool = False) -> bytes:
    """A docker save archive: <hex>/layer.tar per layer, <hex>.json config, manifest.json last."""
    layers = layers if layers is not None else [layer({"hello": b"hello\n"}), layer({"etc/motd": b"two\n"})]
    config = config if config is not None else config_for(layers)
    config_name = sha(config)[7:] + ".json"
    names = [f"{sha(x)[7:]}/layer.tar" for x in layers]
    entries = [(n, x) for n, x in zip(names, layers, strict=True)] + [(config_name, config)] + list(extra)
    entries.append(("manifest.json", json.dumps(manifest if manifest is not None else [
        {"Config": config_name, "RepoTags": list(tags), "Layers": names}]).encode()))
    return tar_of(entries, gz=gz)


def oci_archive(layers: list[bytes] | None = None, ref: str = "1.0", *, damage_blob: bool = False) -> bytes:
    """An OCI image layout as a tar: gzipped layers, config and manifest under blobs/sha256/."""
    layers = layers if layers is not None else [layer({"hello": b"hello\n"})]
    gzipped = [gzip.compress(x, mtime=0) for x in layers]
    config = config_for(layers)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha(g), "size": len(g)} for g in gzipped]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": ref}}]}).encode()
    blobs = [(f"blobs/sha256/{sha(b)[7:]}", b) for b in [*gzipped, config, manifest]]
    if damage_blob:
        name, data = blobs[0]
        blobs[0] = (name, data[:-1] + bytes([data[-1] ^ 1]))
    return tar_of([("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), *blobs, ("index.json", index)])
