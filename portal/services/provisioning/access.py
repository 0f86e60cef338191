"""How the provisioning services reach Salt: the salt-api client from the app's settings,
and its errors turned into Unavailable with a message a person can act on."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.adapters import salt as salt_adapter
from portal.services.errors import Unavailable
from portal.services.provisioning import inputs

SALT_NOT_CONFIGURED = _l("Salt is not configured: set HUMMER_SALT_API_URL, HUMMER_SALT_API_USER "
                         "and HUMMER_SALT_API_PASSWORD to the salt-api of your Salt master (see the "
                         "README's configuration table), then restart the portal.")


def salt_configured() -> bool:
    return bool(current_app.config.get("SALT_API_URL"))


def minion_id_checked(value: str, field: str | None = "minion_id") -> str:
    """The minion id, or Invalid when Salt (or the portal's pillar) could not take it."""
    return inputs.minion_id(value, field)


def salt(timeout: float = 120) -> salt_adapter.SaltAPI:
    """The salt-api client; `timeout`: seconds to wait for an answer (a job waited for)."""
    cfg = current_app.config
    if not cfg.get("SALT_API_URL"):
        raise Unavailable(SALT_NOT_CONFIGURED)
    return salt_adapter.SaltAPI(cfg["SALT_API_URL"], cfg["SALT_API_USER"],
                                cfg["SALT_API_PASSWORD"], eauth=cfg["SALT_API_EAUTH"], timeout=timeout)


def salt_call(func, *args, **kw):
    """Call the Salt adapter; its errors become Unavailable with a message a person can act on."""
    try:
        return func(*args, **kw)
    except salt_adapter.SaltAuthError as error:
        raise Unavailable(_("salt-api refused the portal's credentials: %(reason)s", reason=error)) from error
    except salt_adapter.SaltError as error:
        raise Unavailable(_("Salt did not answer: %(reason)s", reason=error)) from error
