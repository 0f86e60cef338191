"""The configuration parts of the tree, applied for real on a real minion, twice.

Every path they write is redirected into a temporary directory through the
components' maps (pillar hummer:<component>:...), packages are not managed
(hummer:<component>:pkg:manage false) and nothing is started: the second
apply must report no change. What cannot run here for real (package installs,
kubeadm init, services, mounts, swapoff, modprobe) runs in test mode in
test_orchestrate.py.
"""
import base64
import json
import os
import shlex
import shutil
import stat
import subprocess
import tomllib

import pytest
import requests
import sqlalchemy as sa
import yaml

from tests.support.live_portal import REPO, Client, live_portal
from tests.support.processes import die_with_parent, free_port
from tests.support.waiting import wait_for

MINION = "hm-master"
SLS = ["common.config", "registry.config", "docker.config", "nfs.server.config", "kubernetes.credentials",
       "kubernetes.master.config",
       "monitoring.influxdb.config", "monitoring.grafana.config", "monitoring.telegraf.config", "portal.config"]
HTPASSWD_HASH = "$2y$05$exampleexampleexampleeu0aJ5zSR3QyVNNDXyv9BZw9lyx9gqS6"
# The nodes' login (hummer:registry:auth), with characters that need quoting in TOML and JSON.
REGISTRY_LOGIN = {"username": "hummer", "password": 'pa"ss\\wörd:1'}
OTHER_LOGIN = {"builds.example.invalid:5000": {"auth": "b3RoZXI6bG9naW4="}}  # an operator's, kept


# Where nginx (as the portal formula renders its site) and the portal behind it listen in
# these tests: free loopback ports, chosen once for the module's apply.
WEB = {"nginx": free_port(), "portal": free_port()}


def redirected(root) -> dict:
    r = str(root)
    off = {"manage": False}
    return {"hummer": {
        "cluster": {"nfs_export": f"{r}/export/hummer"},
        "common": {"pkg": off, "hosts": {"file": f"{r}/etc/hosts"},
                   "time": {"config": f"{r}/etc/systemd/timesyncd.conf.d/hummer.conf"},
                   "kernel": {"apply": False, "modules_file": f"{r}/etc/modules-load.d/hummer.conf",
                              "sysctl_file": f"{r}/etc/sysctl.d/99-hummer.conf"}},
        "registry": {"pkg": off, "user": "root", "group": "root", "config_file": f"{r}/etc/registry/config.yml",
                     "storage_dir": f"{r}/var/lib/registry",
                     "htpasswd": {"enabled": True, "file": f"{r}/etc/registry/htpasswd",
                                  "users": {"hummer": HTPASSWD_HASH}},
                     "auth": REGISTRY_LOGIN},
        "docker": {"pkg": off, "daemon_json": f"{r}/etc/docker/daemon.json",
                   "client_config": f"{r}/root/.docker/config.json",
                   "docker_certs_dir": f"{r}/etc/docker/certs.d",
                   "containerd_config": f"{r}/etc/containerd/config.toml",
                   "containerd_certs_dir": f"{r}/etc/containerd/certs.d"},
        "nfs": {"pkg": off, "exports_file": f"{r}/etc/exports.d/hummer.exports"},
        "kubernetes": {"config_dir": f"{r}/etc/kubernetes/hummer",
                       "kubelet_credentials": f"{r}/var/lib/kubelet/config.json"},
        "monitoring": {
            "influxdb": {"pkg": off, "config": f"{r}/etc/influxdb/influxdb.conf"},
            "grafana": {"pkg": off, "group": "root", "config": f"{r}/etc/grafana/grafana.ini",
                        "provisioning_dir": f"{r}/etc/grafana/provisioning",
                        "dashboards_dir": f"{r}/var/lib/grafana/dashboards/hummer"},
            "telegraf": {"pkg": off, "group": "root", "config": f"{r}/etc/telegraf/telegraf.conf",
                         "kubelet_token": f"{r}/etc/telegraf/kubelet.token"}},
        "portal": {"pkg": off, "group": "root", "env_file": f"{r}/etc/hummer/hummer.env",
                   "unit_file": f"{r}/etc/systemd/system/hummer.service",
                   "src_dir": str(REPO), "bind": f"127.0.0.1:{WEB['portal']}",
                   "nginx": {"address": "127.0.0.1", "port": WEB["nginx"],
                             "site": f"{r}/etc/nginx/sites-available/hummer",
                             "enabled_link": f"{r}/etc/nginx/sites-enabled/hummer",
                             "default_site": f"{r}/etc/nginx/sites-enabled/default"}},
    }}


