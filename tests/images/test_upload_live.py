"""An archive uploaded through a real gunicorn worker (gunicorn.conf.py's hooks as production
has them) into the real registry."""
from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import PASSWORD
from tests.support.archives import docker_save, layer
from tests.support.live_portal import live_portal

MiB = 1 << 20


def minor_faults(pid: int) -> int:
    """Pages the process has had from the kernel without a disk read (proc(5): minflt)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def test_a_worker_streams_a_large_upload_on_without_fresh_pages_for_each_mib(database_url, tmp_path, team,
                                                                             registries):
    """Each MiB passes through a handful of fresh 1-2 MiB buffers; with glibc's own malloc
    thresholds most of them were new pages from the kernel (56,270 page faults for these
    32 MiB, some 40% of the worker's CPU for an upload); gunicorn.conf.py's post_fork keeps
    them in the worker's heap (1,965, most of them for the worker's first request)."""
    big = layer({"noise": os.urandom(32 * MiB)})
    data = docker_save([big])
    with live_portal(database_url, tmp_path, workers=1, threads=2, REGISTRY_URL=registries["open"].url,
                     UPLOAD_MAX_BYTES=str(len(data) + MiB)) as portal:
        client = portal.client()
        assert client.login("dev", PASSWORD).status_code == 302
        token = client.token("/projects/alpha/images/upload")
        [worker] = portal.worker_pids()
        before = minor_faults(worker)
        response = client.session.post(portal.base + "/projects/alpha/images/upload?name=big&tag=1", data=data,
                                       headers={"Content-Type": "application/octet-stream", "X-CSRFToken": token},
                                       timeout=120)
        faults = minor_faults(worker) - before
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(big)
    assert faults < 32 * 200, f"{faults} minor page faults in the worker for a 32 MiB upload"
