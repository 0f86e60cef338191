"""salt-api's GET /events stream, and the one reader of Salt's job tags and event data.

    for event in stream:                         # {"tag": ..., "data": {...}}
        if is_run_return(event["tag"], run_jid): ...       # salt/run/<jid>/ret: the orchestration ended
        job = job_event(event["tag"], event["data"])       # salt/job/<jid>/new|prog|ret[/<minion>]
        if job and job.run_id == "hummer-...": ...

The portal ties the step jobs of an orchestration to its run through the `hummer_run_id`
(and `hummer_step`) each step passes in its pillar (salt_states/orch), which shows up in
the job's arguments: a `new` event's `arg`, a `ret` event's `fun_args`, or an entry of
`saltutil.running`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterator

import requests

from portal.adapters.salt.errors import SaltUnavailable

__all__ = ["EventStream", "JobEvent", "job_event", "is_run_return", "run_id_of", "step_name",
           "decode_event", "JOB_TAG"]

JOB_TAG = re.compile(r"^salt/job/(?P<jid>[^/]+)/(?P<kind>new|prog|ret)(?:/(?P<minion>[^/]+))?")


class EventStream:
    """Server-sent events from salt-api's /events, decoded to {"tag": ..., "data": ...} dicts."""

    def __init__(self, resp: requests.Response):
        self.resp = resp

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.resp.close()

    def __iter__(self) -> Iterator[dict]:
        data_lines: list[str] = []
        try:
            for raw in self.resp.iter_lines(decode_unicode=True):
                line = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                if line == "":
                    if data_lines:
                        event = decode_event("\n".join(data_lines))
                        data_lines = []
                        if event is not None:
                            yield event
                    continue
                if line.startswith(":"):
                    continue  # SSE comment
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "data":
                    data_lines.append(value)
        except requests.exceptions.RequestException as exc:
            raise SaltUnavailable(f"salt-api events: stream broken: {exc}") from exc
        except AttributeError:
            # requests raises this when the stream is closed from another thread.
            return


def decode_event(text: str) -> dict | None:
    """One SSE data block: {"tag", "data"}, or None when it is not a Salt event."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if isinstance(obj, dict) and "tag" in obj:
        return {"tag": obj["tag"], "data": obj.get("data", {})}
    return None


# --------------------------------------------------------------------------- reading jobs

def _pillar_of(job: dict) -> dict | None:
    """The `pillar=` keyword of a job's arguments (a {"__kwarg__": True, "pillar": {...}} entry)."""
    for arg in job.get("arg") or []:
        if isinstance(arg, dict) and isinstance(arg.get("pillar"), dict):
            return arg["pillar"]
    return None


def run_id_of(job: dict) -> str | None:
    """The hummer_run_id in a job's arguments (a `salt/job/<jid>/new` event's data, or an entry
    of saltutil.running); None if absent."""
    for arg in job.get("arg") or []:
        if isinstance(arg, dict):
            pillar = arg.get("pillar")
            if isinstance(pillar, dict) and pillar.get("hummer_run_id"):
                return str(pillar["hummer_run_id"])
    return None


def step_name(job: dict) -> str:
    """The orchestration step a job runs (its hummer_step pillar), else its function's name."""
    pillar = _pillar_of(job)
    if pillar is not None:
        return str(pillar.get("hummer_step") or job.get("fun", "step"))
    return str(job.get("fun", "step"))


def is_run_return(tag: str, jid: str) -> bool:
    """The runner job `jid` (an orchestration) has ended: salt/run/<jid>/ret."""
    return bool(jid) and tag == f"salt/run/{jid}/ret"


@dataclass(frozen=True)
class JobEvent:
    """One salt/job/<jid>/<kind>[/<minion>] event, read."""

    jid: str
    kind: str  # new | prog | ret
    minion: str | None
    data: dict

    @property
    def job(self) -> dict:
        """The job's function and arguments: a `new` event carries `arg`, a `ret` event `fun_args`."""
        if self.kind == "ret":
            return {"arg": self.data.get("fun_args"), "fun": self.data.get("fun")}
        return self.data

    @property
    def run_id(self) -> str | None:
        return run_id_of(self.job)

    @property
    def step(self) -> str:
        return step_name(self.job)

    @property
    def minions(self) -> list[str]:
        """The minions a `new` job was published to."""
        return list(self.data.get("minions") or [])

    @property
    def progress(self) -> tuple[int, str]:
        """A `prog` event: (states done so far, the state running now)."""
        payload = self.data.get("data", self.data)
        chunk = payload.get("ret") or {}
        return int(chunk.get("__run_num__", 0)) + 1, str(chunk.get("__id__") or chunk.get("name") or "")

    @property
    def result(self) -> object:
        """A `ret` event: the minion's return ({state key: result}, or a list of render errors)."""
        return self.data.get("return")

    @property
    def success(self) -> bool:
        return self.data.get("success", True) is not False


def job_event(tag: str, data: dict | None) -> JobEvent | None:
    """A salt/job/... event, or None for any other tag."""
    match = JOB_TAG.match(tag)
    if not match:
        return None
    return JobEvent(match["jid"], match["kind"], match["minion"], data if isinstance(data, dict) else {})
