"""The API's request and response bodies as pydantic models: SpecTree turns them into the
OpenAPI document's schemas. The request models only shape the JSON (types, sizes); the
rules are the services' (apps.parse), the same for the deploy form and the API."""
from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

Text = str
Number = int | str  # the form sends text; a client may send either


def when(value: datetime | None) -> str | None:
    """A time as every body writes it: ISO 8601 in UTC with a Z (the database's times are
    naive UTC; an aware one is converted); None stays None."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FieldError(BaseModel):
    field: str = Field(description="The deploy form's field id, such as ports-0-container_port.")
    pointer: str = Field(description="A JSON Pointer to the value in the request body.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None
    generation: int | None = Field(None, description="409: the Deployment's generation now.")
    version: str | None = Field(None, description="409: the app's version (pod template fingerprint) now.")


class Links(BaseModel):
    next: str | None = None
    prev: str | None = None


class Project(BaseModel):
    name: str
    display_name: str
    description: str
    role: str = Field(description="What this token may do here: viewer or developer.")
    created_at: str


class ProjectList(BaseModel):
    items: list[Project]
    page: int
    per_page: int
    total: int
    links: Links


class App(BaseModel):
    name: str
    project: str
    image: str
    status: str = Field(description="running, starting, updating, stopped or stalled.")
    desired: int
    ready: int
    updated: int
    available: int
    generation: int
    observed_generation: int
    revision: int
    version: str = Field(description="The pod template's fingerprint; send it back to refuse a change "
                                     "if someone else changed the app meanwhile.")
    stalled: str = Field(description="Why the rollout stalled, when it did.")
    created: str


class AppList(BaseModel):
    items: list[App]
    page: int
    per_page: int
    total: int
    links: Links


class Status(App):
    done: bool = Field(description="The rollout is over: the app runs as specified, is stopped, or stalled.")
    waited: float = Field(description="Seconds this request waited.")


class Port(Loose):
    container_port: Number | None = None
    name: Text | None = None
    protocol: Text | None = Field(None, description="TCP or UDP.")
    exposure: Text | None = Field(None, description="internal (ClusterIP) or external (NodePort).")
    node_port: Number | None = None


class Env(Loose):
    name: Text | None = None
    source: Text | None = Field(None, description="plain or secret.")
    value: Text | None = None
    secret: Text | None = None
    key: Text | None = None


class Mount(Loose):
    volume: Text | None = None
    mount_path: Text | None = None
    sub_path: Text | None = None
    read_only: bool | None = None


class Probe(Loose):
    kind: Text | None = Field(None, description="none, http, tcp or exec.")
    path: Text | None = None
    port: Number | None = None
    command: Text | None = None


class Settings(Loose):
    """What the edit page changes: everything but the name, the image and the replicas."""

    plan: Text | None = None
    cpu_request: Text | None = None
    memory_request: Text | None = None
    cpu_limit: Text | None = None
    memory_limit: Text | None = None
    ports: list[Port] | None = Field(None, max_length=100)
    env: list[Env] | None = Field(None, max_length=500)
    command: Text | None = None
    args: Text | None = None
    workdir: Text | None = None
    volumes: list[Mount] | None = Field(None, max_length=50)
    readiness: Probe | None = None
    liveness: Probe | None = None
    session_affinity: bool | None = None
    autoscale: bool | None = None
    min_replicas: Number | None = None
    max_replicas: Number | None = None
    cpu_target: Number | None = None


class NewApp(Settings):
    """The deploy form's fields."""

    name: Text
    image: Text
    tag: Text | None = None
    replicas: Number | None = None


class Replacement(Settings):
    """The app's new settings, and optionally its version as read."""

    version: Text | None = Field(None, description="The app's version as read (GET): when the pod template "
                                 "changed meanwhile (an edit, a new image, a rollback), the change is a 409.")


class ImageChange(Loose):
    image: Text
    tag: Text | None = None
    version: Text | None = Field(None, description="The app's version as read: a change meanwhile is a 409.")


class ScaleChange(Loose):
    replicas: Number


class RollbackChange(Loose):
    revision: Number
    version: Text | None = None


class PageQuery(Loose):
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(20, ge=1, le=100)


class AppListQuery(PageQuery):
    q: str = Field("", max_length=100)
    status: str = Field("", max_length=16)


class WaitQuery(Loose):
    wait: int = Field(0, ge=0, le=120, description="Wait up to this many seconds for the rollout to end.")


class LogQuery(Loose):
    tail: int = Field(200, ge=1, le=10000)
    pod: str = Field("", max_length=253)


class FollowQuery(Loose):
    pod: str = Field("", max_length=253)
    seconds: int = Field(600, ge=1, le=3600, description="End the stream after this many seconds "
                                                          "(at most the portal's LOG_FOLLOW_SECONDS).")


class LogLine(BaseModel):
    at: str
    pod: str
    line: str


class Logs(BaseModel):
    lines: list[LogLine]


class Deleted(BaseModel):
    deleted: list[str]
