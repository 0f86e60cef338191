"""InfluxDB 1.x (the monitoring node's, where Telegraf writes), through the `influxdb` client,
with errors of its own.

    influx = Influx("http://10.0.1.6:8086", "hummer", timeout=5)
    influx.ping()                                   # "1.6.7~rc0": the server's version
    for s in influx.query('SELECT mean("cpu_usage_nanocores") FROM "raw"."kubernetes_pod_container" '
                          'WHERE "namespace" = $ns AND time > now() - 1h '
                          'GROUP BY time(1m), "pod_name" fill(none)', {"ns": "shop"}):
        s.name, s.tags, s.columns, s.values       # {"pod_name": "web-1"}, ["time", "mean"], [[t, v], ...]
    influx.write(points, retention_policy=None, time_precision="s")
    influx.drop_series("kubernetes_pod_container", {"namespace": "shop", "pod_name": "web-1"})

Values from users never go into InfluxQL text: a query takes them as bind parameters
(`$name` in its WHERE clause, `params` here, sent apart from the statement), and the one
statement built here (DROP SERIES, which names tags) quotes them with quote_ident and
quote_literal, which escape exactly what InfluxQL's scanner unescapes (backslash, the quote,
newline).

Every call has `timeout` seconds to connect and as many to read. A read (query, ping) is
tried once more when the connection itself failed (refused, or the connect timed out:
urllib3's Retry, connect=1), never after the server took the request; a write or a drop is
never retried.

Errors (InfluxError, each with a short `message` for an operator's log; services translate):
Unavailable (no connection, a timeout, a 5xx), Unauthorized (401 and 403: the credentials),
QueryError (the server refused the statement or the points: a 400, or an `error` in a
statement's result, such as a database that does not exist).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import urllib3
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["Influx", "Series", "InfluxError", "Unavailable", "Unauthorized", "QueryError", "quote_ident",
           "quote_literal"]

MESSAGE_LIMIT = 300
DEFAULT_PORT = 8086
WRITE_BATCH = 5000


class InfluxError(Exception):
    """Base of every error this adapter raises; `message` is short and safe to show."""

    def __init__(self, message: str, status: int | None = None):
        message = " ".join(str(message).split())
        if len(message) > MESSAGE_LIMIT:
            message = message[:MESSAGE_LIMIT - 1] + "…"
        super().__init__(message)
        self.message = message
        self.status = status


class Unavailable(InfluxError):
    """No answer: the connection was refused or timed out, or the server failed (5xx)."""


class Unauthorized(InfluxError):
    """The server refused the credentials (401) or the user's rights (403)."""


class QueryError(InfluxError):
    """The server refused what was asked: a malformed statement or points (400), or a
    statement's error in the result (a database or retention policy that does not exist)."""


@dataclass
class Series:
    """One series of a query's result: the measurement's name, its GROUP BY tags, the column
    names (the first is `time`, in the query's epoch unit) and the rows."""
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    values: list[list] = field(default_factory=list)
    statement: int = 0          # which statement of the query it answers (0 for a single one)

    def column(self, name: str) -> list:
        """The values of one column, in row order."""
        i = self.columns.index(name)
        return [row[i] for row in self.values]


def _escape(value: str, quote: str) -> str:
    # InfluxQL's scanner (ScanString) reads \\, \n, \" and \' inside quotes; a raw newline
    # ends the token as an error. Nothing else needs escaping.
    return value.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")


def quote_ident(name: str) -> str:
    """`name` as an InfluxQL identifier (a measurement, tag key, field or retention policy)."""
    return '"' + _escape(str(name), '"') + '"'


def quote_literal(value: str) -> str:
    """`value` as an InfluxQL string literal (a tag value)."""
    return "'" + _escape(str(value), "'") + "'"


def _server_message(error: InfluxDBClientError) -> str:
    """The server's own error text: its JSON `error`, else the body as it came."""
    content = error.content
    try:
        body = json.loads(content)
    except (TypeError, ValueError):
        return str(content)
    return str(body.get("error", content)) if isinstance(body, dict) else str(content)


