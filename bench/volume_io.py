"""Volume I/O: files through a volume's file browser (upload, download, a folder listed and
as a tar.gz), beside cp, ls -l and tar czf on the same filesystem.

    python bench/volume_io.py [--sizes 100,1024] [--files 10000] [--runs 3] [--threads 4]

Starts the test control plane (tests/support/kube_cluster.py, one node: creating a volume
makes its PersistentVolume and claim) and the portal with gunicorn (one worker, --threads
threads; tests/support/live_portal.py) on a SQLite database made by the portal's own
commands, with HUMMER_NFS_ROOT a directory under the temporary directory (in production the
NFS export as the portal host mounts it; here a plain directory) and HUMMER_NFS_SERVER
10.0.1.250:/hummer. The project and its volume (ReadWriteMany, a capacity that holds every
upload of the run) are made through HTTP, as a user makes them.

For each of --sizes (MiB), a file of random bytes is written once in the temporary
directory (TMPDIR's filesystem, printed; the export's directory is on it too), then --runs
times, alternating which side goes first:
  - upload: `POST .../files/upload?path=&name=N` with the file as the raw body (as the page's
    script sends it: one file, one body), sent with sendfile(2) so that the client's own
    copying does not weigh on the figure, beside `cp` of the same file into the volume's
    directory;
  - download: `GET .../files/download?path=N` streamed to a file in 1 MiB pieces, beside
    `cp` of the uploaded file out of the volume.
Wall clock of the whole request or command; the page cache is flushed (sync, outside the
timing) before each, so no side pays for the other's dirty pages; nobody fsyncs. An untimed
round goes first (the first writes of a run were much slower on the VM this was written on,
and would count against whichever side goes first). The first timed run compares the bytes
that arrived with the source. Each run also downloads the file to /dev/null: the portal's
side without the client's writing. cp copies within the kernel (copy_file_range); the portal,
under gunicorn, moves an upload from the socket to the file within the kernel too (splice(2),
portal/rawbody.py SplicedBody) and sends a download with sendfile(2). After each size the
gunicorn worker's peak RSS (VmHWM, which only rises) is printed: the portal streams, so it
should not grow with the file's size.

Then --files files of 1 KiB of random bytes are written straight into the volume's folder
`many/`, and --runs times, alternating: the folder's first and last page of the file browser
(`GET .../files?path=many[&page=N]`, 200 entries a page) beside `ls -l` of the directory
(LC_ALL=C), and `GET .../files/archive?path=many` streamed to a file beside
`tar -I 'gzip -6' -cf` of the same directory (the portal compresses at level 6 too).

The client runs on the same machine: on a small one its CPU competes with gunicorn's.
Medians are printed; loopback only.
"""
from __future__ import annotations

import argparse
import filecmp
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from requests.adapters import HTTPAdapter  # noqa: E402

from bench._portal import create_project, login, portal, post_form, prepare_database, token_of  # noqa: E402
from tests.support.kube_cluster import KubeCluster  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
PROJECT, VOLUME = "bench", "data"
NFS_SERVER = "10.0.1.250:/hummer"
PER_PAGE = 200        # portal/volumes/files.py
SMALL = 1024          # bytes of each file of the folder
TARGET = 0.8          # single files: the portal's throughput at least this times cp's


