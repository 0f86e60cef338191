"""The file browser through the portal, on a real directory: list, upload, download, folders,
rename, delete; who may do what; and every way out of the volume refused, with the files
outside checked byte for byte before and after."""
from __future__ import annotations

import io
import os
import tarfile
from urllib.parse import urlencode

import pytest

from portal.extensions import db
from portal.models import AuditEvent, Volume
from tests.support.web import text
from tests.volumes.conftest import snapshot


def base(project) -> str:
    return f"/projects/{project.name}/volumes/data/files"


def post_file(web, project, name: str, data, *, path: str = "", csrf: bool = True, length: int | None = None,
              overwrite: bool = False):
    """A file as the raw body, as the page's script sends it; `length` claims another
    Content-Length than the body has (a body cut off half-way)."""
    query = {"path": path, "name": name, **({"overwrite": "1"} if overwrite else {})}
    headers = {"Content-Type": "application/octet-stream"}
    if csrf:
        headers["X-CSRFToken"] = web.token()
    body = io.BytesIO(data)
    environ = {"wsgi.input": body, "CONTENT_LENGTH": str(len(data) if length is None else length)}
    return web._send("post", f"{base(project)}/upload?{urlencode(query)}", headers=headers,
                     environ_overrides=environ)


def fetch(web, url: str):
    """A GET whose body is read whole, and the response closed (its file with it)."""
    response = web.get(url)
    response.get_data()
    response.close()
    return response


def usage_of(project) -> int:
    db.session.commit()
    return db.session.query(Volume).filter_by(project_id=project.id, name="data").one().usage_bytes


def test_a_developer_uploads_lists_downloads_and_archives(login, fproject, volume_dir):
    web = login("dev")
    assert post_file(web, fproject, "hello.txt", b"hello\n").status_code == 201
    assert web.post(f"{base(fproject)}/folder", {"path": "", "name": "logs"}).status_code == 302
    assert post_file(web, fproject, "app.log", b"line 1\nline 2\n", path="logs").status_code == 201
    assert (volume_dir / "logs" / "app.log").read_bytes() == b"line 1\nline 2\n"
    page = text(web.get(base(fproject)))
    assert "hello.txt" in page and "logs/" in page
    download = fetch(web, f"{base(fproject)}/download?path=hello.txt")
    assert download.status_code == 200 and download.data == b"hello\n"
    assert 'filename=hello.txt' in download.headers["Content-Disposition"]
    archive = fetch(web, f"{base(fproject)}/archive?path=")
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
        names = sorted(m.name.lstrip("./") for m in tar.getmembers() if m.name not in (".", "./"))
        assert "hello.txt" in names and "logs/app.log" in names
        member = next(m for m in tar.getmembers() if m.name.endswith("logs/app.log"))
        assert tar.extractfile(member).read() == b"line 1\nline 2\n"
    assert usage_of(fproject) == len(b"hello\n") + len(b"line 1\nline 2\n")
    db.session.commit()
    actions = [e.action for e in db.session.query(AuditEvent).filter(AuditEvent.object_type == "volume")]
    assert actions.count("volume.upload") == 2 and "volume.mkdir" in actions


def test_rename_and_delete_with_confirmation(login, fproject, volume_dir):
    web = login("dev")
    post_file(web, fproject, "a.txt", b"a")
    (volume_dir / "tree" / "sub").mkdir(parents=True)
    (volume_dir / "tree" / "sub" / "f").write_bytes(b"f")
    assert web.post(f"{base(fproject)}/rename", {"path": "a.txt", "new": "b.txt"}).status_code == 302
    assert (volume_dir / "b.txt").read_bytes() == b"a" and not (volume_dir / "a.txt").exists()
    ask = web.get(f"{base(fproject)}/delete?path=tree")
    assert ask.status_code == 200 and "everything in it" in text(ask)
    assert (volume_dir / "tree").exists()  # asking deletes nothing
    assert web.post(f"{base(fproject)}/delete?path=tree", {}).status_code == 302
    assert not (volume_dir / "tree").exists()
    refused = web.post(f"{base(fproject)}/rename", {"path": "b.txt", "new": "x/y"})
    assert refused.status_code == 422 and "not a name" in text(refused)


