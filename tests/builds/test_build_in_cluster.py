"""Git builds as Kubernetes Jobs (HUMMER_BUILD_IN_CLUSTER=1) on the real test API server: the
Job the portal creates is read back and checked, the simulated kubelet runs its pod (the
stand-in for the builder container: it prints log lines and pushes the image with skopeo, as
the builder's `buildah push` would), and the portal streams the pod's log, records the digest
the registry holds, and deletes the Job when the build is cancelled."""
from __future__ import annotations

import subprocess
import threading
import uuid
from dataclasses import dataclass

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from portal.extensions import db
from portal.models import Build
from portal.services import builds
from tests.support.waiting import wait_for
from tests.support.web import text

pytestmark = pytest.mark.kube


@dataclass(frozen=True)
class Source:
    url: str
    branch: str


def ended(build_id: int) -> Build:
    def probe():
        db.session.commit()
        build = db.session.get(Build, build_id)
        return build if build.status in ("pushed", "failed", "cancelled") else None
    return wait_for(probe, timeout=120, what=f"build {build_id} to end")


@pytest.fixture
def cluster_builds(kube_app, kproject, kubelet, registries, busybox_base, git_daemon, login, web):
    server = registries["open"]
    kube_app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="",
                           BUILD_IN_CLUSTER=True, BUILD_TIMEOUT=900)
    name = f"incluster-{uuid.uuid4().hex[:8]}.git"  # the git daemon serves the whole session
    repo = git_daemon.repo(name, {"Dockerfile": f"FROM {busybox_base}\nRUN echo hi\n"})
    login("dev")
    return server, kproject.name, Source(git_daemon.url(name), repo.branch)


def submit(web, ns, git_daemon, repo, tag):
    response = web.post(f"/projects/{ns}/builds/new", {
        "source": "git", "git_url": repo.url, "git_ref": repo.branch, "git_path": "",
        "name": "web", "tag": tag, "dockerfile": "Dockerfile", "build_args": "V=7"})
    assert response.status_code == 302, text(response)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_a_git_build_runs_as_a_job_and_its_log_and_digest_come_back(cluster_builds, kubelet, kube_api, busybox_base,
                                                                     git_daemon, web):
    server, ns, repo = cluster_builds
    pushed = threading.Event()

    def builder(pod):  # the builder container, as far as the cluster shows it
        if pod["metadata"]["namespace"] != ns:
            return "Succeeded"
        if not pushed.is_set():
            kubelet.write_log(ns, pod["metadata"]["name"], "build", "STEP 1/2: FROM busybox\nsimulated-builder-line\n")
            subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                            f"docker://{busybox_base}", f"docker://{server.host}/{ns}/web:job"], check=True,
                           capture_output=True, timeout=60)
            pushed.set()
        return "Succeeded"
    kubelet.job_rule = builder
    build_id = submit(web, ns, git_daemon, repo, "job")
    build = ended(build_id)
    assert build.status == "pushed", (build.message, builds.text(build_id))
    assert build.digest == server.inspect(f"{ns}/web:job")["Digest"]
    log = builds.text(build_id)
    assert "simulated-builder-line" in log and f"Job hummer-build-{build_id} created" in log

    job = client.BatchV1Api(kube_api).read_namespaced_job(f"hummer-build-{build_id}", ns)
    assert job.metadata.labels["hummer.io/build"] == str(build_id)
    assert job.spec.backoff_limit == 0 and job.spec.active_deadline_seconds == 900
    pod = job.spec.template.spec
    assert pod.restart_policy == "Never" and pod.automount_service_account_token is False
    container = pod.containers[0]
    assert container.image == f"{server.host}/library/buildah:latest"
    assert container.command[:2] == ["/bin/sh", "-c"] and container.args == ["--build-arg=V=7"]
    env = {e.name: e.value for e in container.env}
    assert env["GIT_URL"] == repo.url and env["GIT_REF"] == repo.branch
    assert env["IMAGE"] == f"{server.host}/{ns}/web:job" and env["DOCKERFILE"] == "Dockerfile"
    assert "$GIT_URL" in container.command[2] and repo.url not in container.command[2]


def test_cancelling_an_in_cluster_build_deletes_its_job(cluster_builds, kubelet, kube_api, git_daemon, web):
    server, ns, repo = cluster_builds
    kubelet.job_rule = lambda pod: None  # the builder keeps running
    build_id = submit(web, ns, git_daemon, repo, "cancelled")
    jobs = client.BatchV1Api(kube_api)
    wait_for(lambda: jobs.list_namespaced_job(ns, label_selector=f"hummer.io/build={build_id}").items, timeout=60,
             what="the build's Job")
    assert web.post(f"/projects/{ns}/builds/{build_id}/cancel").status_code == 302
    build = ended(build_id)
    assert build.status == "cancelled"

    def job_gone() -> bool:
        try:
            jobs.read_namespaced_job(f"hummer-build-{build_id}", ns)
        except ApiException as error:
            return error.status == 404
        return False
    wait_for(job_gone, timeout=60, what="the Job to be deleted")


def test_a_locked_registrys_login_reaches_the_job_as_a_mounted_file_never_as_text():
    from portal.services.builds.incluster import job_spec
    build = Build(id=9, repository="shop/web", tag="1", git_url="git://git.example/shop.git", git_ref="main",
                  git_path="", dockerfile="Dockerfile")
    spec = job_spec(build, "10.0.1.5:5000/shop/web:1", {"A": "$(touch /pwned)"}, builder="10.0.1.5:5000/b:1",
                    tls_verify=False, timeout=60, pull_secret="hummer-registry", privileged=False)
    pod = spec["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["imagePullSecrets"] == [{"name": "hummer-registry"}]
    assert {"name": "REGISTRY_AUTH_FILE", "value": "/run/hummer/registry/auth.json"} in container["env"]
    assert {"name": "registry-auth", "mountPath": "/run/hummer/registry", "readOnly": True} in container["volumeMounts"]
    assert container["args"] == ["--build-arg=A=$(touch /pwned)"]  # an argument, never shell text
    assert container["securityContext"] == {"privileged": False}
    assert {"name": "GIT_PATH", "value": "."} in container["env"]
