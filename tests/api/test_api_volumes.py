"""Volumes through /api/v1 with a token, as a script would drive them.

Files (no cluster: the volume is a row and a real directory, as in tests/volumes/test_files.py):
upload, list, download byte for byte, overwrite, delete; traversal and links refused with the
files outside checked before and after; a viewer's token refused on every change; the capacity
and the body's checks. Lifecycle (the real API server and controller-manager): create, list,
get, resize, delete refused while an app mounts the volume, then deleted into the trash."""
from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from portal.extensions import db
from portal.models import AuditEvent, TrashedVolume, Volume
from tests.api.conftest import bearer
from tests.support.waiting import wait_for
from tests.volumes.conftest import NFS_EXPORT, NFS_SERVER, gone, snapshot

RAW = "application/octet-stream"


def base(project) -> str:
    return f"/api/v1/projects/{project.name}/volumes"


def upload(client, project, secret, path: str, data: bytes, **args):
    query = "&".join([f"path={quote(path)}", *(f"{k}={v}" for k, v in args.items())])
    return client.put(f"{base(project)}/data/files/content?{query}", data=data, content_type=RAW,
                      headers=bearer(secret))


def download(client, project, secret, path: str):
    response = client.get(f"{base(project)}/data/files/content?path={quote(path)}", headers=bearer(secret))
    response.get_data()
    response.close()  # the file with it, as a server would
    return response


def files(client, project, secret, path: str = "", **args):
    query = "&".join([f"path={quote(path)}", *(f"{k}={v}" for k, v in args.items())])
    return client.get(f"{base(project)}/data/files?{query}", headers=bearer(secret))


def people_of(project) -> dict:
    return {m.user.username: m.user for m in project.memberships}


def test_upload_list_download_and_delete_with_a_token(client, fproject, volume_dir, make_token):
    secret = make_token(people_of(fproject)["dev"], name="ci-files")
    data = os.urandom(300_000) + b"\x00\r\n end"
    (volume_dir / "logs").mkdir()
    put = upload(client, fproject, secret, "logs/blob.bin", data)
    assert put.status_code == 201, put.get_data(as_text=True)
    assert put.get_json() == {"path": "logs/blob.bin", "size": len(data)}
    assert (volume_dir / "logs" / "blob.bin").read_bytes() == data

    top = files(client, fproject, secret).get_json()
    assert [(e["name"], e["kind"], e["path"]) for e in top["items"]] == [("logs", "dir", "logs")]
    inner = files(client, fproject, secret, "logs").get_json()
    assert inner["path"] == "logs" and inner["total"] == 1
    assert [(e["name"], e["path"], e["size"], e["kind"]) for e in inner["items"]] == [
        ("blob.bin", "logs/blob.bin", len(data), "file")]

    got = download(client, fproject, secret, "logs/blob.bin")
    assert got.status_code == 200 and got.data == data
    assert got.mimetype == RAW and got.headers["Content-Length"] == str(len(data))
    assert got.headers["Content-Disposition"] == "attachment; filename=blob.bin"

    # the volume's usage counts the upload; the audit log names the token
    db.session.commit()
    assert db.session.query(Volume).filter_by(project_id=fproject.id).one().usage_bytes == len(data)
    event = db.session.query(AuditEvent).filter_by(action="volume.upload").one()
    assert (event.actor_name, event.via_token) == ("dev", "ci-files")

    # the same name again: refused, unless overwrite=true
    again = upload(client, fproject, secret, "logs/blob.bin", b"new")
    assert again.status_code == 422 and again.mimetype == "application/problem+json"
    assert again.get_json()["errors"][0]["field"] == "path" and "already exists" in again.get_json()["detail"]
    assert upload(client, fproject, secret, "logs/blob.bin", b"new", overwrite="true").status_code == 201
    assert download(client, fproject, secret, "logs/blob.bin").data == b"new"

    # a folder goes with what it holds
    gone = client.delete(f"{base(fproject)}/data/files?path=logs", headers=bearer(secret))
    assert gone.status_code == 200 and gone.get_json() == {"deleted": "logs"}
    assert os.listdir(volume_dir) == []
    missing = download(client, fproject, secret, "logs/blob.bin")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_a_folder_is_paginated_with_links(client, fproject, volume_dir, make_token):
    secret = make_token(people_of(fproject)["vic"], "viewer")
    for name in ("a", "b", "c", "d", "e"):
        (volume_dir / name).write_bytes(name.encode())
    first = files(client, fproject, secret, per_page=2).get_json()
    assert [e["name"] for e in first["items"]] == ["a", "b"] and first["total"] == 5
    assert first["links"]["prev"] is None
    second = client.get(first["links"]["next"], headers=bearer(secret)).get_json()
    assert [e["name"] for e in second["items"]] == ["c", "d"]
    by_size = files(client, fproject, secret, sort="name", order="desc").get_json()
    assert [e["name"] for e in by_size["items"]] == ["e", "d", "c", "b", "a"]
    assert files(client, fproject, secret, per_page=201).status_code == 422