class LargeBlocks(HTTPAdapter):
    """requests' adapter whose connections send a file body in 1 MiB pieces instead of
    urllib3's 16 KiB, so that the client's own overhead weighs less in the portal's figure."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["blocksize"] = MiB
        super().init_poolmanager(*args, **kwargs)


def random_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(left, MiB)
            out.write(os.urandom(n))
            left -= n


def hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def filesystem_of(path: Path) -> str:
    """'<mount point> (<type> on <device>)' of the mount holding `path`, from /proc/self/mounts."""
    real = os.path.realpath(path)
    best = ("?", "?", "?")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        device, point, kind = line.split()[:3]
        point = point.replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[1]):
            best = (device, point, kind)
    return f"{best[1]} ({best[2]} on {best[0]})"


def timed(action) -> float:
    os.sync()  # flush what the previous step left dirty, outside the timing
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def run(cmd: list[str], **kw) -> None:
    r = subprocess.run(cmd, capture_output=True, env={**os.environ, "LC_ALL": "C"}, **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-500:]}")


def ordered(i: int, ours, theirs) -> tuple[float, float]:
    """(portal seconds, baseline seconds) of run i: the portal goes first in even runs, the baseline in odd ones."""
    if i % 2 == 0:
        a = ours()
        return a, theirs()
    b = theirs()
    return ours(), b


def cp(source: Path, target: Path) -> float:
    return timed(lambda: run(["cp", str(source), str(target)]))


def upload(session, files: str, token: str, source: Path, name: str) -> float:
    """POST the file as the raw body, as the page's script does, sent with sendfile(2) (as a
    browser sends a file, without copying it through the client's own buffers), so that the
    figure is the portal's and not the client's."""
    size = source.stat().st_size
    where = urlsplit(files)

    def send():
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=3600)
        try:
            conn.putrequest("POST", f"{where.path}/upload?{urlencode({'path': '', 'name': name})}")
            cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
            for header, value in (("Content-Type", "application/octet-stream"), ("X-CSRFToken", token),
                                  ("Content-Length", str(size)), ("Cookie", cookie)):
                conn.putheader(header, value)
            conn.endheaders()
            with open(source, "rb") as body:
                conn.sock.sendfile(body)
            r = conn.getresponse()
            answer = r.read().decode()
        finally:
            conn.close()
        if r.status != 201 or json.loads(answer).get("size") != size:
            raise SystemExit(f"upload of {name}: {r.status} {answer[:500]}")
    return timed(send)


def download(session, url: str, params: dict, target: Path) -> float:
    """GET url streamed into target in 1 MiB pieces."""
    def fetch():
        with session.get(url, params=params, stream=True, timeout=3600) as r, open(target, "wb") as f:
            if r.status_code != 200:
                raise SystemExit(f"GET {url} {params}: {r.status_code} {r.text[:500]}")
            for chunk in r.iter_content(MiB):
                f.write(chunk)
    return timed(fetch)


def page(session, files: str, number: int, expect: str) -> float:
    def get():
        r = session.get(files, params={"path": "many", "page": str(number)}, timeout=600)
        if r.status_code != 200 or expect not in r.text:
            raise SystemExit(f"page {number} of many/: {r.status_code}, {expect} in it: {expect in r.text}")
    return timed(get)


def members(archive: Path) -> int:
    with tarfile.open(archive, "r:gz") as tar:
        return sum(1 for m in tar if m.isfile())


def rate_line(what: str, size: int, ours: list[float], theirs: list[float], baseline: str) -> str:
    a, b = statistics.median(ours), statistics.median(theirs)
    ratio = b / a  # throughput ratio: portal MiB/s over baseline MiB/s
    verdict = "meets" if ratio >= TARGET else "BELOW"
    return (f"  {what:>9}: portal {a:6.2f} s {size / MiB / a:7.1f} MiB/s | {baseline} {b:6.2f} s "
            f"{size / MiB / b:7.1f} MiB/s | portal/{baseline} {ratio:.2f}x ({verdict} the {TARGET}x target)"
            f"   [portal runs: {', '.join(f'{t:.2f}' for t in ours)} s; {baseline}: "
            f"{', '.join(f'{t:.2f}' for t in theirs)} s]")


def time_line(what: str, ours: list[float], theirs: list[float], baseline: str) -> str:
    a, b = statistics.median(ours), statistics.median(theirs)
    return (f"  {what:<28} portal {a * 1000:8.1f} ms | {baseline:<26} {b * 1000:8.1f} ms | "
            f"portal/baseline time {a / b:5.2f}x   [portal runs: {', '.join(f'{t * 1000:.0f}' for t in ours)} ms]")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1024", help="single files' sizes in MiB, comma-separated")
    ap.add_argument("--files", type=int, default=10000, help="small files in the folder listed and archived")
    ap.add_argument("--runs", type=int, default=3, help="runs per side, alternating which goes first")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads of its one worker")
    args = ap.parse_args()
    sizes = [int(s) * MiB for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) <= 0 or args.runs < 1 or args.files < 1:
        ap.error("--sizes, --files and --runs must be positive")
    # every upload is reserved in the volume's usage (files removed behind the portal's back stay counted)
    capacity_gib = max(8, math.ceil((sum(sizes) * (args.runs + 1) + args.files * SMALL * 2) / GiB) + 1)
    cluster = KubeCluster(nodes=1).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hummer-bench-volume-") as name:
            tmp = Path(name)
            nfs_root = tmp / "nfs"
            nfs_root.mkdir()
            out = tmp / "out"
            out.mkdir()
            db_url = f"sqlite:///{tmp / 'portal.db'}"
            prepare_database(db_url, tmp / "instance")
            with portal(db_url, tmp, workers=1, threads=args.threads, KUBECONFIG=str(cluster.kubeconfig),
                        NFS_ROOT=str(nfs_root), NFS_SERVER=NFS_SERVER, VOLUME_USAGE_SECONDS="86400",
                        VOLUME_UPLOAD_MAX_BYTES=str(max(sizes) + MiB)) as p:
                return measure(p, args, sizes, capacity_gib, tmp, nfs_root, out)
    finally:
        cluster.stop()


def measure(p, args, sizes: list[int], capacity_gib: int, tmp: Path, nfs_root: Path, out: Path) -> int:
    client = login(p.base)
    create_project(client, PROJECT)
    post_form(client, f"/projects/{PROJECT}/volumes/new",
              {"name": VOLUME, "capacity": f"{capacity_gib}Gi", "access_mode": "ReadWriteMany", "description": ""})
    voldir = nfs_root / f"{PROJECT}.{VOLUME}"
    if not voldir.is_dir():
        raise SystemExit(f"the volume's directory {voldir} is not there")
    files = f"{p.base}/projects/{PROJECT}/volumes/{VOLUME}/files"
    token = token_of(client, f"/projects/{PROJECT}/volumes/{VOLUME}/files")
    session = client.session
    session.mount("http://", LargeBlocks())
    [worker] = p.worker_pids()
    print(f"filesystem of the sources, the export ({nfs_root.name}/ in the temporary directory) and the copies: "
          f"{filesystem_of(tmp)}; one device: {os.stat(tmp).st_dev == os.stat(voldir).st_dev}")
    print(f"volume {PROJECT}/{VOLUME}: {capacity_gib}Gi ReadWriteMany; gunicorn: 1 worker, {args.threads} threads; "
          f"{args.runs} runs per side, alternating which goes first", flush=True)
    hwm = [("after setup", hwm_kib(worker))]
    singles = []
    for size in sizes:
        mib = size // MiB
        source = tmp / f"source-{mib}"
        random_file(source, size)
        up, cp_up, down, cp_down, null = [], [], [], [], []
        for i in range(-1, args.runs):  # run -1 warms up (the first writes of fresh pages), untimed
            name = f"up-{mib}-{i}"
            a, b = ordered(i, partial(upload, session, files, token, source, name),
                           partial(cp, source, voldir / f"cp-{mib}-{i}"))
            c, d = ordered(i, partial(download, session, f"{files}/download", {"path": name}, out / "portal"),
                           partial(cp, voldir / name, out / "cp"))
            e = download(session, f"{files}/download", {"path": name}, Path(os.devnull))
            if i >= 0:
                for times, t in ((up, a), (cp_up, b), (down, c), (cp_down, d), (null, e)):
                    times.append(t)
            if i == 0:
                for copy in (voldir / name, out / "portal", out / "cp"):
                    if not filecmp.cmp(source, copy, shallow=False):
                        raise SystemExit(f"{copy} differs from the source")
            for leftover in (voldir / name, voldir / f"cp-{mib}-{i}", out / "portal", out / "cp"):
                leftover.unlink()
        source.unlink()
        singles.append((size, up, cp_up, down, cp_down, null))
        hwm.append((f"after the {mib} MiB round", hwm_kib(worker)))
        print(f"{mib} MiB: upload {statistics.median(up):.2f} s (cp {statistics.median(cp_up):.2f} s), "
              f"download {statistics.median(down):.2f} s (cp {statistics.median(cp_down):.2f} s)", flush=True)

    many = voldir / "many"
    many.mkdir()
    width = len(str(args.files - 1))
    names = [f"{n:0{width}d}.bin" for n in range(args.files)]
    for n in names:
        (many / n).write_bytes(os.urandom(SMALL))
    pages = math.ceil(args.files / PER_PAGE)
    first, last, ls_first, ls_last, tgz, tar = [], [], [], [], [], []

    def ls() -> float:
        return timed(lambda: run(["ls", "-l", str(many)]))

    for i in range(args.runs):
        a, b = ordered(i, lambda: page(session, files, 1, names[0]), ls)
        first.append(a)
        ls_first.append(b)
        a, b = ordered(i, lambda: page(session, files, pages, names[-1]), ls)
        last.append(a)
        ls_last.append(b)
        a, b = ordered(i, lambda: download(session, f"{files}/archive", {"path": "many"}, out / "portal.tar.gz"),
                       lambda: timed(lambda: run(["tar", "-I", "gzip -6", "-cf", str(out / "tar.tar.gz"),
                                                  "-C", str(many), "."])))
        tgz.append(a)
        tar.append(b)
        if i == 0:
            for archive in (out / "portal.tar.gz", out / "tar.tar.gz"):
                if members(archive) != args.files:
                    raise SystemExit(f"{archive.name} holds {members(archive)} files, not {args.files}")
        archive_sizes = ((out / "portal.tar.gz").stat().st_size, (out / "tar.tar.gz").stat().st_size)
    hwm.append((f"after the {args.files} files", hwm_kib(worker)))
    if p.worker_pids() != [worker]:
        print(f"WARNING: gunicorn's worker changed ({worker} -> {p.worker_pids()}): "
              "the RSS figures are not one process's")

    print()
    print(f"single files, medians of {args.runs} runs (throughput = size / wall clock; target: portal >= {TARGET}x cp)")
    for size, up, cp_up, down, cp_down, null in singles:
        print(f"{size // MiB} MiB")
        print(rate_line("upload", size, up, cp_up, "cp"))
        print(rate_line("download", size, down, cp_down, "cp"))
        t = statistics.median(null)
        print(f"  {'download':>9} to /dev/null (the client writes nothing, the portal's side): {t:.2f} s, "
              f"{size / MiB / t:.1f} MiB/s")
    print("gunicorn worker peak RSS (VmHWM; it only rises): "
          + ", ".join(f"{what} {kib / 1024:.1f} MiB" for what, kib in hwm))
    print(f"a folder of {args.files} files of {SMALL} random bytes, medians of {args.runs} runs")
    print(time_line("list, first page:", first, ls_first, "ls -l"))
    print(time_line(f"list, last page ({pages}):", last, ls_last, "ls -l"))
    print(time_line("archive as tar.gz:", tgz, tar, "tar -I 'gzip -6' -cf"))
    print(f"  archive sizes: portal {archive_sizes[0] / MiB:.2f} MiB, tar {archive_sizes[1] / MiB:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
