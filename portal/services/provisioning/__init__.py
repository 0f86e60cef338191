"""Provisioning the cluster over Salt: what the cluster routes and the dashboard use.

(The functions preflight.preflight and settings.settings are exported as run_preflight and
cluster_settings, so that the names of the submodules stay theirs.)

    settings.py       cluster settings, nodes and roles, the generated pillar, key accept/reject
    preflight.py      preflight() built from pure checks (os, size, swap, ports, reach, disk)
    runs.py           RunStatus and RunKind, start, retry, progress, history
    supervision.py    RunWorker (app context, heartbeat, ownership-checked finish) and the
    per-process Supervisor that claims stale runs
    orchestration.py  the orchestration follower (a RunWorker)
    enrolment.py      adding a host over SSH (a RunWorker)
    registration.py   fetching and storing the kubeconfig
    inputs.py         what the wizard's forms accept
    wizard.py         where the wizard stands
    access.py         the salt-api client from the app's settings
"""
from portal.services.provisioning.access import SALT_NOT_CONFIGURED, salt_configured
from portal.services.provisioning.enrolment import add_host
from portal.services.provisioning.preflight import preflight as run_preflight
from portal.services.provisioning.registration import register
from portal.services.provisioning.runs import (
    ORCHESTRATIONS,
    RunKind,
    RunStatus,
    active_run,
    get_run,
    progress,
    retry,
    runs,
    start_run,
)
from portal.services.provisioning.settings import (
    ROLES,
    accept_key,
    answering,
    minions,
    nodes,
    reject_key,
    role_problems,
    save_settings,
    set_roles,
)
from portal.services.provisioning.settings import settings as cluster_settings
from portal.services.provisioning.supervision import RESUMED, init_app

__all__ = [
    "SALT_NOT_CONFIGURED", "salt_configured", "add_host", "run_preflight", "register",
    "ORCHESTRATIONS", "RunKind", "RunStatus", "active_run", "get_run", "progress", "retry", "runs", "start_run",
    "ROLES", "accept_key", "answering", "minions", "nodes", "reject_key", "role_problems", "save_settings", "set_roles",
    "cluster_settings", "RESUMED", "init_app",
]
