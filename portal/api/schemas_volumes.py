"""The volumes area's request and response bodies (pydantic, the OpenAPI document's schemas).
As for apps, the request models only shape the JSON; the rules are the services'
(services/volumes: the name, the capacity, the access mode, the confirmation, the paths)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from portal.api.schemas import Links, Loose, PageQuery

PATH_MAX = 4096


class Volume(BaseModel):
    name: str
    project: str
    capacity: str = Field(description="As given: 10Gi, 500Mi.")
    capacity_bytes: int
    access_mode: str = Field(description="ReadWriteMany, ReadWriteOnce or ReadOnlyMany.")
    description: str
    phase: str = Field(description="The claim's phase (Bound, Pending, Lost); empty when the cluster did not say.")
    usage_bytes: int | None = Field(description="What the volume holds, as last measured; null: not measured yet.")
    percent: int | None = Field(description="The usage in percent of the capacity (at most 100); null: not measured.")
    level: str = Field(description="ok, warn (80 % or more), full (100 %) or unknown (not measured yet).")
    usage_at: str | None = Field(description="When the usage was measured (UTC).")
    mounted_by: list[str] = Field(description="The apps whose pods mount the volume.")
    nfs: str = Field(description="The NFS server and path the PersistentVolume names.")
    created_by: str
    created_at: str


class VolumeList(BaseModel):
    items: list[Volume]
    page: int
    per_page: int
    total: int
    links: Links


class NewVolume(Loose):
    """The new volume form's fields."""

    name: str = Field(max_length=1000)
    capacity: str = Field(max_length=1000, description="Such as 1Gi or 500Mi: from 1Mi to 16Pi.")
    access_mode: str = Field("ReadWriteMany", max_length=100,
                             description="ReadWriteMany (the default), ReadWriteOnce or ReadOnlyMany.")
    description: str = Field("", max_length=10_000)


class CapacityChange(Loose):
    capacity: str = Field(max_length=1000, description="The new capacity, such as 20Gi.")


class Resized(Volume):
    note: str = Field(description="Why the project's storage quota still counts more, when it does.")


class DeleteQuery(Loose):
    confirm: str = Field("", max_length=1000, description="The volume's name, typed again, as the page asks.")


class VolumeDeleted(BaseModel):
    deleted: str = Field(description="The volume's name.")
    trash_days: int = Field(description="Its files stay in the trash this many days (an administrator "
                                        "can restore them).")


class FilesQuery(PageQuery):
    path: str = Field("", max_length=PATH_MAX, description="The folder, relative to the volume: '' or a/b.")
    sort: Literal["name", "size", "mtime", "kind"] = "name"
    order: Literal["asc", "desc"] = "asc"
    per_page: int = Field(200, ge=1, le=200)


class FileEntry(BaseModel):
    name: str
    path: str = Field(description="Relative to the volume.")
    kind: str = Field(description="dir, file, link (never followed) or other.")
    size: int
    mtime: str = Field(description="Last modified (UTC).")
    target: str | None = Field(None, description="A link's text.")


class FileList(BaseModel):
    path: str
    items: list[FileEntry]
    page: int
    per_page: int
    total: int
    links: Links


class FileQuery(Loose):
    path: str = Field(max_length=PATH_MAX, description="The file, relative to the volume: a/b/c.txt.")


class UploadQuery(FileQuery):
    overwrite: bool = Field(False, description="Replace a file of the same name (otherwise a 422).")


class Uploaded(BaseModel):
    path: str
    size: int = Field(description="Bytes written.")


class FileDeleted(BaseModel):
    deleted: str = Field(description="The path deleted: a file, a link (not what it points to) or a "
                                     "folder with all it held.")
