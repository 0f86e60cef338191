"""An app's logs: the last lines of one pod or of all its pods merged by time, and the
live stream (one thread per pod feeding one queue)."""
from __future__ import annotations

import queue
import threading
import time
from typing import Iterator

from flask_babel import gettext as _

from portal.adapters import kube as kube_adapter
from portal.models import Project
from portal.services import kube_access
from portal.services.apps.reading import detail
from portal.services.errors import NotFound


def _pods_for_logs(project: Project, name: str, pod: str | None) -> list[str]:
    d = detail(project, name)
    names = [p.name for p in d.pods if not p.deleting and p.phase != "Pending"]
    if pod:
        if pod not in {p.name for p in d.pods}:
            raise NotFound(_("No pod %(pod)s in app %(name)s.", pod=pod, name=name))
        return [pod]
    return names


def _split_ts(line: str) -> tuple[str, str]:
    ts, _sep, text = line.partition(" ")
    return ts, text


def logs(project: Project, name: str, pod: str | None = None, tail: int = 200) -> list[tuple[str, str, str]]:
    """(timestamp, pod, line) of one pod, or of all the app's pods merged by time."""
    kube = kube_access.kube()
    out = []
    for pod_name in _pods_for_logs(project, name, pod):
        try:
            text = kube.log(project.name, pod_name, tail=tail, timestamps=True)
        except kube_adapter.NotFound:
            continue
        except kube_adapter.KubeError as error:
            out.append(("", pod_name, _("(no logs: %(reason)s)", reason=error.message)))
            continue
        for line in text.splitlines():
            ts, body = _split_ts(line)
            out.append((ts, pod_name, body))
    out.sort(key=lambda t: t[0])
    return out


def follow(project: Project, name: str, pod: str | None = None, max_seconds: int = 600) -> Iterator[tuple[str, str]]:
    """(pod, line) as the pods print them. The streams open now (so the caller needs no
    app context while iterating); closing the iterator closes them; after max_seconds
    the API server ends them. ("", "") every 15 s of silence is a keep-alive."""
    kube = kube_access.kube()
    streams = []
    for pod_name in _pods_for_logs(project, name, pod):
        try:
            streams.append((pod_name, kube.follow_log(project.name, pod_name, tail=0,
                                                      max_seconds=max_seconds)))
        except kube_adapter.KubeError:
            continue
    return _merge(kube, streams, max_seconds)


def _merge(kube, streams, max_seconds: float, keepalive: float = 15) -> Iterator[tuple[str, str]]:
    """The streams' lines in one iterator, which ends when every stream has ended or after
    max_seconds, whichever is first (the read timeout alone never ends a pod that keeps
    printing)."""
    lines: queue.Queue = queue.Queue(maxsize=10000)
    stop = threading.Event()

    def put(item) -> bool:
        """Queue one item; False once the reader has gone (a full queue would block forever)."""
        while not stop.is_set():
            try:
                lines.put(item, timeout=1)
                return True
            except queue.Full:
                continue
        return False

    def pump(pod_name: str, resp) -> None:
        try:
            for line in kube.lines(resp):
                if not put((pod_name, line)):
                    break
        except Exception:
            pass
        finally:
            put((pod_name, None))

    for pod_name, resp in streams:
        threading.Thread(target=pump, args=(pod_name, resp), daemon=True,
                         name=f"hummer-log-{pod_name}").start()
    deadline = time.monotonic() + max_seconds
    try:
        open_streams = len(streams)
        while open_streams:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                pod_name, line = lines.get(timeout=min(keepalive, left))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    return
                yield ("", "")
                continue
            if line is None:
                open_streams -= 1
                continue
            yield pod_name, line
    finally:
        stop.set()
        for _pod, resp in streams:
            try:
                resp.shutdown()
            except Exception:
                pass
            try:
                resp.close()
            except Exception:
                pass
