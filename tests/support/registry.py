"""The real registry of the tests: Debian's docker-registry, served with the config.yml that
the `registry.config` Salt state writes.

The state is applied for real on a test minion with every path redirected into a temporary
root (as tests/salt/test_real_apply.py does for all the configuration parts) and the port
set to a free loopback one; `docker-registry serve <that file>` then runs until the session
ends. Three of them, each from its own apply: `open` (no auth, deletion enabled, as the
defaults), `locked` (htpasswd basic auth, the hash made by Apache's htpasswd) and
`no_delete` (storage.delete.enabled false).

Images are made here as an OCI image layout (oci_layout) and pushed with skopeo, the
independent client.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from tests.support.archives import layer
from tests.support.daemons import Daemon
from tests.support.processes import free_port

MINION = "hm-master"
USER, PASSWORD = "hummer", "registry-pass-1"


@dataclass
class RegistryServer:
    name: str
    root: Path
    config_file: Path
    port: int
    username: str = ""
    password: str = ""
    daemon: Daemon | None = None
    config: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return Path(self.config["storage"]["filesystem"]["rootdirectory"])

    def creds(self) -> list[str]:
        return ["--dest-creds", f"{self.username}:{self.password}"] if self.username else []

    def src_creds(self) -> list[str]:
        return ["--creds", f"{self.username}:{self.password}"] if self.username else []

    def start(self) -> "RegistryServer":
        self.daemon = Daemon(f"docker-registry ({self.name})",
                             [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve",
                              str(self.config_file)], self.root / "registry.log")

        def answers() -> bool:
            try:
                return requests.get(self.url + "/v2/", timeout=1).status_code in (200, 401)
            except requests.RequestException:
                return False
        self.daemon.wait_ready(answers, timeout=30, what=f"docker-registry ({self.name}) to answer /v2/")
        return self

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop(5)

    def push(self, layout: Path, reference: str, *, fmt: str | None = None, all_images: bool = False) -> str:
        """skopeo copy the layout's image to <this registry>/<reference>; the digest skopeo pushed."""
        digest_file = layout.parent / f"{layout.name}.{reference.replace('/', '_').replace(':', '_')}.digest"
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--digestfile", str(digest_file),
                *self.creds()]
        if fmt:
            argv += ["--format", fmt]
        if all_images:
            argv.append("--all")
        run(argv + [f"oci:{layout}:latest", f"docker://{self.host}/{reference}"])
        return digest_file.read_text().strip()

    def inspect(self, reference: str) -> dict:
        return json.loads(run(["skopeo", "inspect", "--tls-verify=false", *self.src_creds(),
                               f"docker://{self.host}/{reference}"]))

    def pull(self, reference: str, path: Path) -> dict:
        """skopeo copy <this registry>/<reference> to a `dir:` (the blobs as stored, each named
        by its digest's hex); the manifest it wrote."""
        creds = ["--src-creds", f"{self.username}:{self.password}"] if self.username else []
        run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", *creds,
             f"docker://{self.host}/{reference}", f"dir:{path}"])
        return json.loads((path / "manifest.json").read_text())

    def raw_manifest(self, reference: str) -> bytes:
        return run(["skopeo", "inspect", "--raw", "--tls-verify=false", *self.src_creds(),
                    f"docker://{self.host}/{reference}"]).encode()


def run(argv: list[str], timeout: float = 120) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:3])}... failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def htpasswd_hash(user: str, password: str) -> str:
    """A bcrypt entry as an operator makes it (`htpasswd -nbB`), the hash part."""
    line = run(["htpasswd", "-nbB", user, password]).strip()
    return line.split(":", 1)[1]


def pillar_for(root: Path, port: int, *, auth: bool = False, delete: bool = True) -> dict:
    registry = {"pkg": {"manage": False}, "user": "root", "group": "root", "listen": "127.0.0.1",
                "config_file": f"{root}/etc/registry/config.yml", "storage_dir": f"{root}/var/lib/registry",
                "delete_enabled": delete, "log_level": "warn",
                "htpasswd": {"enabled": auth, "file": f"{root}/etc/registry/htpasswd",
                             "users": {USER: htpasswd_hash(USER, PASSWORD)} if auth else {}}}
    return {"hummer": {"cluster": {"registry_port": port}, "registry": registry}}


def provision(salt_env, root: Path, name: str, *, auth: bool = False, delete: bool = True) -> RegistryServer:
    """Apply registry.config for real into `root`, then serve the file it wrote."""
    port = free_port()
    out = salt_env.salt(MINION, "state.apply", "registry.config",
                        f"pillar={json.dumps(pillar_for(root, port, auth=auth, delete=delete))}", timeout=300)
    ret = out[MINION]
    assert isinstance(ret, dict), ret
    failed = {k: r["comment"] for k, r in ret.items() if r["result"] is not True}
    assert not failed, failed
    config_file = root / "etc/registry/config.yml"
    assert any(r.get("name") == str(config_file) for r in ret.values()), "the state did not write config.yml"
    server = RegistryServer(name, root, config_file, port, USER if auth else "", PASSWORD if auth else "",
                            config=yaml.safe_load(config_file.read_text()))
    return server.start()


# ----------------------------------------------------------------------------- images

def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def image_manifest(layout: Path, layers: list[dict[str, bytes]], arch: str = "amd64",
                   created: str = "2026-11-30T12:00:00Z") -> dict:
    """Write an OCI image (its gzipped layers and config) into `layout`; its manifest descriptor."""
    descriptors, diff_ids = [], []
    for files in layers:
        tar = layer(files)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        gz = gzip.compress(tar, mtime=0)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, gz)})
    config = {"architecture": arch, "os": "linux", "created": created,
              "config": {"Cmd": ["/hello"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(layout, json.dumps(config, sort_keys=True).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": descriptors}
    return {"mediaType": manifest["mediaType"], **_blob(layout, json.dumps(manifest, sort_keys=True).encode()),
            "platform": {"architecture": arch, "os": "linux"}}


def oci_layout(layout: Path, layers: list[dict[str, bytes]] | None = None,
               arches: tuple[str, ...] = ("amd64",)) -> Path:
    """An OCI image layout holding one image (or an index of one per arch), tagged `latest`."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    layers = layers or [{"hello": b"hello from hummer\n"}, {"etc/motd": b"layer two\n"}]
    images = [image_manifest(layout, [{**files, "arch": a.encode()} for files in layers], a) for a in arches]
    if len(images) == 1:
        top = images[0]
    else:
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": images}
        top = {"mediaType": index["mediaType"], **_blob(layout, json.dumps(index, sort_keys=True).encode())}
    top = {k: v for k, v in top.items() if k != "platform"}
    top["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return layout


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def registries(salt_env, tmp_path_factory):
    """{"open", "locked", "no_delete"}: the three registries (see the module docstring)."""
    servers = {}
    try:
        for name, opts in (("open", {}), ("locked", {"auth": True}), ("no_delete", {"delete": False})):
            servers[name] = provision(salt_env, tmp_path_factory.mktemp(f"registry-{name}"), name, **opts)
        yield servers
    finally:
        for server in servers.values():
            server.stop()
