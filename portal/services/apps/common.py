"""What the apps modules share: the adapter's errors turned into the portal's."""
from __future__ import annotations

from contextlib import contextmanager

from portal.adapters import kube as kube_adapter
from portal.services.errors import Conflict, Invalid, NotFound, Unavailable

CONFLICT_MESSAGE = ("This app's settings were changed meanwhile (by someone else, or with kubectl); "
                    "reload to see the change, then apply yours again.")


@contextmanager
def _kube_errors(what: str = ""):
    """Turn the adapter's errors into the portal's."""
    try:
        yield
    except kube_adapter.Conflict as error:
        raise Conflict(CONFLICT_MESSAGE) from error
    except kube_adapter.NotFound as error:
        raise NotFound("No such app (it may have just been deleted).") from error
    except kube_adapter.Unavailable as error:
        raise Unavailable(f"The Kubernetes cluster is not reachable: {error.message}") from error
    except kube_adapter.KubeError as error:
        raise Invalid(None, f"{what}{error.message}") from error

