"""What every model module shares."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    # Naive UTC: MariaDB DATETIME has no zone, and both backends must agree.
    return datetime.now(timezone.utc).replace(tzinfo=None)
