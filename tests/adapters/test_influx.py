"""The InfluxDB adapter against the real influxd (tests/support/influx.py): Debian's 1.x, run
with the configuration and database that the Salt states make, fed by the Telegraf stand-in.
"""
from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from portal.adapters.influx import Influx, QueryError, Series, Unavailable, quote_ident, quote_literal
from portal.domain.metrics import RP_RAW, RP_ROLLUP, PodContainer, PodNetwork
from tests.support import telegraf
from tests.support.processes import free_port
from tests.support.waiting import wait_for


def recent_hour() -> int:
    """The start of an hour two hours ago: inside every retention policy."""
    now = int(time.time())
    return now - now % 3600 - 2 * 3600


@pytest.fixture
def adapter(influx_empty):
    with Influx(influx_empty.url, influx_empty.database, timeout=5) as influx:
        yield influx


def pods_query(extra: str = "") -> str:
    return (f'SELECT mean("{PodContainer.CPU_NANOCORES}") FROM "{RP_RAW}"."{PodContainer.NAME}" '
            f'WHERE "{PodContainer.TAG_NAMESPACE}" = $ns AND time >= $start AND time < $end {extra}'
            f'GROUP BY time(1m), "{PodContainer.TAG_POD}" fill(none)')


def test_write_then_query_by_minute_with_gaps_left_out(adapter):
    start = recent_hour()
    web = telegraf.PodUsage("shop", "web-1", cpu_cores=lambda t: 0.5 if t < start + 60 else 0.25)
    api = telegraf.PodUsage("shop", "api-1", cpu_cores=0.1)
    other = telegraf.PodUsage("other", "web-1", cpu_cores=3.0)
    # web reports for three minutes with the second one missing; api for the first minute only
    at = telegraf.every(start, start + 60) + telegraf.every(start + 120, start + 180)
    adapter.write(telegraf.pod_points(web, at) + telegraf.pod_points(api, telegraf.every(start, start + 60))
                  + telegraf.pod_points(other, at))

    series = adapter.query(pods_query(), {"ns": "shop", "start": start * 10**9, "end": (start + 3600) * 10**9})
    by_pod = {s.tags["pod_name"]: s for s in series}
    assert set(by_pod) == {"web-1", "api-1"}  # the other namespace's web-1 is not there
    web_series = by_pod["web-1"]
    assert isinstance(web_series, Series) and web_series.name == PodContainer.NAME
    assert web_series.columns == ["time", "mean"]
    # fill(none): the minute without points is absent, not null; times are epoch seconds
    assert web_series.values == [[start, 0.5e9], [start + 120, 0.25e9]]
    assert by_pod["api-1"].column("mean") == [0.1e9]


def test_time_bounds_as_rfc3339_and_epoch_ms(adapter):
    start = recent_hour()
    adapter.write(telegraf.pod_points(telegraf.PodUsage("shop", "web-1"), telegraf.every(start, start + 300, 60)))
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 120))
    series = adapter.query(pods_query(), {"ns": "shop", "start": iso, "end": (start + 240) * 10**9}, epoch="ms")
    assert [row[0] for row in series[0].values] == [(start + 120) * 1000, (start + 180) * 1000]


# Tag values as the client stores them (its line protocol escaping doubles a backslash and
# writes a newline as backslash-n, InfluxDB 1.x unescapes neither): the test reads them back
# with SHOW TAG VALUES and uses exactly what is stored.
HOSTILE = ["quo'te", 'dou"ble', "back\\slash", "new\nline", "sp ace,comma=equals", "x' OR '1'='1",
           "web-1' OR \"pod_name\" =~ /.*/ OR 'a'='a", "\\' OR ''='"]


def stored_pods(adapter) -> list[str]:
    (series,) = adapter.query(f'SHOW TAG VALUES FROM "{PodContainer.NAME}" WITH KEY = "{PodContainer.TAG_POD}"')
    return series.column("value")


