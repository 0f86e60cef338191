"""A volume's life: create (a directory, a PersistentVolume, a claim, as one unit), resize,
delete (refused while an app mounts it; the files go to the trash), and a project's deletion.

Order of the steps, and what undoes them:
- create: the row is flushed first (the unique name is taken), then the directory, the
  PersistentVolume and the claim; a failed step removes the ones before it and the row.
- delete: the directory moves to the trash first (a rename), then the claim and the
  PersistentVolume go; if the claim cannot be deleted, the directory moves back.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from portal import validation
from portal.adapters import kube as kube_adapter
from portal.adapters import nfs
from portal.adapters.kube import storage
from portal.extensions import db
from portal.models import Project, Role, TrashedVolume, Volume
from portal.services import audit, authz, kube_access
from portal.services.context import Actor
from portal.services.errors import Conflict, Invalid, Unavailable
from portal.services.provisioning.settings import settings as cluster_settings
from portal.services.volumes.common import export, fs_errors, get, volumes_of
from portal.templating import size

log = logging.getLogger(__name__)

NAME_MAX = 50                     # the pod's volume is "vol-<name>", a DNS-1123 label (63)
ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany")
CAPACITY_MIN, CAPACITY_MAX = 1024 ** 2, 16 * 1024 ** 5   # 1Mi .. 16Pi
DESCRIPTION_MAX = 1000
NFS_SERVER = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<path>/[^\x00\n\r]*)$")


def check_name(name: str) -> str:
    name = (name or "").strip()
    message = validation.dns_label(name, _("A volume name"))
    if message:
        raise Invalid("name", message)
    if len(name) > NAME_MAX:
        raise Invalid("name", _("A volume name is at most %(num)d characters.", num=NAME_MAX))
    return name


def check_capacity(value: str) -> tuple[str, int]:
    """('10Gi', 10737418240) from the field; Invalid beside `capacity` otherwise."""
    value = (value or "").strip()
    if not value:
        raise Invalid("capacity", _("Give the capacity, such as 1Gi or 500Mi."))
    parsed = validation.parse_quantity(value)
    if parsed is None:
        raise Invalid("capacity", _("'%(value)s' is not a size; write it like 1Gi, 500Mi or 2G.",
                                    value=value[:40]))
    if parsed != parsed.to_integral_value() or not CAPACITY_MIN <= parsed <= CAPACITY_MAX:
        raise Invalid("capacity", _("The capacity is a whole number of bytes from 1Mi to 16Pi."))
    return value, int(parsed)


def nfs_target() -> tuple[str, str]:
    """(server, export path) the PersistentVolumes name: HUMMER_NFS_SERVER, or the NFS node
    and export the cluster wizard registered."""
    value = current_app.config.get("NFS_SERVER") or cluster_settings().nfs_server or ""
    match = NFS_SERVER.match(value.strip())
    if not match:
        raise Unavailable(_("No NFS server is known: register the cluster in the wizard, or set "
                            "HUMMER_NFS_SERVER to host:/export."))
    return match["host"].strip("[]"), match["path"].rstrip("/") or "/"


def _kube():
    if not kube_access.configured():
        raise Unavailable(kube_access.NOT_CONFIGURED)
    return kube_access.kube()


def _quota_message(error: kube_adapter.KubeError) -> str:
    return _("The project's storage quota does not allow this: %(reason)s", reason=error.message)


def create(by: Actor, project: Project, name: str, capacity: str, access_mode: str = "ReadWriteMany",
           description: str = "") -> Volume:
    authz.require(by.user, project, Role.DEVELOPER)
    name = check_name(name)
    capacity, capacity_bytes = check_capacity(capacity)
    if access_mode not in ACCESS_MODES:
        raise Invalid("access_mode", _("Choose ReadWriteMany, ReadWriteOnce or ReadOnlyMany."))
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Invalid("description", _("At most %(num)d characters.", num=DESCRIPTION_MAX))
    server, export_path = nfs_target()
    kube = _kube()
    directory = f"{project.name}.{name}"   # neither part has a '.': no two volumes share it
    volume = Volume(project=project, name=name, capacity=capacity, capacity_bytes=capacity_bytes,
                    access_mode=access_mode, description=description, directory=directory, server=server,
                    path=f"{export_path.rstrip('/')}/{directory}", created_by=by.user.username, usage_bytes=0,
                    usage_at=None)
    db.session.add(volume)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Invalid("name", _("The project already has a volume named %(name)s.", name=name))
    done: list = []
    try:
        with fs_errors("name"):
            try:
                export().create(directory)
            except nfs.Exists:
                raise Invalid("name", _("A directory %(dir)s is already under the NFS export (files of an "
                                        "earlier volume?); it is left alone. Choose another name, or move "
                                        "it away.", dir=directory))
        done.append(("dir", directory))
        pv_name = volume.claim_volume
        with _kube_step(None):
            kube.create("storageclasses", None, storage.storage_class(), exist_ok=True)
            kube.create("persistentvolumes", None, storage.persistent_volume(
                pv_name, project.name, name, capacity, access_mode, server, volume.path))
        done.append(("pv", pv_name))
        with _kube_step("capacity"):
            kube.create("persistentvolumeclaims", project.name,
                        storage.claim(project.name, name, capacity, access_mode, pv_name))
        done.append(("pvc", name))
        audit.record(by, "volume.create", "volume", name, project=project,
                     detail=f"{capacity} {access_mode} nfs {server}:{volume.path}")
        db.session.commit()
    except Exception:
        db.session.rollback()
        _undo(kube, project, done)
        raise
    return volume


class _kube_step:
    """Cluster errors of one step as Invalid beside `field` (a quota refusal), Unavailable otherwise."""

    def __init__(self, field: str | None):
        self.field = field

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _tb):
        if error is None or not isinstance(error, kube_adapter.KubeError):
            return False
        if isinstance(error, kube_adapter.Forbidden) and "quota" in error.message:
            raise Invalid(self.field, _quota_message(error)) from error
        if isinstance(error, kube_adapter.Unavailable):
            raise kube_access.unavailable(error) from error
        raise Invalid(self.field, _("The cluster refused: %(reason)s", reason=error.message)) from error


def _undo(kube, project: Project, done: list) -> None:
    for kind, name in reversed(done):
        try:
            if kind == "pvc":
                kube.delete("persistentvolumeclaims", project.name, name)
            elif kind == "pv":
                kube.delete("persistentvolumes", None, name)
            elif kind == "dir":
                export().remove(name)
        except Exception:  # noqa: BLE001 - undo what can be undone, say what could not
            log.warning("volume: undoing %s %s failed", kind, name, exc_info=True)


def claim_phases(project: Project) -> dict[str, str]:
    """Each claim's phase (Bound, Pending, Lost), in one call; {} without a cluster."""
    if not kube_access.configured():
        return {}
    try:
        claims = kube_access.kube().list("persistentvolumeclaims", project.name)
    except (kube_adapter.KubeError, Unavailable):
        return {}
    return {c["metadata"]["name"]: (c.get("status") or {}).get("phase", "Pending") for c in claims}


