"""Containers' logs, as the simulated kubelet keeps them for its log server."""
from __future__ import annotations

import datetime
import threading
import time


def rfc3339nano(ts_ns: int) -> str:
    sec, ns = divmod(ts_ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(sec, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns:09d}Z"


def parse_rfc3339(text: str) -> float:
    text = text.strip().replace("Z", "+00:00")
    if "." in text:  # Python wants at most microseconds
        head, rest = text.split(".", 1)
        frac = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(frac):]
        text = f"{head}.{frac[:6]}{tz}"
    return datetime.datetime.fromisoformat(text).timestamp()




class ContainerLog:
    __slots__ = ("lines", "previous", "counter", "followers", "next_tick", "ended")

    def __init__(self):
        self.lines: list[tuple[int, str]] = []
        self.previous: list[tuple[int, str]] | None = None
        self.counter = 0
        self.followers = 0
        self.next_tick = 0.0
        self.ended = False


class LogStore:
    """Container logs by (namespace, pod) -> container -> ContainerLog."""

    def __init__(self):
        self.cond = threading.Condition()
        self.pods: dict[tuple[str, str], dict[str, ContainerLog]] = {}
        self.followed: set[tuple[str, str, str]] = set()

    def get(self, key, create=False) -> ContainerLog | None:
        with self.cond:
            containers = self.pods.get(key[:2])
            entry = containers.get(key[2]) if containers else None
            if entry is None and create:
                entry = self.pods.setdefault(key[:2], {})[key[2]] = ContainerLog()
            return entry

    def append(self, key, text: str, ts_ns: int | None = None, previous=False):
        with self.cond:
            entry = self.get(key, create=True)
            ts_ns = ts_ns or time.time_ns()
            if previous:
                if entry.previous is None:
                    entry.previous = []
                target = entry.previous
            else:
                target = entry.lines
            for line in text.split("\n"):
                target.append((ts_ns, line))
            self.cond.notify_all()

    def next_generated(self, key, template: str, ts_ns: int | None = None):
        """Append one generated line "<pod> <container> line N: <template>"."""
        with self.cond:
            entry = self.get(key, create=True)
            entry.counter += 1
            _, pod, container = key
            entry.lines.append((ts_ns or time.time_ns(), f"{pod} {container} line {entry.counter}: {template}"))
            self.cond.notify_all()

    def rotate(self, key):
        """The container restarted: its log becomes the previous one (followers of the old one end)."""
        with self.cond:
            old = self.get(key)
            new = ContainerLog()
            if old is not None:
                new.previous, new.counter = old.lines, old.counter
                old.ended = True
            self.pods.setdefault(key[:2], {})[key[2]] = new
            self.cond.notify_all()

    def end(self, key):
        with self.cond:
            entry = self.get(key)
            if entry:
                entry.ended = True
                self.cond.notify_all()

    def drop_pod(self, ns: str, pod: str):
        with self.cond:
            for entry in (self.pods.pop((ns, pod), None) or {}).values():
                entry.ended = True
            self.cond.notify_all()

    def follow(self, key, entry: ContainerLog, delta: int):
        with self.cond:
            entry.followers += delta
            if entry.followers > 0:
                self.followed.add(key)
            else:
                self.followed.discard(key)
