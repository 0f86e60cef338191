"""Builds as Kubernetes Jobs in the project's namespace (HUMMER_BUILD_IN_CLUSTER=1), for Git
sources: the cluster's nodes do the work instead of the portal host.

    spec = job_spec(build, image, builder="10.0.1.5:5000/library/buildah:1", ...)   # pure
    digest = run(kube, build, image, args, on_line, cancel, deadline, ...)         # the worker's side

The Job runs the builder image (HUMMER_BUILD_IMAGE: an image with git and buildah, from the
private registry) with a fixed script: a shallow fetch of the ref, then `buildah bud` and
`buildah push` on a vfs storage with chroot isolation. What the user gave (URL, ref,
sub-directory, Dockerfile, target) reaches the script as environment variables and the
build arguments as its positional arguments, so none of it is ever shell text. One try
(backoffLimit 0), at most HUMMER_BUILD_TIMEOUT seconds (activeDeadlineSeconds), kept a day
for its log (ttlSecondsAfterFinished). The worker streams the pod's log into the build's log,
deletes the Job on cancel or timeout, and after success reads the pushed digest from the
registry. Uploaded contexts always build on the portal host.
"""
from __future__ import annotations

import threading
import time

from portal.adapters import kube as kube_adapter
from portal.models import Build

BUILD_LABEL = kube_adapter.BUILD_LABEL
CONTAINER = "build"
AUTH_DIR = "/run/hummer/registry"
POLL_SECONDS = 0.5
SCRIPT = """set -eu
mkdir -p /workspace/src
cd /workspace/src
git init -q .
git -c protocol.allow=never -c protocol.git.allow=always -c protocol.http.allow=always \\
    -c protocol.https.allow=always fetch -q --depth=1 --no-tags -- "$GIT_URL" "$GIT_REF"
git -c advice.detachedHead=false checkout -q --detach FETCH_HEAD
echo "[hummer] commit $(git rev-parse HEAD)"
cd "./$GIT_PATH"
buildah --storage-driver=vfs bud --isolation=chroot --layers=false --tls-verify="$TLS_VERIFY" \\
    --file="$DOCKERFILE" --tag="$IMAGE" "$@" -- .
buildah --storage-driver=vfs push --tls-verify="$TLS_VERIFY" -- "$IMAGE"
"""


class JobFailed(Exception):
    """The Job ended without success; the message says why, in English."""


class JobCancelled(Exception):
    pass


class JobTimedOut(Exception):
    pass


def job_name(build: Build) -> str:
    return f"hummer-build-{build.id}"


def job_spec(build: Build, image: str, args: dict[str, str], *, builder: str, tls_verify: bool, timeout: int,
             pull_secret: str = "", privileged: bool = True) -> dict:
    """The Job that builds `build` into `image` (pure: what is sent to the API server)."""
    labels = {**kube_adapter.MANAGED, BUILD_LABEL: str(build.id)}
    env = [{"name": "GIT_URL", "value": build.git_url}, {"name": "GIT_REF", "value": build.git_ref},
           {"name": "GIT_PATH", "value": build.git_path or "."}, {"name": "DOCKERFILE", "value": build.dockerfile},
           {"name": "IMAGE", "value": image}, {"name": "TLS_VERIFY", "value": "true" if tls_verify else "false"},
           {"name": "GIT_TERMINAL_PROMPT", "value": "0"}]
    container = {
        "name": CONTAINER, "image": builder, "command": ["/bin/sh", "-c", SCRIPT, "hummer-build"],
        "args": [f"--build-arg={key}={value}" for key, value in sorted(args.items())],
        "env": env, "workingDir": "/workspace",
        "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
        "securityContext": {"privileged": privileged},
    }
    volumes = [{"name": "workspace", "emptyDir": {}}]
    pod_spec = {"restartPolicy": "Never", "automountServiceAccountToken": False, "containers": [container],
                "volumes": volumes}
    if pull_secret:  # the registry's login: to pull the builder and the bases, and to push
        pod_spec["imagePullSecrets"] = [{"name": pull_secret}]
        volumes.append({"name": "registry-auth", "secret": {
            "secretName": pull_secret, "items": [{"key": ".dockerconfigjson", "path": "auth.json"}]}})
        container["volumeMounts"].append({"name": "registry-auth", "mountPath": AUTH_DIR, "readOnly": True})
        env.append({"name": "REGISTRY_AUTH_FILE", "value": f"{AUTH_DIR}/auth.json"})
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name(build), "labels": labels},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": int(timeout), "ttlSecondsAfterFinished": 86400,
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }


def run(kube, namespace: str, spec: dict, on_line, cancel: threading.Event, deadline: float) -> None:
    """Create the Job, stream its pod's log to on_line, and wait for its end. JobFailed,
    JobCancelled or JobTimedOut (the Job is deleted then); kube adapter errors as they come."""
    name = spec["metadata"]["name"]
    kube.create("jobs", namespace, spec)
    on_line(f"[hummer] Job {name} created in namespace {namespace}")
    follower: threading.Thread | None = None
    try:
        while True:
            if cancel.is_set():
                raise JobCancelled()
            if time.monotonic() > deadline:
                raise JobTimedOut()
            if follower is None:
                pod = _pod(kube, namespace, spec)
                if pod is not None:
                    follower = threading.Thread(target=_follow, args=(kube, namespace, pod, on_line),
                                                name=f"{name}-log", daemon=True)
                    follower.start()
            job = kube.get("jobs", namespace, name)
            status = job.get("status") or {}
            if status.get("succeeded"):
                return
            failed = [c for c in status.get("conditions") or [] if c.get("type") == "Failed"
                      and c.get("status") == "True"]
            if failed or status.get("failed"):
                reason = failed[0].get("message") or failed[0].get("reason") if failed else "its pod failed"
                raise JobFailed(f"The build Job failed: {reason}")
            cancel.wait(POLL_SECONDS)
    except (JobCancelled, JobTimedOut):
        kube.delete("jobs", namespace, name, propagation="Foreground")
        raise
    finally:
        if follower is not None:
            follower.join(10)  # the log ends with the container


def _pod(kube, namespace: str, spec: dict) -> str | None:
    """The Job's pod once it runs or ran (its log can be read), else None."""
    build = spec["metadata"]["labels"][BUILD_LABEL]
    for pod in kube.list("pods", namespace, labels=f"{BUILD_LABEL}={build}"):
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if any("running" in (s.get("state") or {}) or "terminated" in (s.get("state") or {}) for s in statuses):
            return pod["metadata"]["name"]
    return None


def _follow(kube, namespace: str, pod: str, on_line) -> None:
    try:
        response = kube.follow_log(namespace, pod, CONTAINER)
        try:
            for line in kube.lines(response):
                on_line(line)
        finally:
            response.release_conn()
    except Exception as error:  # noqa: BLE001 - the log is a courtesy; the Job's status decides
        on_line(f"[hummer] the pod's log stopped: {error}")


def delete(kube, namespace: str, build: Build) -> None:
    """The Job of a build whose portal process died (the sweep), if there is one."""
    kube.delete("jobs", namespace, job_name(build), propagation="Foreground")