def apply(salt_env, root, test=False) -> dict:
    out = salt_env.salt(MINION, "state.apply", ",".join(SLS), f"pillar={json.dumps(redirected(root))}",
                        f"test={test}", timeout=300)
    ret = out[MINION]
    assert isinstance(ret, dict), "\n".join(map(str, ret))
    return ret


@pytest.fixture(scope="module")
def applied(salt_env, tmp_path_factory):
    root = tmp_path_factory.mktemp("real-apply")
    (root / "etc").mkdir()
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc" / "nginx" / "sites-enabled").mkdir(parents=True)
    (root / "etc" / "nginx" / "sites-enabled" / "default").write_text("server {}\n")
    (root / "root" / ".docker").mkdir(parents=True)
    (root / "root" / ".docker" / "config.json").write_text(json.dumps({"auths": OTHER_LOGIN}))
    first = apply(salt_env, root)
    second = apply(salt_env, root)
    return root, first, second


def test_first_apply_writes_only_under_the_temp_root(applied):
    root, first, _ = applied
    failed = {k: r["comment"] for k, r in first.items() if r["result"] is not True}
    assert not failed, failed
    changed = [k for k, r in first.items() if r["changes"]]
    assert len(changed) >= 20
    for key, r in first.items():
        if key.startswith("file_|-"):
            assert r["name"].startswith(str(root)), r["name"]


def test_second_apply_changes_nothing(applied):
    _, _, second = applied
    assert all(r["result"] is True for r in second.values()), {k: r["comment"] for k, r in second.items()}
    assert {k: r["changes"] for k, r in second.items() if r["changes"]} == {}


