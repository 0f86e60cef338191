"""Who is acting, and from where: passed from routes into services for audit and checks."""
from __future__ import annotations

from dataclasses import dataclass

from portal.models import ApiToken, User


@dataclass(frozen=True)
class Actor:
    user: User
    addr: str = ""
    # The API token the user acts through (its scope and role ceiling bound what they may
    # do; the audit names it), or None in a browser session.
    token: ApiToken | None = None
