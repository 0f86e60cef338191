"""Uploads sent as a raw request body (an image archive, a file into a volume): the page's
script sends the file itself as the body of one POST, so these views answer in JSON, check
the CSRF header themselves (they are exempt from CSRFProtect, whose hook would read the body
as a form first) and refuse a body of unknown size or over their own limit before reading a
byte of it (raw_body_refusal).

The body's reader: ExactBody (exactly Content-Length bytes, or ClientDisconnected), and
under gunicorn on a plain socket SplicedBody, whose copy_into(fd) moves the body from the
socket to a file inside the kernel (splice(2)) in two threads: this one takes the bytes off
the socket into a few pipes while another empties them into the file, so that taking the
network's packets and writing the file's pages overlap. bench/volume_io.py measures it
against cp."""
from __future__ import annotations

import fcntl
import os
import queue
import select
import socket
import threading

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from wtforms import ValidationError

from portal.templating import size

DRAIN_CHUNK = 1 << 20
OCTET_STREAM = "application/octet-stream"


def json_refusal(status: int, field: str | None, message: str):
    return jsonify(field=field, message=str(message)), status


def csrf_header_refusal():
    """None when the X-CSRFToken header is valid, else the JSON refusal (400)."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except ValidationError as error:
        reason = _(str(error.args[0] if error.args else "The CSRF token is missing."))
        return json_refusal(400, None, _("%(reason)s Reload the page and try again.", reason=reason))
    return None


def raw_body_refusal(field: str, limit: int, *, no_length: str, too_large, not_raw: str):
    """The checks every raw-body upload makes before a byte of the body is read: None when the
    request has a Content-Length of at most `limit` and the type application/octet-stream (the
    request's body limit is then raised to `limit`, for this request only), else the JSON
    refusal for `field`: 411 `no_length` without a Content-Length (a chunked body), 413
    `too_large(size, limit)` (sizes as text) past the limit, 415 `not_raw` for any other type."""
    length = request.content_length  # werkzeug: None for a chunked body, 0 for a missing header
    if length is None or not request.headers.get("Content-Length", "").strip():
        return json_refusal(411, field, no_length)
    if length > limit:
        return json_refusal(413, field, too_large(size(length), size(limit)))
    if request.mimetype != OCTET_STREAM:
        return json_refusal(415, field, not_raw)
    request.max_content_length = limit
    return None


def drain_body() -> None:
    """Read what is left of the body (at most its Content-Length, itself under the limit): a
    browser still sending a refused upload when the answer comes would see a broken
    connection instead of the reason, and a kept-alive connection would read the rest as
    its next request."""
    try:
        while request.stream.read(DRAIN_CHUNK):
            pass
    except (ClientDisconnected, RequestEntityTooLarge, OSError):
        pass


class ExactBody:
    """The request body, which must be exactly `length` bytes long. gunicorn reports a client
    that went away half-way as the end of the body (it sets wsgi.input_terminated, so werkzeug
    does not check the length itself); here a body that ends early raises ClientDisconnected,
    so a cut-off upload is never taken for a whole, shorter file."""

    def __init__(self, stream, length: int):
        self.stream, self.left = stream, length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.read(self.left if size is None or size < 0 else min(size, self.left))
        if not data and size != 0:
            raise ClientDisconnected()
        self.left -= len(data)
        return data


class SplicedBody(ExactBody):
    """ExactBody under gunicorn on a plain socket, with a fast way into a file: copy_into(fd)
    moves the body from the client's socket to the file through pipes inside the kernel
    (splice(2)), never through Python's buffers. The calling thread splices the socket into
    one of PIPES pipes of CHUNK bytes at a time and hands it to a writer thread, which splices
    the pipes into the file in the same order; each side waits only when all pipes are full
    or all empty. gunicorn's reader is kept told how much of the body is left, so the
    connection stays usable after it. A client that sends nothing for STALL_SECONDS, goes
    away or breaks the connection raises ClientDisconnected; the file's own errors (a full
    disk) are raised as they are, after the writer stopped."""

    CHUNK = 1 << 20
    PIPES = 4
    STALL_SECONDS = 60

    def __init__(self, body, sock: socket.socket, length: int):
        super().__init__(body, length)
        self.body, self.sock = body, sock

    def copy_into(self, fd: int) -> int:
        try:
            written = self._head_into(fd)
            if self.left > 0:
                written += self._splice_into(fd)
        except BaseException:
            self.body.failed = True  # gunicorn closes the connection instead of reusing it
            raise
        return written

    def _head_into(self, fd: int) -> int:
        """What gunicorn read ahead of the body, written as it is."""
        reader = self.body.reader
        head = reader.unreader.take_buffered()
        if len(head) > self.left:  # a pipelined next request behind the body: give it back
            reader.unreader.unread(head[self.left:])
            head = head[:self.left]
        view = memoryview(head)
        while view:
            view = view[os.write(fd, view):]
        reader.length -= len(head)
        self.left -= len(head)
        return len(head)

    def _splice_into(self, fd: int) -> int:
        pipes = []
        try:
            for _n in range(self.PIPES):
                pipes.append(os.pipe())
                try:
                    fcntl.fcntl(pipes[-1][1], fcntl.F_SETPIPE_SZ, self.CHUNK)
                except OSError:
                    pass  # the default pipe size works, in smaller steps
            writer = _PipeWriter(fd, pipes)
            try:
                self._fill(writer)
            finally:
                writer.finish()
            return writer.written
        finally:
            for pipe_r, pipe_w in pipes:
                os.close(pipe_r)
                os.close(pipe_w)

    def _fill(self, writer: _PipeWriter) -> None:
        reader, sock = self.body.reader, self.sock.fileno()
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        while self.left > 0:
            pipe_w = writer.empty_pipe()  # raises the writer's error, if it failed
            try:
                if not poller.poll(self.STALL_SECONDS * 1000):
                    raise ClientDisconnected()
                moved = os.splice(sock, pipe_w, min(self.left, self.CHUNK))
            except OSError as error:  # the connection broke (reset, timed out)
                raise ClientDisconnected() from error
            if moved == 0:
                raise ClientDisconnected()
            reader.length -= moved
            self.left -= moved
            writer.hand(pipe_w, moved)


class _PipeWriter:
    """The thread that splices the filled pipes into the file, in the order they were handed
    over; the pipes go back to the filler empty. Its error stops it and is raised to the
    filler at its next empty_pipe() or at finish()."""

    def __init__(self, fd: int, pipes: list[tuple[int, int]]):
        self.fd, self.written, self.error = fd, 0, None
        self.reader_of = {pipe_w: pipe_r for pipe_r, pipe_w in pipes}
        self.empty, self.full = queue.SimpleQueue(), queue.SimpleQueue()
        for _pipe_r, pipe_w in pipes:
            self.empty.put(pipe_w)
        self.thread = threading.Thread(target=self._run, name="hummer-upload-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.full.get()) is not None:
                pipe_w, moved = item
                while moved:
                    step = os.splice(self.reader_of[pipe_w], self.fd, moved)
                    moved -= step
                    self.written += step
                self.empty.put(pipe_w)
        except BaseException as error:  # the file's error (ENOSPC, EDQUOT, EIO): the filler raises it
            self.error = error
            self.empty.put(None)

    def empty_pipe(self) -> int:
        pipe_w = self.empty.get()
        if pipe_w is None:
            raise self.error
        return pipe_w

    def hand(self, pipe_w: int, moved: int) -> None:
        self.full.put((pipe_w, moved))

    def finish(self) -> None:
        """Wait until the writer has written all it was handed (or failed); its error, if any, is raised."""
        self.full.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def upload_body(length: int) -> ExactBody:
    """The request body of `length` bytes as an upload's source: SplicedBody when gunicorn
    serves the request on a plain socket and nothing of the body was read yet, else ExactBody
    (any other server, TLS in gunicorn, the test client)."""
    environ = request.environ
    sock, body = environ.get("gunicorn.socket"), environ.get("wsgi.input")
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if (type(sock) is socket.socket and hasattr(os, "splice") and hasattr(unreader, "take_buffered")
            and hasattr(unreader, "unread") and getattr(reader, "length", None) == length
            and not body.buf.getbuffer().nbytes):
        return SplicedBody(body, sock, length)
    return ExactBody(request.stream, length)
