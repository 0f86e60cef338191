"""A user's preferences: the language the portal speaks to them (portal.i18n chooses it)."""
from __future__ import annotations

from flask_babel import gettext as _

from portal import i18n
from portal.extensions import db
from portal.models import User
from portal.services.errors import Invalid


def language(value: str | None) -> str | None:
    """A submitted choice as one of i18n.LANGUAGES; "" (or None) for "the browser's"."""
    if not value:
        return None
    code = i18n.known(value)
    if code is None:
        raise Invalid("language", _("Choose one of the languages listed."))
    return code


def set_language(user: User, value: str | None) -> str | None:
    """Store `user`'s language (None: follow the browser's Accept-Language) and commit."""
    user.locale = language(value)
    db.session.commit()
    return user.locale
