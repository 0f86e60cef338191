"""portal/rawbody.py SplicedBody on a real loopback connection, read through gunicorn's own
body classes (SocketUnreader, LengthReader, Body) as a gunicorn worker reads a request: the
body arrives byte for byte in the file, with what gunicorn had read ahead of it first and a
pipelined next request left on the connection; a client gone half-way, or a file that cannot
be written (past RLIMIT_FSIZE, as on a full disk), stops the copy with the reason."""
from __future__ import annotations

import errno
import os
import resource
import signal
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected

from portal.rawbody import SplicedBody

MiB = 1 << 20
NEXT = b"GET /next HTTP/1.1\r\n\r\n"


def connection():
    """(client, server) sockets of one loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


def spliced(server: socket.socket, length: int, ahead: bytes = b""):
    """The body as gunicorn's reader holds it once the headers are parsed: `ahead` already read."""
    unreader = SocketUnreader(server)
    if ahead:
        unreader.unread(ahead)
    body = Body(LengthReader(unreader, length))
    return body, SplicedBody(body, server, length)


def send_in_background(sock: socket.socket, data: bytes, close: bool = False) -> threading.Thread:
    def send():
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server went away first: what the test is about
        if close:
            sock.close()
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_the_body_arrives_whole_and_the_next_request_stays(tmp_path):
    data = os.urandom(13 * MiB + 4321)
    client, server = connection()
    ahead = data[:70_000]
    body, source = spliced(server, len(data), ahead)
    sender = send_in_background(client, data[len(ahead):] + NEXT)
    target = tmp_path / "file"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        assert source.copy_into(fd) == len(data)
    finally:
        os.close(fd)
    sender.join()
    assert target.read_bytes() == data
    assert source.left == 0 and body.reader.length == 0 and not body.failed
    assert body.reader.unreader.read() == NEXT  # the connection serves on
    client.close()
    server.close()


def test_a_client_gone_half_way_is_a_disconnect(tmp_path):
    client, server = connection()
    body, source = spliced(server, 16 * MiB)
    send_in_background(client, os.urandom(5 * MiB), close=True)
    fd = os.open(tmp_path / "file", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with pytest.raises(ClientDisconnected):
            source.copy_into(fd)
    finally:
        os.close(fd)
    assert body.failed  # gunicorn closes the connection rather than read on
    server.close()


def test_a_file_that_cannot_grow_stops_the_copy_with_its_error(tmp_path):
    """The file may take 4 MiB (RLIMIT_FSIZE, as a full disk or a quota stops a write half-way):
    its EFBIG reaches the caller, after the first bytes went in."""
    client, server = connection()
    body, source = spliced(server, 32 * MiB)
    send_in_background(client, os.urandom(32 * MiB), close=True)
    target = tmp_path / "file"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 * MiB, limits[1]))
    try:
        with pytest.raises(OSError) as raised:
            source.copy_into(fd)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
        os.close(fd)
    assert raised.value.errno == errno.EFBIG
    assert target.stat().st_size == 4 * MiB
    assert body.failed
    server.close()
