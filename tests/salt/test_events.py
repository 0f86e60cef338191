"""The portal's apply path: runner_async through salt-api, followed on /events to the run's ret.

orch.add_node (test mode) stands for any orchestration here: it has the same
shape as orch.cluster (a reachability check, then salt.state steps chained by
require) in half the time; test_orchestrate.py runs orch.cluster itself.
"""
import time
import uuid

from portal.adapters.salt import SaltUnavailable, run_id_of, summarize_orchestration


def follow(salt_api, started_jids):
    """One orch.add_node run through salt-api, with every event the test needs."""
    run_id = f"hummer-{uuid.uuid4().hex[:8]}"
    jobs, progress, returns, run_ret, seen_new = {}, {}, {}, None, False
    with salt_api.events(read_timeout=120) as stream:  # opened first: nothing is missed
        started = salt_api.orchestrate_async("orch.add_node", test=True,
                                             pillar={"hummer_run_id": run_id, "hummer_node": "hm-node2"})
        jid = started["jid"]
        started_jids.append(jid)
        assert started["tag"] == f"salt/run/{jid}"
        deadline = time.monotonic() + 400
        for event in stream:
            tag, data = event["tag"], event["data"]
            parts = tag.split("/")
            if tag == f"salt/run/{jid}/new":
                seen_new = True
            elif tag == f"salt/run/{jid}/ret":
                run_ret = data
                break
            elif parts[:2] == ["salt", "job"] and parts[3] == "new" and run_id_of(data) == run_id:
                step = next(a["pillar"]["hummer_step"] for a in data["arg"] if isinstance(a, dict))
                jobs[parts[2]] = (step, set(data["minions"]))
            elif parts[:2] == ["salt", "job"] and parts[2] in jobs and parts[3] == "prog":
                progress[parts[2]] = progress.get(parts[2], 0) + 1
            elif parts[:2] == ["salt", "job"] and parts[2] in jobs and parts[3] == "ret":
                returns.setdefault(parts[2], set()).add(parts[4])
            assert time.monotonic() < deadline, "no salt/run/<jid>/ret in time"
    return jid, seen_new, jobs, progress, returns, run_ret


def test_orchestration_is_followed_to_its_ret_with_step_jobs_tied_to_the_run(salt_env, salt_api):
    started = []
    try:
        jid, seen_new, jobs, progress, returns, run_ret = follow(salt_api, started)
    except SaltUnavailable as broken:
        # salt-api 3008.4 now and then ends an event stream early (the portal reopens it and
        # looks the run up); let this run finish and follow a fresh one.
        print(f"salt-api ended the event stream ({broken}); following a second run")
        deadline = time.monotonic() + 400
        while started and not salt_api.runner("jobs.lookup_jid", jid=started[0]) and time.monotonic() < deadline:
            time.sleep(2)
        jid, seen_new, jobs, progress, returns, run_ret = follow(salt_api, started)
    assert seen_new
    summary = summarize_orchestration(run_ret)
    assert run_ret["success"] is True and summary["success"], summary["failures"]
    assert [s["step"] for s in summary["steps"]] == ["test.ping", "common", "runtime", "token", "join", "telegraf"]
    by_step = {step: (jid_, minions) for jid_, (step, minions) in jobs.items()}
    assert set(by_step) == {"common", "runtime", "token", "join", "telegraf"}
    for step in summary["steps"][1:]:
        step_jid, minions = by_step[step["step"]]
        assert step["jid"] == step_jid                      # the ret's step jobs are those tied to the run
        assert returns[step_jid] == minions == set(step["minions"])
        assert progress.get(step_jid, 0) >= len(minions)    # state_events: a prog event per state and minion
    assert by_step["token"][1] == {"hm-master"} and by_step["join"][1] == {"hm-node2"}
