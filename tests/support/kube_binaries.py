"""Where the test cluster's programs are: the control-plane binaries (built once from
Debian's kubernetes source by scripts/build-kube.sh, then cached) and etcd."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-kube.sh"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


class ClusterError(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("HUMMER_CACHE") or Path.home() / ".cache" / "hummer")


def _complete(d: Path) -> bool:
    return all(os.access(d / b, os.X_OK) for b in BINARIES)


def find_bin_dir(build: bool = True) -> Path:
    """The directory holding the control-plane binaries.

    $HUMMER_KUBE_BIN_DIR wins; then the newest complete cache under
    $HUMMER_CACHE/kubernetes/*/bin; then (if build) scripts/build-kube.sh,
    which builds once (about 8 minutes of make on 2 cores, plus the source
    download) and prints the directory.
    """
    env = os.environ.get("HUMMER_KUBE_BIN_DIR")
    if env:
        d = Path(env)
        if not _complete(d):
            raise ClusterError(f"HUMMER_KUBE_BIN_DIR={env} lacks one of {BINARIES}")
        return d
    found = sorted((cache_dir() / "kubernetes").glob("*/bin"), key=lambda p: _version_key(p.parent.name),
                   reverse=True)
    for d in found:
        if _complete(d):
            return d
    if not build:
        raise ClusterError("no Kubernetes binaries cached; run scripts/build-kube.sh")
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines or not _complete(Path(lines[-1])):
        raise ClusterError(f"scripts/build-kube.sh failed (exit {out.returncode})")
    return Path(lines[-1])


def _version_key(name: str):
    parts = []
    for chunk in name.replace("+", ".").replace("-", ".").split("."):
        parts.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return parts


def find_etcd() -> str:
    path = os.environ.get("HUMMER_ETCD") or shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(path, os.X_OK):
        raise ClusterError("etcd not found; apt-get install etcd-server")
    return path