def test_bind_parameters_never_inject(adapter):
    start = recent_hour()
    pods = [telegraf.PodUsage("shop", name, cpu_cores=(i + 1) / 100) for i, name in enumerate(HOSTILE + ["web-1"])]
    adapter.write([p for pod in pods for p in telegraf.pod_points(pod, [start])])
    stored = stored_pods(adapter)
    assert len(stored) == len(pods)
    q = (f'SELECT "{PodContainer.CPU_NANOCORES}" FROM "{PodContainer.NAME}" '
         f'WHERE "{PodContainer.TAG_POD}" = $pod GROUP BY "{PodContainer.TAG_POD}"')
    for value in stored:
        series = adapter.query(q, {"pod": value})
        assert [s.tags["pod_name"] for s in series] == [value], value
    # each hostile value as given (newline and single backslashes included): at most itself
    for value in HOSTILE:
        assert {s.tags["pod_name"] for s in adapter.query(q, {"pod": value})} <= {value}, value
    assert adapter.query(q, {"pod": "' OR ''='"}) == []


def test_quoting_round_trips_through_the_server():
    assert quote_ident('we"ird\\name\nx') == '"we\\"ird\\\\name\\nx"'
    assert quote_literal("it's a \\ and\nthat") == "'it\\'s a \\\\ and\\nthat'"
    assert quote_ident("it's") == '"it\'s"' and quote_literal('say "hi"') == "'say \"hi\"'"


def test_quoted_identifiers_and_literals_select_exactly_one_series(adapter):
    start = recent_hour()
    measurement, key = 'odd "measure\\ment', 'k"ey'
    points = [{"measurement": measurement, "tags": {key: value}, "fields": {"v": i}, "time": start}
              for i, value in enumerate(HOSTILE)]
    adapter.write(points)
    (stored,) = [name for s in adapter.query("SHOW MEASUREMENTS") for name in s.column("name")
                 if name.startswith('odd "')]  # its backslash doubled by the client's escaping
    measurement = stored
    (keys,) = adapter.query(f"SHOW TAG KEYS FROM {quote_ident(measurement)}")
    assert keys.column("tagKey") == [key]
    (values,) = adapter.query(f"SHOW TAG VALUES FROM {quote_ident(measurement)} WITH KEY = {quote_ident(key)}")
    for value in values.column("value"):
        (series,) = adapter.query(f"SELECT * FROM {quote_ident(measurement)} "
                                  f"WHERE {quote_ident(key)} = {quote_literal(value)}")
        assert series.name == measurement and series.column(key) == [value]


def test_drop_series_drops_one_pods_series_and_nothing_else(adapter):
    start = recent_hour()
    at = telegraf.every(start, start + 60)
    victims = ["web-1", "x' OR '1'='1"]
    keep = [telegraf.PodUsage("shop", "web-2"), telegraf.PodUsage("other", "web-1"),
            telegraf.PodUsage("shop", "x")]
    for pod in [telegraf.PodUsage("shop", name) for name in victims] + keep:
        adapter.write(telegraf.pod_points(pod, at))
    # the same pod's points down-sampled into the rollup go too
    adapter.write(telegraf.as_rollup(telegraf.pod_points(telegraf.PodUsage("shop", "web-1"), [start])),
                  retention_policy=RP_ROLLUP)

    def series_of(rp: str, measurement: str) -> set[tuple[str, str]]:
        return {(s.tags["namespace"], s.tags["pod_name"])
                for s in adapter.query(f'SELECT last(*) FROM "{rp}"."{measurement}" GROUP BY "namespace", "pod_name"')}

    adapter.drop_series(PodNetwork.NAME, {"namespace": "shop", "pod_name": "web-1"})
    assert ("shop", "web-1") not in series_of(RP_RAW, PodNetwork.NAME)
    assert ("shop", "web-1") in series_of(RP_RAW, PodContainer.NAME)  # only the measurement named
    for name in victims:
        adapter.drop_series(None, {"namespace": "shop", "pod_name": name})
    left = {("shop", "web-2"), ("other", "web-1"), ("shop", "x")}
    assert series_of(RP_RAW, PodContainer.NAME) == left
    assert series_of(RP_RAW, PodNetwork.NAME) == left
    assert series_of(RP_ROLLUP, PodContainer.NAME) == set()
    with pytest.raises(ValueError):
        adapter.drop_series(None, {})


