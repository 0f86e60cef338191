"""Configuration from HUMMER_* environment variables, with embedded defaults.

Every setting is documented in the README ("Configuration"). `load()` returns a
plain dict for `app.config`; `create_app(config)` lays a caller's dict over it.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from portal import i18n
from portal.domain import metrics

REPO = Path(__file__).resolve().parent.parent
SECRET_KEY_MIN_BYTES = 32


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}")


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw.strip() else default
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, got {raw!r}")
    if not value > 0:
        raise SystemExit(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def _json(name: str) -> dict:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise SystemExit(f"{name} must be a JSON object: {error}")
    if not isinstance(value, dict):
        raise SystemExit(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _rate(name: str, default: str) -> str:
    """A rate limit such as "10 per minute" or "100/hour; 5/second"; empty: no limit."""
    raw = os.environ.get(name)
    value = default if raw is None else raw.strip()
    if value:
        from limits import parse_many
        try:
            parse_many(value)
        except ValueError:
            raise SystemExit(f"{name} must be a rate limit such as '10 per minute', got {value!r}")
    return value


def instance_path() -> Path:
    return Path(os.environ.get("HUMMER_INSTANCE_PATH") or Path.cwd() / "instance").resolve()


def secret_key(instance: Path) -> str:
    """HUMMER_SECRET_KEY, or a key generated once and kept in the instance folder.

    A given key shorter than SECRET_KEY_MIN_BYTES is refused: it signs the sessions and,
    through HKDF, encrypts the stored kubeconfig, so it must not be guessable."""
    given = os.environ.get("HUMMER_SECRET_KEY")
    if given:
        size = len(given.encode())
        if size < SECRET_KEY_MIN_BYTES:
            raise SystemExit(
                f"HUMMER_SECRET_KEY is {size} bytes long; it must be at least {SECRET_KEY_MIN_BYTES}. "
                "Make one with: python3 -c 'import secrets; print(secrets.token_hex(32))' "
                "(or unset it to use the generated <instance>/secret_key)")
        return given
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Create with 0600 and never overwrite a key another worker wrote first.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def engine_options(url: str, timeout: int) -> dict:
    """SQLAlchemy engine options for `url`: a hung or unreachable database fails a request
    within a few seconds (connect, read, write and pool timeouts) instead of holding it."""
    options: dict = {"pool_pre_ping": True}
    if ":memory:" not in url and url != "sqlite://":  # a single-connection pool has no timeout
        options["pool_timeout"] = timeout
    if url.startswith(("mysql", "mariadb")):
        options["connect_args"] = {"connect_timeout": timeout, "read_timeout": timeout,
                                   "write_timeout": timeout}
    return options


def load() -> dict:
    instance = instance_path()
    return {
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("HUMMER_DATABASE_URL")
        or f"sqlite:///{instance / 'hummer.db'}",
        # Seconds a database connect, read or write may take before the request fails
        # with "database unreachable" (503) instead of hanging; see engine_options().
        "DATABASE_TIMEOUT": _int("HUMMER_DATABASE_TIMEOUT", 3),
        # Volumes (services/volumes): the NFS export as mounted on the portal host, the
        # server:/path the PersistentVolumes name (empty: the one the cluster wizard
        # registered), how long a deleted volume's files stay in the trash, how often the
        # background scan measures each volume's usage, and the largest file one upload takes.
        "NFS_ROOT": os.environ.get("HUMMER_NFS_ROOT") or str(instance / "nfs"),
        "NFS_SERVER": os.environ.get("HUMMER_NFS_SERVER", "").strip(),
        "VOLUME_TRASH_DAYS": _int("HUMMER_VOLUME_TRASH_DAYS", 7),
        "VOLUME_USAGE_SECONDS": _int("HUMMER_VOLUME_USAGE_SECONDS", 300),
        "VOLUME_UPLOAD_MAX_BYTES": _int("HUMMER_VOLUME_UPLOAD_MAX_BYTES", 10 * 1024 ** 3),
        "KUBECONFIG": os.environ.get("HUMMER_KUBECONFIG", ""),
        "SALT_API_URL": os.environ.get("HUMMER_SALT_API_URL", ""),
        "SALT_API_USER": os.environ.get("HUMMER_SALT_API_USER", "hummer"),
        "SALT_API_PASSWORD": os.environ.get("HUMMER_SALT_API_PASSWORD", ""),
        "SALT_API_EAUTH": os.environ.get("HUMMER_SALT_API_EAUTH", "file"),
        "SALT_PILLAR_FILE": os.environ.get("HUMMER_SALT_PILLAR_FILE")
        or str(REPO / "pillar" / "generated" / "cluster.yaml"),
        "SALT_DRY_RUN": _bool(os.environ.get("HUMMER_SALT_DRY_RUN"), False),
        "SALT_RUN_PILLAR": _json("HUMMER_SALT_RUN_PILLAR"),
        # Adding hosts over SSH: the master's address as new minions reach it (empty: the
        # host of SALT_API_URL), and a JSON object laid over the `minion` formula's pillar.
        "SALT_MASTER_ADDRESS": os.environ.get("HUMMER_SALT_MASTER_ADDRESS", ""),
        "SALT_SSH_PILLAR": _json("HUMMER_SALT_SSH_PILLAR"),
        "SALT_RUN_TIMEOUT": _int("HUMMER_SALT_RUN_TIMEOUT", 3600),
        "SALT_RUN_STALE_SECONDS": _int("HUMMER_SALT_RUN_STALE_SECONDS", 45),
        # The per-process run supervisor (services/provisioning/supervision.py): None (unset)
        # runs it in every process but the tests'.
        "SALT_SUPERVISE": (None if not os.environ.get("HUMMER_SALT_SUPERVISE")
                           else _bool(os.environ.get("HUMMER_SALT_SUPERVISE"), True)),
        # The private registry (services/images/access.py): its API address, empty for the one
        # the cluster wizard registered (http://<registry node>:<port>); basic-auth credentials
        # when it has htpasswd; the largest image archive a user may upload, in bytes.
        "REGISTRY_URL": os.environ.get("HUMMER_REGISTRY_URL", "").strip().rstrip("/"),
        "REGISTRY_USERNAME": os.environ.get("HUMMER_REGISTRY_USERNAME", ""),
        "REGISTRY_PASSWORD": os.environ.get("HUMMER_REGISTRY_PASSWORD", ""),
        "UPLOAD_MAX_BYTES": _int("HUMMER_UPLOAD_MAX_BYTES", 10 * 1024 ** 3),
        # Metrics (adapters/influx.py): the InfluxDB 1.x API Telegraf writes to, empty for not
        # configured (later: the monitoring node the cluster wizard registered); its database
        # (portal/domain/metrics.py names the default); credentials when it has auth enabled;
        # the seconds each call may take to connect, and to read, before "metrics unavailable".
        "INFLUXDB_URL": os.environ.get("HUMMER_INFLUXDB_URL", "").strip().rstrip("/"),
        "INFLUXDB_DATABASE": os.environ.get("HUMMER_INFLUXDB_DATABASE", "").strip() or metrics.DATABASE,
        "INFLUXDB_USERNAME": os.environ.get("HUMMER_INFLUXDB_USERNAME", ""),
        "INFLUXDB_PASSWORD": os.environ.get("HUMMER_INFLUXDB_PASSWORD", ""),
        "INFLUXDB_TIMEOUT": _seconds("HUMMER_INFLUXDB_TIMEOUT", 5.0),
        # Alerts (services/alerts): seconds between two evaluations of every rule, by one
        # portal process of the cluster at a time (the one holding the lease).
        "ALERT_INTERVAL": _seconds("HUMMER_ALERT_INTERVAL", 60.0),
        # Image builds (services/builds): at most BUILD_CONCURRENCY at once on each portal
        # host (more queue), each for at most BUILD_TIMEOUT seconds, from a context of at most
        # BUILD_CONTEXT_MAX_BYTES (uncompressed); their workspaces under BUILD_DIR. Bases are
        # pulled and results pushed over plain HTTP unless BUILD_TLS_VERIFY.
        "BUILD_CONCURRENCY": _int("HUMMER_BUILD_CONCURRENCY", 1),
        "BUILD_TIMEOUT": _int("HUMMER_BUILD_TIMEOUT", 1800),
        "BUILD_CONTEXT_MAX_BYTES": _int("HUMMER_BUILD_CONTEXT_MAX_BYTES", 200 * 1024 ** 2),
        "BUILD_GIT_TIMEOUT": _int("HUMMER_BUILD_GIT_TIMEOUT", 120),
        # The URL schemes a Git source may use (file: would read any repository on the portal host).
        "BUILD_GIT_SCHEMES": tuple(s.strip().lower() for s in (os.environ.get("HUMMER_BUILD_GIT_SCHEMES")
                                                              or "git,http,https").split(",") if s.strip()),
        "BUILD_LOG_MAX_BYTES": _int("HUMMER_BUILD_LOG_MAX_BYTES", 2 * 1024 ** 2),
        # A build whose heartbeat (every second) is this old lost its process: failed, log kept.
        "BUILD_STALE_SECONDS": _int("HUMMER_BUILD_STALE_SECONDS", 20),
        "BUILD_TLS_VERIFY": _bool(os.environ.get("HUMMER_BUILD_TLS_VERIFY"), False),
        "BUILD_DIR": os.environ.get("HUMMER_BUILD_DIR") or str(instance / "builds"),
        "BUILDAH": os.environ.get("HUMMER_BUILDAH", "buildah"),
        # Git builds as Kubernetes Jobs in the project's namespace (services/builds/incluster.py),
        # running BUILD_IMAGE (git and buildah; empty: <registry>/library/buildah:latest),
        # privileged unless BUILD_PRIVILEGED is off (buildah in a pod needs it, kaniko does not).
        "BUILD_IN_CLUSTER": _bool(os.environ.get("HUMMER_BUILD_IN_CLUSTER"), False),
        "BUILD_IMAGE": os.environ.get("HUMMER_BUILD_IMAGE", ""),
        "BUILD_PRIVILEGED": _bool(os.environ.get("HUMMER_BUILD_PRIVILEGED"), True),
        "KUBE_PROGRESS_DEADLINE": _int("HUMMER_KUBE_PROGRESS_DEADLINE", 600),
        "LOG_FOLLOW_SECONDS": _int("HUMMER_LOG_FOLLOW_SECONDS", 600),
        "PAGE_SIZE": _int("HUMMER_PAGE_SIZE", 20),
        # The language of a user who chose none and whose browser asks for none we have.
        # en or zh_Hans (zh-Hans too); any other value stops the portal at startup.
        "DEFAULT_LOCALE": i18n.default_locale(os.environ.get("HUMMER_DEFAULT_LOCALE") or "en"),
        "LOGIN_MAX_FAILURES": _int("HUMMER_LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_SECONDS": _int("HUMMER_LOGIN_LOCKOUT_SECONDS", 60),
        "PASSWORD_MIN_LENGTH": _int("HUMMER_PASSWORD_MIN_LENGTH", 8),
        # Flask-Limiter: per client address. Memory storage counts per gunicorn worker;
        # a shared store (redis://, memcached://) makes the limits hold across workers and hosts.
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": os.environ.get("HUMMER_RATELIMIT_STORAGE_URI") or "memory://",
        "LOGIN_RATE_LIMIT": _rate("HUMMER_LOGIN_RATE_LIMIT", "10 per minute"),
        "ANONYMOUS_RATE_LIMIT": _rate("HUMMER_ANONYMOUS_RATE_LIMIT", "60 per minute"),
        # The automation API (/api/v1): per token, and per client address whatever the token.
        "API_RATE_LIMIT": _rate("HUMMER_API_RATE_LIMIT", "300 per minute"),
        "API_ADDRESS_RATE_LIMIT": _rate("HUMMER_API_ADDRESS_RATE_LIMIT", "1200 per minute"),
        # The longest an app's status call waits for a rollout (?wait=, at most 120 s).
        "API_WAIT_MAX": _int("HUMMER_API_WAIT_MAX", 60),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("HUMMER_COOKIE_SECURE"), False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(os.environ.get("HUMMER_COOKIE_SECURE"), False),
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead of a clock
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        **_edge_limits(),
    }


def _edge_limits() -> dict:
    """Request, proxy and stream limits (README "Security"): oversized bodies get 413,
    forwarded headers count only from HUMMER_PROXY_COUNT proxies, live-log streams are capped."""
    return {
        "MAX_CONTENT_LENGTH": _int("HUMMER_MAX_CONTENT_LENGTH", 1024 * 1024),
        "MAX_FORM_MEMORY_SIZE": _int("HUMMER_MAX_FORM_MEMORY_SIZE", 256 * 1024),
        "MAX_FORM_PARTS": _int("HUMMER_MAX_FORM_PARTS", 1000),
        "PROXY_COUNT": _int("HUMMER_PROXY_COUNT", 0),
        "LOG_STREAMS_PER_USER": _int("HUMMER_LOG_STREAMS_PER_USER", 2),
        "LOG_STREAMS_PER_PROCESS": _int("HUMMER_LOG_STREAMS_PER_PROCESS", 2),
    }
