"""An upload cut off half-way through a real gunicorn worker: the client sends the headers and
part of the body, then closes its connection. Nothing is kept under the file's name, no
temporary file stays behind, and the volume's usage gets its reservation back."""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from portal.extensions import db
from portal.models import Volume
from tests.conftest import PASSWORD
from tests.support.live_portal import live_portal
from tests.support.waiting import wait_for

MiB = 1 << 20


def test_a_connection_dropped_half_way_leaves_nothing(database_url, tmp_path, fproject, volume_dir):
    db.session.query(Volume).filter_by(project_id=fproject.id).update({"capacity_bytes": 64 * MiB})
    db.session.commit()
    export = volume_dir.parent
    with live_portal(database_url, tmp_path, workers=1, threads=2, NFS_ROOT=str(export)) as portal:
        client = portal.client()
        assert client.login("dev", PASSWORD).status_code == 302
        url = f"/projects/{fproject.name}/volumes/data/files"
        token = client.token(url)
        cookie = "; ".join(f"{c.name}={c.value}" for c in client.session.cookies)
        where = urlparse(portal.base)
        with socket.create_connection((where.hostname, where.port)) as sock:
            sock.sendall((f"POST {url}/upload?path=&name=half.bin HTTP/1.1\r\nHost: {where.netloc}\r\n"
                          f"Content-Type: application/octet-stream\r\nContent-Length: {32 * MiB}\r\n"
                          f"X-CSRFToken: {token}\r\nCookie: {cookie}\r\n\r\n").encode())
            sent = 0
            while sent < 8 * MiB:  # a quarter of it
                sock.sendall(b"x" * MiB)
                sent += MiB
            # the worker is writing it: a temporary file grows in the volume
            wait_for(lambda: any(p.name.startswith(".hummer-upload-") for p in volume_dir.iterdir()),
                     what="the upload being written")
        # the connection is gone: the worker gives up and cleans up
        wait_for(lambda: list(volume_dir.iterdir()) == [], timeout=30, what="the partial upload removed")

        def given_back():
            db.session.commit()
            return db.session.query(Volume).filter_by(project_id=fproject.id).one().usage_bytes == 0
        wait_for(given_back, what="the reservation given back")
        # a whole file, twice on one kept-alive connection: the worker serves on, byte for byte
        whole = os.urandom(3 * MiB + 17)
        for name in ("whole.bin", "again.bin"):
            again = client.session.post(portal.base + url + f"/upload?path=&name={name}", data=whole,
                                        headers={"Content-Type": "application/octet-stream", "X-CSRFToken": token})
            assert again.status_code == 201, again.text
            assert again.json()["size"] == len(whole)
        listing = client.session.get(portal.base + url)
        assert listing.status_code == 200 and "again.bin" in listing.text
    assert sorted(p.name for p in volume_dir.iterdir()) == ["again.bin", "whole.bin"]
    assert (volume_dir / "whole.bin").read_bytes() == whole == (volume_dir / "again.bin").read_bytes()
