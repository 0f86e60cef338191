"""The NFS adapter on the real filesystem: names and paths, uploads, a volume's directories,
its usage and archive, and the export's trash (symlinks and races: test_nfs_symlinks.py)."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from portal.adapters import nfs
from portal.adapters.nfs import fds
from tests.support.nfs import ChunkStream, Zeros, leftovers, make_world, open_fds, outside_snapshot, tar_members


@pytest.fixture
def w(tmp_path):
    return make_world(tmp_path)


# --- names and paths ------------------------------------------------------------------------

BAD_NAMES = ["", ".", "..", "a/b", "/", "a\0b", "a\nb", "a\rb", "x" * 256, "é" * 128]


@pytest.mark.parametrize("name", BAD_NAMES, ids=["empty", "dot", "dotdot", "slash", "root", "nul", "newline",
                                                  "cr", "256-bytes", "256-utf8-bytes"])
def test_check_name_refuses(name):
    with pytest.raises(nfs.BadName) as caught:
        nfs.check_name(name)
    assert caught.value.code == "bad_name"


def test_check_name_takes_255_bytes_and_unicode(w):
    longest = "é" * 127 + "x"
    assert len(longest.encode()) == 255 and nfs.check_name(longest) == longest
    w.files.write("", longest, io.BytesIO(b"ok"), limit=None)
    assert (w.vol / longest).read_bytes() == b"ok"


@pytest.mark.parametrize("path", ["/etc", "/", "..", "../other", "sub/../../other", "a//b", "sub/./x", "a\0",
                                  "sub/" + "x" * 256])
def test_split_path_refuses(path):
    with pytest.raises(nfs.BadName):
        nfs.split_path(path)


def test_split_path():
    assert nfs.split_path("") == []
    assert nfs.split_path("a/b/") == ["a", "b"]
    assert nfs.split_path("a b/c.d") == ["a b", "c.d"]


@pytest.mark.parametrize("call", [
    lambda f: f.list("../other"), lambda f: f.stat("/etc/passwd"), lambda f: f.open_read("../other/data.txt"),
    lambda f: f.write("..", "x", io.BytesIO(b"x"), limit=None),
    lambda f: f.write("", "../x", io.BytesIO(b""), limit=None),
    lambda f: f.mkdir("", "a\nb"), lambda f: f.mkdir("/tmp", "x"), lambda f: f.rename("", "a.txt", "../a.txt"),
    lambda f: f.rename("", "..", "x"), lambda f: f.delete("../other"), lambda f: f.delete(""), lambda f: f.delete("/"),
    lambda f: f.tar_gz(".."),
], ids=["list", "stat", "open_read", "write-dir", "write-name", "mkdir", "mkdir-abs", "rename-new", "rename-old",
        "delete", "delete-volume", "delete-root", "tar_gz"])
def test_every_operation_refuses_bad_paths(w, call):
    before = outside_snapshot(w.vol)
    with pytest.raises(nfs.BadName):
        call(w.files)
    assert outside_snapshot(w.vol) == before and w.untouched()


@pytest.mark.parametrize("name", [".trash", "..", "a/b", ""])
def test_volume_names_refused(w, name):
    for call in (w.export.create, w.export.remove, w.export.exists, w.export.usage, w.export.volume,
                 lambda d: w.export.to_trash(d, "s1")):
        with pytest.raises(nfs.BadName):
            call(name)
    assert w.untouched()


# --- uploads ----------------------------------------------------------------------------------

def test_upload_writes_and_returns_the_size(w):
    assert w.files.write("sub", "b.bin", ChunkStream([b"ab", b"cd"]), limit=4) == 4
    assert (w.vol / "sub" / "b.bin").read_bytes() == b"abcd"
    assert stat.S_IMODE((w.vol / "sub" / "b.bin").stat().st_mode) == 0o666
    payload = os.urandom(3 * 1024 * 1024 + 5)
    assert w.files.write("", "big", io.BytesIO(payload), limit=None, chunk=1 << 16) == len(payload)
    assert (w.vol / "big").read_bytes() == payload and leftovers(w.vol) == []


def test_upload_over_limit_leaves_nothing(w):
    with pytest.raises(nfs.OverCapacity) as caught:
        w.files.write("sub", "big", io.BytesIO(b"x" * 11), limit=10, chunk=4)
    assert caught.value.limit == 10 and caught.value.code == "over_capacity"
    assert list((w.vol / "sub").iterdir()) == []
    assert w.files.write("sub", "fits", io.BytesIO(b"x" * 10), limit=10, chunk=4) == 10


@pytest.mark.parametrize("error", [ConnectionResetError("client went away"), ValueError("bad multipart")])
@pytest.mark.parametrize("overwrite", [False, True])
def test_stream_failing_half_way_leaves_nothing(w, error, overwrite):
    if overwrite:
        (w.vol / "sub" / "doc").write_bytes(b"old")
    with pytest.raises(type(error)) as caught:
        w.files.write("sub", "doc", ChunkStream([b"x" * 1000] * 5, error), limit=None, overwrite=overwrite)
    assert caught.value is error                      # the stream's own error, not the filesystem's
    assert leftovers(w.vol / "sub") == []
    assert [p.name for p in (w.vol / "sub").iterdir()] == (["doc"] if overwrite else [])
    if overwrite:
        assert (w.vol / "sub" / "doc").read_bytes() == b"old"


def test_overwrite(w):
    with pytest.raises(nfs.Exists):
        w.files.write("", "a.txt", io.BytesIO(b"new"), limit=None)
    assert (w.vol / "a.txt").read_bytes() == b"alpha\n"
    w.files.write("", "a.txt", io.BytesIO(b"new"), limit=None, overwrite=True)
    assert (w.vol / "a.txt").read_bytes() == b"new"
    for overwrite in (False, True):
        with pytest.raises(nfs.Exists if not overwrite else nfs.IsADirectory):
            w.files.write("", "sub", io.BytesIO(b"x"), limit=None, overwrite=overwrite)
    with pytest.raises(nfs.NotADirectory):
        w.files.write("a.txt", "x", io.BytesIO(b"x"), limit=None)
    assert (w.vol / "sub").is_dir() and leftovers(w.vol) == []


def test_upload_memory_stays_constant(w):
    size = 64 * 1024 * 1024
    streams = [Zeros(size), ChunkStream([bytes(1 << 20) for _ in range(16)])]
    tracemalloc.start()
    try:
        assert w.files.write("", "zeros", streams[0], limit=size) == size
        assert w.files.write("", "chunks", streams[1], limit=None) == 16 << 20
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (w.vol / "zeros").stat().st_size == size and (w.vol / "chunks").stat().st_size == 16 << 20
    assert peak < 3 * 1024 * 1024, peak                  # one buffer of a chunk, whatever the size


# --- directories, renames, deletes -------------------------------------------------------------

def test_mkdir_rename_delete(w):
    w.files.mkdir("sub", "new")
    assert stat.S_IMODE((w.vol / "sub" / "new").stat().st_mode) == 0o777
    with pytest.raises(nfs.Exists):
        w.files.mkdir("sub", "new")
    w.files.mkdir("sub", "empty")
    with pytest.raises(nfs.Exists):                  # rename() onto an empty directory would replace it
        w.files.rename("sub", "new", "empty")
    w.files.rename("sub", "new", "renamed")
    with pytest.raises(nfs.NotFound):
        w.files.rename("sub", "new", "again")
    w.files.write("sub/renamed", "f", io.BytesIO(b"f"), limit=None)
    w.files.delete("sub/renamed")
    w.files.delete("a.txt")
    with pytest.raises(nfs.NotFound):
        w.files.delete("a.txt")
    assert sorted(p.name for p in w.vol.iterdir()) == ["sub", "to_dir", "to_file", "to_other"]
    assert [e.name for e in w.files.list("sub")] == ["empty"]


def test_rename_without_renameat2(w, monkeypatch):
    monkeypatch.setattr(fds, "_renameat2", None)       # as on NFS, which has no RENAME_NOREPLACE
    with pytest.raises(nfs.Exists):
        w.files.rename("", "a.txt", "sub")
    w.files.rename("", "a.txt", "b.txt")
    assert (w.vol / "b.txt").read_bytes() == b"alpha\n" and w.untouched()


def test_deep_tree_and_many_files(w):
    fd = os.open(w.vol / "sub", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(1200):                          # deeper than Python's recursion limit
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    many = w.vol / "many"
    many.mkdir()
    for i in range(10_000):
        (many / f"f{i:05}").write_bytes(b"12")
    fds_before = open_fds(w.root)
    listed = w.files.list("many")
    assert len(listed) == 10_000 and listed[0].name == "f00000" and listed[-1].kind == "file"
    assert w.export.usage("vol") == 6 + 20_000 + sum(len(os.readlink(w.vol / n)) for n in ("to_file", "to_dir",
                                                                                            "to_other"))
    members = tar_members(w.files.tar_gz("sub"))
    assert "/".join(["d"] * 1200) + "/leaf" in members and len(members) == 1201
    w.files.delete("sub")
    w.files.delete("many")
    assert not (w.vol / "sub").exists() and not many.exists() and open_fds(w.root) == fds_before and w.untouched()


# --- archives -----------------------------------------------------------------------------------

def contents(root: Path) -> dict:
    """What is below `root`: each entry's type and bytes (a link's text), by relative path."""
    return {os.path.relpath(path, root): (kind, content)
            for path, (kind, _mode, content) in outside_snapshot(root).items() if path != str(root)}


def test_tar_gz_round_trip(w, tmp_path):
    tree = w.vol / "sub"
    (tree / "empty-dir").mkdir()
    (tree / "nested" / "more").mkdir(parents=True)
    (tree / "nested" / "more" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (tree / "nested" / "empty").write_bytes(b"")
    (tree / ("ü-long-" + "n" * 150)).write_bytes(b"pax")
    (tree / "nested" / "rel").symlink_to("more/big.bin")
    out = tmp_path / "extracted"
    stream = w.files.tar_gz("sub", compresslevel=1)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r:gz") as tar:
        assert all(not m.name.startswith(("/", "sub")) for m in tar.getmembers())
        tar.extractall(out, filter="tar")
    assert contents(out) == contents(tree)
    single = tar_members(w.files.tar_gz("sub/nested/more/big.bin"))
    assert list(single) == ["big.bin"] and single["big.bin"][1] == (tree / "nested/more/big.bin").read_bytes()


def test_tar_gz_of_a_file_shrinking_while_read_stays_well_formed(w):
    payload = os.urandom(4 * 1024 * 1024)
    (w.vol / "sub" / "log").write_bytes(payload)
    stream = w.files.tar_gz("sub")
    first = next(stream)                               # part of the file is read and compressed
    os.truncate(w.vol / "sub" / "log", 1000)
    [(member, content)] = tar_members([first, *stream]).values()
    assert member.size == len(payload) == len(content)
    assert content[:1000] == payload[:1000] and content.endswith(bytes(1024))


def test_names_that_are_not_utf8(w):
    os.close(os.open(bytes(w.vol / "sub") + b"/caf\xe9", os.O_WRONLY | os.O_CREAT))
    [entry] = w.files.list("sub")
    assert entry.name == "caf\udce9" and entry.kind == "file"
    assert list(tar_members(w.files.tar_gz("sub"))) == [entry.name]
    w.files.rename("sub", entry.name, "cafe")
    w.files.delete("sub/cafe")
    assert w.files.list("sub") == []


def test_tar_gz_closed_early_releases_its_fd(w):
    (w.vol / "sub" / "big").write_bytes(os.urandom(2 * 1024 * 1024))
    before = open_fds(w.root)
    stream = w.files.tar_gz("")
    assert open_fds(w.root) == before + 1
    next(stream)
    stream.close()
    assert open_fds(w.root) == before
    with pytest.raises(nfs.NotFound):
        w.files.tar_gz("missing")
    assert open_fds(w.root) == before


# --- the export: create, trash, restore, purge --------------------------------------------------

def test_create_remove_exists(w):
    assert not w.export.exists("new")
    w.export.create("new")
    assert w.export.exists("new") and stat.S_IMODE((w.root / "new").stat().st_mode) == 0o777
    with pytest.raises(nfs.Exists):
        w.export.create("new")
    (w.root / "new" / "d").mkdir()
    (w.root / "new" / "d" / "out").symlink_to(w.outside)
    w.export.remove("new")
    w.export.remove("new")                             # nothing there: fine
    assert not w.export.exists("new") and w.untouched()


@pytest.mark.parametrize("root", ["missing", "a-file"])
def test_export_root_unavailable(tmp_path, root):
    (tmp_path / "a-file").write_bytes(b"")
    export = nfs.Export(tmp_path / root)
    for call in (lambda: export.create("v"), lambda: export.usage("v"), export.trash,
                 lambda: export.volume("v").list("")):
        with pytest.raises(nfs.Unavailable) as caught:
            call()
        assert caught.value.code == "unavailable" and caught.value.errno is not None
    assert not (tmp_path / "missing").exists()


def test_trash_round_trip(w):
    assert w.export.trash() == []
    name = w.export.to_trash("vol", "20240501T120000")
    assert name == "vol--20240501T120000" and not w.export.exists("vol")
    assert stat.S_IMODE((w.root / ".trash").stat().st_mode) == 0o700
    [entry] = w.export.trash()
    assert (entry.name, entry.dir, entry.stamp) == (name, "vol", "20240501T120000")
    w.export.create("vol")
    with pytest.raises(nfs.Exists):
        w.export.restore(name, "vol")
    w.export.remove("vol")
    w.export.restore(name, "vol")
    assert (w.vol / "a.txt").read_bytes() == b"alpha\n" and w.export.trash() == []
    again = w.export.to_trash("vol", "s2")
    w.export.create("vol")
    with pytest.raises(nfs.Exists):                   # a second volume trashed under the same stamp
        w.export.to_trash("vol", "s2")
    w.export.purge(again)
    assert w.export.trash() == [] and w.untouched()
    with pytest.raises(nfs.NotFound):
        w.export.purge(again)
    for bad in ("vol", "../x", ".trash--x", "--x"):
        with pytest.raises(nfs.BadName):
            w.export.purge(bad)
    with pytest.raises(nfs.BadName):
        w.export.to_trash("vol", "a--b")
