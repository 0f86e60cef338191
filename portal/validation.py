"""Checks shared by forms and services. Each returns an error message, or None."""
from __future__ import annotations

import re

from kubernetes.utils.quantity import parse_quantity

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Namespaces Kubernetes or Hummer keep for themselves.
RESERVED_NAMES = {"default", "kube-system", "kube-public", "kube-node-lease", "hummer-system"}


def dns_label(value: str, what: str = "Name") -> str | None:
    if not value:
        return f"{what} is required."
    if len(value) > 63:
        return f"{what} must be at most 63 characters."
    if not DNS_LABEL.match(value):
        return (f"{what} must be lower-case letters, digits and '-', "
                "starting and ending with a letter or digit (a DNS-1123 label).")
    return None


def project_name(value: str) -> str | None:
    error = dns_label(value, "Project name")
    if error:
        return error
    if value in RESERVED_NAMES or value.startswith("kube-"):
        return f"'{value}' is reserved by Kubernetes; choose another name."
    return None


def quantity(value: str, kind: str) -> str | None:
    """A Kubernetes quantity for `kind` ('cpu' or 'memory'), positive."""
    example = "250m or 0.5" if kind == "cpu" else "256Mi or 1Gi"
    if not value:
        return f"Enter a {kind} quantity such as {example}."
    try:
        parsed = parse_quantity(value)
    except (ValueError, TypeError):
        return f"'{value}' is not a Kubernetes quantity; try {example}."
    if parsed <= 0:
        return f"The {kind} quantity must be greater than zero."
    return None


def not_less(request: str, limit: str) -> bool:
    return parse_quantity(limit) >= parse_quantity(request)


def username(value: str) -> str | None:
    if not value:
        return "Username is required."
    if not USERNAME.match(value):
        return "Use letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit."
    return None


def password(value: str, min_length: int) -> str | None:
    if not value:
        return "Password is required."
    if len(value) < min_length:
        return f"Password must be at least {min_length} characters."
    return None
