"""Volumes against the real API server and controller-manager, on a real directory: create
(and its undoing), binding, the project's storage quota, mounting in an app, resize,
usage, delete protection, the trash, and a project's deletion."""
from __future__ import annotations

import html
import os
import re
import stat
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import AuditEvent, TrashedVolume, Volume
from portal.services import volumes
from tests.support.waiting import wait_for
from tests.support.web import text
from tests.volumes.conftest import NFS_EXPORT, NFS_SERVER, deploy_form, gone, ready


def create(web, project, name="data", capacity="1Gi", **extra):
    return web.post(f"/projects/{project.name}/volumes/new",
                    {"name": name, "capacity": capacity, "access_mode": "ReadWriteMany", "description": "", **extra})


def row(project, name="data") -> Volume | None:
    db.session.commit()
    return db.session.query(Volume).filter_by(project_id=project.id, name=name).one_or_none()


def pv_name(project, name="data") -> str:
    return f"{project.name}.{name}"


def test_create_makes_a_directory_a_pv_and_a_claim_that_bind(vproject, login, core_api, export_root):
    web = login("dev")
    response = create(web, vproject, capacity="2Gi")
    assert response.status_code == 302, text(response)[-1500:]
    directory = export_root / f"{vproject.name}.data"
    assert directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) == 0o777  # any container uid writes
    pv = core_api.read_persistent_volume(pv_name(vproject))
    assert pv.spec.nfs.server == NFS_SERVER and pv.spec.nfs.path == f"{NFS_EXPORT}/{vproject.name}.data"
    assert pv.spec.persistent_volume_reclaim_policy == "Retain" and pv.spec.capacity["storage"] == "2Gi"
    assert pv.spec.access_modes == ["ReadWriteMany"]
    assert (pv.spec.claim_ref.namespace, pv.spec.claim_ref.name) == (vproject.name, "data")
    wait_for(lambda: core_api.read_namespaced_persistent_volume_claim("data", vproject.name).status.phase == "Bound",
             what="the claim Bound by the controller-manager")
    page = text(web.get(f"/projects/{vproject.name}/volumes/data"))
    assert "Bound" in page and f"{NFS_SERVER}:{NFS_EXPORT}/{vproject.name}.data" in page
    assert "data" in text(web.get(f"/projects/{vproject.name}/volumes"))
    db.session.commit()
    assert db.session.query(AuditEvent).filter_by(action="volume.create", object_name="data").count() == 1


@pytest.mark.parametrize("field,values,message", [
    ("name", {"name": "Data_1"}, "DNS-1123"),
    ("name", {"name": "x" * 51}, "at most 50"),
    ("capacity", {"capacity": "lots"}, "not a size"),
    ("capacity", {"capacity": "0.5"}, "whole number of bytes"),
    ("capacity", {"capacity": "100Ki"}, "from 1Mi"),
    ("access_mode", {"access_mode": "ReadWriteSometimes"}, "Choose"),
], ids=["bad-name", "long-name", "not-a-size", "fraction", "too-small", "bad-mode"])
def test_bad_input_is_refused_beside_the_field(vproject, login, export_root, field, values, message):
    response = create(login("dev"), vproject, **values)
    assert response.status_code == 422
    page = text(response)
    assert re.search(rf'id="{field}-error"[^>]*>[^<]*{re.escape(message)}', page), page[-3000:]
    assert os.listdir(export_root) == [] and row(vproject, values.get("name", "data")) is None


def test_a_claim_over_the_storage_quota_undoes_every_step(vproject, login, core_api, export_root):
    owner = login("olivia")
    assert owner.post(f"/projects/{vproject.name}/quota",
                      {"quota_cpu": "", "quota_memory": "", "quota_pods": "", "quota_storage": "1Gi",
                       "quota_claims": "2"}).status_code == 302
    quota = core_api.read_namespaced_resource_quota("hummer-quota", vproject.name)
    assert quota.spec.hard == {"requests.storage": "1Gi", "persistentvolumeclaims": "2"}
    wait_for(lambda: (core_api.read_namespaced_resource_quota("hummer-quota", vproject.name).status.hard or {})
             .get("requests.storage") == "1Gi", what="the quota controller counted")
    response = create(owner, vproject, capacity="2Gi")
    assert response.status_code == 422
    assert re.search(r'id="capacity-error"[^>]*>[^<]*storage quota', text(response)), text(response)[-2000:]
    assert os.listdir(export_root) == []
    assert gone(lambda: core_api.read_persistent_volume(pv_name(vproject)))
    assert core_api.list_namespaced_persistent_volume_claim(vproject.name).items == []
    assert row(vproject) is None
    assert create(owner, vproject, capacity="512Mi").status_code == 302  # within the quota


