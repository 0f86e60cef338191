"""salt-api (rest_cherrypy) client, and the cluster pillar the portal writes.

A thin layer over `requests`; nothing here knows Flask.

    api = SaltAPI("http://127.0.0.1:8001", "hummer", "secret", eauth="file")
    api.local("*", "test.ping")                       # {"node1": True, ...}
    job = api.runner_async("state.orchestrate", mods="orch.cluster",
                           pillar={"hummer_run_id": "run-7"}, test=True)
    with api.events() as stream:                      # open the stream *before* starting a job
        for event in stream:                          # {"tag": ..., "data": {...}}
            ...

Errors: SaltError is the base; SaltUnavailable (connection errors, timeouts,
5xx), SaltAuthError (401/403), SaltBadRequest (any other 4xx). Calls are retried
only where retrying cannot run a job twice: connection failures (nothing was
sent) and 502/503/504 (the gateway or salt-api could not reach the master). A
500, or a read timeout after the request was sent, may come after the job
started, so it is raised at once.

Notes on salt 3008.4's rest_cherrypy:
- GET /events answers 400 to any query string, so the token goes in the
  X-Auth-Token header.
- Each orchestration step is a job of its own, not linked to the runner's jid;
  the portal passes a `hummer_run_id` in every step's pillar (salt_states/orch)
  and ties step jobs to its run through the `new` event's arguments
  (see `run_id_of`).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import requests
import yaml

__all__ = [
    "SaltError", "SaltUnavailable", "SaltAuthError", "SaltBadRequest",
    "SaltAPI", "EventStream", "exact_minion_id", "render_cluster_pillar", "write_cluster_pillar",
    "parse_state_key", "summarize_orchestration", "run_id_of",
]

RETRY_STATUS = {502, 503, 504}
BODY_LIMIT = 500


# --------------------------------------------------------------------------- errors

class SaltError(Exception):
    """Base of every error this adapter raises."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


class SaltUnavailable(SaltError):
    """salt-api cannot be reached, timed out, or answered 5xx."""


class SaltAuthError(SaltError):
    """Bad credentials, an expired token, or a call the eauth does not allow (401/403)."""


class SaltBadRequest(SaltError):
    """salt-api refused the request (4xx other than 401/403)."""


_HTML_NOISE = re.compile(r"<(style|script|head)\b.*?</\1>", re.S | re.I)
_HTML_TAG = re.compile(r"<[^>]+>")


MINION_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?\Z")


def exact_minion_id(minion_id: str) -> str:
    """The id itself, or SaltBadRequest: no glob character (*?[]!), no space, nothing but an id."""
    if not isinstance(minion_id, str) or not MINION_ID.match(minion_id):
        raise SaltBadRequest(f"Refused to pass {str(minion_id)[:60]!r} to Salt: not one exact minion id.")
    return minion_id


def _trim(text: str, limit: int = BODY_LIMIT) -> str:
    """A short, readable error body: CherryPy's HTML error pages are reduced to their text."""
    text = (text or "").strip()
    if text.startswith("<") and "<html" in text[:500].lower():
        text = _HTML_TAG.sub(" ", _HTML_NOISE.sub(" ", text))
        text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def _error_for(resp: requests.Response, what: str) -> SaltError:
    body = _trim(resp.text)
    msg = f"salt-api {what}: HTTP {resp.status_code}" + (f": {body}" if body else "")
    if resp.status_code in (401, 403):
        return SaltAuthError(msg, resp.status_code, body)
    if resp.status_code >= 500:
        return SaltUnavailable(msg, resp.status_code, body)
    return SaltBadRequest(msg, resp.status_code, body)


# --------------------------------------------------------------------------- client

