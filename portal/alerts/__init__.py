from flask import Blueprint

# No url_prefix: an app's rules live under its URL (/projects/<name>/apps/<app>/alerts), a
# node's under the cluster's (/cluster/nodes/<node>/alerts).
bp = Blueprint("alerts", __name__)

from portal.alerts import nodes, routes  # noqa: E402,F401
