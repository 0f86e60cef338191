"""Live-log streams hold a worker thread each for as long as they are open (up to
LOG_FOLLOW_SECONDS), so each portal process serves only so many at once, and each user
only so many of those: LOG_STREAMS_PER_PROCESS and LOG_STREAMS_PER_USER.

A stream takes a slot before it touches the cluster and gives it back when it ends or
its client goes away (the WSGI server closes the response). The slots live in the app
(one per gunicorn worker process); nothing is shared between processes.
"""
from __future__ import annotations

import threading
from collections import Counter

from flask import current_app
from flask_babel import ngettext

from portal.services.errors import Throttled

RETRY_AFTER = 10


class StreamLimit(Throttled):
    """No slot free: the message says whose limit was reached."""

    def __init__(self, message: str):
        super().__init__(message, RETRY_AFTER)


class Slots:
    def __init__(self):
        self._lock = threading.Lock()
        self._users: Counter = Counter()

    def open(self, user_id: int, per_user: int, per_process: int) -> "Slot":
        with self._lock:
            mine, total = self._users[user_id], sum(self._users.values())
            if mine >= per_user:
                raise StreamLimit(ngettext(
                    "You are already following %(num)d live log, the most one person may at once. "
                    "Stop following one (close its page) and try again.",
                    "You are already following %(num)d live logs, the most one person may at once. "
                    "Stop following one (close its page) and try again.", mine))
            if total >= per_process:
                raise StreamLimit(ngettext(
                    "The portal is already streaming %(num)d live log, as many as it serves at once. "
                    "Try again in a while; the log above still shows the latest lines on reload.",
                    "The portal is already streaming %(num)d live logs, as many as it serves at once. "
                    "Try again in a while; the log above still shows the latest lines on reload.", total))
            self._users[user_id] += 1
        return Slot(self, user_id)

    def _release(self, user_id: int) -> None:
        with self._lock:
            self._users[user_id] -= 1
            if self._users[user_id] <= 0:
                del self._users[user_id]

    def in_use(self, user_id: int | None = None) -> int:
        with self._lock:
            return self._users[user_id] if user_id is not None else sum(self._users.values())


class Slot:
    """One open stream. release() is safe to call more than once."""

    def __init__(self, slots: Slots, user_id: int):
        self._slots, self._user_id = slots, user_id
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._slots._release(self._user_id)


def slots() -> Slots:
    """This process's slots (kept in the app, so every app, and test, has its own)."""
    return current_app.extensions.setdefault("hummer_log_streams", Slots())


def open_slot(user) -> Slot:
    """A slot for one more live-log stream of `user`, or StreamLimit."""
    config = current_app.config
    return slots().open(user.id, config["LOG_STREAMS_PER_USER"], config["LOG_STREAMS_PER_PROCESS"])