def mounted_by(project: Project, name: str, fresh: bool = False) -> list[str]:
    """The apps whose pods mount the volume: from the watch cache, or read now (`fresh`)."""
    if not kube_access.configured():
        return []
    kube = kube_access.kube()
    try:
        if fresh:
            return sorted(d["metadata"]["name"] for d in kube.list("deployments", project.name)
                          if name in storage.claims_of((d.get("spec") or {}).get("template") or {}))
        return sorted(a.name for a in kube.apps(project.name) if name in a.claims)
    except kube_adapter.KubeError as error:
        raise kube_access.unavailable(error)


def resize(by: Actor, project: Project, name: str, capacity: str) -> str:
    """Set a new capacity; returns a note for the user ("" or why the quota still counts more).

    Raising changes the PersistentVolume and the claim. Lowering is refused below what the
    volume holds; it changes the PersistentVolume only: Kubernetes never shrinks a claim's
    request, so the project's quota keeps counting the larger size."""
    authz.require(by.user, project, Role.DEVELOPER)
    volume = get(project, name)
    capacity, capacity_bytes = check_capacity(capacity)
    if volume.usage_bytes is not None and capacity_bytes < volume.usage_bytes:
        raise Invalid("capacity", _("The volume holds %(used)s; a capacity below that is refused.",
                                    used=size(volume.usage_bytes)))
    kube = _kube()
    old = volume.capacity
    with _kube_step("capacity"):
        claim = kube.get("persistentvolumeclaims", project.name, volume.name)
    requested = claim["spec"]["resources"]["requests"]["storage"]
    requested_bytes = validation.parse_quantity(requested) or 0
    with _kube_step("capacity"):
        kube.patch("persistentvolumes", None, volume.claim_volume, {"spec": {"capacity": {"storage": capacity}}})
    note = ""
    if capacity_bytes > requested_bytes:
        try:
            with _kube_step("capacity"):
                kube.patch("persistentvolumeclaims", project.name, volume.name,
                           {"spec": {"resources": {"requests": {"storage": capacity}}}})
        except Exception:
            with _kube_step("capacity"):  # put the PersistentVolume back as it was
                kube.patch("persistentvolumes", None, volume.claim_volume, {"spec": {"capacity": {"storage": old}}})
            raise
    elif capacity_bytes < requested_bytes:
        note = _("Kubernetes never shrinks a claim: the project's storage quota keeps counting %(size)s for "
                 "this volume until it is deleted.", size=requested)
    volume.capacity, volume.capacity_bytes = capacity, capacity_bytes
    audit.record(by, "volume.resize", "volume", volume.name, project=project, detail=f"{old} -> {capacity}")
    db.session.commit()
    return note


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def delete(by: Actor, project: Project, name: str, confirm: str) -> TrashedVolume:
    authz.require(by.user, project, Role.DEVELOPER)
    volume = get(project, name)
    if (confirm or "").strip() != volume.name:
        raise Invalid("confirm", _("Type the volume name '%(name)s' to confirm.", name=volume.name))
    kube = _kube()
    apps = mounted_by(project, volume.name, fresh=True)
    if apps:
        raise Conflict(_("%(name)s is mounted by %(apps)s: remove it from those apps first.",
                         name=volume.name, apps=", ".join(apps)))
    trashed = _to_trash(by, volume)
    try:
        with _kube_step(None):
            kube.delete("persistentvolumeclaims", project.name, volume.name)
    except Exception:
        with fs_errors():
            export().restore(trashed.trash_name, volume.directory)
        db.session.rollback()
        raise
    warning = _delete_pv(kube, volume)
    audit.record(by, "volume.delete", "volume", volume.name, project=project,
                 detail=f"files kept in the trash as {trashed.trash_name}" + (f"; {warning}" if warning else ""))
    db.session.delete(volume)
    db.session.commit()
    return trashed


