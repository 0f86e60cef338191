"""An app as a developer describes it: the deploy (and edit) form's content, validated
by services.apps and turned into Kubernetes objects by adapters.kube.objects."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AppSpec", "EnvSpec", "PortSpec", "ProbeSpec", "VolumeMountSpec", "split_image"]


@dataclass
class PortSpec:
    name: str
    protocol: str          # TCP or UDP
    container_port: int
    exposure: str          # "internal" (ClusterIP) or "external" (NodePort)
    node_port: int | None = None
    row: int = field(default=-1, compare=False, repr=False)  # the form row it came from


@dataclass
class EnvSpec:
    name: str
    value: str = ""
    secret: str = ""       # from a project secret: its name and key
    key: str = ""


@dataclass
class ProbeSpec:
    kind: str = "none"     # none, http, tcp, exec
    path: str = "/"
    port: int | None = None
    command: str = ""      # exec: a shell-like command line


@dataclass
class VolumeMountSpec:
    """A project volume (its PersistentVolumeClaim) mounted at a path in the container,
    optionally only a sub-directory of it, optionally read-only."""
    claim: str
    mount_path: str
    sub_path: str = ""
    read_only: bool = False
    row: int = field(default=-1, compare=False, repr=False)  # the form row it came from

    @property
    def name(self) -> str:
        """The pod's name for the claim's volume (one per claim, however many mounts)."""
        return f"vol-{self.claim}"


@dataclass
class AppSpec:
    name: str
    image: str             # repository, without the tag
    tag: str = "latest"
    replicas: int = 1
    plan: str = ""         # the plan's name, or "" for custom
    cpu_request: str = ""
    memory_request: str = ""
    cpu_limit: str = ""
    memory_limit: str = ""
    ports: list[PortSpec] = field(default_factory=list)
    env: list[EnvSpec] = field(default_factory=list)
    command: str = ""
    args: str = ""
    workdir: str = ""
    readiness: ProbeSpec = field(default_factory=ProbeSpec)
    liveness: ProbeSpec = field(default_factory=ProbeSpec)
    session_affinity: bool = False
    autoscale: bool = False
    min_replicas: int = 1
    max_replicas: int = 1
    cpu_target: int = 80
    volumes: list[VolumeMountSpec] = field(default_factory=list)

    @property
    def image_ref(self) -> str:
        if "@" in self.image:
            return self.image
        return f"{self.image}:{self.tag or 'latest'}"


def split_image(ref: str) -> tuple[str, str]:
    """'repo/name:tag' -> ('repo/name', 'tag'); a digest stays in the repository part."""
    if "@" in ref:
        return ref, ""
    head, _, last = ref.rpartition("/")
    if ":" in last:
        name, tag = last.rsplit(":", 1)
        return (f"{head}/{name}" if head else name), tag
    return ref, "latest"