class SaltAPI:
    """A salt-api client bound to one user; logs in on first use and again when the token expires."""

    def __init__(self, url: str, username: str, password: str, eauth: str = "file", *,
                 timeout: float = 60.0, connect_timeout: float = 5.0, retries: int = 3,
                 backoff: float = 0.5, verify: bool | str = True, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.eauth = eauth
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.verify = verify
        self.session = session or requests.Session()
        self.token: str | None = None
        self.token_expires: float = 0.0

    # ----------------------------------------------------------------- transport
    def _request(self, method: str, path: str, what: str, **kw) -> requests.Response:
        kw.setdefault("timeout", (self.connect_timeout, self.timeout))
        kw.setdefault("verify", self.verify)
        last: Exception | None = None
        for attempt in range(self.retries):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                resp = self.session.request(method, self.url + path, **kw)
            except requests.exceptions.ConnectionError as exc:
                # Includes "connection refused": nothing reached salt-api, safe to retry.
                if isinstance(exc, requests.exceptions.ReadTimeout):
                    raise SaltUnavailable(f"salt-api {what}: no answer in time: {exc}") from exc
                last = exc
                continue
            except requests.exceptions.Timeout as exc:
                raise SaltUnavailable(f"salt-api {what}: no answer in time: {exc}") from exc
            except requests.exceptions.RequestException as exc:
                raise SaltUnavailable(f"salt-api {what}: {exc}") from exc
            if resp.status_code in RETRY_STATUS and attempt + 1 < self.retries:
                last = _error_for(resp, what)
                continue
            return resp
        if isinstance(last, SaltError):
            raise last
        raise SaltUnavailable(f"salt-api {what}: cannot connect to {self.url}: {last}") from last

    def login(self) -> str:
        """POST /login; return (and keep) the token."""
        resp = self._request("POST", "/login", "login", json={
            "username": self.username, "password": self.password, "eauth": self.eauth},
            headers={"Accept": "application/json"})
        if resp.status_code != 200:
            raise _error_for(resp, "login")
        try:
            info = resp.json()["return"][0]
            self.token = info["token"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SaltError(f"salt-api login: unexpected answer: {_trim(resp.text)}") from exc
        # Renew a minute early; salt's default token lifetime is 12 hours.
        self.token_expires = float(info.get("expire") or (time.time() + 3600)) - 60
        return self.token

    def _token(self) -> str:
        if not self.token or time.time() >= self.token_expires:
            self.login()
        return self.token  # type: ignore[return-value]

    def call(self, lowstate: dict) -> Any:
        """POST one lowstate chunk to `/`; return its `return` entry. Re-logs in once on 401."""
        what = f"{lowstate.get('client')} {lowstate.get('fun')}"
        for attempt in (1, 2):
            resp = self._request("POST", "/", what, json=[lowstate], headers={
                "X-Auth-Token": self._token(), "Accept": "application/json"})
            if resp.status_code == 401 and attempt == 1:
                self.token = None
                continue
            if resp.status_code != 200:
                raise _error_for(resp, what)
            try:
                return resp.json()["return"][0]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise SaltError(f"salt-api {what}: unexpected answer: {_trim(resp.text)}") from exc
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- clients
    @staticmethod
    def _local_low(client, tgt, fun, arg, kwarg, tgt_type, timeout):
        low = {"client": client, "tgt": tgt, "fun": fun, "tgt_type": tgt_type}
        if arg:
            low["arg"] = list(arg) if isinstance(arg, (list, tuple)) else [arg]
        if kwarg:
            low["kwarg"] = dict(kwarg)
        if timeout is not None:
            low["timeout"] = timeout
        return low

    def local(self, tgt, fun: str, arg=(), kwarg: dict | None = None, tgt_type: str = "glob",
              timeout: int | None = None) -> dict:
        """Run an execution function and wait: {minion_id: return}. Minions that did not answer are absent."""
        ret = self.call(self._local_low("local", tgt, fun, arg, kwarg, tgt_type, timeout))
        return ret if isinstance(ret, dict) else {}

    def local_async(self, tgt, fun: str, arg=(), kwarg: dict | None = None, tgt_type: str = "glob") -> dict:
        """Publish a job and return at once: {"jid": ..., "minions": [...]}; an empty dict when no minion matched."""
        ret = self.call(self._local_low("local_async", tgt, fun, arg, kwarg, tgt_type, None))
        return ret if isinstance(ret, dict) else {}

    def runner(self, fun: str, **kw) -> Any:
        """Run a runner on the master and wait for its return."""
        return self.call({"client": "runner", "fun": fun, **kw})

    def runner_async(self, fun: str, **kw) -> dict:
        """Start a runner: {"jid": ..., "tag": "salt/run/<jid>"}. Follow it with events()."""
        return self.call({"client": "runner_async", "fun": fun, **kw})

    def wheel(self, fun: str, **kw) -> Any:
        """Run a wheel function (key.list_all, key.accept, ...); return its `return`."""
        ret = self.call({"client": "wheel", "fun": fun, **kw})
        data = ret.get("data", {}) if isinstance(ret, dict) else {}
        if data.get("success") is False:
            raise SaltBadRequest(f"salt-api wheel {fun}: {_trim(str(data.get('return')))}")
        return data.get("return")

    # Keys, through the wheel client.
    def keys(self) -> dict:
        """{"minions": [...], "minions_pre": [...], "minions_rejected": [...], "minions_denied": [...]}"""
        return self.wheel("key.list_all")

    # key.accept/reject/delete take `match` as a glob ("*" is every key): these use the
    # _dict variants, which move exactly the name given, from the one state the key is in,
    # and refuse a name with a glob character or outside the minion id allow-list.
    def _key_state(self, minion_id: str, states: tuple[str, ...]) -> str:
        name = exact_minion_id(minion_id)
        keys = self.keys() or {}
        for state in states:
            if name in (keys.get(state) or []):
                return state
        raise SaltBadRequest(f"The Salt master has no key {name!r} in {' or '.join(states)}.")

    def accept_key(self, minion_id: str, include_rejected: bool = False) -> dict:
        state = self._key_state(minion_id, ("minions_pre", "minions_rejected")[:2 if include_rejected else 1])
        return self.wheel("key.accept_dict", match={state: [minion_id]},
                          include_rejected=state == "minions_rejected")

    def reject_key(self, minion_id: str, include_accepted: bool = False) -> dict:
        state = self._key_state(minion_id, ("minions_pre", "minions")[:2 if include_accepted else 1])
        return self.wheel("key.reject_dict", match={state: [minion_id]},
                          include_accepted=state == "minions")

    def delete_key(self, minion_id: str) -> dict:
        state = self._key_state(minion_id, ("minions", "minions_pre", "minions_rejected", "minions_denied"))
        return self.wheel("key.delete_dict", match={state: [minion_id]})

    # Orchestration.
    def orchestrate_async(self, mods: str, pillar: dict | None = None, test: bool = False) -> dict:
        """Start `state.orchestrate` (runner_async): {"jid": ..., "tag": ...}."""
        kw: dict[str, Any] = {"mods": mods, "pillar": pillar or {}}
        if test:
            kw["test"] = True
        return self.runner_async("state.orchestrate", **kw)

    # ----------------------------------------------------------------- events
    def events(self, read_timeout: float | None = None) -> "EventStream":
        """Open GET /events now (so nothing published after this call is missed) and return the stream.

        Iterate it for {"tag": ..., "data": ...} dicts; close it (or use `with`) when done.
        read_timeout: seconds without any byte before SaltUnavailable (None: wait forever;
        salt-api sends nothing between events).
        """
        for attempt in (1, 2):
            try:
                resp = self.session.get(self.url + "/events", stream=True, verify=self.verify,
                                        timeout=(self.connect_timeout, read_timeout),
                                        headers={"X-Auth-Token": self._token(), "Accept": "text/event-stream"})
            except requests.exceptions.RequestException as exc:
                raise SaltUnavailable(f"salt-api events: {exc}") from exc
            if resp.status_code == 401 and attempt == 1:
                resp.close()
                self.token = None
                continue
            if resp.status_code != 200:
                err = _error_for(resp, "events")
                resp.close()
                raise err
            return EventStream(resp)
        raise AssertionError("unreachable")


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
                        event = _decode_event("\n".join(data_lines))
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


def _decode_event(text: str) -> dict | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if isinstance(obj, dict) and "tag" in obj:
        return {"tag": obj["tag"], "data": obj.get("data", {})}
    return None


# --------------------------------------------------------------------------- reading orchestration results

def parse_state_key(key: str) -> dict:
    """'pkg_|-docker-package-pkg-installed_|-docker_|-installed' -> {module, id, name, function}."""
    parts = key.split("_|-")
    if len(parts) != 4:
        return {"module": "", "id": key, "name": key, "function": ""}
    return {"module": parts[0], "id": parts[1], "name": parts[2], "function": parts[3]}


def run_id_of(job_new_event_data: dict) -> str | None:
    """The hummer_run_id in a `salt/job/<jid>/new` event's arguments (None if absent).

    Orchestration steps pass `pillar: {hummer_run_id: ...}` to state.sls, which
    shows up in the job's `arg` list as a kwargs dict ({"__kwarg__": True, "pillar": {...}}).
    """
    for arg in job_new_event_data.get("arg") or []:
        if isinstance(arg, dict):
            pillar = arg.get("pillar")
            if isinstance(pillar, dict) and pillar.get("hummer_run_id"):
                return str(pillar["hummer_run_id"])
    return None


def _job_record(ret: dict) -> dict:
    """jobs.lookup_jid through salt-api answers {master_id: {"fun", "jid", "return", "success", ...}}
    (also seen wrapped once more in {"return": ...}): that job record, else ret as it is."""
    for candidate in (ret, ret.get("return") if isinstance(ret, dict) else None):
        if isinstance(candidate, dict) and len(candidate) == 1:
            (only,) = candidate.values()
            if isinstance(only, dict) and {"fun", "jid", "return"} <= only.keys():
                return only
    return ret


def _runner_data(ret: dict) -> dict:
    """The {state_key: result} mapping of a state.orchestrate return, in any of salt's wrappings."""
    ret = _job_record(ret)
    if not isinstance(ret, dict):
        return {}
    if "return" in ret and isinstance(ret["return"], dict):  # salt/run/<jid>/ret event data
        ret = ret["return"]
    if "data" in ret and isinstance(ret["data"], dict):
        ret = ret["data"]
    if len(ret) == 1:
        (only,) = ret.values()
        if isinstance(only, dict) and all(isinstance(v, dict) for v in only.values()):
            if any("_|-" in k for k in only):
                return only
    return ret if any("_|-" in k for k in ret) else {}


def summarize_orchestration(ret: dict) -> dict:
    """Turn a state.orchestrate return into what a page or a log line needs.

    Accepts the runner's return, the data of its `salt/run/<jid>/ret` event, or
    `jobs.lookup_jid`'s answer. Returns
        {"success": bool, "steps": [...], "failures": [...]}
    Each step, in run order:
        {"step": name (the orchestration step, = the hummer_step pillar),
         "id": its state ID, "kind": "state" for salt.state, "function" for salt.function
         (the others: the state's function), "result": True/None/False, "comment",
         "jid": the step's job, "skipped": True when a step it requires failed,
         "minions": {minion: {"failed": [...], "changed": n, "total": n,
                              "return": the minion's own return, as its job's ret event
                                        carries it ({state_key: result} or a list of errors)}}}
    Each failure names the node, the state and why:
        {"step", "minion", "state" (state ID on the minion), "sls", "comment"}
    A step that failed without a minion to blame (no minion answered, a render
    error on the master) has minion "". A salt.function step's minions return what
    the function returned, so only the step's own result counts for it.
    """
    data = _runner_data(ret)
    steps, failures = [], []
    for key, step in sorted(data.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
        info = parse_state_key(key)
        name = info["name"] if info["module"] == "salt" else info["id"]
        kind = info["function"]
        comment = str(step.get("comment", ""))
        skipped = step.get("result") is False and comment.startswith("One or more requisite failed")
        minions: dict[str, dict] = {}
        changes = step.get("changes") if isinstance(step.get("changes"), dict) else {}
        rets = changes.get("ret") or {}
        step_failures = []
        for minion, states in (rets.items() if isinstance(rets, dict) else []):
            entry = {"failed": [], "changed": 0, "total": 0, "return": states}
            if kind == "function" and info["module"] == "salt":
                pass  # a function's return (test.ping: True), not state results
            elif isinstance(states, dict):
                for skey, sres in sorted(states.items(), key=lambda kv: (kv[1] or {}).get("__run_num__", 0)
                                         if isinstance(kv[1], dict) else 0):
                    if not isinstance(sres, dict):
                        continue
                    entry["total"] += 1
                    if sres.get("changes"):
                        entry["changed"] += 1
                    if sres.get("result") is False:
                        sinfo = parse_state_key(skey)
                        entry["failed"].append({"step": name, "minion": minion, "state": sinfo["id"],
                                                "sls": sres.get("__sls__", ""),
                                                "comment": str(sres.get("comment", ""))})
            else:
                # A list of render errors, or False: the minion could not even run the states.
                entry["failed"].append({"step": name, "minion": minion, "state": "", "sls": "",
                                        "comment": "\n".join(map(str, states)) if isinstance(states, list)
                                        else str(states)})
            # The first failure is the cause; the rest usually failed on its requisites.
            causes = [f for f in entry["failed"] if not f["comment"].startswith("One or more requisite failed")]
            step_failures.extend(causes or entry["failed"][:1])
            minions[minion] = entry
        if step.get("result") is False and not skipped and not step_failures:
            step_failures.append({"step": name, "minion": "", "state": "", "sls": "", "comment": comment})
        failures.extend(step_failures)
        steps.append({"step": name, "id": info["id"], "kind": kind, "result": step.get("result"), "comment": comment,
                      "jid": step.get("__jid__"), "skipped": skipped, "minions": minions})
    success = None
    ret = _job_record(ret)
    if isinstance(ret, dict):
        success = ret.get("success")
        inner = ret.get("return") if isinstance(ret.get("return"), dict) else ret
        if success is None and isinstance(inner.get("retcode"), int):
            success = inner["retcode"] == 0
    if success is None:
        success = all(s["result"] is not False for s in steps)
    success = bool(success) and not failures
    return {"success": success, "steps": steps, "failures": failures}


# --------------------------------------------------------------------------- the generated cluster pillar

PILLAR_HEADER = """\
# Hummer cluster pillar, generated by {generator} at {when}.
#
# The portal rewrites this file whenever the cluster's settings or nodes change;
# edit it by hand only for a cluster the portal does not manage. Every key is
# described in pillar/generated/cluster.yaml.example and the salt_states/*/pillar.example
# files. Apply it without the portal, for example:
#   salt-run state.orchestrate orch.cluster pillar='{{"hummer_run_id": "cli"}}' test=True
#   salt -C 'I@hummer:roles:node' state.apply docker
"""

_JINJA = re.compile(r"\{[{%#]|[}%#]\}")


def _check_values(obj, path="hummer"):
    # The pillar loader passes this file through Jinja (pillar/hummer/cluster.sls):
    # refuse anything that Jinja would interpret.
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise ValueError(f"{path}: keys must be strings, got {k!r}")
            _check_values(str(k), path)
            _check_values(v, f"{path}:{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_values(v, f"{path}[{i}]")
    elif isinstance(obj, str):
        if _JINJA.search(obj):
            raise ValueError(f"{path}: template delimiters are not allowed in pillar values: {obj!r}")
    elif obj is not None and not isinstance(obj, (bool, int, float)):
        raise ValueError(f"{path}: unsupported value type {type(obj).__name__}")


def render_cluster_pillar(data: dict, generator: str = "the Hummer portal", now: datetime | None = None) -> str:
    """Render the generated cluster pillar (pillar/generated/cluster.yaml) from a plain dict.

    `data` is the pillar itself: {"hummer": {"cluster": {...}, "nodes": {minion_id: {...}}, ...}}.
    A dict without the top-level "hummer" key is taken as its content. Keys keep
    their order (cluster, then nodes, then component overrides).
    """
    if not isinstance(data, dict):
        raise ValueError("the cluster pillar must be a mapping")
    if set(data) != {"hummer"}:
        if "hummer" in data:
            raise ValueError("the cluster pillar holds one top-level key, 'hummer'")
        data = {"hummer": data}
    hummer = dict(data["hummer"] or {})
    _check_values(hummer)
    ordered = {k: hummer[k] for k in ("cluster", "nodes") if k in hummer}
    ordered.update({k: v for k, v in hummer.items() if k not in ordered})
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    body = yaml.safe_dump({"hummer": ordered}, sort_keys=False, default_flow_style=False,
                          allow_unicode=True, width=100, indent=2)
    return PILLAR_HEADER.format(generator=generator, when=when) + "---\n" + body


def write_cluster_pillar(path: str | os.PathLike, data: dict, **kw) -> Path:
    """Render and write the cluster pillar atomically (mode 0640); return the path."""
    path = Path(path)
    text = render_cluster_pillar(data, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cluster-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
