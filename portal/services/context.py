"""Who is acting, and from where: passed from routes into services for audit and checks."""
from __future__ import annotations

from dataclasses import dataclass

from portal.models import User


@dataclass(frozen=True)
class Actor:
    user: User
    addr: str = ""