def test_written_files_carry_the_cluster_values(applied):
    root, *_ = applied
    kubeadm = list(yaml.safe_load_all((root / "etc/kubernetes/hummer/kubeadm-config.yaml").read_text()))
    cluster = next(d for d in kubeadm if d["kind"] == "ClusterConfiguration")
    assert cluster["networking"] == {"podSubnet": "172.16.0.0/16", "serviceSubnet": "10.0.1.0/24",
                                     "dnsDomain": "cluster.local"}
    assert cluster["imageRepository"] == "192.0.2.10:5000" and cluster["kubernetesVersion"] == "v1.30.4"
    init = next(d for d in kubeadm if d["kind"] == "InitConfiguration")
    assert init["localAPIEndpoint"]["advertiseAddress"] == "192.0.2.10"
    flannel = list(yaml.safe_load_all((root / "etc/kubernetes/hummer/kube-flannel.yml").read_text()))
    net = json.loads(next(d for d in flannel if d["kind"] == "ConfigMap")["data"]["net-conf.json"])
    assert net["Network"] == "172.16.0.0/16"
    images = {c["image"] for d in flannel if d["kind"] == "DaemonSet"
              for c in d["spec"]["template"]["spec"]["containers"] + d["spec"]["template"]["spec"]["initContainers"]}
    assert all(i.startswith("192.0.2.10:5000/flannel/") for i in images), images
    rbac = list(yaml.safe_load_all((root / "etc/kubernetes/hummer/portal-rbac.yaml").read_text()))
    role = next(d for d in rbac if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "hummer-portal")
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in role["rules"])  # least rights, no wildcards
    assert not any(r["apiGroups"] == ["rbac.authorization.k8s.io"] for r in role["rules"])

    hosts = (root / "etc/hosts").read_text()
    assert hosts.startswith("127.0.0.1 localhost\n")
    assert "192.0.2.10 k8s-master hm-master\n192.0.2.11 hm-node1\n192.0.2.12 hm-node2\n" in hosts
    assert "net.ipv4.ip_forward = 1" in (root / "etc/sysctl.d/99-hummer.conf").read_text()
    assert (root / "etc/modules-load.d/hummer.conf").read_text().split()[-2:] == ["overlay", "br_netfilter"]

    registry = yaml.safe_load((root / "etc/registry/config.yml").read_text())
    assert registry["http"]["addr"] == ":5000" and registry["storage"]["delete"] == {"enabled": True}
    assert registry["auth"]["htpasswd"]["path"] == f"{root}/etc/registry/htpasswd"
    assert (root / "etc/registry/htpasswd").read_text().strip() == f"hummer:{HTPASSWD_HASH}"

    daemon = json.loads((root / "etc/docker/daemon.json").read_text())
    assert daemon["insecure-registries"] == ["192.0.2.10:5000"]
    assert daemon["registry-mirrors"] == ["https://mirror.example.invalid"]
    hosts_toml = (root / "etc/containerd/certs.d/192.0.2.10:5000/hosts.toml").read_text()
    assert 'server = "http://192.0.2.10:5000"' in hosts_toml and "skip_verify = true" in hosts_toml
    assert 'sandbox_image = "192.0.2.10:5000/pause:3.9"' in (root / "etc/containerd/config.toml").read_text()

    exports = (root / "etc/exports.d/hummer.exports").read_text().splitlines()[-1]
    assert exports == f"{root}/export/hummer 192.0.2.0/24(rw,sync,no_subtree_check,no_root_squash)"
    assert (root / "export/hummer").is_dir()

    telegraf = (root / "etc/telegraf/telegraf.conf").read_text()
    assert 'urls = ["http://192.0.2.11:8086"]' in telegraf and 'database = "hummer"' in telegraf
    for measurement in ("cpu", "mem", "disk", "net", "system"):
        assert f"[[inputs.{measurement}]]" in telegraf
    datasource = yaml.safe_load((root / "etc/grafana/provisioning/datasources/hummer.yaml").read_text())
    assert datasource["datasources"][0]["jsonData"]["dbName"] == "hummer"
    dashboards = sorted(p.name for p in (root / "var/lib/grafana/dashboards/hummer").iterdir())
    assert dashboards == ["hummer-nodes.json", "hummer-pods.json"]
    for name in dashboards:
        json.loads((root / "var/lib/grafana/dashboards/hummer" / name).read_text())

    env = (root / "etc/hummer/hummer.env").read_text()
    assert "HUMMER_DATABASE_URL=mysql+pymysql://hummer:example-database-password@127.0.0.1/hummer" in env
    assert "HUMMER_NFS_ROOT=/hummer" in env
    assert "HUMMER_KUBECONFIG" not in env  # the registered, encrypted kubeconfig is the one source
    # the registry's login (hummer:registry:auth) for the portal, as systemd's EnvironmentFile reads it
    settings = dict(line.split("=", 1) for line in env.splitlines() if line and not line.startswith("#"))
    assert shlex.split(settings["HUMMER_REGISTRY_USERNAME"]) == [REGISTRY_LOGIN["username"]]
    assert shlex.split(settings["HUMMER_REGISTRY_PASSWORD"]) == [REGISTRY_LOGIN["password"]]
    unit = (root / "etc/systemd/system/hummer.service").read_text()
    assert "ExecStartPre=/opt/hummer/venv/bin/flask --app wsgi db upgrade" in unit
    assert (root / "etc/nginx/sites-enabled/hummer").resolve() == root / "etc/nginx/sites-available/hummer"
    assert not (root / "etc/nginx/sites-enabled/default").exists()
    assert "proxy_buffering off;" in (root / "etc/nginx/sites-available/hummer").read_text()