BAD_PATHS = ["../outside/secret.txt", "/etc/passwd", "a/../../x", "..", "../", "x/\n/y"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_a_path_out_of_the_volume_is_refused(client, fproject, volume_dir, outside, make_token, path):
    secret = make_token(people_of(fproject)["dev"])
    before, inside = snapshot(outside), snapshot(volume_dir)
    answers = [upload(client, fproject, secret, path, b"evil"), download(client, fproject, secret, path),
               files(client, fproject, secret, path),
               client.delete(f"{base(fproject)}/data/files?path={quote(path)}", headers=bearer(secret))]
    for answer in answers:
        assert answer.status_code == 422, (answer.request.method, answer.get_data(as_text=True))
        assert answer.mimetype == "application/problem+json"
        assert answer.get_json()["errors"][0]["field"] == "path"
    assert snapshot(outside) == before and snapshot(volume_dir) == inside


def test_a_link_out_of_the_volume_is_not_followed(client, fproject, volume_dir, outside, make_token):
    secret = make_token(people_of(fproject)["dev"])
    os.symlink(outside / "secret.txt", volume_dir / "secret-link")
    os.symlink(outside, volume_dir / "dir-link")
    listed = {e["name"]: e for e in files(client, fproject, secret).get_json()["items"]}
    assert listed["secret-link"]["kind"] == "link" and listed["secret-link"]["target"] == str(outside / "secret.txt")
    refused = download(client, fproject, secret, "secret-link")
    assert refused.status_code == 422 and b"top secret" not in refused.data
    assert files(client, fproject, secret, "dir-link").status_code == 422
    assert upload(client, fproject, secret, "dir-link/planted", b"x").status_code == 422
    assert not (outside / "planted").exists() and (outside / "secret.txt").read_bytes() == b"top secret\n"


def test_a_viewers_token_reads_but_changes_nothing(client, fproject, volume_dir, make_token):
    people = people_of(fproject)
    (volume_dir / "keep.txt").write_bytes(b"keep")
    for secret in (make_token(people["vic"], "viewer"), make_token(people["dev"], "viewer")):
        assert download(client, fproject, secret, "keep.txt").data == b"keep"
        refused = [upload(client, fproject, secret, "new.txt", b"x"),
                   client.delete(f"{base(fproject)}/data/files?path=keep.txt", headers=bearer(secret)),
                   client.put(f"{base(fproject)}/data/capacity", json={"capacity": "2Mi"}, headers=bearer(secret)),
                   client.delete(f"{base(fproject)}/data?confirm=data", headers=bearer(secret)),
                   client.post(base(fproject), json={"name": "more", "capacity": "1Gi"}, headers=bearer(secret))]
        for answer in refused:
            assert answer.status_code == 403, answer.get_data(as_text=True)
            assert answer.mimetype == "application/problem+json"
    assert sorted(os.listdir(volume_dir)) == ["keep.txt"]



def test_a_token_for_another_project_does_not_see_this_one(client, fproject, volume_dir, make_project, make_token):
    people = people_of(fproject)
    make_project("elsewhere", {people["dev"]: "developer"})
    secret = make_token(people["dev"], "developer", ["elsewhere"])
    (volume_dir / "keep.txt").write_bytes(b"keep")
    for answer in (client.get(base(fproject), headers=bearer(secret)), download(client, fproject, secret, "keep.txt"),
                   upload(client, fproject, secret, "new.txt", b"x")):
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert sorted(os.listdir(volume_dir)) == ["keep.txt"]


def test_the_capacity_and_the_body_are_checked_before_a_byte_is_kept(client, app, fproject, volume_dir,
                                                                   make_token):
    secret = make_token(people_of(fproject)["dev"])
    assert upload(client, fproject, secret, "half.bin", b"h" * (600 * 1024)).status_code == 201
    too_big = upload(client, fproject, secret, "more.bin", b"m" * (600 * 1024))
    assert too_big.status_code == 413 and too_big.mimetype == "application/problem+json"
    assert "does not fit" in too_big.get_json()["detail"]
    assert not (volume_dir / "more.bin").exists()
    db.session.commit()
    assert db.session.query(Volume).filter_by(project_id=fproject.id).one().usage_bytes == 600 * 1024

    typed = client.put(f"{base(fproject)}/data/files/content?path=a.json", json={"a": 1}, headers=bearer(secret))
    assert typed.status_code == 415 and "application/octet-stream" in typed.get_json()["detail"]
    app.config["VOLUME_UPLOAD_MAX_BYTES"] = 10
    over = upload(client, fproject, secret, "eleven.bin", b"x" * 11)
    assert over.status_code == 413 and "HUMMER_VOLUME_UPLOAD_MAX_BYTES" in over.get_json()["detail"]
    no_name = upload(client, fproject, secret, "folder/", b"x")
    assert no_name.status_code == 422
    assert sorted(os.listdir(volume_dir)) == ["half.bin"]


def test_list_and_get_without_a_cluster(client, fproject, make_token):
    secret = make_token(people_of(fproject)["vic"], "viewer")
    listed = client.get(base(fproject), headers=bearer(secret)).get_json()
    assert listed["total"] == 1 and listed["links"] == {"next": None, "prev": None}
    one = client.get(f"{base(fproject)}/data", headers=bearer(secret)).get_json()
    assert one == listed["items"][0]
    assert (one["name"], one["capacity"], one["capacity_bytes"], one["access_mode"]) == (
        "data", "1Mi", 1024 ** 2, "ReadWriteMany")
    assert (one["usage_bytes"], one["percent"], one["level"], one["phase"], one["mounted_by"]) == (
        0, 0, "ok", "", [])
    assert one["nfs"] == f"{NFS_SERVER}:{NFS_EXPORT}/{fproject.name}.data"
    missing = client.get(f"{base(fproject)}/nothing", headers=bearer(secret))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


# --- on the real cluster ----------------------------------------------------------------------

def test_create_resize_and_delete_through_the_api(client, vproject, export_root, core_api, make_token):
    secret = make_token(people_of(vproject)["dev"])
    ns = vproject.name
    bad = client.post(base(vproject), json={"name": "Data_1", "capacity": "lots"}, headers=bearer(secret))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "name"
    made = client.post(base(vproject), json={"name": "data", "capacity": "1Gi", "access_mode": "ReadWriteMany",
                                             "description": "uploads"}, headers=bearer(secret))
    assert made.status_code == 201, made.get_data(as_text=True)
    assert (made.get_json()["name"], made.get_json()["capacity"]) == ("data", "1Gi")
    assert (export_root / f"{ns}.data").is_dir()
    assert core_api.read_persistent_volume(f"{ns}.data").spec.capacity["storage"] == "1Gi"
    wait_for(lambda: client.get(f"{base(vproject)}/data", headers=bearer(secret)).get_json()["phase"] == "Bound",
             what="the claim Bound, as the API reads it")
    taken = client.post(base(vproject), json={"name": "data", "capacity": "1Gi"}, headers=bearer(secret))
    assert taken.status_code == 422 and "already has a volume" in taken.get_json()["detail"]
    listed = client.get(base(vproject), headers=bearer(secret)).get_json()
    assert [v["name"] for v in listed["items"]] == ["data"] and listed["items"][0]["description"] == "uploads"

    raised = client.put(f"{base(vproject)}/data/capacity", json={"capacity": "2Gi"}, headers=bearer(secret))
    assert raised.status_code == 200, raised.get_data(as_text=True)
    assert raised.get_json()["capacity"] == "2Gi" and raised.get_json()["note"] == ""
    claim = core_api.read_namespaced_persistent_volume_claim("data", ns)
    assert claim.spec.resources.requests["storage"] == "2Gi"
    lowered = client.put(f"{base(vproject)}/data/capacity", json={"capacity": "1Gi"}, headers=bearer(secret))
    assert lowered.status_code == 200 and "never shrinks" in lowered.get_json()["note"]

    assert upload(client, vproject, secret, "keep.txt", b"precious").status_code == 201
    wrong = client.delete(f"{base(vproject)}/data?confirm=dat", headers=bearer(secret))
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "confirm"
    deleted = client.delete(f"{base(vproject)}/data?confirm=data", headers=bearer(secret))
    assert deleted.status_code == 200, deleted.get_data(as_text=True)
    assert deleted.get_json()["deleted"] == "data"
    wait_for(lambda: gone(lambda: core_api.read_namespaced_persistent_volume_claim("data", ns)), what="claim gone")
    assert not (export_root / f"{ns}.data").exists()
    db.session.commit()
    trashed = db.session.query(TrashedVolume).filter_by(project_name=ns, name="data").one()
    assert (export_root / ".trash" / trashed.trash_name / "keep.txt").read_bytes() == b"precious"
    assert client.get(f"{base(vproject)}/data", headers=bearer(secret)).status_code == 404


def test_delete_is_refused_while_an_app_mounts_the_volume(client, vproject, export_root, apps_api,
                                                          make_token):
    secret = make_token(people_of(vproject)["dev"])
    assert client.post(base(vproject), json={"name": "data", "capacity": "1Gi"},
                       headers=bearer(secret)).status_code == 201
    app = client.post(f"/api/v1/projects/{vproject.name}/apps", headers=bearer(secret), json={
        "name": "web", "image": "hummer/web", "tag": "1.0", "replicas": 1, "plan": "small",
        "volumes": [{"volume": "data", "mount_path": "/data"}]})
    assert app.status_code == 201, app.get_data(as_text=True)
    wait_for(lambda: client.get(f"{base(vproject)}/data", headers=bearer(secret)).get_json()["mounted_by"] == ["web"],
             what="the app listed as mounting the volume")
    refused = client.delete(f"{base(vproject)}/data?confirm=data", headers=bearer(secret))
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "mounted by web" in refused.get_json()["detail"]
    assert (export_root / f"{vproject.name}.data").is_dir()
    assert client.delete(f"/api/v1/projects/{vproject.name}/apps/web", headers=bearer(secret)).status_code == 200
    wait_for(lambda: gone(lambda: apps_api.read_namespaced_deployment("web", vproject.name)), what="app gone")
    assert client.delete(f"{base(vproject)}/data?confirm=data", headers=bearer(secret)).status_code == 200
