"""Checks shared by forms and services. Each returns an error message, or None."""
from __future__ import annotations

import re
from decimal import Decimal, localcontext

from flask_babel import gettext as _

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Namespaces Kubernetes or Hummer keep for themselves.
RESERVED_NAMES = {"default", "kube-system", "kube-public", "kube-node-lease", "hummer-system"}

# The Kubernetes quantity grammar (k8s.io/apimachinery resource.Quantity), ASCII only:
# sign, digits with an optional decimal part, then a binary-SI suffix (Ki..Ei), a
# decimal-SI suffix (m, k, M, G, T, P, E) or a decimal exponent (e3, E-2). Python's
# Decimal would also take NaN, Infinity, 1_0 and Unicode digits; the API server does not.
QUANTITY = re.compile(r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                      r"(?:(?P<binary>[KMGTPE]i)|(?P<si>[mkMGTPE])|[eE](?P<exp>[+-]?[0-9]{1,3}))?$",
                      re.ASCII)
QUANTITY_MAX_LENGTH = 32          # the width of the columns that store them
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_SI = {"m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# Sane bounds for one value (a request, a limit or a whole project's quota).
CPU_MIN, CPU_MAX = Decimal("0.001"), Decimal(100_000)             # 1m .. 100000 cores
MEMORY_MIN, MEMORY_MAX = Decimal(1), Decimal(1024) ** 5 * 16      # 1 byte .. 16Pi
PODS_MAX = 100_000
BOUNDS = {"cpu": (CPU_MIN, CPU_MAX), "memory": (MEMORY_MIN, MEMORY_MAX)}

PASSWORD_MAX_LENGTH = 1024        # bounds the cost of hashing


def row_id(value) -> bool:
    """An id from a URL that a database row can have (a 64-bit signed integer, above 0):
    a larger one would overflow the driver before the query could find nothing."""
    return isinstance(value, int) and 0 < value < 2 ** 63


EMAIL_MAX_LENGTH = 255


def dns_label(value: str, what: str | None = None) -> str | None:
    """`what` names the field in the user's language (default: "Name")."""
    what = what or _("Name")
    if not value:
        return _("%(what)s is required.", what=what)
    if len(value) > 63:
        return _("%(what)s must be at most 63 characters.", what=what)
    if not DNS_LABEL.fullmatch(value):
        return _("%(what)s must be lower-case letters, digits and '-', "
                 "starting and ending with a letter or digit (a DNS-1123 label).", what=what)
    return None


def project_name(value: str) -> str | None:
    error = dns_label(value, _("Project name"))
    if error:
        return error
    if value in RESERVED_NAMES or value.startswith("kube-"):
        return _("'%(name)s' is reserved by Kubernetes; choose another name.", name=value)
    return None


def parse_quantity(value: str) -> Decimal | None:
    """The value of a Kubernetes quantity as the API server reads it, or None when it is
    not one (or is longer than QUANTITY_MAX_LENGTH)."""
    if not isinstance(value, str) or len(value) > QUANTITY_MAX_LENGTH:
        return None
    match = QUANTITY.match(value)
    if not match:
        return None
    with localcontext() as ctx:
        ctx.prec = 80
        number = Decimal(match["number"])
        if match["binary"]:
            return number * Decimal(1024) ** _BINARY[match["binary"]]
        if match["si"]:
            return number.scaleb(_SI[match["si"]])
        if match["exp"]:
            return number.scaleb(int(match["exp"]))
        return number


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def quantity(value: str, kind: str) -> str | None:
    """A Kubernetes quantity for `kind` ('cpu' or 'memory'), positive and within BOUNDS."""
    cpu = kind == "cpu"
    example = _("250m or 0.5") if cpu else _("256Mi or 1Gi")
    if not value:
        return (_("Enter a cpu quantity such as %(example)s.", example=example) if cpu
                else _("Enter a memory quantity such as %(example)s.", example=example))
    if len(value) > QUANTITY_MAX_LENGTH:
        return (_("A cpu quantity is at most %(max)d characters; try %(example)s.",
                  max=QUANTITY_MAX_LENGTH, example=example) if cpu
                else _("A memory quantity is at most %(max)d characters; try %(example)s.",
                       max=QUANTITY_MAX_LENGTH, example=example))
    parsed = parse_quantity(value)
    if parsed is None:
        return _("'%(value)s' is not a Kubernetes quantity; try %(example)s.",
                 value=_shown(value), example=example)
    if parsed <= 0:
        return (_("The cpu quantity must be greater than zero.") if cpu
                else _("The memory quantity must be greater than zero."))
    low, high = BOUNDS[kind]
    if not low <= parsed <= high:
        return (_("The cpu quantity must be from 1m to 100000 cores.") if cpu
                else _("The memory quantity must be from 1 byte to 16Pi."))
    return None


def pods(value: str) -> str | None:
    """A pod count for a quota: a whole number from 1 to PODS_MAX."""
    if not re.fullmatch(r"[0-9]{1,7}", value or "", re.ASCII) or not 1 <= int(value) <= PODS_MAX:
        return _("Pods must be a whole number from 1 to %(max)d, or blank.", max=PODS_MAX)
    return None


def not_less(request: str, limit: str) -> bool:
    """True when the limit is at least the request (both valid quantities)."""
    req, lim = parse_quantity(request), parse_quantity(limit)
    return req is None or lim is None or lim >= req


def limit_below_request(kind: str) -> str:
    """The message for a limit below its request (`kind` 'cpu' or 'memory')."""
    if kind == "cpu":
        return _("The cpu limit must not be below the request.")
    return _("The memory limit must not be below the request.")


def username(value: str) -> str | None:
    if not value:
        return _("Username is required.")
    if not USERNAME.fullmatch(value) or not value.isascii():
        return _("Use letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit.")
    return None


def normal_username(value: str) -> str:
    """The stored form of a username: usernames are case-insensitive, kept in lower case."""
    return (value or "").strip().lower()


def password(value: str, min_length: int) -> str | None:
    if not value:
        return _("Password is required.")
    if not value.strip():
        return _("A password cannot be only spaces.")
    if len(value) < min_length:
        return _("Password must be at least %(num)d characters.", num=min_length)
    if len(value) > PASSWORD_MAX_LENGTH:
        return _("Password must be at most %(num)d characters.", num=PASSWORD_MAX_LENGTH)
    if "\x00" in value:
        return _("A password cannot contain a NUL character.")
    return None