def test_the_nodes_login_is_written_readable_by_root_only(applied):
    """hummer:registry:auth in containerd's hosts.toml (a Basic header on every request), the
    kubelet's config.json and root's Docker config.json (keeping its other logins), each of
    mode 0600 and parsed back as their readers parse them; the password is in no state's output."""
    root, first, _ = applied
    user, password = REGISTRY_LOGIN["username"], REGISTRY_LOGIN["password"]
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    certs = root / "etc/containerd/certs.d/192.0.2.10:5000"
    hosts = tomllib.loads((certs / "hosts.toml").read_text())
    assert hosts["host"]["http://192.0.2.10:5000"]["header"] == {"Authorization": f"Basic {basic}"}
    login = {"username": user, "password": password, "auth": basic}
    for path in (root / "var/lib/kubelet/config.json", root / "root/.docker/config.json", certs / "hosts.toml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert json.loads((root / "var/lib/kubelet/config.json").read_text()) == {"auths": {"192.0.2.10:5000": login}}
    docker = json.loads((root / "root/.docker/config.json").read_text())
    assert docker == {"auths": {"192.0.2.10:5000": login, **OTHER_LOGIN}}
    assert stat.S_IMODE((root / "root/.docker").stat().st_mode) == 0o700
    shown = [json.dumps(r, ensure_ascii=False) for r in first.values()]
    assert [r for r in shown if "wörd" in r or basic in r] == []


def test_nginx_limits_bodies_slow_clients_and_streams_like_the_portal(applied):
    root, *_ = applied
    site = (root / "etc/nginx/sites-available/hummer").read_text()
    env = dict(line.split("=", 1) for line in (root / "etc/hummer/hummer.env").read_text().splitlines()
               if line and not line.startswith("#"))
    # nginx refuses what the portal would refuse, and the portal trusts exactly nginx's hop
    assert f"client_max_body_size {env['HUMMER_MAX_CONTENT_LENGTH']};" in site
    assert env["HUMMER_MAX_CONTENT_LENGTH"] == "1048576" and env["HUMMER_PROXY_COUNT"] == "1"
    assert env["HUMMER_LOG_STREAMS_PER_USER"] == "2" and env["HUMMER_LOG_STREAMS_PER_PROCESS"] == "2"
    for directive in ("client_header_timeout 10s;", "client_body_timeout 10s;", "send_timeout 30s;",
                      "keepalive_timeout 15s;", "limit_conn hummer_per_address 32;",
                      "limit_conn_zone $binary_remote_addr zone=hummer_per_address:10m;"):
        assert directive in site, directive
    def block(header: str) -> str:
        start = site.index(header)
        return site[start:site.index("location", start + len(header))]
    upload = block("location ~ ^/projects/[^/]+/images/upload$ {")
    assert env["HUMMER_UPLOAD_MAX_BYTES"] == "10737418240"
    assert f"client_max_body_size {env['HUMMER_UPLOAD_MAX_BYTES']};" in upload
    assert "proxy_request_buffering off;" in upload
    context = block("location ~ ^/projects/[^/]+/builds/new$ {")
    assert env["HUMMER_BUILD_CONTEXT_MAX_BYTES"] == "209715200"
    assert f"client_max_body_size {env['HUMMER_BUILD_CONTEXT_MAX_BYTES']};" in context
    files = block("location ~ ^/projects/[^/]+/volumes/[^/]+/files/upload$ {")
    assert f"client_max_body_size {env['HUMMER_VOLUME_UPLOAD_MAX_BYTES']};" in files
    assert "proxy_request_buffering off;" in context and "proxy_request_buffering off;" in files
    downloads = block("location ~ ^/projects/[^/]+/volumes/[^/]+/files/(download|archive)$ {")
    assert "proxy_buffering off;" in downloads
    stream = site[site.index("location ~ ^/projects/[^/]+/(apps/[^/]+/logs|builds/[0-9]+/log)/stream$ {"):
                  site.index("location / {")]
    assert "proxy_buffering off;" in stream and "proxy_read_timeout 3600s;" in stream
    rest = site[site.index("location / {"):]
    assert "proxy_buffering off;" not in rest and "proxy_read_timeout 300s;" in rest
    for part in (upload, context, files, downloads, stream, rest):
        for header in ("X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme",
                       "X-Forwarded-Host $host", 'X-Real-IP ""'):
            assert f"proxy_set_header {header};" in part, header


def _nginx() -> str:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is not installed: ./hummer test installs Debian's nginx package"
    return nginx


def _nginx_main_conf(root, tmp_path):
    """A minimal main configuration around the site exactly as Salt wrote it, with the
    MIME types of Debian's own nginx.conf."""
    temp = "\n".join(f"  {kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                            "uwsgi", "scgi"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"user root;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
                    f"  access_log off;\n{temp}\n  include {root}/etc/nginx/sites-available/hummer;\n}}\n")
    return conf


def test_nginx_accepts_the_rendered_site(applied, tmp_path):
    """`nginx -t` on the site as Salt wrote it, inside a minimal main configuration."""
    root, *_ = applied
    conf = _nginx_main_conf(root, tmp_path)
    p = subprocess.run([_nginx(), "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert p.returncode == 0, p.stdout


@pytest.fixture
def behind_nginx(applied, database_url, tmp_path):
    """The real nginx with the site Salt rendered, in front of a real gunicorn started with
    the limits and proxy count of the environment file Salt rendered."""
    root, *_ = applied
    env = dict(line.split("=", 1) for line in (root / "etc/hummer/hummer.env").read_text().splitlines()
               if line and not line.startswith("#"))
    settings = {k.removeprefix("HUMMER_"): v for k, v in env.items()
                if k.startswith(("HUMMER_MAX_", "HUMMER_PROXY_COUNT", "HUMMER_LOG_STREAMS_"))}
    assert settings["PROXY_COUNT"] == "1"
    conf = _nginx_main_conf(root, tmp_path)
    with live_portal(database_url, tmp_path, workers=1, threads=4, port=WEB["portal"], **settings):
        proc = subprocess.Popen([_nginx(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf),
                                 "-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
        base = f"http://127.0.0.1:{WEB['nginx']}"
        try:
            def up() -> bool:
                assert proc.poll() is None, (tmp_path / "error.log").read_text()
                try:
                    return requests.get(base + "/healthz", timeout=5).status_code == 200
                except requests.RequestException:
                    return False
            wait_for(up, timeout=60, interval=0.2, what="nginx to pass /healthz to the portal")
            yield base, database_url
        finally:
            proc.terminate()
            proc.wait(20)


def test_nginx_in_front_holds_slow_clients_refuses_big_bodies_and_forwards_the_address(behind_nginx):
    import socket
    import time

    base, database_url = behind_nginx
    # Static files come from nginx itself, with the portal's own CSS.
    css = requests.get(base + "/static/hummer.css", timeout=10)
    assert css.status_code == 200 and css.content == (REPO / "portal/static/hummer.css").read_bytes()
    script = requests.get(base + "/static/hummer.js", timeout=10)  # its comments hold Chinese
    assert script.headers["Content-Type"].endswith("charset=utf-8"), script.headers["Content-Type"]
    assert script.text == (REPO / "portal/static/hummer.js").read_text(encoding="utf-8")
    # A body over the portal's limit is refused by nginx before gunicorn reads it.
    big = requests.post(base + "/login", data=b"u=" + b"x" * (2 * 1024 * 1024), timeout=30,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413
    # The portal records the address nginx saw, not what the client claims.
    client = Client(base)
    client.session.headers.update({"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.10"})
    assert client.login("nobody-behind-nginx", "wrong-password").status_code == 401
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            addrs = set(conn.scalars(sa.text(
                "SELECT remote_addr FROM audit_event WHERE object_name = 'nobody-behind-nginx'")))
    finally:
        engine.dispose()
    assert addrs == {"127.0.0.1"}, addrs
    # Slowloris: 12 connections that send half a request and then dribble, more than the
    # portal's 4 threads; every health probe through nginx still answers at once.
    slow = []
    try:
        for _ in range(12):
            s = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        worst = 0.0
        for _ in range(20):
            for s in slow:
                try:
                    s.sendall(b"a")
                except OSError:  # nginx dropped it (client_header_timeout): as it should
                    pass
            started = time.monotonic()
            assert requests.get(base + "/healthz", timeout=10).status_code == 200
            worst = max(worst, time.monotonic() - started)
        print(f"slowest /healthz through nginx with {len(slow)} slow clients: {worst * 1000:.0f} ms")
        assert worst < 5, worst
    finally:
        for s in slow:
            s.close()


def test_an_injected_failure_stops_a_real_run_before_anything_is_written(salt_env, tmp_path):
    pillar = redirected(tmp_path)
    pillar["hummer_fail_state"] = {"component": "common", "comment": "Stop here (injected)"}
    out = salt_env.salt(MINION, "state.apply", "hummer_test.failhard", f"pillar={json.dumps(pillar)}",
                        timeout=120)[MINION]
    failed = {k: r for k, r in out.items() if r["result"] is False}
    assert list(failed) == ["test_|-common-failpoint-test-configurable_test_state_|-"
                            "common failure injected by pillar hummer_fail_state_|-configurable_test_state"]
    assert "Stop here (injected)" in next(iter(failed.values()))["comment"]
    assert not any(r["changes"] for r in out.values())
    assert not (tmp_path / "etc").exists()  # failhard: no file of common.config was written
