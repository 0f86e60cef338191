"""What a developer does to an app: deploy (and its YAML preview), edit, scale, image,
rollback, restart, stop and start, delete. Each checks the role first and records an
audit event for each change."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from flask import current_app
from flask_babel import gettext as _

from portal.adapters import kube as kube_adapter
from portal.adapters.kube import objects
from portal.domain.apps import AppSpec, split_image
from portal.extensions import db
from portal.models import Project, Role
from portal.services import audit, authz, kube_access, volumes
from portal.services.apps.common import CONFLICT_MESSAGE, _kube_errors
from portal.services.apps.parse import REPLICAS_MAX, DeployFailed, SpecInvalid, _int, check_image, parse
from portal.services.apps.reading import _read_app, get
from portal.services.context import Actor
from portal.services.errors import Conflict, Invalid, Unavailable
from portal.services.images import pullsecrets


def _deadline() -> int:
    return int(current_app.config.get("KUBE_PROGRESS_DEADLINE", 600))


def _require(project: Project, by: Actor, need: Role = Role.DEVELOPER) -> None:
    authz.require(by, project, need)



def _check(token, actual: str) -> None:
    """Conflict when what the form owns changed since the form was shown. The token is a
    fingerprint of the pod template (and, for the edit form, its other fields), not the
    generation: a scale (kubectl, the HPA, the portal's scale, stop, start) bumps that."""
    if token not in (None, "") and str(token) != actual:
        raise Conflict(CONFLICT_MESSAGE)


def _fresh(kube, project: Project, name: str, token) -> dict:
    """The Deployment as it is now; Conflict when its pod template changed since the form was shown."""
    with _kube_errors():
        deploy = kube.get("deployments", project.name, name)
    _check(token, objects.template_fingerprint(deploy["spec"].get("template") or {}))
    return deploy


def _update(kube, project: Project, name: str, token, mutate, what=None) -> dict:
    """GET, check the token, mutate, PUT with that resourceVersion. A 409 caused by a change
    outside the pod template (a status update, a scale) is retried; a change of the template
    meanwhile is a Conflict for the user. The pod template names the pull Secret as it is now."""
    pulls = pullsecrets.prepare(kube, project.name)
    for _attempt in range(4):
        deploy = _fresh(kube, project, name, token)
        mutate(deploy)
        objects.set_pull_secrets(deploy["spec"]["template"], pulls)
        deploy.pop("status", None)
        try:
            with _kube_errors(what):
                return kube.replace("deployments", project.name, name, deploy)
        except Conflict:
            continue
    raise Conflict(CONFLICT_MESSAGE)


def _record(by: Actor, action: str, project: Project, name: str, detail: str = "") -> None:
    audit.record(by, action, "app", name, project=project.name, detail=detail)
    db.session.commit()

# --------------------------------------------------------------------------- deploy

def preview(project: Project, data: dict, by: Actor) -> tuple[AppSpec, str]:
    """The YAML that deploying this form would send, exactly."""
    _require(project, by)
    spec = parse(data, volumes=volumes.names(project))
    return spec, objects.to_yaml(objects.app_objects(spec, project.name, _deadline(), pullsecrets.references()))


def _field_of(obj: dict, spec: AppSpec, cause_field: str) -> str | None:
    """Map an API validation cause (spec.ports[1].nodePort) back to a form field id."""
    match = re.match(r"spec\.ports\[(\d+)\]\.nodePort", cause_field or "")
    if match and obj["kind"] == "Service":
        external = obj["spec"]["type"] == "NodePort"
        rows = [p for p in spec.ports if (p.exposure == "external") == external]
        index = int(match.group(1))
        if index < len(rows):
            return f"ports-{rows[index].row}-node_port"
    return None


def deploy(project: Project, data: dict, by: Actor) -> AppSpec:
    """Create the app's Deployment, Services and HPA as one unit: if a step fails, the
    steps before it are removed and the error says which step failed."""
    _require(project, by)
    spec = parse(data, volumes=volumes.names(project))
    kube = kube_access.kube()
    ns = project.name
    with _kube_errors():
        try:
            kube.get("namespaces", None, ns)
        except kube_adapter.NotFound:
            from portal.services import projects
            projects.provision(project)  # a project made while no cluster was configured
    pulls = pullsecrets.prepare(kube, ns)
    created: list[dict] = []
    for obj in objects.app_objects(spec, ns, _deadline(), pulls):
        try:
            _create(kube, ns, obj)
        except kube_adapter.KubeError as error:
            undone = _undo(kube, ns, created)
            which = {"kind": obj["kind"], "name": obj["metadata"]["name"]}
            if isinstance(error, kube_adapter.Conflict):
                if obj["kind"] == "Deployment":
                    raise SpecInvalid({"name": _("An app named '%(name)s' already exists in this project.",
                                                 name=spec.name)})
                message = _("Creating the %(kind)s %(name)s failed: an object of that name exists already.",
                            **which)
            elif isinstance(error, kube_adapter.Unavailable):
                raise Unavailable(_("Creating the %(kind)s %(name)s failed: the cluster is not reachable "
                                    "(%(reason)s). %(undone)s", reason=error.message, undone=undone,
                                    **which)) from error
            else:
                message = _("Creating the %(kind)s %(name)s failed: %(reason)s", reason=error.message, **which)
            errors = {}
            for cause_field, cause_message in error.causes:
                form_field = _field_of(obj, spec, cause_field)
                if form_field:
                    errors[form_field] = cause_message
            raise DeployFailed(errors, f"{message} {undone}") from error
        created.append(obj)
    _record(by, "app.deploy", project, spec.name, detail=spec.image_ref)
    return spec


def _create(kube, ns: str, obj: dict) -> dict:
    """One object of a new app, owned by the `hummer` field manager. The Deployment goes by
    server-side apply (so that the edit form's later applies own exactly these fields), after
    a check that no app of that name exists: apply alone would change an existing one."""
    kind, name = kube_adapter.plural_of(obj), obj["metadata"]["name"]
    if obj["kind"] != "Deployment":
        return kube.create(kind, ns, obj, manager=kube_adapter.FIELD_MANAGER)
    try:
        kube.get(kind, ns, name)
    except kube_adapter.NotFound:
        return kube.apply(kind, ns, name, obj)
    raise kube_adapter.Conflict(f"A Deployment named {name} exists already.")


def _undo(kube, ns: str, created: list[dict]) -> str:
    gone = []
    for obj in reversed(created):
        try:
            kube.delete(kube_adapter.plural_of(obj), ns, obj["metadata"]["name"])
            gone.append(f"{obj['kind']} {obj['metadata']['name']}")
        except kube_adapter.KubeError:
            return _("Some of what was created before may be left; delete the app to clean up.")
    if gone:
        return _("Nothing was kept: %(objects)s removed again.", objects=", ".join(gone))
    return _("Nothing was created.")


# --------------------------------------------------------------------------- actions

def scale(project: Project, name: str, replicas, by: Actor) -> kube_adapter.AppView:
    _require(project, by)
    count = _int(replicas, 0, REPLICAS_MAX)
    if count is None:
        raise Invalid("replicas", _("Replicas must be a whole number from 0 to %(max)d.", max=REPLICAS_MAX))
    app = get(project, name)
    kube = kube_access.kube()
    with _kube_errors():
        if kube.hpas(project.name, name):
            raise Invalid("replicas", _("Autoscaling manages this app's replicas; change its minimum "
                                        "and maximum in the settings instead."))
        kube.patch("deployments", project.name, name, {"spec": {"replicas": count}})
    _record(by, "app.scale", project, name, detail=f"{app.desired} -> {count}")
    return get(project, name)


def set_image(project: Project, name: str, image: str, tag: str, token, by: Actor) -> None:
    """A rolling update to another image or tag."""
    _require(project, by)
    repo, tag, errors = check_image(image.strip(), tag.strip())
    if errors:
        raise SpecInvalid(errors)
    ref = repo if "@" in repo else f"{repo}:{tag}"
    kube = kube_access.kube()
    before = {}

    def mutate(deploy):
        container = objects.app_container(deploy["spec"]["template"], name)
        before.setdefault("image", container["image"])
        container["image"] = ref
    _update(kube, project, name, token, mutate)
    old = before["image"]
    _record(by, "app.image", project, name, detail=f"{old} -> {ref}")


def rollback(project: Project, name: str, revision, token, by: Actor) -> int:
    """Copy the chosen revision's pod template into the Deployment (kubectl rollout undo)."""
    _require(project, by)
    kube = kube_access.kube()
    deploy = _fresh(kube, project, name, token)
    number = _int(revision, 1, 10 ** 9)
    with _kube_errors():
        sets = kube.list("replicasets", project.name, labels=f"{kube_adapter.APP_LABEL}={name}")
    target = None
    for rs in sets:
        owners = {o.get("uid") for o in rs["metadata"].get("ownerReferences") or []}
        rev = (rs["metadata"].get("annotations") or {}).get(kube_adapter.REVISION_ANNOTATION)
        if deploy["metadata"]["uid"] in owners and rev == str(number):
            target = rs
    if target is None:
        raise Invalid("revision", _("There is no revision %(revision)s of %(name)s to roll back to.",
                                    revision=revision, name=name))
    current = (deploy["metadata"].get("annotations") or {}).get(kube_adapter.REVISION_ANNOTATION)
    if current == str(number):
        raise Invalid("revision", _("Revision %(num)d is the one running.", num=number))
    template = target["spec"]["template"]
    template["metadata"].get("labels", {}).pop(kube_adapter.POD_TEMPLATE_HASH, None)

    def mutate(fresh):
        fresh["spec"]["template"] = template
    _update(kube, project, name, objects.template_fingerprint(deploy["spec"]["template"]), mutate)
    _record(by, "app.rollback", project, name,
            detail=f"revision {current} -> template of revision {number}")
    return number


def restart(project: Project, name: str, by: Actor) -> None:
    _require(project, by)
    get(project, name)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with _kube_errors():
        kube_access.kube().patch("deployments", project.name, name, {
            "spec": {"template": {"metadata": {"annotations": {kube_adapter.RESTART_ANNOTATION: now}}}}})
    _record(by, "app.restart", project, name)


def stop(project: Project, name: str, by: Actor) -> None:
    """Scale to 0, keeping the count in an annotation for start()."""
    _require(project, by)
    app = get(project, name)
    if app.desired == 0:
        raise Invalid(None, _("%(name)s is stopped already.", name=name))
    with _kube_errors():
        kube_access.kube().patch("deployments", project.name, name, {
            "metadata": {"annotations": {kube_adapter.STOP_ANNOTATION: str(app.desired)}},
            "spec": {"replicas": 0}})
    _record(by, "app.stop", project, name, detail=f"{app.desired} -> 0")


def start(project: Project, name: str, by: Actor) -> None:
    _require(project, by)
    app = get(project, name)
    if app.desired > 0:
        raise Invalid(None, _("%(name)s is running already.", name=name))
    count = app.stopped_from or 1
    with _kube_errors():
        kube_access.kube().patch("deployments", project.name, name, {
            "metadata": {"annotations": {kube_adapter.STOP_ANNOTATION: None}},
            "spec": {"replicas": count}})
    _record(by, "app.start", project, name, detail=f"0 -> {count}")


def delete(project: Project, name: str, confirm: str, by: Actor) -> list[str]:
    """Delete the app: its HPA, Services and Deployment (its ReplicaSets and pods follow)."""
    _require(project, by)
    if confirm.strip() != name:
        raise Invalid("confirm", _("Type the app name '%(name)s' to confirm.", name=name))
    get(project, name)
    kube = kube_access.kube()
    gone = []
    with _kube_errors():
        selector = f"{kube_adapter.APP_LABEL}={name}"
        for kind in ("horizontalpodautoscalers", "services"):
            for obj in kube.list(kind, project.name, labels=selector):
                if kube.delete(kind, project.name, obj["metadata"]["name"]):
                    gone.append(f"{obj['kind'] if 'kind' in obj else kind} {obj['metadata']['name']}")
        kube.delete("deployments", project.name, name, propagation="Foreground")
        gone.append(f"Deployment {name}")
        # pods and ReplicaSets go with the Deployment; drop them from this process's view now
        kube.forget_app(project.name, name)
    from portal.services import alerts  # its rules and history go with it, in the audit's transaction
    alerts.forget_app(project, name)
    _record(by, "app.delete", project, name, detail=", ".join(gone))
    return gone


def _edit_body(spec: AppSpec, deploy: dict, ns: str, pulls=()) -> dict:
    """What the `hummer` field manager applies: the builder's Deployment, with the image,
    the container's name and the rollout settings the form does not show taken from the
    live object. Everything else in the live object (a sidecar, a nodeSelector, a label,
    terminationGracePeriodSeconds) belongs to other managers and is not touched."""
    live = deploy["spec"]
    old = objects.app_container(live["template"], spec.name)
    body = objects.deployment(spec, ns, live.get("progressDeadlineSeconds") or _deadline(), pulls)
    body["spec"]["template"]["spec"]["containers"][0]["name"] = old.get("name") or spec.name
    for key in ("revisionHistoryLimit", "strategy"):
        if key in live:
            body["spec"][key] = live[key]

    return body


def _removals(deploy: dict, body: dict, name: str) -> list[tuple[str, object]]:
    """(JSON pointer, live value) of what server-side apply on Kubernetes 1.20 cannot remove
    by itself: a probe the form drops, or the valueFrom of an env var that becomes a plain
    value, would stay behind as an empty struct, which the API then refuses."""
    containers = deploy["spec"]["template"]["spec"]["containers"]
    old = objects.app_container(deploy["spec"]["template"], name)
    new = body["spec"]["template"]["spec"]["containers"][0]
    base = f"/spec/template/spec/containers/{containers.index(old)}"
    out: list[tuple[str, object]] = [(f"{base}/{key}", old[key]) for key in ("readinessProbe", "livenessProbe")
                                     if key in old and key not in new]
    plain = {e["name"] for e in new.get("env") or [] if "valueFrom" not in e}
    out += [(f"{base}/env/{i}/valueFrom", e["valueFrom"]) for i, e in enumerate(old.get("env") or [])
            if "valueFrom" in e and e.get("name") in plain]
    return out


def _apply_edit(kube, ns: str, name: str, deploy: dict, body: dict) -> dict:
    """Apply the edit. What apply cannot remove (see _removals) goes first by a JSON patch
    that holds the rollout (spec.paused) and tests that the pod template is still the one
    read, so the two writes make one rollout; if the apply then fails, the removed fields
    are put back."""
    removals = _removals(deploy, body, name)
    if not removals:
        return kube.apply("deployments", ns, name, body)
    pause = not deploy["spec"].get("paused")
    ops = [{"op": "test", "path": "/spec/template", "value": deploy["spec"]["template"]}]
    if pause:
        ops.append({"op": "add", "path": "/spec/paused", "value": True})
    ops += [{"op": "remove", "path": pointer} for pointer, _ in removals]
    try:
        kube.patch("deployments", ns, name, ops, how="json")
    except kube_adapter.Invalid as error:  # the template test failed: changed meanwhile
        raise kube_adapter.Conflict(error.message) from error
    try:
        result = kube.apply("deployments", ns, name, body)
    except kube_adapter.KubeError:
        undo = [{"op": "add", "path": pointer, "value": value} for pointer, value in removals]
        if pause:
            undo.append({"op": "remove", "path": "/spec/paused"})
        try:
            kube.patch("deployments", ns, name, undo, how="json")
        except kube_adapter.KubeError:
            pass  # the apply's own error is the one to show
        raise
    if pause:
        result = kube.patch("deployments", ns, name, {"spec": {"paused": None}})
    return result


def edit(project: Project, name: str, data: dict, token, by: Actor,
         template_version: str | None = None) -> tuple[AppSpec, str]:
    """Change env, ports, plan, probes, command, affinity and autoscaling of a running app;
    returns the spec and a note for the user ("" or what happened to the replicas).

    The Deployment is changed by server-side apply of the fields the form owns, right after
    a check that what the form owns did not change since the form was shown (a concurrent
    edit is a Conflict, and the form keeps what the user typed; a scale or a status update
    meanwhile is not: the apply carries no resourceVersion, which every status update
    changes). Services and the HPA follow. `template_version` (the API's `version`) is the
    pod template's fingerprint as the caller read it: Conflict when it changed since."""
    _require(project, by)
    spec = parse(data, name_fixed=name, volumes=volumes.names(project))
    kube = kube_access.kube()
    ns = project.name
    pulls = pullsecrets.prepare(kube, ns)
    note = ""
    for _attempt in range(4):
        deploy, svcs, scaler = _read_app(kube, ns, name)
        _check(token, objects.form_fingerprint(deploy, svcs, scaler))
        _check(template_version, objects.template_fingerprint(deploy["spec"].get("template") or {}))
        old = objects.app_container(deploy["spec"]["template"], name)
        spec.image, spec.tag = split_image(old.get("image", ""))
        current = deploy["spec"].get("replicas")
        spec.replicas = 1 if current is None else current
        note = ""
        if spec.autoscale and not spec.min_replicas <= spec.replicas <= spec.max_replicas:
            clamped = max(spec.min_replicas, min(spec.replicas, spec.max_replicas))
            note = _("Replicas went from %(old)d to %(new)d, inside the autoscaling range %(low)d–%(high)d.",
                     old=spec.replicas, new=clamped, low=spec.min_replicas, high=spec.max_replicas)
            spec.replicas = clamped
        try:
            with _kube_errors(lambda reason: _("The Deployment was not changed: %(reason)s", reason=reason)):
                _apply_edit(kube, ns, name, deploy, _edit_body(spec, deploy, ns, pulls))
            break
        except Conflict:
            continue
    else:
        raise Conflict(CONFLICT_MESSAGE)
    with _kube_errors(lambda reason: _("The Deployment was changed, but its Service or autoscaler was not: "
                                       "%(reason)s", reason=reason)):
        _reconcile(kube, project.name, spec)
    _record(by, "app.edit", project, name, detail="env, ports, resources, probes")
    return spec, note


def _reconcile(kube, ns: str, spec: AppSpec) -> None:
    selector = f"{kube_adapter.APP_LABEL}={spec.name}"
    wanted = {s["metadata"]["name"]: s for s in objects.services(spec, ns)}
    for svc in kube.list("services", ns, labels=selector):
        svc_name = svc["metadata"]["name"]
        if svc_name not in wanted:
            kube.delete("services", ns, svc_name)
            continue
        new = wanted.pop(svc_name)
        svc["spec"]["ports"] = new["spec"]["ports"]
        svc["spec"]["sessionAffinity"] = new["spec"]["sessionAffinity"]
        svc.pop("status", None)
        kube.replace("services", ns, svc_name, svc, manager=kube_adapter.FIELD_MANAGER)
    for svc in wanted.values():
        kube.create("services", ns, svc, manager=kube_adapter.FIELD_MANAGER)
    scaler = objects.hpa(spec, ns)
    existing = kube.list("horizontalpodautoscalers", ns, labels=selector)
    if scaler is None:
        for h in existing:
            kube.delete("horizontalpodautoscalers", ns, h["metadata"]["name"])
    elif existing:
        existing[0]["spec"] = scaler["spec"]
        kube.replace("horizontalpodautoscalers", ns, spec.name, existing[0], manager=kube_adapter.FIELD_MANAGER)
    else:
        kube.create("horizontalpodautoscalers", ns, scaler, manager=kube_adapter.FIELD_MANAGER)

