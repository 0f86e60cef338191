"""Typed SQLAlchemy 2.0 models: the portal's own metadata, one module per area.

Everything is importable from `portal.models`, as before the split; a new area adds its
module here so that Alembic and `db.create_all` see its tables."""
from portal.models.accounts import ROLE_CHOICE_LABELS, AuditEvent, Membership, Project, ResourcePlan, Role, User
from portal.models.alerts import AlertEvent, AlertKind, AlertLease, AlertRule, AlertState, AlertStatus
from portal.models.cluster import (
    ACTIVE_RUN_STATUSES,
    ClusterNode,
    ClusterSettings,
    ProvisioningRun,
    RunKind,
    RunStatus,
    RunStep,
)
from portal.models.common import utcnow
from portal.models.images import (
    ACTIVE_BUILD_STATUSES,
    OPEN_BUILD_STATUSES,
    Build,
    BuildLogChunk,
    BuildStatus,
    ImagePush,
    PublicImage,
    RegistryGcRun,
)
from portal.models.tokens import ApiToken, api_token_project
from portal.models.volumes import TrashedVolume, Volume

__all__ = [
    "utcnow",
    "Role",
    "ROLE_CHOICE_LABELS",
    "User",
    "Project",
    "Membership",
    "ResourcePlan",
    "AuditEvent",
    "ClusterSettings",
    "ClusterNode",
    "RunStatus",
    "ACTIVE_RUN_STATUSES",
    "RunKind",
    "ProvisioningRun",
    "RunStep",
    "ImagePush",
    "PublicImage",
    "RegistryGcRun",
    "BuildStatus",
    "ACTIVE_BUILD_STATUSES",
    "OPEN_BUILD_STATUSES",
    "Build",
    "BuildLogChunk",
    "Volume",
    "TrashedVolume",
    "AlertKind",
    "AlertStatus",
    "AlertRule",
    "AlertState",
    "AlertEvent",
    "AlertLease",
    "ApiToken",
    "api_token_project",
]
