"""The NFS adapter on the real filesystem: a volume's files through the portal's file browser,
its usage, trash and archive, and above all that nothing outside the volume's directory is ever
read, listed, written, renamed or deleted, whatever symlinks a user plants or swaps in."""
from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import threading
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.adapters import nfs
from portal.adapters.nfs import fds

SECRET = b"top secret, outside every volume\n"


def outside_snapshot(*roots: Path) -> dict:
    """Every entry under `roots` (and the roots): its type, mode and bytes (a link's text)."""
    out = {}
    for root in roots:
        for path in [root, *sorted(p for p in root.rglob("*"))]:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                content = path.read_bytes()
            else:
                content = None
            out[str(path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), content)
    return out


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(nfs.TEMP_PREFIX)]


def tar_members(chunks) -> dict:
    data = b"".join(chunks)
    assert data[:2] == b"\x1f\x8b"                      # gzip
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


@pytest.fixture
def w(tmp_path):
    """An export with the volume 'vol' (and a neighbour 'other'), and a directory outside the
    export; `w.untouched()` is true while nothing outside 'vol' changed."""
    root = tmp_path / "export"
    outside = tmp_path / "outside"
    (outside / "dir" / "deeper").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "dir" / "inner.txt").write_bytes(SECRET * 2)
    (outside / "dir" / "deeper" / "x").write_bytes(b"x")
    root.mkdir()
    export = nfs.Export(root)
    export.create("vol")
    export.create("other")
    (root / "other" / "data.txt").write_bytes(b"the neighbour's\n")
    vol = root / "vol"
    (vol / "sub").mkdir()
    (vol / "a.txt").write_bytes(b"alpha\n")
    (vol / "to_file").symlink_to(outside / "secret.txt")
    (vol / "to_dir").symlink_to(outside / "dir")
    (vol / "to_other").symlink_to("../other")
    before = outside_snapshot(outside, root / "other")
    return SimpleNamespace(root=root, outside=outside, export=export, vol=vol, files=export.volume("vol"),
                           untouched=lambda: outside_snapshot(outside, root / "other") == before)


class ChunkStream:
    """A request body with read() only: `chunks` in turn, then `error` raised if given, else b''."""

    def __init__(self, chunks, error: BaseException | None = None):
        self.chunks = list(chunks)
        self.error = error

    def read(self, size=-1):
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b""


class Zeros(io.RawIOBase):
    """`size` zero bytes through readinto(), from one block made beforehand."""

    def __init__(self, size: int):
        self.left = size
        self.block = bytes(1 << 20)

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left, len(self.block))
        buf[:n] = self.block[:n]
        self.left -= n
        return n


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
    lambda f: f.write("..", "x", io.BytesIO(b"x"), limit=None), lambda f: f.write("", "../x", io.BytesIO(b""), limit=None),
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


# --- symlinks planted in the volume ---------------------------------------------------------

def test_list_shows_links_as_links(w):
    entries = {e.name: e for e in w.files.list("")}
    assert entries["to_file"] == nfs.Entry("to_file", "link", len(str(w.outside / "secret.txt")),
                                           entries["to_file"].mtime, str(w.outside / "secret.txt"))
    assert entries["to_dir"].kind == "link" and entries["to_other"].target == "../other"
    assert entries["sub"].kind == "dir" and entries["a.txt"].kind == "file" and entries["a.txt"].size == 6
    assert w.files.stat("to_file").kind == "link" and w.files.stat("").kind == "dir"


@pytest.mark.parametrize("path", ["to_dir", "to_dir/", "to_dir/deeper", "to_other"])
def test_list_through_link_refused(w, path):
    with pytest.raises(nfs.Escapes):
        w.files.list(path)


