"""Volumes: list, get, create, resize, delete, onto services/volumes as the volume pages
(one rule, one validation, one audit). Viewers read; developers change. Deleting asks for
the name again (?confirm=), as the page does, and is a 409 while an app mounts the volume.
The file browser's endpoints are in volume_files.py."""
from __future__ import annotations

from flask import current_app
from spectree import Response

from portal.api import schemas
from portal.api import schemas_volumes as vs
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.models import Role
from portal.services import volumes
from portal.services.paging import page_of

TAG = "volumes"
ERRORS = {"HTTP_401": schemas.Problem, "HTTP_404": schemas.Problem, "HTTP_429": schemas.Problem,
          "HTTP_503": schemas.Problem}
CHANGE_ERRORS = {**ERRORS, "HTTP_403": schemas.Problem, "HTTP_422": schemas.Problem}



def volume_body(project, volume, phases: dict[str, str] | None = None) -> vs.Volume:
    phases = volumes.claim_phases(project) if phases is None else phases
    measured = volume.usage_bytes is not None
    return vs.Volume(name=volume.name, project=project.name, capacity=volume.capacity,
                     capacity_bytes=volume.capacity_bytes, access_mode=volume.access_mode,
                     description=volume.description or "", phase=phases.get(volume.name, ""),
                     usage_bytes=volume.usage_bytes, percent=volumes.percent(volume) if measured else None,
                     level=volumes.level(volume), usage_at=schemas.when(volume.usage_at),
                     mounted_by=volumes.mounted_by(project, volume.name),
                     nfs=f"{volume.server}:{volume.path}" if volume.server else volume.path or "",
                     created_by=volume.created_by or "", created_at=schemas.when(volume.created_at) or "")


@bp.get("/projects/<name>/volumes")
@spec.validate(query=schemas.PageQuery,
               resp=Response(HTTP_200=vs.VolumeList, HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="listVolumes")
def volume_list(name: str, query: schemas.PageQuery):
    """The project's volumes, by name, with their usage and the apps that mount them."""
    project, _role = project_for(name)
    page = page_of(volumes.volumes_of(project), query.page, query.per_page)
    phases = volumes.claim_phases(project) if page.items else {}
    return vs.VolumeList(items=[volume_body(project, v, phases) for v in page.items], page=page.page,
                         per_page=page.per_page, total=page.total,
                         links=page_links(page.page, page.pages, per_page=query.per_page))


@bp.get("/projects/<name>/volumes/<volume>")
@spec.validate(resp=Response(HTTP_200=vs.Volume, **ERRORS), tags=[TAG], operation_id="getVolume")
def volume_get(name: str, volume: str):
    """One volume: capacity, access mode, the claim's phase, usage, the apps that mount it."""
    project, _role = project_for(name)
    return volume_body(project, volumes.get(project, volume))


@bp.post("/projects/<name>/volumes")
@spec.validate(json=vs.NewVolume, resp=Response(HTTP_201=vs.Volume, **CHANGE_ERRORS),
               tags=[TAG], operation_id="createVolume")
def volume_create(name: str, json: vs.NewVolume):
    """Create a volume (developer): its directory under the NFS export, a PersistentVolume
    and the claim in the project's namespace, or none of them."""
    project, _role = project_for(name, Role.DEVELOPER)
    created = volumes.create(actor(), project, json.name, json.capacity, json.access_mode, json.description)
    return volume_body(project, created), 201


@bp.put("/projects/<name>/volumes/<volume>/capacity")
@spec.validate(json=vs.CapacityChange, resp=Response(HTTP_200=vs.Resized, **CHANGE_ERRORS),
               tags=[TAG], operation_id="resizeVolume")
def volume_resize(name: str, volume: str, json: vs.CapacityChange):
    """Set a new capacity (developer); never below what the volume holds. Kubernetes never
    shrinks a claim: after a lowering, `note` says what the quota still counts."""
    project, _role = project_for(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    note = volumes.resize(actor(), project, row.name, json.capacity)
    return vs.Resized(**volume_body(project, row).model_dump(), note=note)


@bp.delete("/projects/<name>/volumes/<volume>")
@spec.validate(query=vs.DeleteQuery, resp=Response(HTTP_200=vs.VolumeDeleted, HTTP_409=schemas.Problem,
                                                    **CHANGE_ERRORS),
               tags=[TAG], operation_id="deleteVolume")
def volume_delete(name: str, volume: str, query: vs.DeleteQuery):
    """Delete the volume (developer), with ?confirm=<its name> as the page asks; a 409 while
    an app mounts it. The claim and the PersistentVolume go; the files move to the trash."""
    project, _role = project_for(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    gone = row.name
    volumes.delete(actor(), project, gone, query.confirm)
    return vs.VolumeDeleted(deleted=gone, trash_days=int(current_app.config["VOLUME_TRASH_DAYS"]))
