"""Step 6 of the wizard: the cluster registered for app management.

The portal's ServiceAccount and kubeconfig come from the real
kubernetes.master.portal_access state, applied for real on the hm-master minion
against the test's real API server (kubeadm init is skipped: its marker, the
admin kubeconfig, exists). The state publishes the kubeconfig through the Salt
mine, readable only from the portal node; the portal fetches it through
salt-api, stores it encrypted, and app management then runs on it.
"""
from __future__ import annotations

import html
import json
import subprocess
import uuid

import pytest
import yaml
from kubernetes import client

from portal.extensions import db
from portal.models import ClusterSettings
from tests.cluster.helpers import assign
from tests.support.kube_fixtures import delete_namespace
from tests.support.salt_fixtures import ROLES
from tests.support.web import text

MASTER = "hm-master"
PORTAL = next(m for m, roles in ROLES.items() if "portal" in roles)
SA_NAMESPACE = "hummer-system"


def access_pillar(kube_cluster, root) -> dict:
    """Redirect the state's files into root; reach the test cluster with its admin kubeconfig."""
    return {"hummer": {"kubernetes": {
        "pkg": {"manage": False},
        "kubelet_service": "",  # no kubelet here (the simulated one is not a service)
        "kubectl": str(kube_cluster.bin_dir / "kubectl"),
        "admin_conf": str(kube_cluster.kubeconfig),
        "root_kubeconfig": str(root / "root-kube-config"),
        "config_dir": str(root / "etc-kubernetes-hummer"),
        "control_plane_endpoint": kube_cluster.api_url.removeprefix("https://"),
        "portal": {"kubeconfig": str(root / "portal.kubeconfig")},
        "telegraf": {"token_file": str(root / "telegraf.token")},
    }}}


def apply_access(salt_env, pillar) -> dict:
    out = salt_env.salt(MASTER, "state.apply", "kubernetes.master.portal_access",
                        f"pillar={json.dumps(pillar)}", timeout=300)
    ret = out[MASTER]
    assert isinstance(ret, dict), "\n".join(map(str, ret))
    return ret


@pytest.fixture(scope="module")
def published(salt_env, kube_cluster, kube_api, tmp_path_factory):
    """kubernetes.master.portal_access applied twice for real; the mine entry removed after."""
    root = tmp_path_factory.mktemp("portal-access")
    salt_env.write_cluster_pillar(salt_env.example_pillar)
    salt_env.refresh_pillar()
    pillar = access_pillar(kube_cluster, root)
    try:
        first = apply_access(salt_env, pillar)
        second = apply_access(salt_env, pillar)
        kubeconfig = root / "portal.kubeconfig"
        yield {"root": root, "first": first, "second": second,
               "kubeconfig": kubeconfig.read_text() if kubeconfig.exists() else None}
    finally:
        salt_env.salt(MASTER, "mine.delete", "hummer_portal_kubeconfig", check=False)
        salt_env.salt(MASTER, "mine.delete", "hummer_telegraf_token", check=False)
        rbac = client.RbacAuthorizationV1Api(kube_api)
        for name in ("hummer-portal", "hummer-telegraf"):
            for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
                try:
                    delete(name)
                except client.ApiException:
                    pass
        delete_namespace(kube_api, SA_NAMESPACE)


