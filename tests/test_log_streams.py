"""Live-log streams are limited per user and per process (HUMMER_LOG_STREAMS_PER_USER,
HUMMER_LOG_STREAMS_PER_PROCESS). The limit is checked before the cluster is touched, so
these run without one: a stream that gets past it meets "no cluster" (503) instead.
tests/apps/test_log_stream_limits.py opens real streams against the test cluster."""
import threading
import time

import pytest

from portal.services import streams
from tests.support.waiting import wait_for
from tests.support.web import text

STREAM = "/projects/alpha/apps/web/logs/stream"
SSE = {"Accept": "text/event-stream"}


def test_slots_per_user_and_per_process():
    slots = streams.Slots()
    a1, a2 = slots.open(1, per_user=2, per_process=3), slots.open(1, per_user=2, per_process=3)
    with pytest.raises(streams.StreamLimit, match="already following 2 live logs"):
        slots.open(1, per_user=2, per_process=3)
    b1 = slots.open(2, per_user=2, per_process=3)
    with pytest.raises(streams.StreamLimit, match="already streaming 3 live logs"):
        slots.open(3, per_user=2, per_process=3)
    a1.release()
    a1.release()                          # twice is harmless: one slot back, not two
    assert slots.in_use() == 2 and slots.in_use(1) == 1
    slots.open(3, per_user=2, per_process=3)
    with pytest.raises(streams.StreamLimit):
        slots.open(1, per_user=2, per_process=3)
    for slot in (a2, b1):
        slot.release()
    assert slots.in_use() == 1


def test_slots_hold_under_parallel_opens():
    slots, got, refused = streams.Slots(), [], []
    barrier = threading.Barrier(16)

    def take(user):
        barrier.wait()
        try:
            got.append(slots.open(user, per_user=2, per_process=4))
        except streams.StreamLimit:
            refused.append(user)
    threads = [threading.Thread(target=take, args=(i % 3,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 4 and len(refused) == 12 and slots.in_use() == 4


def test_the_defaults_leave_threads_for_pages(app):
    assert app.config["LOG_STREAMS_PER_USER"] == 2
    assert app.config["LOG_STREAMS_PER_PROCESS"] == 2    # of gunicorn's 4 threads per worker


def test_past_the_user_limit_the_log_pane_gets_the_reason(app, web, login, team):
    _, people = team
    login("vic")
    held = [streams.slots().open(people["vic"].id, 2, 2) for _ in range(2)]
    response = web.get(STREAM, headers=SSE)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    body = text(response)
    assert "event: limit\ndata: <small class=\"error\" role=\"alert\">You are already following 2 live logs" in body
    assert body.startswith("retry: 60000\n")                     # and the page closes the stream on it
    plain = web.get(STREAM)
    assert plain.status_code == 429 and plain.headers["Retry-After"] == "10"
    assert "You are already following 2 live logs" in text(plain)
    held[0].release()
    response = web.get(STREAM, headers=SSE)
    assert response.status_code == 503                           # past the limit: no cluster here
    assert streams.slots().in_use(people["vic"].id) == 1         # and the failed stream gave its slot back


def test_past_the_process_limit_everyone_gets_the_reason(app, web, login, team):
    _, people = team
    held = [streams.slots().open(people["olivia"].id, 2, 2), streams.slots().open(people["dev"].id, 2, 2)]
    login("vic")
    body = text(web.get(STREAM, headers=SSE))
    assert "The portal is already streaming 2 live logs" in body
    held[1].release()
    assert web.get(STREAM, headers=SSE).status_code == 503


def test_limits_are_configurable(app, web, login, team):
    _, people = team
    app.config["LOG_STREAMS_PER_USER"] = 1
    streams.slots().open(people["vic"].id, 1, 2)
    login("vic")
    assert "You are already following 1 live log," in text(web.get(STREAM))



class _Chatty:
    """A kube stand-in whose streams print without end, as fast as they are read."""

    printed = 0

    def lines(self, resp):
        while not resp.closed:
            self.printed += 1
            yield "line"


class _Resp:
    closed = False

    def shutdown(self):
        pass

    def close(self):
        self.closed = True


def _pumps() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hummer-log-chatty")]


def test_a_merged_follow_ends_at_its_time_limit_and_stops_its_pumps():
    from portal.services.apps.logs import _merge
    started = time.monotonic()
    got = sum(1 for _ in _merge(_Chatty(), [("chatty-1", _Resp()), ("chatty-2", _Resp())], max_seconds=0.5))
    assert got > 0 and 0.45 <= time.monotonic() - started < 3
    wait_for(lambda: not _pumps(), timeout=5, what="the pump threads to end")


def test_a_reader_that_stops_reading_does_not_leave_a_pump_blocked_on_a_full_queue():
    from portal.services.apps.logs import _merge
    chatty = _Chatty()
    merged = _merge(chatty, [("chatty-3", _Resp())], max_seconds=60)
    next(merged)
    wait_for(lambda: chatty.printed > 10_001, what="the queue (10,000 lines) full while nobody reads")
    merged.close()  # the reader goes away
    wait_for(lambda: not _pumps(), timeout=5, what="the pump thread to end")