def test_a_volume_name_taken_is_refused(vproject, login, export_root):
    web = login("dev")
    assert create(web, vproject).status_code == 302
    again = create(web, vproject)
    assert again.status_code == 422 and "already has a volume" in text(again)


def test_resize_raises_pv_and_claim_and_refuses_below_the_usage(vproject, login, core_api, export_root, app):
    web = login("dev")
    create(web, vproject, capacity="1Gi")
    wait_for(lambda: core_api.read_namespaced_persistent_volume_claim("data", vproject.name).status.phase == "Bound",
             what="Bound")
    raised = web.post(f"/projects/{vproject.name}/volumes/data/resize", {"capacity": "3Gi"})
    assert raised.status_code == 302, text(raised)[-1500:]
    assert core_api.read_persistent_volume(pv_name(vproject)).spec.capacity["storage"] == "3Gi"
    claim = core_api.read_namespaced_persistent_volume_claim("data", vproject.name)
    assert claim.spec.resources.requests["storage"] == "3Gi"
    # 3 MiB of files, measured by the background scan
    (export_root / f"{vproject.name}.data" / "blob").write_bytes(b"x" * (3 * 1024 ** 2))
    volumes.usage.measure_now(app, row(vproject))
    assert row(vproject).usage_bytes == 3 * 1024 ** 2
    below = web.post(f"/projects/{vproject.name}/volumes/data/resize", {"capacity": "2Mi"})
    assert below.status_code == 422 and re.search(r'id="capacity-error"[^>]*>[^<]*holds 3', text(below))
    lowered = web.post(f"/projects/{vproject.name}/volumes/data/resize", {"capacity": "1Gi"}, follow_redirects=True)
    assert "never shrinks a claim" in text(lowered)
    assert core_api.read_persistent_volume(pv_name(vproject)).spec.capacity["storage"] == "1Gi"
    assert row(vproject).capacity == "1Gi"


def test_usage_shows_warnings_at_80_and_100_percent(vproject, login, export_root, app):
    web = login("dev")
    create(web, vproject, capacity="1Mi")
    folder = export_root / f"{vproject.name}.data"
    (folder / "a").write_bytes(b"x" * 900 * 1024)
    volumes.usage.measure_now(app, row(vproject))
    page = text(web.get(f"/projects/{vproject.name}/volumes"))
    assert 'data-level="warn"' in page and "over 80 %" in page
    (folder / "b").write_bytes(b"x" * 200 * 1024)
    volumes.usage.measure_now(app, row(vproject))
    page = text(web.get(f"/projects/{vproject.name}/volumes/data"))
    assert 'data-level="full"' in page and "uploads stop" in page


def test_the_scan_runs_in_the_background_and_not_twice(vproject, login, export_root, app):
    web = login("dev")
    create(web, vproject)
    (export_root / f"{vproject.name}.data" / "f").write_bytes(b"x" * 5000)
    assert row(vproject).usage_at is None
    web.get(f"/projects/{vproject.name}/volumes/data")  # a page never measures
    assert row(vproject).usage_at is None
    assert volumes.usage.scan(app) == 1
    assert row(vproject).usage_bytes == 5000 and row(vproject).usage_at is not None
    assert volumes.usage.scan(app) == 0  # measured a moment ago: not due


def mount_form(name="web", claim="data", path="/data", **extra) -> dict:
    return deploy_form(name, replicas=1, **{"volumes-0-volume": claim, "volumes-0-mount_path": path,
                                            "volumes-0-sub_path": "", **extra})


