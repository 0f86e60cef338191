"""Webhooks: an alert that fires or resolves is posted as JSON to its rule's URL, from a
background thread of the process, never from a request or the evaluation itself.

    webhook.send(url, {"rule": ..., "target": ..., "state": "firing", "value": 0.92,
                       "threshold": 0.8, "at": "2026-12-07T19:40:00Z"})   # False: the queue is full

The queue is bounded (QUEUE_MAX); a delivery that finds it full is dropped with a log line.
Each delivery is one requests.Session with urllib3's Retry: connection errors, read time-outs
and 429/5xx answers are tried again up to ALERT_WEBHOOK_RETRIES times, waiting
ALERT_WEBHOOK_BACKOFF x 2^(n-1) seconds before the n-th retry after the first (urllib3's
backoff_factor); each try has ALERT_WEBHOOK_TIMEOUT seconds to connect and as many to read.
Redirects are not followed. WORKERS threads take from the queue, so one hanging receiver
holds one of them, not every delivery.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

QUEUE_MAX = 200
WORKERS = 2
RETRY_STATUSES = (429, 500, 502, 503, 504)
DEFAULTS = {"ALERT_WEBHOOK_RETRIES": 3, "ALERT_WEBHOOK_BACKOFF": 1.0, "ALERT_WEBHOOK_TIMEOUT": 5.0}


@dataclass(frozen=True)
class Delivery:
    url: str
    payload: dict
    retries: int
    backoff: float
    timeout: float


def post(delivery: Delivery) -> int | None:
    """Post it, with the retries; the last status, or None when no answer came at all."""
    retry = Retry(total=delivery.retries, connect=delivery.retries, read=delivery.retries,
                  status=delivery.retries, other=0, redirect=0, backoff_factor=delivery.backoff,
                  backoff_max=60, status_forcelist=RETRY_STATUSES, allowed_methods=None, raise_on_status=False,
                  respect_retry_after_header=False)
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        try:
            response = session.post(delivery.url, json=delivery.payload, timeout=delivery.timeout,
                                    allow_redirects=False, headers={"User-Agent": "hummer-alerts"})
        except requests.RequestException as error:
            log.warning("alert webhook %s: not delivered: %s", delivery.url, type(error).__name__)
            return None
    with response:
        if response.status_code >= 300:
            log.warning("alert webhook %s: answered %s", delivery.url, response.status_code)
        return response.status_code


class Deliverer:
    """The process's queue and its worker threads."""

    def __init__(self, workers: int = WORKERS, size: int = QUEUE_MAX):
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=size)
        self.dropped = 0
        self.delivered = 0
        self.threads = [threading.Thread(target=self._work, name=f"hummer-alert-webhook-{i}", daemon=True)
                        for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                status = post(delivery)
                if status is not None and status < 300:
                    self.delivered += 1
            except Exception:  # noqa: BLE001 - a worker must outlive any one delivery
                log.exception("alert webhook %s failed", delivery.url)
            finally:
                self.queue.task_done()

    def put(self, delivery: Delivery) -> bool:
        try:
            self.queue.put_nowait(delivery)
            return True
        except queue.Full:
            self.dropped += 1
            log.warning("alert webhook %s: dropped, %d deliveries are waiting", delivery.url, self.queue.qsize())
            return False


_deliverers: dict[int, Deliverer] = {}
_lock = threading.Lock()


def deliverer() -> Deliverer:
    """This process's deliverer (a forked worker starts its own)."""
    pid = os.getpid()
    with _lock:
        found = _deliverers.get(pid)
        if found is None:
            found = _deliverers[pid] = Deliverer()
        return found


def send(url: str, payload: dict) -> bool:
    """Queue a delivery (with the app's retry settings); False when the queue is full. Returns at once."""
    c = current_app.config

    def setting(key: str):
        return c.get(key, DEFAULTS[key])
    return deliverer().put(Delivery(url, payload, int(setting("ALERT_WEBHOOK_RETRIES")),
                                    float(setting("ALERT_WEBHOOK_BACKOFF")), float(setting("ALERT_WEBHOOK_TIMEOUT"))))
