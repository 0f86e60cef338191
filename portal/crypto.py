"""Secrets the portal keeps in its database, encrypted (Fernet: AES-CBC + HMAC).

The key is derived from HUMMER_SECRET_KEY with HKDF, one key per purpose, so the
session-signing secret itself never encrypts anything. Changing HUMMER_SECRET_KEY
makes what was stored unreadable: `decrypt` then raises `Undecryptable` and the
caller asks for the secret again (for the kubeconfig: fetch it again from Salt).
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Undecryptable(Exception):
    """The stored value was encrypted with another secret key, or is damaged."""


def _fernet(secret_key: str, purpose: str) -> Fernet:
    if not secret_key:
        raise ValueError("HUMMER_SECRET_KEY is empty; nothing can be encrypted.")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=f"hummer {purpose}".encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt(secret_key: str, purpose: str, text: str) -> str:
    return _fernet(secret_key, purpose).encrypt(text.encode()).decode("ascii")


def decrypt(secret_key: str, purpose: str, token: str) -> str:
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as error:
        raise Undecryptable(str(error) or "the key does not match") from error
