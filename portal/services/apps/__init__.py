"""Apps: what a developer ships into a project's namespace, without writing YAML.

Every change checks the role first (viewer reads, developer and up change), talks
to the cluster through adapters.kube, records an audit event for each change and
turns the adapter's errors into the portal's: NotFound, Conflict ("changed meanwhile,
reload"), Unavailable (503), Invalid (beside a field).

  parse.py    the form's data -> AppSpec, and its checks (no cluster needed)
  reading.py  list, detail, events, the running app's settings for the edit form
  actions.py  deploy, preview, edit, scale, image, rollback, restart, stop, start, delete
  logs.py     recent lines and the live stream
  common.py   the adapter's errors turned into the portal's

Routes use this package's names (`apps.detail(...)`): the names below are its interface.
"""
from portal.services.apps.actions import delete, deploy, edit, preview, restart, rollback, scale, set_image, start, stop
from portal.services.apps.common import CONFLICT_MESSAGE
from portal.services.apps.logs import follow, logs
from portal.services.apps.parse import DeployFailed, SpecInvalid, check_app_name, check_image, parse
from portal.services.apps.reading import Detail, Page, current_spec, detail, events, get, listing

__all__ = ["CONFLICT_MESSAGE", "DeployFailed", "Detail", "Page", "SpecInvalid", "check_app_name",
           "check_image", "current_spec", "delete", "deploy", "detail", "edit", "events", "follow",
           "get", "listing", "logs", "parse", "preview", "restart", "rollback", "scale", "set_image",
           "start", "stop"]
