"""A build's log: lines appended by the build's worker, read by any portal process.

    writer = BuildLog(engine, build_pk, max_bytes)
    writer.line("STEP 1/3: FROM ...")   # buffered; written every FLUSH_SECONDS or FLUSH_BYTES
    writer.flush()                       # also called by the worker's heartbeat, and at the end
    chunks_after(build_pk, after_id)     # [(chunk id, text)]: what a live stream has not sent yet
    follow(app, build_pk, max_seconds)   # ("chunk", text)… ("end", status): a live stream's source

The lines go to the database (BuildLogChunk), so that the page of a build, and its live
stream, read the same log from every gunicorn worker and every portal host, and the log
outlives the build and a portal restart. A log longer than HUMMER_BUILD_LOG_MAX_BYTES is
cut with a last line saying so; the build goes on.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from portal.extensions import db
from portal.models import OPEN_BUILD_STATUSES, Build, BuildLogChunk

FLUSH_SECONDS = 0.3
FLUSH_BYTES = 8192
POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15
CHUNK_CHARS = 12000   # under MariaDB TEXT's 64 KiB even in 4-byte characters
LINE_CHARS = 4096


class BuildLog:
    def __init__(self, engine: Engine, build_pk: int, max_bytes: int):
        self.engine, self.build_pk, self.max_bytes = engine, build_pk, max_bytes
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._pending_chars = 0
        self._written = 0
        self._cut = False
        self._last_flush = time.monotonic()

    def line(self, text: str) -> None:
        text = text.rstrip("\r\n")[:LINE_CHARS]
        with self._lock:
            if self._cut:
                return
            size = len(text.encode("utf-8", "replace")) + 1
            if self._written + size > self.max_bytes:
                self._cut = True
                text = (f"… the log is cut here: it reached {self.max_bytes} bytes (HUMMER_BUILD_LOG_MAX_BYTES); "
                        "the build goes on.")
            self._written += size
            self._pending.append(text)
            self._pending_chars += len(text) + 1
            due = self._pending_chars >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._pending, self._pending_chars = self._pending, [], 0
            self._last_flush = time.monotonic()
            if not lines:
                return
            rows, chunk = [], ""
            for text in lines:
                if chunk and len(chunk) + len(text) + 1 > CHUNK_CHARS:
                    rows.append(chunk)
                    chunk = ""
                chunk += text + "\n"
            rows.append(chunk)
            with self.engine.begin() as conn:
                conn.execute(insert(BuildLogChunk), [{"build_id": self.build_pk, "text": t} for t in rows])


def chunks_after(build_pk: int, after_id: int = 0, limit: int = 200) -> list[tuple[int, str]]:
    """The log's chunks written after chunk `after_id`, oldest first."""
    rows = db.session.execute(select(BuildLogChunk.id, BuildLogChunk.text).where(
        BuildLogChunk.build_id == build_pk, BuildLogChunk.id > after_id)
        .order_by(BuildLogChunk.id).limit(limit)).all()
    return [(row.id, row.text) for row in rows]


def text(build_pk: int) -> str:
    """The whole log as kept."""
    return "".join(db.session.scalars(select(BuildLogChunk.text).where(
        BuildLogChunk.build_id == build_pk).order_by(BuildLogChunk.id)))


def follow(app: Flask, build_pk: int, max_seconds: float) -> Iterator[tuple[str, str]]:
    """The log as it grows, for a live stream: ("chunk", text) for each new chunk, ("quiet",
    "") after KEEP_ALIVE_SECONDS without one, and last ("end", status) once the build has
    ended and every chunk was given; at most `max_seconds`. In an app context of its own
    (the request's is gone while a response streams), a new transaction each look."""
    last, until, quiet = 0, time.monotonic() + max_seconds, 0.0
    with app.app_context():
        while time.monotonic() < until:
            chunks = chunks_after(build_pk, last)
            for last, chunk in chunks:  # noqa: B007 - `last` is where the next look starts
                yield "chunk", chunk
            status = db.session.scalar(select(Build.status).where(Build.id == build_pk))
            db.session.commit()
            if chunks:
                quiet = 0.0
                continue
            if status not in OPEN_BUILD_STATUSES:
                yield "end", str(status)
                return
            quiet += POLL_SECONDS
            if quiet >= KEEP_ALIVE_SECONDS:
                quiet = 0.0
                yield "quiet", ""
            time.sleep(POLL_SECONDS)  # the log is in the database: look again shortly