def test_a_viewer_browses_and_downloads_but_changes_nothing(login, fproject, volume_dir):
    (volume_dir / "report.csv").write_bytes(b"a,b\n")
    web = login("vic")
    page = web.get(base(fproject))
    assert page.status_code == 200 and "report.csv" in text(page)
    assert "volume-upload" not in text(page) and "Rename" not in text(page)
    assert fetch(web, f"{base(fproject)}/download?path=report.csv").data == b"a,b\n"
    assert post_file(web, fproject, "x.txt", b"x").status_code == 403
    assert web.post(f"{base(fproject)}/folder", {"path": "", "name": "x"}).status_code == 403
    assert web.post(f"{base(fproject)}/rename", {"path": "report.csv", "new": "y"}).status_code == 403
    assert web.post(f"{base(fproject)}/delete?path=report.csv", {}).status_code == 403
    assert sorted(os.listdir(volume_dir)) == ["report.csv"]


def test_strangers_do_not_learn_the_volume_exists(login, fproject):
    assert login("stranger").get(base(fproject)).status_code == 404


def test_sorting_and_paging_a_folder_of_thousands(login, fproject, volume_dir):
    for i in range(450):
        (volume_dir / f"f{i:04d}").write_bytes(b"x" * (i % 7))
    (volume_dir / "zzz").mkdir()
    web = login("vic")
    first = text(web.get(base(fproject)))
    assert first.index("zzz/") < first.index("f0000")  # folders first
    assert "f0198" in first and "f0199" not in first and "Page 1 of 3" in first
    last = text(web.get(f"{base(fproject)}?page=3"))
    assert "f0449" in last and "f0000" not in last
    largest = text(web.get(f"{base(fproject)}?sort=size&order=desc"))
    smallest = text(web.get(f"{base(fproject)}?sort=size"))
    assert "f0006" in largest and "f0007" not in largest  # 6 bytes on the first page, 0 bytes not
    assert "f0007" in smallest and "f0006" not in smallest


BAD_PATHS = ["../outside", "/etc", "a/../../x", "..", "logs/../.."]
BAD_NAMES = {"nul": "a\x00b", "newline": "a\nb", "slash": "a/b", "dotdot": "..", "dot": ".",
             "long": "x" * 256, "long-utf8": "é" * 128}


@pytest.mark.parametrize("path", BAD_PATHS)
def test_a_path_out_of_the_volume_is_refused_everywhere(login, fproject, volume_dir, outside, path):
    web = login("dev")
    before = snapshot(outside.parent)
    answers = [
        web.get(f"{base(fproject)}?{urlencode({'path': path})}"),
        web.get(f"{base(fproject)}/download?{urlencode({'path': path})}"),
        web.get(f"{base(fproject)}/archive?{urlencode({'path': path})}"),
        post_file(web, fproject, "x.txt", b"x", path=path),
        web.post(f"{base(fproject)}/folder", {"path": path, "name": "x"}),
        web.post(f"{base(fproject)}/rename", {"path": path, "new": "x"}),
        web.post(f"{base(fproject)}/delete?{urlencode({'path': path})}", {}),
    ]
    assert all(r.status_code in (404, 422) for r in answers), [(r.status_code, text(r)[:200]) for r in answers]
    assert snapshot(outside.parent) == before


@pytest.mark.parametrize("kind", sorted(BAD_NAMES))
def test_bad_names_are_refused_with_a_reason(login, fproject, volume_dir, kind):
    web = login("dev")
    name = BAD_NAMES[kind]
    upload = post_file(web, fproject, name, b"x")
    assert upload.status_code == 422 and upload.json["field"] == "name", upload.json
    folder = web.post(f"{base(fproject)}/folder", {"path": "", "name": name})
    assert folder.status_code in (400, 422) and "error" in text(folder)
    assert os.listdir(volume_dir) == []


