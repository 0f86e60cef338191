"""Pull credentials in the cluster (README "Pull credentials"), against the real API server and
the real registries (tests/support/registry.py): a locked registry gives each project namespace
a kubernetes.io/dockerconfigjson Secret `hummer-registry` that every Deployment names in
imagePullSecrets; new credentials rotate it, the same ones leave it alone; an open registry
gives neither.

The kubelet is simulated here and pulls nothing. To show that the Secret is one a node can pull
with, the simulated kubelet's registry check (`registry_checker`) reads the Secret of the
project from the API server and asks the real locked registry for the image with skopeo, the
Secret's .dockerconfigjson as skopeo's auth file: a pod starts only if that pull is allowed.
"""
from __future__ import annotations

import base64
import json
import logging
import subprocess
import tempfile

import pytest

from portal.extensions import db
from portal.models import AuditEvent
from portal.services.images import pullsecrets
from tests.apps.conftest import deploy_form, ready, wait_for
from tests.support.registry import oci_layout
from tests.support.web import text

pytestmark = pytest.mark.kube

SECRET = "hummer-registry"
DIGEST = "hummer.io/credentials-digest"
NEW_PASSWORD = "rotated-pass-2"


def use_registry(app, server, password: str | None = None) -> None:
    """Point the portal at `server`, with its login (a locked one) or none (an open one)."""
    app.config["REGISTRY_URL"] = server.url
    app.config["REGISTRY_USERNAME"] = server.username
    app.config["REGISTRY_PASSWORD"] = server.password if password is None else password


def secret(core_api, ns: str):
    from kubernetes import client
    try:
        return core_api.read_namespaced_secret(SECRET, ns)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def login_in(s) -> dict:
    """The Secret's .dockerconfigjson, decoded as the kubelet decodes it."""
    return json.loads(base64.b64decode(s.data[".dockerconfigjson"]))


def pull_secrets_of(apps_api, ns: str, name: str) -> list[str]:
    refs = apps_api.read_namespaced_deployment(name, ns).spec.template.spec.image_pull_secrets or []
    return [r.name for r in refs]


def pulls_with_the_secret(core_api, ns: str, tmp_path):
    """A registry check for the simulated kubelet: the image is there for a pod of `ns` when
    skopeo, given the namespace's pull Secret as its auth file, may read its manifest."""
    def check(image: str) -> bool:
        s = secret(core_api, ns)
        argv = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
        with tempfile.NamedTemporaryFile(dir=tmp_path, suffix=".json") as authfile:  # one per pull
            if s is not None:
                authfile.write(base64.b64decode(s.data[".dockerconfigjson"]))
                authfile.flush()
                argv += ["--authfile", authfile.name]
            else:
                argv += ["--no-creds"]
            return subprocess.run(argv + [f"docker://{image}"], capture_output=True, timeout=60).returncode == 0
    return check


def audit() -> list[AuditEvent]:
    """Every audit record, as requests and the CLI committed them (the test's own read
    transaction ends first)."""
    db.session.commit()
    return list(db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)))


def nowhere_in(events: list[AuditEvent], log: str, *secrets: str) -> None:
    for e in events:
        for value in (e.detail, e.object_name, e.object_type, e.action):
            assert not any(s in (value or "") for s in secrets), value
    assert not any(s in log for s in secrets)


@pytest.fixture
def configured(request, app, registries):
    """The portal on the `locked` (htpasswd) or `open` registry, before the project is made."""
    server = registries[getattr(request, "param", "locked")]
    use_registry(app, server)
    return server


@pytest.fixture
def cproject(configured, kproject):
    db.session.commit()  # what projects.create() does after provision(): keep its audit records
    return kproject


def test_a_locked_registry_gives_the_project_a_pull_secret_its_pods_pull_with(
        cproject, configured, login, web, apps_api, core_api, kubelet, tmp_path, caplog):
    ns, locked = cproject.name, configured
    caplog.set_level(logging.DEBUG)
    # made with the namespace: the right type, Hummer's label, the login for the pull host
    made = secret(core_api, ns)
    assert made is not None and made.type == "kubernetes.io/dockerconfigjson"
    assert made.metadata.labels["app.kubernetes.io/managed-by"] == "hummer"
    basic = base64.b64encode(f"{locked.username}:{locked.password}".encode()).decode()
    assert login_in(made) == {"auths": {locked.host: {"username": locked.username, "password": locked.password,
                                                      "auth": basic}}}
    digest = made.metadata.annotations[DIGEST]
    assert locked.password not in json.dumps(made.metadata.annotations) and basic not in digest

    locked.push(oci_layout(tmp_path / "layout"), f"{ns}/web:1.0")
    kubelet.registry_checker = pulls_with_the_secret(core_api, ns, tmp_path)
    login("dev")
    response = web.post(f"/projects/{ns}/apps/new", deploy_form("web", image=f"{locked.host}/{ns}/web",
                                                                 replicas=2))
    assert response.status_code == 302, text(response)[-2000:]
    assert pull_secrets_of(apps_api, ns, "web") == [SECRET]
    ready(apps_api, ns, "web", 2)  # the (simulated) kubelet pulled with the Secret's login

    # the same credentials: checked, not written again
    assert secret(core_api, ns).metadata.resource_version == made.metadata.resource_version
    # the YAML preview shows what a deploy sends
    preview = text(web.post(f"/projects/{ns}/apps/new", deploy_form("other", op="yaml")))
    assert "imagePullSecrets:" in preview and f"name: {SECRET}" in preview

    # the audit says when the Secret was made and for whom, never with the password; nor does the log
    events = audit()
    made_events = [(e.actor_name, e.object_name, e.detail) for e in events if e.action == "project.pull_secret"]
    assert made_events == [("system", SECRET, f"created {locked.username}@{locked.host}")]
    nowhere_in(events, caplog.text, locked.password, basic)