def kubectl(kube_cluster, kubeconfig, *args) -> str:
    out = subprocess.run([str(kube_cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()


def test_portal_access_applies_for_real_and_a_second_apply_changes_nothing(published, kube_cluster):
    failed = {k: r["comment"] for k, r in published["first"].items() if r["result"] is not True}
    assert not failed, failed
    changed = {k.split("_|-")[1] for k, r in published["second"].items() if r["changes"]}
    # Only the mine publications run on every apply (they refresh what the mine holds).
    assert changed <= {"kubernetes-master-portal_access-mine-kubeconfig-module-run",
                       "kubernetes-master-portal_access-mine-telegraf-module-run"}, changed
    doc = yaml.safe_load(published["kubeconfig"])
    assert doc["clusters"][0]["cluster"]["server"] == kube_cluster.api_url
    assert doc["users"][0]["user"]["token"]


def test_only_the_portal_node_may_read_the_published_kubeconfig(published, salt_env):
    mine = "hummer_portal_kubeconfig"
    assert salt_env.salt(PORTAL, "mine.get", MASTER, mine)[PORTAL] == {MASTER: published["kubeconfig"]}
    other = next(m for m in ROLES if m not in (PORTAL, MASTER))
    assert salt_env.salt(other, "mine.get", MASTER, mine)[other] == {}
    assert not salt_env.salt_run("mine.get", MASTER, mine)


def test_the_portal_identity_has_only_the_rights_it_uses(published, kube_cluster):
    portal_kubeconfig = published["root"] / "portal.kubeconfig"
    can = lambda *a: kubectl(kube_cluster, portal_kubeconfig, "auth", "can-i", *a)  # noqa: E731
    assert can("create", "namespaces") == "yes"
    assert can("create", "deployments", "-n", "some-project") == "yes"
    assert can("patch", "deployments/scale", "-n", "some-project") == "yes"
    assert can("create", "jobs", "-n", "some-project") == "yes"  # in-cluster builds
    assert can("create", "persistentvolumes") == "yes"  # volumes
    assert can("patch", "persistentvolumes") == "yes"  # resizing a volume
    assert can("create", "storageclasses.storage.k8s.io") == "yes"
    assert can("delete", "nodes").startswith("no")
    assert can("create", "clusterroles").startswith("no")
    assert can("create", "pods/exec", "-n", "some-project").startswith("no")


@pytest.fixture
def registered_portal(salt_portal, app, web, login, make_user, published):
    make_user("root", admin=True)
    login("root")
    app.config["KUBECONFIG"] = ""  # app management must run on what the wizard stores
    assign(web, ROLES)
    return web


def stored_row() -> ClusterSettings:
    db.session.rollback()
    return db.session.scalar(db.select(ClusterSettings))


def test_fetching_the_kubeconfig_registers_the_cluster_and_apps_run_on_it(
        registered_portal, published, kube_cluster, kube_api):
    web = registered_portal
    page = html.unescape(text(web.get("/cluster")))
    assert "Not registered yet" in page
    response = web.post("/cluster/register", {})
    assert response.status_code == 302, text(response)[:1000]
    page = html.unescape(text(web.get("/cluster")))
    assert "Cluster registered for app management" in page
    assert kube_cluster.api_url in page and "kubeconfig stored encrypted" in page

    row = stored_row()
    token = yaml.safe_load(published["kubeconfig"])["users"][0]["user"]["token"]
    assert row.kubeconfig_encrypted and token not in row.kubeconfig_encrypted
    assert "apiVersion" not in row.kubeconfig_encrypted
    assert row.kube_server == kube_cluster.api_url
    assert row.registry_address == "127.0.0.1:5000" and row.nfs_server == "127.0.0.1:/hummer"

    # App management now works with the stored identity: a new project gets its namespace.
    name = f"reg-{uuid.uuid4().hex[:6]}"
    try:
        response = web.post("/projects/new", {"name": name})
        assert response.status_code == 302, html.unescape(text(response))[:1500]
        ns = client.CoreV1Api(kube_api).read_namespace(name)
        assert ns.metadata.name == name
        page = html.unescape(text(web.get(f"/projects/{name}/apps")))
        assert "No Kubernetes cluster is configured" not in page
        assert "not reachable" not in page
    finally:
        delete_namespace(kube_api, name)


def test_a_changed_secret_key_asks_for_the_kubeconfig_again(registered_portal, app, login, kube_api):
    web = registered_portal
    assert web.post("/cluster/register", {}).status_code == 302
    name = f"reg-{uuid.uuid4().hex[:6]}"
    try:
        assert web.post("/projects/new", {"name": name}).status_code == 302
        app.config["SECRET_KEY"] = "another-secret-key-entirely"
        web._token = None  # the old CSRF token and session cookie are no longer valid either
        login("root")
        response = web.get(f"/projects/{name}/apps")
        assert response.status_code == 200
        page = html.unescape(text(response))
        assert "The stored kubeconfig cannot be decrypted" in page
        assert "Fetch it again on the Cluster page" in page
        # Fetching it again with the new key brings app management back.
        assert web.post("/cluster/register", {}).status_code == 302
        page = html.unescape(text(web.get(f"/projects/{name}/apps")))
        assert "cannot be decrypted" not in page and "not reachable" not in page
    finally:
        delete_namespace(kube_api, name)


def test_without_a_published_kubeconfig_nothing_is_registered(registered_portal, web):
    # hm-node1 plays the master now: it has published nothing.
    roles = {m: [r for r in rs if r != "master"] for m, rs in ROLES.items()}
    roles["hm-node1"] = roles["hm-node1"] + ["master"]
    assign(web, roles)
    response = web.post("/cluster/register", {})
    assert response.status_code == 503
    page = html.unescape(text(response))
    assert "hm-node1 has not published the portal's kubeconfig" in page
    assert "state.apply kubernetes.master.portal_access" in page
    row = stored_row()
    assert row.kubeconfig_encrypted is None and row.registered_at is None
