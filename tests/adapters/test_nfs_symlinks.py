"""The NFS adapter never reads, lists, writes, renames or deletes anything outside a volume's
directory: symlinks planted in the volume (to a file, to a directory outside, to a neighbour
volume), the volume's own directory made a symlink, a directory swapped for a symlink while it
is used, FIFOs and device nodes. Each test compares a snapshot of all outside the volume."""
from __future__ import annotations

import io
import os
import stat
import sys
import threading

import pytest

from portal.adapters import nfs
from portal.adapters.nfs import fds
from tests.support.nfs import SECRET, leftovers, make_world, tar_members


@pytest.fixture
def w(tmp_path):
    return make_world(tmp_path)


# --- symlinks planted in the volume ---------------------------------------------------------

def test_list_shows_links_as_links(w):
    entries = {e.name: e for e in w.files.list("")}
    assert entries["to_file"] == nfs.Entry("to_file", "link", len(str(w.outside / "secret.txt")),
                                           entries["to_file"].mtime, str(w.outside / "secret.txt"))
    assert entries["to_dir"].kind == "link" and entries["to_other"].target == "../other"
    assert entries["sub"].kind == "dir" and entries["a.txt"].kind == "file" and entries["a.txt"].size == 6
    assert w.files.stat("to_file").kind == "link" and w.files.stat("").kind == "dir"
    assert w.untouched()


@pytest.mark.parametrize("path", ["to_dir", "to_dir/", "to_dir/deeper", "to_other"])
def test_list_through_link_refused(w, path):
    with pytest.raises(nfs.Escapes):
        w.files.list(path)
    assert w.untouched()


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
    assert members["a.txt"][1] == b"alpha\n" and w.untouched()


def test_usage_counts_links_not_their_targets(w):
    links = sum(len(os.readlink(w.vol / n)) for n in ("to_file", "to_dir", "to_other"))
    assert w.export.usage("vol") == 6 + links == w.files.usage()
    assert w.untouched()


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
    assert w.untouched()


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

    def attempt(call, *args, **kwargs):
        try:
            result = call(*args, **kwargs)
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
            attempt(w.files.write, "sub", f"f{i}", io.BytesIO(b"data"), limit=None)
            attempt(w.files.write, "sub", "inner.txt", io.BytesIO(b"over"), limit=None, overwrite=True)
            attempt(w.files.list, "sub")
            attempt(w.files.mkdir, "sub", f"d{i}")
            attempt(w.files.rename, "sub", f"f{i}", f"g{i}")
            attempt(w.files.delete, f"sub/g{i}")
            attempt(w.files.delete, "sub/inner.txt")
            attempt(w.files.delete, "sub/deeper")
            attempt(w.files.open_read, "sub/keep.txt")
            attempt(w.files.stat, "sub/inner.txt")
            if i % 10 == 0:
                attempt(w.files.tar_gz, "sub")
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert w.untouched()
    assert swaps > 0 and outcomes["ok"] > 0 and outcomes["escapes"] > 0, outcomes
