"""Reading what Salt returns: state keys, one minion's state results, orchestration summaries.

    parse_state_key("pkg_|-docker-package_|-docker_|-installed")
        # {"module": "pkg", "id": "docker-package", "name": "docker", "function": "installed"}
    outcome = state_outcome(minion_return)   # {state key: result} or a list of render errors
    outcome.failed, outcome.changing, outcome.total, outcome.first_failure(...)
    summarize_orchestration(runner_return)   # {"success", "steps", "failures"}
    count_units(orchestrate_show_sls_return) # (step, node) pairs an orchestration will run
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["parse_state_key", "StateResult", "StateOutcome", "state_outcome", "summarize_orchestration",
           "count_units", "minion_address", "REQUISITE_FAILED"]

REQUISITE_FAILED = "One or more requisite failed"


def parse_state_key(key: str) -> dict:
    """'pkg_|-docker-package-pkg-installed_|-docker_|-installed' -> {module, id, name, function}."""
    parts = key.split("_|-")
    if len(parts) != 4:
        return {"module": "", "id": key, "name": key, "function": ""}
    return {"module": parts[0], "id": parts[1], "name": parts[2], "function": parts[3]}


@dataclass(frozen=True)
class StateResult:
    """One state of a minion's highstate return."""

    key: str
    raw: dict

    @property
    def id(self) -> str:
        return parse_state_key(self.key)["id"]

    @property
    def state_id(self) -> str:
        """The state's ID as the minion names it (__id__), else the ID in its key."""
        return str(self.raw.get("__id__") or self.id)

    @property
    def result(self) -> Any:
        return self.raw.get("result")

    @property
    def comment(self) -> str:
        return str(self.raw.get("comment", ""))

    @property
    def sls(self) -> str:
        return self.raw.get("__sls__", "")

    @property
    def changes(self) -> dict:
        """What the state changed (or, test=True, would), as it reported it."""
        changes = self.raw.get("changes")
        return changes if isinstance(changes, dict) else {}

    @property
    def changed(self) -> bool:
        return bool(self.raw.get("changes"))

    @property
    def failed(self) -> bool:
        return self.result is False

    @property
    def requisite_failed(self) -> bool:
        """Failed only because a state it requires failed: not the cause."""
        return self.failed and self.comment.startswith(REQUISITE_FAILED)

    def output(self) -> str:
        return json.dumps(self.raw, indent=2, default=str)


@dataclass
class StateOutcome:
    """A minion's return read: its states in run order, or the errors that kept them from running."""

    states: list[StateResult] = field(default_factory=list)
    errors: str | None = None  # a list of render errors (or False): nothing ran

    @property
    def ran(self) -> bool:
        return self.errors is None

    @property
    def total(self) -> int:
        return len(self.states)

    @property
    def failed(self) -> list[StateResult]:
        return [s for s in self.states if s.failed]

    @property
    def changed(self) -> list[StateResult]:
        return [s for s in self.states if s.changed]

    @property
    def changing(self) -> list[StateResult]:
        """States that changed something, or (test=True) would: result None."""
        return [s for s in self.states if s.changed or s.result is None]

    def first_failure(self, causes_first: bool = False) -> StateResult | None:
        """The first failed state; with causes_first, the first that failed of itself."""
        failed = self.failed
        if causes_first:
            failed = [s for s in failed if not s.requisite_failed] or failed
        return failed[0] if failed else None


def _run_order(item) -> int:
    value = item[1]
    return (value or {}).get("__run_num__", 0) if isinstance(value, dict) else 0


def state_outcome(ret: Any) -> StateOutcome:
    """One minion's return: {state key: result} (non-dict entries are skipped), or errors."""
    if not isinstance(ret, dict):
        return StateOutcome(errors="\n".join(map(str, ret)) if isinstance(ret, list) else str(ret))
    return StateOutcome([StateResult(k, v) for k, v in sorted(ret.items(), key=_run_order)
                         if isinstance(v, dict)])


def count_units(shown: Any) -> int:
    """(step, node) pairs an orchestration will run, from state.orchestrate_show_sls's high data."""
    units = 0
    for chunks in (shown.values() if isinstance(shown, dict) else []):
        data = next(iter(chunks.values()), {}) if isinstance(chunks, dict) else {}
        if isinstance(data, dict) and data.get("fun") in ("state", "function") and data.get("tgt"):
            tgt = data["tgt"]
            units += len(tgt) if isinstance(tgt, list) else 1
    return units


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
        skipped = step.get("result") is False and comment.startswith(REQUISITE_FAILED)
        minions: dict[str, dict] = {}
        changes = step.get("changes") if isinstance(step.get("changes"), dict) else {}
        rets = changes.get("ret") or {}
        step_failures = []
        for minion, states in (rets.items() if isinstance(rets, dict) else []):
            entry = {"failed": [], "changed": 0, "total": 0, "return": states}
            if kind == "function" and info["module"] == "salt":
                pass  # a function's return (test.ping: True), not state results
            else:
                outcome = state_outcome(states)
                entry["total"], entry["changed"] = outcome.total, len(outcome.changed)
                if outcome.ran:
                    entry["failed"] = [{"step": name, "minion": minion, "state": s.id, "sls": s.sls,
                                        "comment": s.comment} for s in outcome.failed]
                else:
                    # A list of render errors, or False: the minion could not even run the states.
                    entry["failed"].append({"step": name, "minion": minion, "state": "", "sls": "",
                                            "comment": outcome.errors})
            # The first failure is the cause; the rest usually failed on its requisites.
            causes = [f for f in entry["failed"] if not f["comment"].startswith(REQUISITE_FAILED)]
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


def minion_address(grains: dict | None) -> str:
    """A minion's address from its ipv4 grain: the first that is not 127.0.0.1 (else 127.0.0.1)."""
    addrs = [a for a in (grains or {}).get("ipv4", []) if a != "127.0.0.1"]
    return addrs[0] if addrs else "127.0.0.1"
