"""The words shown for stored or computed values: roles, run kinds and statuses, app statuses.

The value stays what the database and the code compare (`run.status == "failed"`); a template
shows it with the `label` filter (`{{ run.status|label }}`), which answers in the user's
language. A value without an entry here is shown as it is (a Kubernetes or Salt word).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

LABELS = {
    # project roles (models.Role)
    "owner": _l("owner"),
    "developer": _l("developer"),
    "viewer": _l("viewer"),
    # provisioning runs and their steps (models.RunStatus, RunKind)
    "starting": _l("starting"),
    "running": _l("running"),
    "succeeded": _l("succeeded"),
    "failed": _l("failed"),
    "plan": _l("plan"),
    "apply": _l("apply"),
    "add_node": _l("add a node"),
    "remove_node": _l("remove a node"),
    "ssh_host": _l("add a host over SSH"),
    # an app's status (adapters.kube.views.AppView.status)
    "stalled": _l("stalled"),
    "stopped": _l("stopped"),
    "updating": _l("updating"),
    # a project's apps taken together (services.overview.AppSummary.status)
    "degraded": _l("degraded"),
    # the roles a cluster node takes (services.provisioning.settings.ROLES)
    "master": _l("master"),
    "node": _l("node"),
    "registry": _l("registry"),
    "nfs": _l("nfs"),
    "monitoring": _l("monitoring"),
    "portal": _l("portal"),
    # the preflight's checks (services.provisioning.preflight.Check.check)
    "os": _l("os"),
    "cpus": _l("cpus"),
    "memory": _l("memory"),
    "swap": _l("swap"),
    "ports": _l("ports"),
    "master reachable": _l("master reachable"),
    "disk": _l("disk"),
    "answers": _l("answers"),
    # the kinds of object the audit log names (AuditEvent.object_type; "node" and "plan" above)
    "user": _l("user"),
    "project": _l("project"),
    "member": _l("member"),
    "app": _l("app"),
    "minion": _l("minion"),
    "run": _l("run"),
    "cluster": _l("cluster"),
    "image": _l("image"),
    "repository": _l("repository"),
    "secret": _l("Secret"),
    "build": _l("build"),
    # a build's status (models.BuildStatus) and source
    "queued": _l("queued"),
    "building": _l("building"),
    "pushing": _l("pushing"),
    "pushed": _l("pushed"),
    "cancelled": _l("cancelled"),
    "upload": _l("uploaded context"),
    "git": _l("Git"),
}


def label(value: object) -> str:
    """The value's word in the user's language, or the value itself when it has none."""
    key = getattr(value, "value", value)
    found = LABELS.get(str(key))
    return str(found) if found is not None else str(key)