def _to_trash(by: Actor | None, volume: Volume) -> TrashedVolume:
    with fs_errors():
        trash_name = export().to_trash(volume.directory, _stamp())
    trashed = TrashedVolume(project_name=volume.project_name, name=volume.name, capacity=volume.capacity,
                            capacity_bytes=volume.capacity_bytes, access_mode=volume.access_mode,
                            description=volume.description, trash_name=trash_name,
                            deleted_by=by.user.username if by else "system")
    db.session.add(trashed)
    return trashed


def _delete_pv(kube, volume: Volume) -> str:
    try:
        kube.delete("persistentvolumes", None, volume.claim_volume)
    except kube_adapter.KubeError as error:
        log.warning("volume %s: its PersistentVolume was not deleted: %s", volume.claim_volume, error.message)
        return f"PersistentVolume {volume.claim_volume} not deleted: {error.message}"
    return ""


def release_project(by: Actor, project: Project, kube) -> None:
    """After the project's namespace was deleted (its claims with it): the PersistentVolumes
    go and each directory moves to the trash, as a volume's own deletion does."""
    for volume in volumes_of(project):
        try:
            _to_trash(by, volume)
        except Exception:  # noqa: BLE001 - the project goes anyway; the files stay where they are
            log.warning("volume %s: not moved to the trash", volume.directory, exc_info=True)
        if kube is not None:
            _delete_pv(kube, volume)
        audit.record(by, "volume.delete", "volume", volume.name, project=project, detail="with its project")
        db.session.delete(volume)