def test_mounting_deleting_protection_and_trash(vproject, login, core_api, apps_api, export_root, kube_cluster):
    web = login("dev")
    create(web, vproject)
    (export_root / f"{vproject.name}.data" / "keep.txt").write_bytes(b"precious")
    preview = web.post(f"/projects/{vproject.name}/apps/new", mount_form(op="yaml", **{
        "volumes-1-volume": "data", "volumes-1-mount_path": "/logs", "volumes-1-sub_path": "logs",
        "volumes-1-read_only": "y"}))
    yaml_text = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", text(preview), re.S).group(1))
    assert "claimName: data" in yaml_text and "subPath: logs" in yaml_text
    dry = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml_text, check=False)
    assert dry.returncode == 0, dry.stderr
    assert web.post(f"/projects/{vproject.name}/apps/new", mount_form()).status_code == 302
    pod = apps_api.read_namespaced_deployment("web", vproject.name).spec.template.spec
    assert pod.volumes[0].persistent_volume_claim.claim_name == "data"
    assert pod.containers[0].volume_mounts[0].mount_path == "/data"
    ready(apps_api, vproject.name, "web", 1)
    wait_for(lambda: "web" in text(web.get(f"/projects/{vproject.name}/volumes/data")), what="the app listed")
    app_page = text(web.get(f"/projects/{vproject.name}/apps/web"))
    assert 'id="app-volumes"' in app_page and f"/projects/{vproject.name}/volumes/data" in app_page
    assert "B of 1 GiB" in app_page  # its usage against its capacity
    # the edit form shows the mount, and keeps it
    edit = text(web.get(f"/projects/{vproject.name}/apps/web/edit"))
    assert 'value="/data"' in edit
    # delete refused while mounted, and the page names the app
    ask = web.get(f"/projects/{vproject.name}/volumes/data/delete")
    assert "remove it from them first" in text(ask) and ">web<" in text(ask)
    refused = web.post(f"/projects/{vproject.name}/volumes/data/delete", {"confirm": "data"})
    assert refused.status_code == 409 and "mounted by web" in text(refused)
    assert (export_root / f"{vproject.name}.data" / "keep.txt").exists()
    # without the app: a typed confirmation, then claim and PV go, the files to the trash
    web.post(f"/projects/{vproject.name}/apps/web/delete", {"confirm": "web"})
    wait_for(lambda: gone(lambda: apps_api.read_namespaced_deployment("web", vproject.name)), what="app gone")
    wrong = web.post(f"/projects/{vproject.name}/volumes/data/delete", {"confirm": "dat"})
    assert wrong.status_code == 422 and "Type the volume name" in text(wrong)
    assert web.post(f"/projects/{vproject.name}/volumes/data/delete", {"confirm": "data"}).status_code == 302
    wait_for(lambda: gone(lambda: core_api.read_namespaced_persistent_volume_claim("data", vproject.name)),
             what="claim gone")
    wait_for(lambda: gone(lambda: core_api.read_persistent_volume(pv_name(vproject))), what="PV gone")
    assert not (export_root / f"{vproject.name}.data").exists()
    db.session.commit()
    entry = db.session.query(TrashedVolume).filter_by(project_name=vproject.name, name="data").one()
    assert (export_root / ".trash" / entry.trash_name / "keep.txt").read_bytes() == b"precious"
    # an admin restores it: a new PV and claim, the same files
    web.post("/logout", {})
    root = login("root")
    trash_page = text(root.get("/admin/volumes/trash"))
    assert vproject.name in trash_page and "Restore" in trash_page
    assert root.post(f"/admin/volumes/trash/{entry.id}/restore", {}).status_code == 302
    assert (export_root / f"{vproject.name}.data" / "keep.txt").read_bytes() == b"precious"
    wait_for(lambda: core_api.read_namespaced_persistent_volume_claim("data", vproject.name).status.phase == "Bound",
             what="restored claim Bound")


def test_the_trash_expires_and_can_be_purged(vproject, login, export_root, app):
    web = login("dev")
    for name in ("old", "new"):
        create(web, vproject, name=name)
        assert web.post(f"/projects/{vproject.name}/volumes/{name}/delete", {"confirm": name}).status_code == 302
    db.session.commit()
    old = db.session.query(TrashedVolume).filter_by(name="old").one()
    new = db.session.query(TrashedVolume).filter_by(name="new").one()
    old_entry, new_entry, new_id = old.trash_name, new.trash_name, new.id
    old.deleted_at -= timedelta(days=app.config["VOLUME_TRASH_DAYS"], minutes=1)
    db.session.commit()
    volumes.usage.scan(app)
    assert not (export_root / ".trash" / old_entry).exists()
    assert (export_root / ".trash" / new_entry).exists()
    web.post("/logout", {})
    root = login("root")
    assert root.get(f"/admin/volumes/trash/{new_id}/purge").status_code == 200  # asks first
    assert root.post(f"/admin/volumes/trash/{new_id}/purge", {}).status_code == 302
    assert os.listdir(export_root / ".trash") == []
    db.session.commit()
    assert db.session.query(TrashedVolume).count() == 0


def test_deleting_the_project_lists_its_volumes_and_trashes_them(vproject, login, core_api, export_root):
    name = vproject.name
    owner = login("olivia")
    create(owner, vproject)
    (export_root / f"{vproject.name}.data" / "f").write_bytes(b"f")
    ask = text(owner.get(f"/projects/{vproject.name}/delete"))
    assert "volume data (its files go to the trash)" in ask
    assert owner.post(f"/projects/{name}/delete", {"confirm": name}).status_code == 302
    wait_for(lambda: gone(lambda: core_api.read_persistent_volume(f"{name}.data")), what="PV gone")
    db.session.commit()
    entry = db.session.query(TrashedVolume).filter_by(project_name=name).one()
    assert (export_root / ".trash" / entry.trash_name / "f").read_bytes() == b"f"