@pytest.fixture
def planted(volume_dir, outside):
    """Links inside the volume that lead out of it: to a file, and to a folder."""
    os.symlink(outside / "secret.txt", volume_dir / "secret-link")
    os.symlink(outside, volume_dir / "dir-link")
    return volume_dir


def test_links_out_of_the_volume_are_never_followed(login, fproject, planted, outside):
    web = login("dev")
    before = snapshot(outside)
    page = text(web.get(base(fproject)))
    assert "secret-link" in page and "not followed" in page
    answers = {
        "list through": web.get(f"{base(fproject)}?path=dir-link"),
        "read": fetch(web, f"{base(fproject)}/download?path=secret-link"),
        "read through": fetch(web, f"{base(fproject)}/download?path=dir-link/secret.txt"),
        "archive through": fetch(web, f"{base(fproject)}/archive?path=dir-link"),
        "write through": post_file(web, fproject, "evil", b"pwned", path="dir-link"),
        "write onto": post_file(web, fproject, "secret-link", b"pwned", overwrite=True),
        "mkdir through": web.post(f"{base(fproject)}/folder", {"path": "dir-link", "name": "x"}),
        "rename through": web.post(f"{base(fproject)}/rename", {"path": "dir-link/secret.txt", "new": "y"}),
        "delete through": web.post(f"{base(fproject)}/delete?path=dir-link/secret.txt", {}),
    }
    wrong = {k: (r.status_code, text(r)[:300]) for k, r in answers.items() if r.status_code not in (404, 409, 422)}
    assert not wrong
    assert b"top secret" not in answers["read"].data and b"top secret" not in answers["read through"].data
    whole = fetch(web, f"{base(fproject)}/archive?path=")
    with tarfile.open(fileobj=io.BytesIO(whole.data), mode="r:gz") as tar:
        links = {m.name.lstrip("./"): m for m in tar.getmembers()}
        assert links["secret-link"].issym() and not any(m.isfile() for m in links.values())
    # deleting the link removes the link only
    assert web.post(f"{base(fproject)}/delete?path=secret-link", {}).status_code == 302
    assert not (planted / "secret-link").is_symlink()
    assert snapshot(outside) == before


def test_an_upload_stops_at_the_volumes_capacity(login, fproject, volume_dir):
    web = login("dev")
    assert post_file(web, fproject, "big", b"x" * (700 * 1024)).status_code == 201
    refused = post_file(web, fproject, "bigger", b"y" * (400 * 1024))
    assert refused.status_code == 413 and "does not fit" in refused.json["message"]
    assert not (volume_dir / "bigger").exists() and sorted(os.listdir(volume_dir)) == ["big"]
    assert usage_of(fproject) == 700 * 1024  # the refused reservation was given back


def test_an_upload_cut_off_half_way_leaves_nothing(login, fproject, volume_dir):
    web = login("dev")
    cut = post_file(web, fproject, "half.bin", b"z" * 1000, length=5000)
    assert cut.status_code == 400 and "nothing was kept" in cut.json["message"]
    assert os.listdir(volume_dir) == []
    assert usage_of(fproject) == 0


def test_overwriting_needs_asking_for_it(login, fproject, volume_dir):
    web = login("dev")
    post_file(web, fproject, "a.txt", b"one")
    again = post_file(web, fproject, "a.txt", b"two")
    assert again.status_code == 422 and "already exists" in again.json["message"]
    assert post_file(web, fproject, "a.txt", b"three", overwrite=True).status_code == 201
    assert (volume_dir / "a.txt").read_bytes() == b"three"


def test_an_upload_needs_the_csrf_token(login, fproject, volume_dir):
    web = login("dev")
    assert post_file(web, fproject, "a.txt", b"x", csrf=False).status_code == 400
    assert os.listdir(volume_dir) == []
