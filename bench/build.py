"""Build: a small Dockerfile built and pushed through the portal, beside `buildah bud` and
`buildah push` run by hand on the same machine, in the same run.

    python bench/build.py [--repeats 3]

Serves a docker-registry on loopback (as bench/registry_push.py does), makes the busybox base
image there from Debian's busybox-static with buildah, and starts the portal with gunicorn
(one worker; tests/support/live_portal.py) on a SQLite database made by its own commands.
The Dockerfile: FROM the base, ARG, ENV, COPY of a small file, RUN a shell command. Each
repeat, in alternating order:
- portal: POST the context (a tar.gz) to /projects/bench/builds/new over HTTP, then poll the
  build's page until it reads pushed: the upload, unpacking, the queue, buildah (a fresh vfs
  storage, so the base is pulled each time), the push and the records;
- by hand: buildah bud + buildah push with a fresh storage of their own, on the context
  already unpacked on disk, then the storage removed (as the portal does).
It prints each time and the medians. Loopback only.
"""
from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._portal import create_project, login, portal, prepare_database, token_of  # noqa: E402
from bench.registry_push import start_registry  # noqa: E402

BUSYBOX = Path("/bin/busybox")
DOCKERFILE = """FROM {base}
ARG GREETING=hello
ENV WHO=world
COPY index.html /site/index.html
RUN echo "$GREETING $WHO" > /greeting && wc -c /site/index.html
"""


def buildah(storage: Path, *args: str) -> None:
    argv = ["buildah", f"--root={storage / 'root'}", f"--runroot={storage / 'run'}", "--storage-driver=vfs", *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])}... failed: {done.stderr[-2000:]}")


def make_base(tmp: Path, host: str) -> str:
    context = tmp / "base"
    context.mkdir()
    shutil.copy2(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
    reference = f"{host}/library/busybox:1"
    storage = tmp / "base-storage"
    buildah(storage, "bud", "--isolation=chroot", "--layers=false", f"--tag={reference}", "--", str(context))
    buildah(storage, "push", "--tls-verify=false", reference)
    shutil.rmtree(storage, ignore_errors=True)
    return reference


def context_tar(base: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("Dockerfile", DOCKERFILE.format(base=base).encode()),
                           ("index.html", b"<h1>bench</h1>\n" * 64)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def by_portal(client, data: bytes, tag: str) -> float:
    token = token_of(client, "/projects/bench/builds/new")
    started = time.perf_counter()
    response = client.post("/projects/bench/builds/new", {
        "source": "upload", "name": "web", "tag": tag, "dockerfile": "Dockerfile", "build_args": "GREETING=hey",
        "csrf_token": token}, files={"context": ("ctx.tar.gz", io.BytesIO(data), "application/gzip")})
    if response.status_code != 302:
        raise SystemExit(f"the build was refused: {response.status_code} {response.text[:1500]}")
    page = response.headers["Location"]
    while True:
        text = client.get(page).text
        if 'data-status="pushed"' in text:
            return time.perf_counter() - started
        if 'data-status="failed"' in text or 'data-status="cancelled"' in text:
            raise SystemExit(f"the portal's build did not push: {text[-3000:]}")
        time.sleep(0.05)  # a polling loop: the next look at the build's page


def by_hand(tmp: Path, data: bytes, host: str, tag: str) -> float:
    context = tmp / f"hand-{tag}"
    context.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(context, filter="data")
    storage = tmp / f"hand-storage-{tag}"
    reference = f"{host}/bench/hand:{tag}"
    started = time.perf_counter()
    buildah(storage, "bud", "--isolation=chroot", "--layers=false", "--tls-verify=false",
            "--build-arg=GREETING=hey", f"--tag={reference}", "--", str(context))
    buildah(storage, "push", "--tls-verify=false", reference)
    shutil.rmtree(storage, ignore_errors=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("buildah"):
        raise SystemExit("buildah is not installed (./hummer test installs it)")
    with tempfile.TemporaryDirectory(prefix="hummer-bench-build-") as name:
        tmp = Path(name)
        registry, url = start_registry(tmp)
        try:
            host = url.split("://", 1)[1]
            base = make_base(tmp, host)
            data = context_tar(base)
            db_url = f"sqlite:///{tmp / 'portal.db'}"
            prepare_database(db_url, tmp / "instance")
            portal_s, hand_s = [], []
            with portal(db_url, tmp, workers=1, threads=4, REGISTRY_URL=url, BUILD_DIR=str(tmp / "builds")) as p:
                client = login(p.base)
                create_project(client, "bench")
                for i in range(max(1, args.repeats)):
                    order = (("portal", "hand") if i % 2 == 0 else ("hand", "portal"))
                    for who in order:
                        if who == "portal":
                            portal_s.append(by_portal(client, data, f"p{i}"))
                        else:
                            hand_s.append(by_hand(tmp, data, host, f"h{i}"))
                    print(f"repeat {i + 1} ({' first, '.join(order)} second): portal {portal_s[-1]:.2f} s, "
                          f"by hand {hand_s[-1]:.2f} s")
        finally:
            registry.stop(5)
    portal_median, hand_median = statistics.median(portal_s), statistics.median(hand_s)
    print(f"portal build (HTTP upload → queue → buildah bud → push → recorded): median {portal_median:.2f} s")
    print(f"buildah bud + buildah push by hand (baseline):                    median {hand_median:.2f} s")


if __name__ == "__main__":
    main()
