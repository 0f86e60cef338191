"""A gunicorn worker starts filling its Kubernetes caches when it starts, not on its first
app page (gunicorn.conf.py's post_worker_init hook)."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.services import kube_access
from tests.apps.conftest import wait_for

pytestmark = pytest.mark.kube

REPO = Path(__file__).resolve().parents[2]


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location("hummer_gunicorn_conf", REPO / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_new_worker_fills_its_caches_before_any_request(app, kube_cluster, tmp_path):
    # a kubeconfig file of its own: a client nobody in this process has used yet
    app.config["KUBECONFIG"] = str(shutil.copy(kube_cluster.kubeconfig, tmp_path / "kubeconfig"))
    app.config["KUBE_START_CACHES"] = True
    _gunicorn_conf().post_worker_init(SimpleNamespace(wsgi=app))
    with app.app_context():
        kube = kube_access.kube()
    for kind, informer in kube.informers.items():
        wait_for(informer.synced.is_set, what=f"the {kind} cache, filled without a request")


def test_under_testing_the_caches_wait_to_be_asked(app, kube_cluster, tmp_path):
    app.config["KUBECONFIG"] = str(shutil.copy(kube_cluster.kubeconfig, tmp_path / "kubeconfig"))
    assert kube_access.start_caches(app) is False
    with app.app_context():
        assert not any(i.alive for i in kube_access.kube().informers.values())
