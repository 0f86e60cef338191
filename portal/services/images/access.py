"""The portal's way to the private registry: which registry, with which credentials, and the
registry adapter's errors as the services' own.

    registry = access.registry()           # a Registry (portal/adapters/registry.py); Unavailable if none
    access.pull_host()                     # "10.0.1.5:5000": what image names start with
    access.image_name("shop/web", "1.0")   # "10.0.1.5:5000/shop/web:1.0"
    with access.translated():              # RegistryError -> Unavailable, Forbidden, NotFound, ...
        registry.tags("shop/web")

Where the registry is: HUMMER_REGISTRY_URL when set (an operator's override, the tests),
else the address the cluster wizard registered (ClusterSettings.registry_address, plain HTTP
on the cluster's network as the `registry` formula serves it). Credentials:
HUMMER_REGISTRY_USERNAME and HUMMER_REGISTRY_PASSWORD, for a registry behind htpasswd.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.adapters import registry as registry_adapter
from portal.extensions import db
from portal.models import ClusterSettings
from portal.services.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable

NOT_CONFIGURED = _l("No registry is configured: finish the cluster wizard (Cluster, then Apply) or set "
                    "HUMMER_REGISTRY_URL.")


def registry_url() -> str:
    """The registry's API address (http://host:port), or "" when none is known."""
    url = current_app.config.get("REGISTRY_URL", "")
    if url:
        return url
    address = db.session.scalar(select(ClusterSettings.registry_address).where(
        ClusterSettings.registry_address != "").limit(1))
    return f"http://{address}" if address else ""


def configured() -> bool:
    return bool(registry_url())


def registry(**options) -> registry_adapter.Registry:
    """A client of the registry; `options` go to the adapter (timeout, connect_timeout, retries)."""
    url = registry_url()
    if not url:
        raise Unavailable(NOT_CONFIGURED)
    return registry_adapter.Registry(url, *credentials(), **options)


def credentials() -> tuple[str, str]:
    """The registry's basic-auth username and password; ("", "") for an open registry."""
    config = current_app.config
    return config.get("REGISTRY_USERNAME", ""), config.get("REGISTRY_PASSWORD", "")


def pull_host() -> str:
    """host:port as image names carry it and nodes pull from it."""
    url = registry_url()
    if not url:
        raise Unavailable(NOT_CONFIGURED)
    return urlsplit(url).netloc


def image_name(repository: str, tag: str) -> str:
    return f"{pull_host()}/{repository}:{tag}"


@contextmanager
def translated() -> Iterator[None]:
    """The registry adapter's errors as the services' own, with a message for the user."""
    try:
        yield
    except registry_adapter.Unreachable as error:
        raise Unavailable(_("The registry cannot be reached: %(reason)s", reason=error.message)) from error
    except registry_adapter.Unauthorized as error:
        raise Forbidden(_("The registry refused Hummer's credentials (HUMMER_REGISTRY_USERNAME and "
                          "HUMMER_REGISTRY_PASSWORD): %(reason)s", reason=error.message)) from error
    except registry_adapter.NotFound as error:
        raise NotFound(_("No such image in the registry: %(reason)s", reason=error.message)) from error
    except registry_adapter.DeletionDisabled as error:
        raise Conflict(_("Deleting is disabled on this registry. Set storage.delete.enabled to true in its "
                         "configuration (the pillar hummer:registry:delete_enabled) and restart it.")) from error
    except registry_adapter.BadName as error:
        raise Invalid(None, _("The registry would refuse this name: %(reason)s", reason=error.message)) from error
    except registry_adapter.RegistryError as error:
        raise Invalid(None, _("The registry refused the request: %(reason)s", reason=error.message)) from error
