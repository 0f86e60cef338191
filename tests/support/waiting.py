"""The suite's one polling helper: wait for a condition, never for a fixed time."""
from __future__ import annotations

import time


def wait_for(probe, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll `probe` until it returns something truthy and return that; fail the test with
    its last value after `timeout` seconds. An exception from `probe` ends the wait at once
    (a probe that should tolerate one catches it and returns a false value)."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value {last!r}")
        time.sleep(interval)