@pytest.mark.parametrize("call, error", [
    (lambda f: f.stat("to_dir/inner.txt"), nfs.Escapes),
    (lambda f: f.open_read("to_file"), nfs.Escapes),
    (lambda f: f.open_read("to_dir/inner.txt"), nfs.Escapes),
    (lambda f: f.open_read("to_other/data.txt"), nfs.Escapes),
    (lambda f: f.open_read("sub"), nfs.IsADirectory),
    (lambda f: f.write("to_dir", "new.txt", io.BytesIO(b"x"), limit=None), nfs.Escapes),
    (lambda f: f.write("to_dir/deeper", "x", io.BytesIO(b"x"), limit=None, overwrite=True), nfs.Escapes),
    (lambda f: f.write("", "to_file", io.BytesIO(b"x"), limit=None, overwrite=True), nfs.Escapes),
    (lambda f: f.write("", "to_file", io.BytesIO(b"x"), limit=None), nfs.Exists),
    (lambda f: f.write("", "to_dir", io.BytesIO(b"x"), limit=None, overwrite=True), nfs.Escapes),
    (lambda f: f.mkdir("to_dir", "made"), nfs.Escapes),
    (lambda f: f.mkdir("", "to_dir"), nfs.Exists),
    (lambda f: f.rename("to_dir", "inner.txt", "moved"), nfs.Escapes),
    (lambda f: f.rename("", "a.txt", "to_dir"), nfs.Exists),
    (lambda f: f.delete("to_dir/inner.txt"), nfs.Escapes),
    (lambda f: f.delete("to_dir/deeper"), nfs.Escapes),
    (lambda f: f.tar_gz("to_dir"), nfs.Escapes),
    (lambda f: f.tar_gz("to_file"), nfs.Escapes),
    (lambda f: f.tar_gz("to_dir/deeper"), nfs.Escapes),
], ids=["stat", "open-link", "open-through", "open-neighbour", "open-dir", "write-through", "write-deeper",
        "write-onto-link", "write-onto-link-no-overwrite", "write-onto-dir-link", "mkdir-through", "mkdir-onto-link",
        "rename-through", "rename-onto-link", "delete-through", "delete-dir-through", "tar-link-dir",
        "tar-link-file", "tar-through"])
def test_operations_through_links_refused(w, call, error):
    with pytest.raises(error):
        call(w.files)
    assert w.untouched()
    assert os.readlink(w.vol / "to_file") == str(w.outside / "secret.txt")
    assert leftovers(w.vol) == [] and sorted(p.name for p in w.vol.iterdir()) == [
        "a.txt", "sub", "to_dir", "to_file", "to_other"]


def test_rename_moves_the_link_itself(w):
    w.files.rename("", "to_file", "renamed")
    assert os.readlink(w.vol / "renamed") == str(w.outside / "secret.txt")
    assert not (w.vol / "to_file").is_symlink() and w.untouched()


@pytest.mark.parametrize("name", ["to_file", "to_dir", "to_other"])
def test_delete_of_a_link_removes_only_the_link(w, name):
    w.files.delete(name)
    assert not os.path.lexists(w.vol / name) and w.untouched()


def test_delete_of_a_tree_holding_links_stays_inside(w):
    (w.vol / "sub" / "in").mkdir()
    (w.vol / "sub" / "in" / "d").symlink_to(w.outside / "dir")
    (w.vol / "sub" / "in" / "f").symlink_to(w.outside / "secret.txt")
    (w.vol / "sub" / "in" / "up").symlink_to("../../..")
    w.files.delete("sub")
    assert not (w.vol / "sub").exists() and w.untouched()


def test_tar_keeps_links_as_links(w):
    members = tar_members(w.files.tar_gz(""))
    link = members["to_file"][0]
    assert link.issym() and link.linkname == str(w.outside / "secret.txt")
    assert members["to_dir"][0].issym() and "to_dir/inner.txt" not in members
    assert all(SECRET not in (content or b"") for _, content in members.values())
    assert members["a.txt"][1] == b"alpha\n"


def test_usage_counts_links_not_their_targets(w):
    links = sum(len(os.readlink(w.vol / n)) for n in ("to_file", "to_dir", "to_other"))
    assert w.export.usage("vol") == 6 + links == w.files.usage()


