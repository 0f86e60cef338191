"""orch.cluster against the real minions, in test mode: the plan, and a failure that stops the run.

Test mode only: these minions run as root on the test machine, and the real
run would install Docker and Kubernetes. The harness' apt-get stand-in turns
the `apt-get update` that test-mode pkg states run into a no-op and refuses
anything else.
"""
import json

import pytest

from portal.adapters.salt import summarize_orchestration

STEPS = ["test.ping", "registry", "nfs-server", "common", "runtime", "master", "nodes", "monitoring",
         "telegraf", "portal"]
TARGETS = {"registry": {"hm-master"}, "nfs-server": {"hm-master"}, "common": {"hm-master", "hm-node1", "hm-node2"},
           "runtime": {"hm-master", "hm-node1", "hm-node2"}, "master": {"hm-master"},
           "nodes": {"hm-node1", "hm-node2"}, "monitoring": {"hm-node1"},
           "telegraf": {"hm-master", "hm-node1", "hm-node2"}, "portal": {"hm-node2"}}


def orchestrate(salt_env, mods, pillar, test=True):
    args = ["state.orchestrate", mods, f"pillar={json.dumps(pillar)}"]
    if test:
        args.append("test=True")
    return salt_env.salt_run(*args, timeout=600)


@pytest.fixture(scope="module")
def plan(salt_env):
    return orchestrate(salt_env, "orch.cluster", {"hummer_run_id": "plan-1"})


def test_plan_runs_every_step_on_its_nodes(salt_env, plan):
    summary = summarize_orchestration(plan)
    assert summary["success"], json.dumps(summary["failures"], indent=2)
    assert salt_env.last_cli.returncode == 0
    assert [s["step"] for s in summary["steps"]] == STEPS
    for step in summary["steps"][1:]:
        assert set(step["minions"]) == TARGETS[step["step"]], step["step"]
        assert step["result"] is None  # test mode: "would change"
        assert step["jid"]
        for m in step["minions"].values():
            assert m["failed"] == [] and m["total"] > 0


def test_plan_says_what_would_change_per_node(plan):
    steps = {s["step"]: s for s in summarize_orchestration(plan)["steps"]}
    data = next(iter(plan["data"].values()))
    common = data["salt_|-orch-cluster-common-salt-state_|-common_|-state"]["changes"]["ret"]["hm-node1"]
    hosts = next(v for k, v in common.items() if "common-config-hosts-file-blockreplace" in k)
    assert hosts["result"] is None and hosts["changes"]  # the /etc/hosts block would be written
    assert steps["runtime"]["minions"]["hm-node2"]["changed"] >= 3
    master = data["salt_|-orch-cluster-master-salt-state_|-master_|-state"]["changes"]["ret"]["hm-master"]
    init = next(v for k, v in master.items() if "kubernetes-master-kubeadm-init-cmd-run" in k)
    assert init["result"] is None and "kubeadm init --config" in init["comment"]


def test_plan_never_touches_packages(salt_env, plan):
    calls = [line.split(" ", 2)[2] for line in salt_env.apt_get_log]
    assert calls, "test-mode pkg states run apt-get update"
    assert all(c.endswith("update") for c in calls), calls


def test_a_failing_state_stops_the_run_and_names_node_and_state(salt_env):
    out = orchestrate(salt_env, "orch.cluster", {
        "hummer_run_id": "fail-1",
        "hummer_fail_state": {"component": "common", "minion": "hm-node1", "comment": "Disk full (injected)"}})
    assert salt_env.last_cli.returncode != 0
    summary = summarize_orchestration(out)
    assert not summary["success"]
    assert summary["failures"][0] == {
        "step": "common", "minion": "hm-node1", "state": "common-failpoint-test-configurable_test_state",
        "sls": "common", "comment": summary["failures"][0]["comment"]}
    assert "Disk full (injected)" in summary["failures"][0]["comment"]
    assert len(summary["failures"]) == 1
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["registry"]["result"] is None and steps["nfs-server"]["result"] is None
    # The other nodes finished the step; on the failing node Salt ignores failhard in
    # test mode (test_real_apply.py shows it stopping a real run).
    assert steps["common"]["minions"]["hm-node2"]["failed"] == []
    for later in STEPS[4:]:
        assert steps[later]["skipped"] and steps[later]["minions"] == {}, later
