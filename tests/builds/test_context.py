"""Build contexts (portal/services/builds/context.py): uploaded tar, tar.gz and zip archives
unpacked as they arrive, every way out of the context refused with its reason and nothing
left behind; the Dockerfile and Git sub-directory paths a user gives, kept inside."""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from portal.services.builds import context
from portal.services.errors import Invalid

LIMIT = 1 << 20
TYPES = {tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE}
GOOD = ("Dockerfile", b"FROM scratch\n")


def tar_bytes(entries: list, gz: bool = False) -> bytes:
    """A tar of ("name", bytes[, mode]) files and ("name", type, linkname) links or specials."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            info.mtime = 1_700_000_000
            if entry[1] not in TYPES:
                info.size = len(entry[1])
                info.mode = entry[2] if len(entry) > 2 else 0o644
                tar.addfile(info, io.BytesIO(entry[1]))
            else:
                info.type = entry[1]
                info.linkname = entry[2] if len(entry) > 2 else ""
                info.mode = 0o755 if info.type == tarfile.DIRTYPE else 0o644
                tar.addfile(info)
    return gzip.compress(buf.getvalue(), mtime=0) if gz else buf.getvalue()


def zip_bytes(entries: list, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ("name", bytes[, unix mode]) members (a mode of S_IFLNK makes a symbolic link)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry[0], (2026, 11, 30, 12, 0, 0))
            info.create_system = 3
            info.external_attr = (entry[2] if len(entry) > 2 else stat.S_IFREG | 0o644) << 16
            info.compress_type = compression
            archive.writestr(info, entry[1])
    return buf.getvalue()


@pytest.fixture
def dest(tmp_path) -> Path:
    path = tmp_path / "context"
    path.mkdir()
    return path


def refused(data: bytes, dest: Path, limit: int = LIMIT) -> str:
    """The message of the refusal of `data`; the directory is left empty."""
    with pytest.raises(Invalid) as caught:
        context.unpack(io.BytesIO(data), dest, limit)
    assert caught.value.field == "context"
    assert list(dest.iterdir()) == [], "a refused archive left files behind"
    return caught.value.message


def tree(root: Path) -> dict[str, object]:
    found = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[name] = ("->", os.readlink(path))
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = path.read_bytes()
    return found


# --------------------------------------------------------------------------- accepted

FILES = [GOOD, ("app/main.sh", b"#!/bin/sh\necho hi\n", 0o755), ("app/data/x.txt", b"x\n")]
EXPECTED = {"Dockerfile": b"FROM scratch\n", "app": "dir", "app/data": "dir", "app/data/x.txt": b"x\n",
            "app/main.sh": b"#!/bin/sh\necho hi\n", "app/link": ("->", "data/x.txt")}


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_a_context_is_unpacked_whatever_its_format_told_by_content(dest, kind):
    link = ("app/link", tarfile.SYMTYPE, "data/x.txt")
    if kind == "zip":
        data = zip_bytes([*FILES, ("app/link", b"data/x.txt", stat.S_IFLNK | 0o777)])
    else:
        data = tar_bytes([*FILES, link], gz=kind == "tar.gz")
    context.unpack(io.BytesIO(data), dest, LIMIT)  # no file name anywhere: the bytes say what it is
    assert tree(dest) == EXPECTED
    assert os.stat(dest / "app/main.sh").st_mode & 0o111, "the script lost its execute bits"
    assert (dest / "app/link").read_bytes() == b"x\n"


def test_hard_links_inside_and_a_file_named_twice_are_kept_as_tar_means_them(dest):
    data = tar_bytes([GOOD, ("a.txt", b"one\n"), ("b.txt", tarfile.LNKTYPE, "a.txt"), ("c.txt", b"old\n"),
                      ("c.txt", b"new\n"), ("dir", tarfile.DIRTYPE)])
    context.unpack(io.BytesIO(data), dest, LIMIT)
    assert (dest / "b.txt").read_bytes() == b"one\n"
    assert os.stat(dest / "a.txt").st_ino == os.stat(dest / "b.txt").st_ino
    assert (dest / "c.txt").read_bytes() == b"new\n" and (dest / "dir").is_dir()


def test_set_user_id_bits_are_dropped(dest):
    context.unpack(io.BytesIO(tar_bytes([GOOD, ("tool", b"x", 0o6755)])), dest, LIMIT)
    assert stat.S_IMODE(os.stat(dest / "tool").st_mode) & 0o7000 == 0


def test_an_archive_at_the_limit_is_accepted(dest):
    data = tar_bytes([("big", b"a" * (LIMIT // 2))])
    context.unpack(io.BytesIO(data), dest, LIMIT)
    assert (dest / "big").stat().st_size == LIMIT // 2


# --------------------------------------------------------------------------- refused

@pytest.mark.parametrize("name", ["../evil", "app/../../evil", "./../evil"])
def test_a_member_outside_the_context_is_refused(dest, name):
    message = refused(tar_bytes([GOOD, (name, b"x")]), dest)
    assert "outside" in message and "evil" in message
    assert not (dest.parent / "evil").exists()


def test_an_absolute_member_is_refused(dest):
    assert "absolute" in refused(tar_bytes([GOOD, ("/tmp/evil", b"x")]), dest)


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "a/../../outside", "../context-sibling/x"])
def test_a_symlink_pointing_outside_is_refused(dest, target):
    message = refused(tar_bytes([GOOD, ("link", tarfile.SYMTYPE, target)]), dest)
    assert "link" in message and "outside" in message


def test_a_symlink_leading_outside_through_another_link_is_refused(dest):
    # Each link stays inside when read alone; the kernel follows sub/d to sub, then goes up twice.
    data = tar_bytes([GOOD, ("sub", tarfile.DIRTYPE), ("sub/d", tarfile.SYMTYPE, "."),
                      ("escape", tarfile.SYMTYPE, "sub/d/../..")])
    assert "outside" in refused(data, dest)


def test_a_member_written_through_a_symlink_is_refused(dest, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    data = tar_bytes([GOOD, ("sub", tarfile.DIRTYPE), ("sub/l", tarfile.SYMTYPE, "."),
                      ("sub/l/x", b"through a link")])
    assert "link" in refused(data, dest)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "missing-before-it"])
def test_a_hard_link_to_outside_or_to_nothing_is_refused(dest, target):
    message = refused(tar_bytes([GOOD, ("hard", tarfile.LNKTYPE, target)]), dest)
    assert "hard link" in message


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos_are_refused(dest, kind):
    assert "device or a FIFO" in refused(tar_bytes([GOOD, ("dev", kind)]), dest)


def test_more_than_the_limit_unpacked_is_refused(dest):
    assert "limit" in refused(tar_bytes([GOOD, ("big", b"a" * (LIMIT + 1))]), dest)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_compression_bomb_stops_at_the_limit(dest, kind):
    size = 32 * LIMIT  # 32 MiB of zeros, some 32 KiB compressed
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros", "w",
                                                                                          force_zip64=True) as out:
            for _ in range(32):
                out.write(bytes(LIMIT))
        data = buf.getvalue()
    else:
        data = tar_bytes([GOOD, ("zeros", bytes(size))], gz=True)
    assert len(data) < LIMIT
    started = time.monotonic()
    assert "limit" in refused(data, dest)
    assert time.monotonic() - started < 5, "the bomb was unpacked further than the limit"


def test_a_zip_whose_headers_lie_about_sizes_is_still_counted(dest):
    data = bytearray(zip_bytes([GOOD, ("zeros", bytes(4 * LIMIT))]))
    # The central directory's uncompressed size of "zeros" says 1 byte.
    central = data.rindex(b"PK\x01\x02")
    data[central + 24:central + 28] = (1).to_bytes(4, "little")
    with pytest.raises(Invalid) as caught:
        context.unpack(io.BytesIO(bytes(data)), dest, LIMIT)
    assert list(dest.iterdir()) == []
    assert caught.value.field == "context"


def test_an_upload_larger_than_the_limit_is_refused_while_it_is_read(dest):
    data = zip_bytes([GOOD, ("noise", os.urandom(LIMIT + 1))], compression=zipfile.ZIP_STORED)
    assert "limit" in refused(data, dest)
    assert [p.name for p in dest.parent.iterdir()] == ["context"], "the spooled zip was left behind"


def test_too_many_members_are_refused(dest):
    many = [(f"f{i}", b"") for i in range(context.MAX_MEMBERS + 1)]
    assert "more than 10000" in refused(tar_bytes(many, gz=True), dest)
    assert "more than 10000" in refused(zip_bytes(many, compression=zipfile.ZIP_STORED), dest)


# Named ids: pytest-xdist needs every worker to collect the same ids (a gzip header holds a time).
@pytest.mark.parametrize("data,words", [
    (b"", "empty"),
    (b"FROM scratch\nRUN true\n", "not a tar"),
    (gzip.compress(b"just some text, gzipped\n" * 100, mtime=0), "not a tar"),
    (b"PK\x03\x04 not really a zip", "damaged"),
], ids=["empty", "a-dockerfile", "gzipped-text", "damaged-zip"])
def test_what_is_not_an_archive_is_refused(dest, data, words):
    assert words in refused(data, dest)


def test_an_archive_cut_short_is_refused_and_nothing_is_left(dest):
    data = tar_bytes([GOOD, ("big", b"b" * 100_000)])
    assert "cut short" in refused(data[:50_000], dest)


def test_zip_members_outside_or_linking_outside_are_refused(dest):
    assert "outside" in refused(zip_bytes([GOOD, ("../evil", b"x")]), dest)
    assert "outside" in refused(zip_bytes([GOOD, ("l", b"/etc/passwd", stat.S_IFLNK | 0o777)]), dest)
    assert "FIFO" in refused(zip_bytes([GOOD, ("p", b"", stat.S_IFIFO | 0o644)]), dest)


def test_a_directory_that_is_not_empty_is_not_touched(dest):
    (dest / "keep").write_text("mine")
    with pytest.raises(ValueError):
        context.unpack(io.BytesIO(tar_bytes([GOOD])), dest, LIMIT)
    assert (dest / "keep").read_text() == "mine"


# --------------------------------------------------------------------------- paths in it

@pytest.fixture
def tree_with_links(tmp_path) -> Path:
    root = tmp_path / "ctx"
    (root / "docker").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "docker" / "web.Dockerfile").write_text("FROM scratch\n")
    (root / "inside-link").symlink_to("docker/web.Dockerfile")
    (tmp_path / "secret").write_text("not yours\n")
    (root / "outside-link").symlink_to(tmp_path / "secret")
    (root / "outside-dir").symlink_to(tmp_path)
    return root


@pytest.mark.parametrize("path,expected", [
    ("", "Dockerfile"), ("Dockerfile", "Dockerfile"), ("docker/web.Dockerfile", "docker/web.Dockerfile"),
    ("./docker/../Dockerfile", "Dockerfile"), ("inside-link", "docker/web.Dockerfile")])
def test_dockerfile_in_finds_the_file_inside(tree_with_links, path, expected):
    assert context.dockerfile_in(tree_with_links, path) == (tree_with_links / expected).resolve()


@pytest.mark.parametrize("path,words", [
    ("../secret", "outside the build context"), ("/etc/passwd", "outside the build context"),
    ("outside-link", "outside the build context"), ("outside-dir/secret", "outside the build context"),
    ("missing", "No Dockerfile at missing"), ("docker", "No Dockerfile at docker"),
    ("a\nb", "control characters")])
def test_dockerfile_in_refuses_what_is_not_a_file_inside(tree_with_links, path, words):
    with pytest.raises(Invalid) as caught:
        context.dockerfile_in(tree_with_links, path)
    assert caught.value.field == "dockerfile" and words in caught.value.message


@pytest.mark.parametrize("path,expected", [("", "."), (".", "."), ("docker", "docker"), ("docker/", "docker")])
def test_subdir_in_finds_the_directory(tree_with_links, path, expected):
    assert context.subdir_in(tree_with_links, path) == (tree_with_links / expected).resolve()


@pytest.mark.parametrize("path,words", [
    ("..", "outside the repository"), ("/", "outside the repository"), ("outside-dir", "outside the repository"),
    ("Dockerfile", "no directory Dockerfile"), ("nothing", "no directory nothing")])
def test_subdir_in_refuses_what_is_not_a_directory_inside(tree_with_links, path, words):
    with pytest.raises(Invalid) as caught:
        context.subdir_in(tree_with_links, path)
    assert caught.value.field == "git_path" and words in caught.value.message