def test_malformed_queries_and_missing_databases_are_query_errors(influx_empty, adapter):
    with pytest.raises(QueryError) as caught:
        adapter.query("SELEC * FROM cpu")
    assert caught.value.status == 400 and caught.value.message.startswith("error parsing query")
    with pytest.raises(QueryError) as caught:  # an error inside the result, with 200
        Influx(influx_empty.url, "no_such_database").query('SELECT * FROM "cpu"')
    assert caught.value.message == "database not found: no_such_database"
    with pytest.raises(QueryError):  # points the server refuses: a field changing type
        adapter.write([{"measurement": "m", "fields": {"v": 1}, "time": recent_hour()},
                       {"measurement": "m", "fields": {"v": "text"}, "time": recent_hour() + 1}])
    assert adapter.query('SELECT * FROM "no_such_measurement"') == []


def test_a_stopped_server_is_unavailable_at_once_and_back_with_its_data(influx_empty):
    start = recent_hour()
    influx = Influx(influx_empty.url, influx_empty.database, timeout=3)
    influx.write(telegraf.pod_points(telegraf.PodUsage("shop", "web-1"), [start]))
    version = influx.ping()
    assert version.startswith("1.")
    influx_empty.stop()
    try:
        for call in (influx.ping, lambda: influx.query('SELECT * FROM "cpu"'),
                     lambda: influx.write(telegraf.pod_points(telegraf.PodUsage("shop", "web-1"), [start + 10])),
                     lambda: influx.drop_series(PodContainer.NAME, {"pod_name": "web-1"})):
            began = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                call()
            assert time.monotonic() - began < 3  # refused: no waiting for the timeout
            assert caught.value.message == f"cannot reach InfluxDB at {influx_empty.url} (connection refused)"
    finally:
        influx_empty.start()
    assert influx.ping() == version  # the same client recovers by itself
    (series,) = influx.query(f'SELECT "{PodContainer.CPU_NANOCORES}" FROM "{PodContainer.NAME}"')
    assert series.values == [[start, 100_000_000]]  # the point written before the stop


def _all_stopped(pid: int) -> bool:
    """Every thread of `pid` is in the stopped state (T in /proc/<pid>/task/*/stat)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(") ", 1)[1][0])
        except (OSError, IndexError):
            continue  # a thread that has just gone
    return bool(states) and all(state == "T" for state in states)


def test_a_hung_server_is_unavailable_after_the_timeout_without_a_retry(influx_empty):
    influx = Influx(influx_empty.url, influx_empty.database, timeout=1)
    influx.ping()  # a connection in the pool
    influx_empty.daemon.signal(signal.SIGSTOP)
    try:
        # kill() returns before the stop: wait until every thread of influxd is stopped (T), as
        # a loaded machine may let a thread answer in between
        wait_for(lambda: _all_stopped(influx_empty.daemon.pid), timeout=10, what="influxd stopped")
        for call in (influx.ping, lambda: influx.query('SELECT * FROM "cpu"')):
            began = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                call()
            took = time.monotonic() - began
            assert 0.9 < took < 1.9, took  # the read timed out once: it is never tried again
            assert "did not answer within 1 s" in caught.value.message
    finally:
        influx_empty.daemon.signal(signal.SIGCONT)
    assert influx.ping()


@pytest.fixture
def unanswered_port():
    """A port whose listener never accepts and whose queue is full: a connection attempt
    times out, as to a host that is down."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    try:
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            waiting.append(s)
        yield port
    finally:
        for s in waiting:
            s.close()
        listener.close()


def test_reads_try_a_failed_connection_once_more_and_writes_never(unanswered_port):
    influx = Influx(f"http://127.0.0.1:{unanswered_port}", "hummer", timeout=0.5)
    timings = {}
    for name, call in (("query", lambda: influx.query('SELECT * FROM "cpu"')), ("ping", influx.ping),
                       ("write", lambda: influx.write([{"measurement": "m", "fields": {"v": 1}}])),
                       ("drop", lambda: influx.drop_series("m", {}))):
        began = time.monotonic()
        with pytest.raises(Unavailable):
            call()
        timings[name] = time.monotonic() - began
    # two connection attempts of 0.5 s for a read, one for a write
    assert 0.95 < timings["query"] < 1.45 and 0.95 < timings["ping"] < 1.45, timings
    assert 0.45 < timings["write"] < 0.95 and 0.45 < timings["drop"] < 0.95, timings
