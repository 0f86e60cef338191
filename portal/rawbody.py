"""Uploads sent as a raw request body (an image archive, a file into a volume): the page's
script sends the file itself as the body of one POST, so these views answer in JSON, check
the CSRF header themselves (they are exempt from CSRFProtect, whose hook would read the body
as a form first) and refuse a body of unknown size or over their own limit before reading a
byte of it (raw_body_refusal).

The body's reader: ExactBody (exactly Content-Length bytes, or ClientDisconnected), and
under gunicorn on a plain socket SplicedBody, whose copy_into(fd) moves the body from the
socket to a file inside the kernel (splice(2)). bench/volume_io.py measures it against cp."""
from __future__ import annotations

import fcntl
import os
import select
import socket

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
    moves the body from the client's socket to the file through a pipe inside the kernel
    (splice(2)), never through Python's buffers. gunicorn's reader is kept told how much of
    the body is left, so the connection stays usable after it. A client that sends nothing
    for STALL_SECONDS, goes away or breaks the connection raises ClientDisconnected; the
    file's own errors (a full disk) are raised as they are.

    One thread, one pipe of CHUNK bytes: a second thread emptying a ring of pipes into the
    file while this one fills them was tried and was no faster through gunicorn (README,
    "Benchmarks", volume_io's uploads)."""

    CHUNK = 1 << 20
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
        reader, sock = self.body.reader, self.sock.fileno()
        written = 0
        pipe_r, pipe_w = os.pipe()
        try:
            try:
                fcntl.fcntl(pipe_w, fcntl.F_SETPIPE_SZ, self.CHUNK)
            except OSError:
                pass  # the default pipe size works, in smaller steps
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            while self.left > 0:
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
                while moved:
                    step = os.splice(pipe_r, fd, moved)
                    moved -= step
                    written += step
        finally:
            os.close(pipe_r)
            os.close(pipe_w)
        return written


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
