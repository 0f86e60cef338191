"""What the apps modules share: the adapter's errors turned into the portal's."""
from __future__ import annotations

from contextlib import contextmanager

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.adapters import kube as kube_adapter
from portal.services.errors import Conflict, Invalid, NotFound, Unavailable

CONFLICT_MESSAGE = _l("This app's settings were changed meanwhile (by someone else, or with kubectl); "
                      "reload to see the change, then apply yours again.")


@contextmanager
def _kube_errors(what=None):
    """Turn the adapter's errors into the portal's. `what(reason)`, when given, puts the
    API server's message into a sentence that says what was (not) done."""
    try:
        yield
    except kube_adapter.Conflict as error:
        raise Conflict(CONFLICT_MESSAGE) from error
    except kube_adapter.NotFound as error:
        raise NotFound(_("No such app (it may have just been deleted).")) from error
    except kube_adapter.Unavailable as error:
        raise Unavailable(_("The Kubernetes cluster is not reachable: %(reason)s", reason=error.message)) from error
    except kube_adapter.KubeError as error:
        raise Invalid(None, what(error.message) if what else error.message) from error

