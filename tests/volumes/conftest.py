"""Fixtures for the volume tests: HUMMER_NFS_ROOT is a folder of the test's own (no kernel
NFS server can run here); the PersistentVolumes still name an NFS server and export, as
they would in production. The file browser's tests need no cluster: their volumes are
rows and directories made directly."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from portal.adapters import nfs
from portal.extensions import db
from portal.models import Role, Volume
from tests.apps.conftest import apps_api, core_api, deploy_form, kproject, kube_app, plan, ready  # noqa: F401

NFS_SERVER = "10.0.1.250"
NFS_EXPORT = "/hummer"


@pytest.fixture
def export_root(app, tmp_path) -> Path:
    root = tmp_path / "export"
    root.mkdir()
    app.config["NFS_ROOT"] = str(root)
    app.config["NFS_SERVER"] = f"{NFS_SERVER}:{NFS_EXPORT}"
    return root


@pytest.fixture
def vproject(kproject, export_root):  # noqa: F811 (the imported fixture, asked for by name)
    """The project on the real cluster, its volumes' export in the test's own directory."""
    return kproject


def gone(read) -> bool:
    """True when `read` (a kubernetes client call) answers 404."""
    try:
        read()
    except client.ApiException as error:
        return error.status == 404
    return False


@pytest.fixture
def outside(tmp_path) -> Path:
    """Files beside the export that no request may ever read, list, change or delete."""
    secret = tmp_path / "outside"
    (secret / "deep").mkdir(parents=True)
    (secret / "secret.txt").write_bytes(b"top secret\n")
    (secret / "deep" / "keys").write_bytes(b"ssh-rsa AAAA\n")
    return secret


def snapshot(root: Path) -> dict:
    """Every path under root with its bytes and mode: compared before and after an attack."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            found[str(path.relative_to(root))] = (st.st_mode, path.read_bytes() if path.is_file() else None)
    return found


@pytest.fixture
def fproject(app, export_root, make_user, make_project):
    """A project 'files' with olivia (owner), dev (developer), vic (viewer) and stranger, and a
    volume 'data' of 1 MiB (a row and its directory, no cluster)."""
    people = {name: make_user(name) for name in ("olivia", "dev", "vic", "stranger")}
    project = make_project(f"f{uuid.uuid4().hex[:6]}", {people["olivia"]: Role.OWNER, people["dev"]: Role.DEVELOPER,
                                                         people["vic"]: Role.VIEWER})
    volume = Volume(project=project, name="data", capacity="1Mi", capacity_bytes=1024 ** 2,
                    directory=f"{project.name}.data", server=NFS_SERVER, path=f"{NFS_EXPORT}/{project.name}.data",
                    usage_bytes=0)
    db.session.add(volume)
    db.session.commit()
    nfs.Export(export_root).create(volume.directory)
    return project


@pytest.fixture
def volume_dir(fproject, export_root) -> Path:
    return export_root / f"{fproject.name}.data"