def test_fifo_and_device_are_never_opened(w, monkeypatch):
    os.mkfifo(w.vol / "fifo")
    try:
        os.mknod(w.vol / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
        devices = ["fifo", "zero"]
    except PermissionError:
        devices = ["fifo"]
    for proc in (True, False):   # through /proc/self/fd, and without /proc (O_NONBLOCK, then a look)
        monkeypatch.setattr(fds, "PROC_FD", proc)
        for name in devices:
            with pytest.raises(nfs.Escapes):
                w.files.open_read(name)
            assert w.files.stat(name).kind == "other"
        with w.files.open_read("a.txt") as f:
            assert f.read() == b"alpha\n"
    assert not any(n in tar_members(w.files.tar_gz("")) for n in devices)


# --- the volume's own directory replaced by a symlink -----------------------------------------

@pytest.mark.parametrize("call", [
    lambda e, f: f.list(""), lambda e, f: f.stat(""), lambda e, f: f.stat("inner.txt"),
    lambda e, f: f.open_read("inner.txt"), lambda e, f: f.write("", "n", io.BytesIO(b"x"), limit=None),
    lambda e, f: f.write("", "inner.txt", io.BytesIO(b"x"), limit=None, overwrite=True),
    lambda e, f: f.mkdir("", "n"), lambda e, f: f.rename("", "inner.txt", "n"), lambda e, f: f.delete("inner.txt"),
    lambda e, f: f.delete("deeper"), lambda e, f: f.tar_gz(""), lambda e, f: e.usage("vol"),
    lambda e, f: e.to_trash("vol", "s1"), lambda e, f: f.usage(),
], ids=["list", "stat-root", "stat", "open_read", "write", "overwrite", "mkdir", "rename", "delete", "delete-dir",
        "tar_gz", "usage", "to_trash", "volume-usage"])
def test_volume_replaced_by_symlink(w, call):
    os.rename(w.vol, w.root / "vol.moved")
    os.symlink(w.outside / "dir", w.vol)
    with pytest.raises(nfs.Escapes):
        call(w.export, w.files)
    assert w.untouched() and not w.export.exists("vol")


def test_remove_of_a_volume_that_became_a_link_removes_the_link(w):
    os.rename(w.vol, w.root / "vol.moved")
    os.symlink(w.outside / "dir", w.vol)
    w.export.remove("vol")
    assert not os.path.lexists(w.vol) and w.untouched()


# --- a directory swapped for a symlink while it is used ---------------------------------------

def test_swapping_race_never_reaches_outside(w):
    target = w.vol / "sub"
    (target / "keep.txt").write_bytes(b"keep")
    parked = w.vol / "sub.real"
    stop, swapped = threading.Event(), threading.Event()
    swaps = 0

    def swapper():
        nonlocal swaps
        while not stop.is_set():
            os.rename(target, parked)
            os.symlink(w.outside / "dir", target)
            swapped.set()
            os.unlink(target)
            os.rename(parked, target)
            swaps += 1

    outcomes = {"ok": 0, "escapes": 0, "other": 0}

    def attempt(call):
        try:
            result = call()
            if isinstance(result, nfs.TarStream):
                assert SECRET not in b"".join(result)
            elif hasattr(result, "read"):
                with result:
                    assert result.read() == b"keep"
            outcomes["ok"] += 1
        except nfs.Escapes:
            outcomes["escapes"] += 1
        except (nfs.NotFound, nfs.Exists, nfs.NotADirectory):   # caught between the swapper's two steps
            outcomes["other"] += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        assert swapped.wait(10)
        for i in range(300):
            attempt(lambda: w.files.write("sub", f"f{i}", io.BytesIO(b"data"), limit=None))
            attempt(lambda: w.files.write("sub", "inner.txt", io.BytesIO(b"over"), limit=None, overwrite=True))
            attempt(lambda: w.files.list("sub"))
            attempt(lambda: w.files.mkdir("sub", f"d{i}"))
            attempt(lambda: w.files.rename("sub", f"f{i}", f"g{i}"))
            attempt(lambda: w.files.delete(f"sub/g{i}"))
            attempt(lambda: w.files.delete("sub/inner.txt"))
            attempt(lambda: w.files.delete("sub/deeper"))
            attempt(lambda: w.files.open_read("sub/keep.txt"))
            attempt(lambda: w.files.stat("sub/inner.txt"))
            if i % 10 == 0:
                attempt(lambda: w.files.tar_gz("sub"))
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert w.untouched()
    print(swaps, outcomes)
    assert swaps > 0 and outcomes["ok"] > 0 and outcomes["escapes"] > 0, outcomes


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
    fds_before = open_fds()
    listed = w.files.list("many")
    assert len(listed) == 10_000 and listed[0].name == "f00000" and listed[-1].kind == "file"
    assert w.export.usage("vol") == 6 + 20_000 + sum(len(os.readlink(w.vol / n)) for n in ("to_file", "to_dir",
                                                                                            "to_other"))
    members = tar_members(w.files.tar_gz("sub"))
    assert "/".join(["d"] * 1200) + "/leaf" in members and len(members) == 1201
    w.files.delete("sub")
    w.files.delete("many")
    assert not (w.vol / "sub").exists() and not many.exists() and open_fds() == fds_before and w.untouched()


# --- archives -----------------------------------------------------------------------------------

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
    assert {k.replace(str(out), ""): v[::2] for k, v in outside_snapshot(out).items() if Path(k) != out} == {
        k.replace(str(tree), ""): v[::2] for k, v in outside_snapshot(tree).items() if Path(k) != tree}
    single = tar_members(w.files.tar_gz("sub/nested/more/big.bin"))
    assert list(single) == ["big.bin"] and single["big.bin"][1] == (tree / "nested/more/big.bin").read_bytes()


def test_tar_gz_closed_early_releases_its_fd(w):
    (w.vol / "sub" / "big").write_bytes(os.urandom(2 * 1024 * 1024))
    before = open_fds()
    stream = w.files.tar_gz("")
    assert open_fds() == before + 1
    next(stream)
    stream.close()
    assert open_fds() == before
    with pytest.raises(nfs.NotFound):
        w.files.tar_gz("missing")
    assert open_fds() == before


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
