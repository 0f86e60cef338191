"""One source of truth for the kubeconfig: the one the cluster wizard registered (stored
encrypted in the database). The Salt `portal` formula neither writes a plain copy nor
sets HUMMER_KUBECONFIG, which stays an operator's explicit override."""
from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

STATES = Path(__file__).resolve().parent.parent / "salt_states" / "portal"


def test_the_portal_formula_does_not_set_hummer_kubeconfig():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(STATES / "files")), undefined=jinja2.StrictUndefined)
    portal = {"instance_dir": "/var/lib/hummer", "nfs_root": "/hummer", "kubeconfig": "/var/lib/hummer/kubeconfig",
              "proxy_count": 1, "secret_key": "", "extra_env": {},
              "registry_auth": {"username": "", "password": ""},
              "database": {"user": "hummer", "password": "pw", "host": "127.0.0.1", "name": "hummer"},
              # the formula's own limits, whatever they come to hold
              "limits": yaml.safe_load((STATES / "parameters" / "defaults.yaml").read_text())["values"]["limits"]}
    text = env.get_template("hummer.env.jinja").render(portal=portal)
    assert "HUMMER_DATABASE_URL=" in text and "HUMMER_KUBECONFIG" not in text


def test_the_portal_formula_writes_no_plain_kubeconfig():
    sls = (STATES / "app" / "init.sls").read_text()
    assert "hummer_portal_kubeconfig" not in sls          # it no longer reads the mine
    assert "file.managed" not in sls.split("portal-app-kubeconfig", 1)[-1]


def test_the_override_wins_and_the_cluster_page_says_so(app, login, web, make_user, tmp_path):
    from portal.services import kube_access
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {token: t}}]\n"
                          "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")
    app.config["KUBECONFIG"] = str(kubeconfig)
    assert kube_access.configured() and kube_access.kube().kubeconfig == str(kubeconfig)
    make_user("root", admin=True)
    login("root")
    assert "HUMMER_KUBECONFIG is set" in web.get("/cluster").get_data(as_text=True)
