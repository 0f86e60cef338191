"""The two metadata backends the suite runs on: SQLite and MariaDB (through pymysql).

MariaDB is the real server on 127.0.0.1:3306; each session creates its own database
and drops it at the end. Nothing here skips: a backend that is asked for but not
reachable fails the session with one line saying how to start it.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager

import pymysql

MARIADB_HOST = os.environ.get("HUMMER_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("HUMMER_TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("HUMMER_TEST_MARIADB_USER", "root")
MARIADB_PASSWORD = os.environ.get("HUMMER_TEST_MARIADB_PASSWORD", "")


def backends() -> list[str]:
    wanted = os.environ.get("HUMMER_TEST_DATABASES", "sqlite,mariadb")
    names = [b.strip() for b in wanted.split(",") if b.strip()]
    unknown = set(names) - {"sqlite", "mariadb"}
    if unknown:
        raise SystemExit(f"HUMMER_TEST_DATABASES: unknown backend(s) {sorted(unknown)}")
    return names


def _connect(**kw):
    try:
        return pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER,
                               password=MARIADB_PASSWORD, connect_timeout=5, **kw)
    except pymysql.err.OperationalError as error:
        raise RuntimeError(
            f"MariaDB is not reachable at {MARIADB_HOST}:{MARIADB_PORT} ({error}); start it with "
            "start-stop-daemon --start --oknodo --background --exec \"$(command -v mariadbd)\" "
            "or run the suite through ./hummer test, which installs and starts it") from None


@contextmanager
def mariadb_database():
    """A fresh database for this session; yields its SQLAlchemy URL, drops it afterwards."""
    name = f"hummer_test_{os.getpid()}_{secrets.token_hex(3)}"
    conn = _connect(autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield (f"mysql+pymysql://{MARIADB_USER}:{MARIADB_PASSWORD}@{MARIADB_HOST}:{MARIADB_PORT}"
               f"/{name}?charset=utf8mb4")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