class Influx:
    """One InfluxDB server and database. Thread-safe as requests' sessions are (one
    connection pool per client); close() when done."""

    def __init__(self, url: str, database: str, username: str = "", password: str = "",
                 timeout: float = 5.0):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL must be http(s)://host[:port], got {url!r}")
        port = parts.port or DEFAULT_PORT
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
        # as the client spells its base URL, so that the adapters below are the ones it uses
        self.url = f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"
        self.database = database
        self.timeout = timeout
        options = {
            "host": host, "port": port, "path": parts.path.rstrip("/"),
            "ssl": parts.scheme == "https", "verify_ssl": True, "database": database, "timeout": timeout,
            # None: no Authorization header at all (the client's default would be root:root)
            "username": username or None, "password": password if username else None,
            "retries": 1,  # the client's own loop tries once; urllib3's Retry below decides
        }
        # Reads: one more try when the connection failed, none once the request was sent.
        # Mounted for this server's URL, the adapter takes precedence over the client's own.
        reads = requests.Session()
        reads.mount(self.url + "/", HTTPAdapter(max_retries=Retry(
            total=1, connect=1, read=0, status=0, other=0, redirect=0, backoff_factor=0, raise_on_status=False)))
        writes = requests.Session()
        writes.mount(self.url + "/", HTTPAdapter(max_retries=Retry(total=0, read=False, redirect=0)))
        self._reads = InfluxDBClient(session=reads, **options)
        self._writes = InfluxDBClient(session=writes, **options)

    def __repr__(self) -> str:
        return f"Influx({self.url!r}, {self.database!r})"

    def __enter__(self) -> Influx:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._reads.close()
        self._writes.close()

    # ------------------------------------------------------------------ calls

    def _call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) with the client's and requests' errors as this adapter's."""
        try:
            return fn(*args, **kwargs)
        except requests.exceptions.Timeout:
            raise Unavailable(f"InfluxDB at {self.url} did not answer within {self.timeout:g} s")
        except requests.exceptions.ConnectionError as error:
            # urllib3's Retry, out of tries, wraps the last error: a read that timed out too
            cause = error.args[0] if error.args else None
            if isinstance(getattr(cause, "reason", cause), urllib3.exceptions.ReadTimeoutError):
                raise Unavailable(f"InfluxDB at {self.url} did not answer within {self.timeout:g} s")
            reason = "connection refused" if "refused" in str(error).lower() else "no connection"
            raise Unavailable(f"cannot reach InfluxDB at {self.url} ({reason})")
        except requests.exceptions.RequestException as error:
            raise Unavailable(f"InfluxDB at {self.url}: {type(error).__name__}")
        except InfluxDBServerError as error:
            raise Unavailable(f"InfluxDB at {self.url} failed: {error}", 500)
        except InfluxDBClientError as error:
            message = _server_message(error)
            if error.code in (401, 403):
                raise Unauthorized(f"InfluxDB refused the credentials: {message}", error.code)
            raise QueryError(message, error.code)

    def query(self, q: str, params: dict | None = None, epoch: str = "s") -> list[Series]:
        """Run `q` (one statement or several, `;`-separated) on the database; every series of
        every statement's result, in order. `params` are its bind parameters ($name in the
        WHERE clause; strings, numbers or booleans; a time as an RFC 3339 string or integer
        nanoseconds). Times come back as integers in `epoch` (h, m, s, ms, u or ns)."""
        result = self._call(self._reads.query, q, bind_params=params or None, epoch=epoch,
                            database=self.database)
        results = result if isinstance(result, list) else [result]
        series = []
        for index, rs in enumerate(results):
            raw = rs.raw
            for s in raw.get("series", []):
                series.append(Series(name=s.get("name", ""), tags=dict(s.get("tags") or {}),
                                     columns=list(s.get("columns", [])),
                                     values=s.get("values") or [],  # the decoded JSON's own lists
                                     statement=raw.get("statement_id", index)))
        return series

    def write(self, points: list[dict], retention_policy: str | None = None, time_precision: str = "s",
              batch_size: int = WRITE_BATCH) -> None:
        """Write `points` ({"measurement", "tags", "fields", "time"} dicts, times in
        `time_precision`) into the database, `batch_size` per request; never retried (a
        request that failed part-way may have been stored). None goes to the default policy."""
        for i in range(0, len(points), batch_size):
            self._call(self._writes.write_points, points[i:i + batch_size], time_precision=time_precision,
                       retention_policy=retention_policy, database=self.database)

    def ping(self) -> str:
        """The server's version; Unavailable when it does not answer."""
        return self._call(self._reads.ping)

    def drop_series(self, measurement: str | None, tags: dict[str, str]) -> None:
        """DROP SERIES FROM `measurement` (every measurement when None) WHERE each tag equals
        its value, in every retention policy. One of the two is required: dropping every
        series of the database is not offered here."""
        if not measurement and not tags:
            raise ValueError("drop_series needs a measurement or tags")
        statement = "DROP SERIES"
        if measurement:
            statement += f" FROM {quote_ident(measurement)}"
        if tags:
            statement += " WHERE " + " AND ".join(f"{quote_ident(k)} = {quote_literal(v)}"
                                                  for k, v in sorted(tags.items()))
        self._call(self._writes.query, statement, database=self.database, method="POST")
