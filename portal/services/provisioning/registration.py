"""Registration: the applied cluster's kubeconfig, fetched from the Salt mine and stored
(encrypted, through services/cluster.py) for app management, with where the registry and
the NFS server are."""
from __future__ import annotations

from flask_babel import gettext as _

from portal.adapters import kube as kube_adapter
from portal.adapters import salt as salt_adapter
from portal.extensions import db
from portal.models import utcnow
from portal.services import audit
from portal.services import kube_access as cluster_service
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, Unavailable
from portal.services.provisioning.access import salt, salt_call
from portal.services.provisioning.settings import nodes, settings

MINE_KUBECONFIG = "hummer_portal_kubeconfig"  # salt_states/kubernetes parameters: mine:kubeconfig


def register_cluster(api: salt_adapter.SaltAPI | None = None) -> str:
    """Register the applied cluster for app management; returns what was recorded.

    Records where the registry and the NFS server are, and fetches the portal's
    kubeconfig that kubernetes.master.portal_access published through the Salt mine.
    The mine entry is readable only from the portal host (or the master when no
    node has the portal role), so that minion is asked for it. The kubeconfig is
    stored encrypted (portal/crypto.py) and app management uses it from then on,
    unless HUMMER_KUBECONFIG names another one. Raises Invalid or Unavailable
    saying what is missing; nothing is recorded then.
    """
    rows = nodes()
    by_role = {r: next((n for n in rows if r in n.role_list), None)
               for r in ("master", "registry", "nfs", "portal")}
    master = by_role["master"]
    if master is None:
        raise Invalid(None, _("No node has the master role, so there is no cluster to register."))
    reader = by_role["portal"] or master
    api = api or salt()
    answer = salt_call(api.local, reader.minion_id, "mine.get", [master.minion_id, MINE_KUBECONFIG],
                       timeout=30)
    published = answer.get(reader.minion_id) if isinstance(answer, dict) else None
    content = published.get(master.minion_id) if isinstance(published, dict) else None
    if published is None or published is False:
        raise Unavailable(_("%(minion)s did not answer when asked for the kubeconfig in the "
                            "Salt mine; check that its salt-minion runs.", minion=reader.minion_id))
    if not isinstance(content, str) or not content.strip():
        raise Unavailable(_(
            "%(minion)s has not published the portal's kubeconfig in the Salt mine yet "
            "(%(mine)s). Apply the cluster, or run `salt %(minion)s state.apply "
            "kubernetes.master.portal_access`, then fetch it again.", minion=master.minion_id,
            mine=MINE_KUBECONFIG))
    try:
        server = kube_adapter.server_of(content)
    except kube_adapter.KubeError as error:
        raise Unavailable(_("The kubeconfig %(minion)s published is not usable: %(reason)s",
                            minion=master.minion_id, reason=error.message)) from error
    s = settings()
    if by_role["registry"] is not None:
        s.registry_address = f"{by_role['registry'].address}:{s.registry_port}"
    if by_role["nfs"] is not None:
        s.nfs_server = f"{by_role['nfs'].address}:{s.nfs_export}"
    s.kubeconfig_encrypted = cluster_service.encrypt_kubeconfig(content)
    s.kube_server = server[:255]
    s.registered_at = utcnow()
    cluster_service.forget_cached_kubeconfig()
    return summary(server, master.minion_id, s.registry_address, s.nfs_server)


def summary(server: str, minion: str, registry: str, nfs: str, translated: bool = False) -> str:
    """What was registered, in English (as stored: the audit detail, a run's message) or in the
    reader's language."""
    values = {"server": server, "minion": minion, "registry": registry or "-", "nfs": nfs or "-"}
    if translated:
        return _("API server %(server)s (kubeconfig from %(minion)s, stored encrypted), "
                 "registry %(registry)s, NFS %(nfs)s", **values)
    return ("API server %(server)s (kubeconfig from %(minion)s, stored encrypted), "
            "registry %(registry)s, NFS %(nfs)s") % values


def register(by: Actor) -> str:
    """The Cluster page's "Fetch the kubeconfig again": register_cluster, audited. Returns
    what was registered in the reader's language."""
    require_admin(by.user)
    stored = register_cluster()
    s = settings()
    audit.record(by, "cluster.register", "cluster", s.name, detail=stored)
    db.session.commit()
    master = next((n for n in nodes() if "master" in n.role_list), None)
    return summary(s.kube_server or "", master.minion_id if master else "-", s.registry_address,
                   s.nfs_server, translated=True)