def test_new_credentials_rotate_the_secret_and_the_same_ones_do_not(
        app, cproject, configured, login, web, apps_api, core_api, kubelet, runner, tmp_path, caplog):
    ns, locked = cproject.name, configured
    caplog.set_level(logging.DEBUG)
    locked.push(oci_layout(tmp_path / "layout"), f"{ns}/web:1.0")
    locked.push(oci_layout(tmp_path / "layout2", [{"two": b"2\n"}]), f"{ns}/web:2.0")
    kubelet.registry_checker = pulls_with_the_secret(core_api, ns, tmp_path)
    login("dev")
    image = f"{locked.host}/{ns}/web"
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("web", image=image, replicas=1)).status_code == 302
    ready(apps_api, ns, "web", 1)
    before = secret(core_api, ns)

    # the credentials change (a new password in the environment): the next change of an app
    # rotates the Secret before the Deployment is written
    app.config["REGISTRY_PASSWORD"] = NEW_PASSWORD
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": image, "tag": "2.0"})
    assert response.status_code == 302, text(response)[-2000:]
    after = secret(core_api, ns)
    assert after.metadata.resource_version != before.metadata.resource_version
    assert after.metadata.annotations[DIGEST] != before.metadata.annotations[DIGEST]
    assert login_in(after)["auths"][locked.host]["password"] == NEW_PASSWORD
    assert pull_secrets_of(apps_api, ns, "web") == [SECRET]
    # the registry does not know that password: the new pod cannot pull, as on a real node
    wait_for(lambda: any((cs.state.waiting and cs.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff"))
                         for p in core_api.list_namespaced_pod(ns, label_selector="hummer.io/app=web").items
                         for cs in p.status.container_statuses or []), what="the new pod failing to pull")
    rotated = [(e.actor_name, e.detail) for e in audit() if e.action == "project.pull_secret"][1:]
    assert rotated == [("system", f"rotated {locked.username}@{locked.host}")]

    # the right password again, for every project at once (what a worker does when it starts)
    app.config["REGISTRY_PASSWORD"] = locked.password
    result = runner.invoke(args=["pull-secrets"])
    assert result.exit_code == 0, result.output
    assert "rotated: 1" in result.output
    ready(apps_api, ns, "web", 1)  # the waiting pod now pulls 2.0 with the rotated Secret
    settled = secret(core_api, ns)
    assert login_in(settled)["auths"][locked.host]["password"] == locked.password

    # unchanged credentials: another image and a worker's start leave it alone
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": image, "tag": "1.0"})
    assert response.status_code == 302, text(response)[-2000:]
    app.config["KUBE_START_CACHES"] = True
    sweep = pullsecrets.start_sweep(app)
    sweep.join(timeout=60)
    assert not sweep.is_alive()
    assert secret(core_api, ns).metadata.resource_version == settled.metadata.resource_version
    assert len([e for e in audit() if e.action == "project.pull_secret"]) == 3  # created, rotated twice
    nowhere_in(audit(), caplog.text, NEW_PASSWORD, locked.password)


@pytest.mark.parametrize("configured", ["open", "locked"], indirect=True)
def test_an_open_registry_gives_no_secret_and_no_reference(app, registries, configured, cproject, login, web,
                                                            apps_api, core_api):
    """A project made on an open registry has no Secret and its apps none in imagePullSecrets;
    one made on a locked registry that is then opened loses both at its next change."""
    ns, is_open = cproject.name, not configured.username
    login("dev")
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("web", replicas=1)).status_code == 302
    assert (secret(core_api, ns) is None) is is_open
    assert pull_secrets_of(apps_api, ns, "web") == ([] if is_open else [SECRET])
    use_registry(app, registries["open"])
    preview = text(web.post(f"/projects/{ns}/apps/new", deploy_form("other", op="yaml")))
    assert "imagePullSecrets" not in preview
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": "hummer/web", "tag": "2.0"})
    assert response.status_code == 302, text(response)[-2000:]
    assert secret(core_api, ns) is None
    assert pull_secrets_of(apps_api, ns, "web") == []
    removed = [e.detail for e in audit() if e.action == "project.pull_secret"]
    assert removed == ([] if is_open else [f"created {configured.username}@{configured.host}", "removed"])
