"""The automation API, /api/v1: JSON for CI pipelines and scripts, onto the same services
as the pages (one rule, one validation, one audit, whichever door a request comes through).

  core.py      the blueprint, bearer-token authentication, rate limits, problem responses
  problems.py  RFC 9457 problem details
  schemas.py   request and response bodies (pydantic): the OpenAPI document's schemas
  projects.py  projects: list, get
  apps.py      apps: list, get, create, replace, delete, status (?wait=)
  actions.py   image, scale, rollback, restart, stop, start
  logs.py      recent lines and the followed stream
  images.py    image repositories, their tags, a tag, its deletion plan, deleting it
  builds.py    builds: list, get (?wait=), the log's last lines, a Git build, cancel
  volumes.py   volumes: list, get, create, resize, delete (schemas_volumes.py: their bodies)
  volume_files.py  a volume's files: list a folder, download, upload (raw body), delete
  metrics.py   an app's metrics over a range: the Monitoring tab's charts as series of [time, value]
  alerts.py    an app's alert rules: list, get, create, replace, update, delete; its alert history
               (schemas_monitoring.py: the bodies of both; a node's rules are the admins' pages only)
  docs.py      /api/v1/openapi.json (SpecTree) and the reference page

Browser sessions do not authenticate here (only `Authorization: Bearer hmr_...`), so the
blueprint is exempt from CSRF.
"""
from portal.api import (  # noqa: F401
    actions,
    alerts,
    apps,
    builds,
    docs,
    images,
    logs,
    metrics,
    projects,
    volume_files,
    volumes,
)
from portal.api.core import bp, spec

__all__ = ["bp", "spec"]
