"""The real InfluxDB of the tests: Debian's `influxd` 1.x, run with the influxdb.conf that the
`monitoring.influxdb.config` Salt state writes, and its database made by the
`monitoring.influxdb.database` state.

Both states are applied for real on a test minion (as tests/support/registry.py does for
`registry.config`), with every path redirected into a temporary root through the pillar:
the configuration file and the data directory (meta, data and wal under it), the HTTP port
a free loopback one, `listen: 127.0.0.1`, and the backup service's port a free one too.
`influxd -config <that file>` then runs until the session ends (once per xdist worker).

    def test_something(influx_empty):          # running, its database holding no series
        influx_empty.client().write_points([...], time_precision="s")
        influx_empty.url, .host, .port, .database
        influx_empty.stop(); ...; influx_empty.start()   # same files: the points are still there

`influx` is the session's server as it is; `influx_empty` starts it again if a test left
it stopped and drops every series of its database first. Points come from
tests/support/telegraf.py, the stand-in for Telegraf. DROP SERIES leaves each shard's field
types: a field written as an integer in one test stays one in that time range, so write each
field with the type Telegraf (raw) or the continuous queries (rollup: floats) give it.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from influxdb import InfluxDBClient

from portal.domain import metrics
from tests.support.daemons import Daemon
from tests.support.processes import free_port

MINION = "hm-master"
HOST = "127.0.0.1"

# A continuous query as SHOW CONTINUOUS QUERIES spells it.
CQ = re.compile(r"CREATE CONTINUOUS QUERY (?P<name>\w+) ON (?P<db>\w+) RESAMPLE EVERY (?P<every>\w+) FOR (?P<for>\w+) "
                r"BEGIN (?P<select>SELECT (?P<fields>.+) INTO (?P<into>[\w.]+) FROM (?P<source>[\w.]+)) "
                r"(?P<group>GROUP BY time\((?P<interval>\w+)\), \*) END")


@dataclass
class InfluxServer:
    root: Path
    config_file: Path
    port: int
    pillar: dict = field(repr=False)
    database: str = metrics.DATABASE
    host: str = HOST
    daemon: Daemon | None = field(default=None, repr=False)
    #: the first apply of monitoring.influxdb.database: {state key: its return}
    applied: dict = field(default_factory=dict, repr=False)
    #: seconds the last start() took until /ping answered
    started_in: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.daemon is not None and self.daemon.alive()

    def ping(self) -> bool:
        try:
            return requests.get(self.url + "/ping", timeout=1).status_code == 204
        except requests.RequestException:
            return False

    def start(self, timeout: float = 30) -> "InfluxServer":
        if self.running:
            return self
        began = time.monotonic()
        self.daemon = Daemon("influxd", [shutil.which("influxd") or "/usr/bin/influxd", "-config",
                                         str(self.config_file)], self.root / "influxd.log")
        self.daemon.wait_ready(self.ping, timeout=timeout, interval=0.05, what="influxd to answer /ping")
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        """SIGTERM influxd and wait until it has gone: its port refuses connections after."""
        if self.daemon:
            left = self.daemon.stop(10)
            assert not left, f"influxd left processes {left}"
            self.daemon = None

    def client(self, **kwargs) -> InfluxDBClient:
        """An influxdb.InfluxDBClient on this server and database (5 s timeout, no retries)."""
        options = {"host": self.host, "port": self.port, "database": self.database, "timeout": 5, "retries": 1}
        return InfluxDBClient(**{**options, **kwargs})

    def query(self, q: str, **kwargs) -> list[dict]:
        """The points of a query's first statement, through the client (for assertions)."""
        with self.client() as client:
            return list(client.query(q, **kwargs).get_points())

    def empty(self) -> None:
        """Drop every series of the database (the retention policies and queries stay)."""
        with self.client() as client:
            client.query("DROP SERIES FROM /.*/", method="POST")

    def log(self, n: int = 40) -> str:
        return self.daemon.tail(n) if self.daemon else ""


def pillar_for(root: Path, port: int, rpc_port: int, **monitoring) -> dict:
    """hummer:monitoring with every path under `root`, the given ports on 127.0.0.1, no
    package management; `monitoring` is laid over it (database, retention, rollup ...)."""
    influxdb = {"pkg": {"manage": False}, "config": f"{root}/etc/influxdb/influxdb.conf",
                "data_dir": f"{root}/var/lib/influxdb", "listen": HOST, "port": port, "rpc_port": rpc_port}
    return {"hummer": {"monitoring": {"influxdb": influxdb, **monitoring}}}


def apply(salt_env, sls: str, pillar: dict, timeout: float = 180) -> dict:
    """state.apply `sls` for real on MINION with `pillar`; its return, every state succeeded."""
    out = salt_env.salt(MINION, "state.apply", sls, f"pillar={json.dumps(pillar)}", timeout=timeout)
    ret = out[MINION]
    assert isinstance(ret, dict), ret
    failed = {k: (r["comment"], r.get("changes")) for k, r in ret.items() if r["result"] is not True}
    assert not failed, failed
    return ret


def provision(salt_env, root: Path) -> InfluxServer:
    """Apply monitoring.influxdb.config into `root`, start influxd on the file it wrote, then
    apply monitoring.influxdb.database against it."""
    pillar = pillar_for(root, free_port(), free_port())
    ret = apply(salt_env, "monitoring.influxdb.config", pillar)
    config_file = root / "etc/influxdb/influxdb.conf"
    assert any(r.get("name") == str(config_file) for r in ret.values()), "the state did not write influxdb.conf"
    server = InfluxServer(root, config_file, pillar["hummer"]["monitoring"]["influxdb"]["port"], pillar)
    server.start()
    try:
        server.applied = apply(salt_env, "monitoring.influxdb.database", pillar)
    except BaseException:
        print(server.log())
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def influx(salt_env, tmp_path_factory):
    """The session's InfluxDB (see the module docstring), stopped at the end."""
    server = provision(salt_env, tmp_path_factory.mktemp("influxdb"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influx_empty(influx):
    """The session's InfluxDB, running, its database without any series."""
    influx.start()
    influx.empty()
    return influx


def continuous_queries(influx, database: str) -> dict[str, re.Match]:
    """Each continuous query of `database` by name, parsed with CQ: its SELECT ... INTO and
    GROUP BY, which a test or a bench runs itself over past hours."""
    with influx.client() as client:
        raw = client.query("SHOW CONTINUOUS QUERIES").raw
    (series,) = [s for s in raw["series"] if s["name"] == database]
    found = {}
    for name, text in series.get("values", []):
        match = CQ.fullmatch(text)
        assert match, text
        found[name] = match
    return found
