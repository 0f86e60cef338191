"""salt-api (rest_cherrypy) client. A thin layer over `requests`; nothing here knows Flask.

    api = SaltAPI("http://127.0.0.1:8001", "hummer", "secret", eauth="file")
    api.local("*", "test.ping")                       # {"node1": True, ...}
    job = api.runner_async("state.orchestrate", mods="orch.cluster",
                           pillar={"hummer_run_id": "run-7"}, test=True)
    with api.events() as stream:                      # open the stream *before* starting a job
        for event in stream:                          # {"tag": ..., "data": {...}}
            ...

Errors (errors.py): SaltError is the base; SaltUnavailable (connection errors, timeouts,
5xx), SaltAuthError (401/403), SaltBadRequest (any other 4xx). urllib3's Retry (mounted
on the session) retries only where retrying cannot run a job twice: connection failures
(nothing was sent) and 502/503/504 (the gateway or salt-api could not reach the master),
waiting as a Retry-After header asks. A 500, or a read timeout after the request was
sent, may come after the job started, so it is raised at once.

Notes on salt 3008.4's rest_cherrypy:
- GET /events answers 400 to any query string, so the token goes in the
  X-Auth-Token header.
- Each orchestration step is a job of its own, not linked to the runner's jid;
  the portal passes a `hummer_run_id` in every step's pillar (salt_states/orch)
  and ties step jobs to its run through the `new` event's arguments
  (see events.run_id_of).
"""
from __future__ import annotations

import re
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from portal.adapters.salt.errors import SaltBadRequest, SaltError, SaltUnavailable, error_for, trim
from portal.adapters.salt.events import EventStream

__all__ = ["SaltAPI", "exact_minion_id", "MINION_ID", "RETRY_STATUS"]

RETRY_STATUS = (502, 503, 504)
MINION_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?\Z")


def exact_minion_id(minion_id: str) -> str:
    """The id itself, or SaltBadRequest: no glob character (*?[]!), no space, nothing but an id."""
    if not isinstance(minion_id, str) or not MINION_ID.match(minion_id):
        raise SaltBadRequest(f"Refused to pass {str(minion_id)[:60]!r} to Salt: not one exact minion id.")
    return minion_id


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
        adapter = HTTPAdapter(max_retries=self._retry())
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, adapter)
        self.token: str | None = None
        self.token_expires: float = 0.0

    # ----------------------------------------------------------------- transport
    def _retry(self) -> Retry:
        """What urllib3 retries: connection failures (nothing reached salt-api) and 502/503/504
        (the gateway or salt-api could not reach the master), honouring Retry-After. Never a
        read error: the request was sent and the job may have started."""
        again = self.retries - 1
        return Retry(total=again, connect=again, read=0, redirect=0, other=0, status=again,
                     status_forcelist=RETRY_STATUS, allowed_methods=None, backoff_factor=self.backoff,
                     respect_retry_after_header=True, raise_on_status=False)

    def _request(self, method: str, path: str, what: str, **kw) -> requests.Response:
        kw.setdefault("timeout", (self.connect_timeout, self.timeout))
        kw.setdefault("verify", self.verify)
        try:
            return self.session.request(method, self.url + path, **kw)
        except requests.exceptions.ConnectTimeout as exc:
            raise SaltUnavailable(f"salt-api {what}: cannot connect to {self.url}: {exc}") from exc
        except requests.exceptions.Timeout as exc:
            raise SaltUnavailable(f"salt-api {what}: no answer in time: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise SaltUnavailable(f"salt-api {what}: cannot connect to {self.url}: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise SaltUnavailable(f"salt-api {what}: {exc}") from exc

    def login(self) -> str:
        """POST /login; return (and keep) the token."""
        resp = self._request("POST", "/login", "login", json={
            "username": self.username, "password": self.password, "eauth": self.eauth},
            headers={"Accept": "application/json"})
        if resp.status_code != 200:
            raise error_for(resp, "login")
        try:
            info = resp.json()["return"][0]
            self.token = info["token"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SaltError(f"salt-api login: unexpected answer: {trim(resp.text)}") from exc
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
                raise error_for(resp, what)
            try:
                return resp.json()["return"][0]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise SaltError(f"salt-api {what}: unexpected answer: {trim(resp.text)}") from exc
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- clients
    @staticmethod
    def _local_low(client, tgt, fun, arg, kwarg, tgt_type, timeout, gather_job_timeout=None):
        low = {"client": client, "tgt": tgt, "fun": fun, "tgt_type": tgt_type}
        if gather_job_timeout is not None:
            low["gather_job_timeout"] = gather_job_timeout
        if arg:
            low["arg"] = list(arg) if isinstance(arg, (list, tuple)) else [arg]
        if kwarg:
            low["kwarg"] = dict(kwarg)
        if timeout is not None:
            low["timeout"] = timeout
        return low

    def local(self, tgt, fun: str, arg=(), kwarg: dict | None = None, tgt_type: str = "glob",
              timeout: int | None = None, gather_job_timeout: int | None = None) -> dict:
        """Run an execution function and wait: {minion_id: return}. Minions that did not answer
        are absent, or hold Salt's "did not return" text. After `timeout`, Salt asks the silent
        ones whether they still run the job and waits `gather_job_timeout` (the master's, 10 s,
        unless given) for that answer too."""
        ret = self.call(self._local_low("local", tgt, fun, arg, kwarg, tgt_type, timeout, gather_job_timeout))
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
            raise SaltBadRequest(f"salt-api wheel {fun}: {trim(str(data.get('return')))}")
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
                err = error_for(resp, "events")
                resp.close()
                raise err
            return EventStream(resp)
        raise AssertionError("unreachable")
