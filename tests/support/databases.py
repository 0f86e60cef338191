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
# The character set the session's database is created with. latin1 runs the suite as on a
# server whose default is latin1: the migrations must make every table utf8mb4 regardless.
MARIADB_CHARSET = os.environ.get("HUMMER_TEST_MARIADB_CHARSET", "utf8mb4")
COLLATIONS = {"utf8mb4": "utf8mb4_unicode_ci", "latin1": "latin1_swedish_ci", "utf8mb3": "utf8mb3_general_ci"}


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
                               password=MARIADB_PASSWORD, connect_timeout=5, ssl_disabled=True, **kw)
    except pymysql.err.OperationalError as error:
        raise RuntimeError(
            f"MariaDB is not reachable at {MARIADB_HOST}:{MARIADB_PORT} ({error}); start it with "
            "start-stop-daemon --start --oknodo --background --exec \"$(command -v mariadbd)\" "
            "or run the suite through ./hummer test, which installs and starts it") from None


@contextmanager
def mariadb_database(charset: str | None = None):
    """A fresh database for this session (created with `charset`, by default
    HUMMER_TEST_MARIADB_CHARSET or utf8mb4); yields its SQLAlchemy URL, drops it afterwards."""
    charset = charset or MARIADB_CHARSET
    if charset not in COLLATIONS:
        raise SystemExit(f"HUMMER_TEST_MARIADB_CHARSET: one of {sorted(COLLATIONS)}, got {charset!r}")
    name = f"hummer_test_{os.getpid()}_{secrets.token_hex(3)}"
    conn = _connect(autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET {charset} COLLATE {COLLATIONS[charset]}")
    try:
        # Without TLS: the server on loopback offers none, and PyMySQL's "preferred" TLS builds
        # a default SSL context (about 30 ms of CPU) for every new connection of every test's app.
        yield (f"mysql+pymysql://{MARIADB_USER}:{MARIADB_PASSWORD}@{MARIADB_HOST}:{MARIADB_PORT}"
               f"/{name}?charset=utf8mb4&ssl_disabled=true")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
