"""Registry push: an image archive uploaded through the portal's endpoint, beside skopeo.

    python bench/registry_push.py [--mib 100] [--layers 4] [--threads 4]

Makes a synthetic `docker save` archive of --mib MiB (--layers layers of random bytes, which
do not compress, and a small one) on disk, serves a docker-registry on loopback (a config as
the `registry.config` state writes it: filesystem storage, deletion on, no auth) and the
portal with gunicorn (one worker, --threads threads; tests/support/live_portal.py) on a
SQLite database made by the portal's own commands. Then it uploads the archive through
`POST /projects/bench/images/upload` over HTTP, streamed from the file (the page's script
sends the same request), and copies the same file with `skopeo copy docker-archive:…
docker://…` to a second repository of the same registry. It prints both throughputs (MiB of
archive per second, wall clock) and the gunicorn worker's peak RSS (VmHWM) before and after
the upload: the portal never holds the archive, so it should barely move.

skopeo compresses the uncompressed layers of a docker-archive on the way to a registry
(gzip of random bytes); the portal sends them as they are. Loopback only.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import yaml  # noqa: E402

from bench._portal import create_project, login, portal, prepare_database, token_of  # noqa: E402
from tests.support.daemons import Daemon  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

MiB = 1024 * 1024


def layer_file(path: Path, size: int) -> tuple[str, int]:
    """A layer tar holding one file of `size` random bytes, written to `path`; its sha256 and size."""
    with open(path, "wb") as out:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("data")
            info.size, info.mtime, info.mode = size, 1_700_000_000, 0o644

            class Random(io.RawIOBase):
                left = size

                def readable(self):
                    return True

                def readinto(self, buffer):
                    n = min(len(buffer), self.left, MiB)
                    buffer[:n] = os.urandom(n)
                    self.left -= n
                    return n
            tar.addfile(info, io.BufferedReader(Random(), MiB))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest(), path.stat().st_size


def make_archive(tmp: Path, mib: int, layers: int) -> Path:
    sizes = [mib * MiB // layers] * layers
    entries = []
    for i, size in enumerate(sizes):
        path = tmp / f"layer{i}.tar"
        digest, _ = layer_file(path, size)
        entries.append((f"{digest[7:]}/layer.tar", path, digest))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/data"]},
                         "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in entries]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["bench/big:1"],
                            "Layers": [n for n, _, _ in entries]}]).encode()
    archive = tmp / "big.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, path, _ in entries:
            tar.add(path, arcname=name)
            path.unlink()
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return archive


def start_registry(tmp: Path) -> tuple[Daemon, str]:
    port = free_port()
    config = {"version": 0.1, "log": {"level": "warn"},
              "storage": {"filesystem": {"rootdirectory": str(tmp / "registry")}, "delete": {"enabled": True},
                          "cache": {"blobdescriptor": "inmemory"}},
              "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}}}
    (tmp / "registry.yml").write_text(yaml.safe_dump(config))
    daemon = Daemon("docker-registry", [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve",
                                        str(tmp / "registry.yml")], tmp / "registry.log")
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(url + "/v2/", timeout=1).status_code == 200
        except requests.RequestException:
            return False
    daemon.wait_ready(answers, timeout=30, what="docker-registry to answer /v2/")
    return daemon, url


def hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=100, help="the archive's size in MiB")
    parser.add_argument("--layers", type=int, default=4, help="random layers the size is spread over")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads of its one worker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hummer-bench-push-") as name:
        tmp = Path(name)
        archive = make_archive(tmp, args.mib, max(1, args.layers))
        size = archive.stat().st_size
        print(f"archive: {size / MiB:.1f} MiB, {args.layers} random layers (docker save layout)")
        registry, url = start_registry(tmp)
        try:
            db_url = f"sqlite:///{tmp / 'portal.db'}"
            prepare_database(db_url, tmp / "instance")
            with portal(db_url, tmp, workers=1, threads=args.threads, REGISTRY_URL=url,
                        UPLOAD_MAX_BYTES=str(size + MiB)) as p:
                client = login(p.base)
                create_project(client, "bench")
                token = token_of(client, "/projects/bench/images/upload")
                [worker] = p.worker_pids()
                before = hwm_kib(worker)
                with open(archive, "rb") as body:
                    t0 = time.perf_counter()
                    r = client.session.post(p.base + "/projects/bench/images/upload?name=portal&tag=1", data=body,
                                            headers={"Content-Type": "application/octet-stream",
                                                     "X-CSRFToken": token, "Content-Length": str(size)},
                                            timeout=3600)
                    portal_s = time.perf_counter() - t0
                if r.status_code != 201:
                    raise SystemExit(f"the upload answered {r.status_code}: {r.text[:500]}")
                after = hwm_kib(worker)
            host = url.split("//", 1)[1]
            t0 = time.perf_counter()
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"docker-archive:{archive}",
                            f"docker://{host}/bench/skopeo:1"], check=True, capture_output=True)
            skopeo_s = time.perf_counter() - t0
        finally:
            registry.stop(5)
        mib = size / MiB
        print(f"portal upload (HTTP → gunicorn → registry): {portal_s:.2f} s, {mib / portal_s:.1f} MiB/s; "
              f"digest {r.json()['digest'][:19]}…")
        print(f"skopeo copy docker-archive: → docker://:     {skopeo_s:.2f} s, {mib / skopeo_s:.1f} MiB/s "
              "(baseline; it gzips the layers on the way)")
        print(f"gunicorn worker peak RSS (VmHWM): {before / 1024:.1f} MiB before the upload, "
              f"{after / 1024:.1f} MiB after ({(after - before) / 1024:+.1f} MiB for a {mib:.0f} MiB archive)")


if __name__ == "__main__":
    main()
