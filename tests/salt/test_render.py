"""Every SLS renders for every role with the pillar.example values, on real minions.

The cluster pillar is the repository's examples (pillar/generated/cluster.yaml.example
plus every salt_states/*/pillar.example), played by hm-master (master, registry,
nfs), hm-node1 (node, monitoring) and hm-node2 (node, portal).
"""
import base64
import json

import pytest
import yaml

from tests.support.salt_harness import STATE_ROOT

POD_CIDR, SERVICE_CIDR = "172.16.0.0/16", "10.0.1.0/24"
REGISTRY = "192.0.2.10:5000"  # the registry node's address from the example, port 5000
EXPORT = "/hummer"
# Every formula of the tree; `minion` is applied over salt-ssh, the rest by role.
COMPONENTS = ("common", "registry", "nfs", "docker", "kubernetes", "monitoring", "portal", "minion")


def all_sls() -> list[str]:
    names = []
    for path in STATE_ROOT.rglob("*.sls"):
        rel = path.relative_to(STATE_ROOT).with_suffix("")
        if rel.parts[0] == "orch" or rel == rel.__class__("top"):
            continue
        name = ".".join(rel.parts)
        names.append(name[: -len(".init")] if name.endswith(".init") else name)
    return sorted(names)


def args(high: dict, state_id: str) -> dict:
    """The arguments of one state in show_sls output, as a flat dict."""
    body = high[state_id]
    (module,) = [k for k in body if not k.startswith("__")]
    out = {"__fun__": f"{module}.{next(a for a in body[module] if isinstance(a, str))}"}
    for item in body[module]:
        if isinstance(item, dict):
            out.update(item)
    return out


@pytest.fixture(scope="module")
def rendered(salt_env):
    """state.show_sls of every SLS of the tree, on every minion, in one call."""
    return salt_env.salt("*", "state.show_sls", ",".join(all_sls()), timeout=300)


def test_tree_has_every_component():
    names = set(all_sls())
    for comp in COMPONENTS:
        assert comp in names
        assert (STATE_ROOT / comp / "map.jinja").exists()
        assert (STATE_ROOT / comp / "parameters" / "defaults.yaml").exists()
        assert (STATE_ROOT / comp / "pillar.example").exists()
    assert {"registry.gc", "kubernetes.master", "kubernetes.node", "nfs.server", "nfs.mount",
            "monitoring.telegraf"} <= names


def test_every_sls_renders_on_every_minion(salt_env, rendered):
    assert set(rendered) == set(salt_env.roles)
    for minion, high in rendered.items():
        assert isinstance(high, dict), f"{minion} could not render:\n" + "\n".join(map(str, high))
        assert len(high) > 100
        for state_id, body in high.items():
            # <component>-<sls>-<module>-<function>
            (module,) = [k for k in body if not k.startswith("__")]
            fun = next(a for a in body[module] if isinstance(a, str))
            assert state_id.split("-")[0] in COMPONENTS, state_id
            assert state_id.endswith(f"-{module}-{fun}"), state_id


def test_kubernetes_renders_the_cluster_networks(rendered):
    high = rendered["hm-master"]
    kubeadm = args(high, "kubernetes-master-config-kubeadm-file-managed")
    k = kubeadm["context"]["kubernetes"]
    assert (k["pod_cidr"], k["service_cidr"]) == (POD_CIDR, SERVICE_CIDR)
    assert k["image_repository"] == REGISTRY
    assert k["flannel_image"] == f"{REGISTRY}/flannel/flannel:v0.25.6"
    assert k["endpoint"] == "192.0.2.10:6443"
    assert k["package_version"] == "1.30.4-1.1"
    assert k["workers"] == ["hm-node1", "hm-node2"]
    pkgs = args(high, "kubernetes-package-pkg-installed")["pkgs"]
    assert pkgs == [{"kubeadm": "1.30.4-1.1"}, {"kubelet": "1.30.4-1.1"}, {"kubectl": "1.30.4-1.1"}]
    token = args(high, "kubernetes-master-token-mine-module-run")
    assert {"allow_tgt": "hm-node1,hm-node2"} in token["mine.send"]


def test_the_masters_highstate_makes_no_join_token(salt_env):
    """Every `kubeadm token create` is a new token, so the highstate (which an operator
    re-applies at will) has none: the orchestrations apply kubernetes.master.token."""
    high = salt_env.salt("hm-master", "state.show_highstate", timeout=300)["hm-master"]
    assert isinstance(high, dict), "\n".join(map(str, high))
    assert "kubernetes-master-kubeadm-init-cmd-run" in high
    assert [k for k in high if k.startswith("kubernetes-master-token-")] == []
    assert "kubernetes.master.token" not in {body["__sls__"] for body in high.values()}


def _repo_states(high: dict, sls: str, prefix: str, title: str, pillar_key: str) -> dict:
    """One SLS's states from show_sls output, with its prefix, title and pillar key made
    neutral, so that two repositories' states compare."""
    out = {}
    for state_id, body in high.items():
        if body["__sls__"] != sls:
            continue
        (module,) = [k for k in body if not k.startswith("__")]
        args = [a for a in body[module] if not (isinstance(a, dict) and set(a) == {"order"})]
        text = json.dumps({module: args}).replace(prefix, "PREFIX").replace(title, "TITLE")
        out[state_id.replace(prefix, "PREFIX")] = json.loads(text.replace(pillar_key, "PILLAR_KEY"))
    return out


@pytest.mark.parametrize("test", [True, False], ids=["plan", "real"])
@pytest.mark.parametrize("url", ["https://apt.example.invalid/kubernetes/v1.30/deb/",
                                 "https://mirror.example.org/kubernetes/v1.30/deb/"],
                         ids=["placeholder", "mirror"])
@pytest.mark.parametrize("key_text", ["", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nexample\n"],
                         ids=["key_url", "key_text"])
def test_kubernetes_repo_is_the_shared_apt_repo_macro(salt_env, test, url, key_text):
    """kubernetes.repo renders exactly what lib/aptrepo.jinja renders (here for Grafana's
    repository given the same pillar), for each pillar variant, in a plan and a real run."""
    repo = {"url": url, "dist": "/", "comps": "", "key_text": key_text, "key_url": url + "Release.key",
            "keyring": "/etc/apt/keyrings/example.gpg", "keyring_asc": "/etc/apt/keyrings/example.asc",
            "list_file": "/etc/apt/sources.list.d/example.list"}
    pillar = {"hummer": {"kubernetes": {"repo": repo}, "monitoring": {"grafana": {"repo": repo}}}}
    high = salt_env.salt("hm-node1", "state.show_sls", "kubernetes.repo,monitoring.grafana.repo",
                         f"pillar={json.dumps(pillar)}", f"test={test}", timeout=120)["hm-node1"]
    assert isinstance(high, dict), "\n".join(map(str, high))
    kubernetes = _repo_states(high, "kubernetes.repo", "kubernetes-repo", "Kubernetes v1.30",
                              "hummer:kubernetes:repo")
    grafana = _repo_states(high, "monitoring.grafana.repo", "monitoring-grafana-repo", "Grafana",
                           "hummer:monitoring:grafana:repo")
    assert kubernetes == grafana
    placeholder = ".invalid/" in url
    assert ("PREFIX-test-configurable_test_state" in kubernetes) is placeholder
    assert ("PREFIX-list-file-managed" in kubernetes) is (test or not placeholder)
    if "PREFIX-list-file-managed" in kubernetes:
        list_file = {k: v for a in kubernetes["PREFIX-list-file-managed"]["file"] if isinstance(a, dict)
                     for k, v in a.items()}
        assert list_file["contents"] == f"deb [signed-by={repo['keyring_asc' if key_text else 'keyring']}] {url} /"
        assert len(list_file["require"]) == 1, list_file["require"]


def test_docker_trusts_the_private_registry(rendered):
    for minion in ("hm-node1", "hm-node2"):
        high = rendered[minion]
        daemon = args(high, "docker-config-daemon-json-file-serialize")["dataset"]
        assert daemon["insecure-registries"] == [REGISTRY]
        assert daemon["exec-opts"] == ["native.cgroupdriver=systemd"]
        hosts = args(high, "docker-config-containerd-registry-file-managed")
        assert hosts["name"] == f"/etc/containerd/certs.d/{REGISTRY}/hosts.toml"
        pull = args(high, "docker-images-pause-cmd-run")["name"]
        assert f"--plain-http {REGISTRY}/pause:3.9" in pull


def test_nodes_pull_with_the_registry_login_from_the_pillar(salt_env, rendered):
    """hummer:registry:auth (the example's hummer / example-registry-password) reaches
    containerd (hosts.toml, which `ctr --hosts-dir` reads too), the kubelet and root's Docker
    client, in files of mode 0600 whose changes are not shown."""
    basic = base64.b64encode(b"hummer:example-registry-password").decode()
    login = {"username": "hummer", "password": "example-registry-password", "auth": basic}
    for minion in ("hm-master", "hm-node1", "hm-node2"):
        high = rendered[minion]
        hosts = args(high, "docker-config-containerd-registry-file-managed")
        assert (hosts["mode"], hosts["show_changes"]) == ("0600", False)
        assert hosts["context"]["docker"]["registry_auth"]["basic"] == basic
        client = args(high, "docker-config-client-file-serialize")
        assert client["name"] == "/root/.docker/config.json" and "merge_if_exists" not in client
        assert client["dataset"]["auths"][REGISTRY] == login  # merged into what the file holds
        assert (client["mode"], client["show_changes"]) == ("0600", False)
        kubelet = args(high, "kubernetes-credentials-kubelet-file-serialize")
        assert kubelet["name"] == "/var/lib/kubelet/config.json"
        assert kubelet["dataset"] == {"auths": {REGISTRY: login}}
        assert (kubelet["mode"], kubelet["show_changes"]) == ("0600", False)
    # an open registry: no login anywhere, and hosts.toml as before
    pillar = {"hummer": {"registry": {"auth": {"username": "", "password": ""}}}}
    high = salt_env.salt("hm-node1", "state.show_sls", "docker.config,kubernetes.credentials",
                         f"pillar={json.dumps(pillar)}", timeout=120)["hm-node1"]
    assert isinstance(high, dict), "\n".join(map(str, high))
    assert args(high, "docker-config-containerd-registry-file-managed")["mode"] == "0644"
    assert "docker-config-client-file-serialize" not in high
    assert "kubernetes-credentials-kubelet-file-serialize" not in high
    assert "kubernetes-credentials-kubelet-test-show_notification" in high


def test_registry_and_nfs_on_their_node(rendered):
    master = rendered["hm-master"]
    registry = args(master, "registry-config-file-file-managed")["context"]["registry"]
    assert (registry["port"], registry["address"], registry["delete_enabled"]) == (5000, REGISTRY, True)
    assert args(master, "nfs-server-config-export-file-directory")["name"] == EXPORT
    nfs = args(master, "nfs-server-config-exports-file-managed")["context"]["nfs"]
    assert (nfs["export"], nfs["clients"]) == (EXPORT, ["192.0.2.0/24"])
    mount = args(rendered["hm-node2"], "nfs-mount-mount-mounted")
    assert (mount["name"], mount["device"], mount["persist"]) == (EXPORT, f"192.0.2.10:{EXPORT}", True)


def test_hosts_and_monitoring_use_every_node(rendered):
    hosts = args(rendered["hm-node1"], "common-config-hosts-file-blockreplace")["context"]["cluster"]
    assert hosts["address"] == {"hm-master": "192.0.2.10", "hm-node1": "192.0.2.11", "hm-node2": "192.0.2.12"}
    telegraf = args(rendered["hm-node2"], "monitoring-telegraf-config-file-managed")["context"]["monitoring"]
    assert telegraf["influxdb_url"] == "http://192.0.2.11:8086"
    assert telegraf["database"] == "hummer"


def test_minion_renders_the_new_hosts_configuration(salt_env, rendered):
    """`minion` (salt-ssh puts it on a new host) renders with its pillar.example; the file names the master."""
    high = rendered["hm-node1"]
    conf = args(high, "minion-config-file-file-managed")
    assert conf["name"] == "/etc/salt/minion.d/hummer.conf"
    minion = conf["context"]["minion"]
    assert args(high, "minion-install-salt-pip-installed")["name"] == "salt==3008.4"
    assert args(high, "minion-service-running-service-running")["name"] == "salt-minion"
    text = salt_env.salt("hm-node1", "slsutil.renderer", "salt://minion/files/hummer.conf.jinja",
                         "default_renderer=jinja", f"minion={json.dumps(minion)}")["hm-node1"]
    written = yaml.safe_load(text)
    assert (written["master"], written["master_port"], written["publish_port"]) == ("192.0.2.10", 4506, 4505)
    assert written["id"] == "k8s-node3" and written["state_events"] is True


def test_top_file_places_each_role(salt_env):
    top = {m: set(v["base"]) for m, v in salt_env.salt("*", "state.show_top").items()}
    everywhere = {"common", "nfs", "monitoring.telegraf"}
    assert top["hm-master"] == everywhere | {"registry", "nfs.server", "docker", "kubernetes", "kubernetes.master"}
    assert top["hm-node1"] == everywhere | {"docker", "kubernetes", "kubernetes.node", "monitoring"}
    assert top["hm-node2"] == everywhere | {"docker", "kubernetes", "kubernetes.node", "portal"}


def test_roles_are_targetable_from_the_cli(salt_env):
    assert set(salt_env.salt("-C", "I@hummer:roles:node", "test.ping")) == {"hm-node1", "hm-node2"}
    assert set(salt_env.salt("-C", "I@hummer:roles:master", "test.ping")) == {"hm-master"}


# --------------------------------------------------------------------------- orchestration plans (rendered only)

def orch_steps(salt_env, mods: str, pillar: dict) -> list[dict]:
    shown = salt_env.salt_run("state.orchestrate_show_sls", mods, f"pillar={json.dumps(pillar)}")
    (high,) = shown.values()
    steps = []
    for state_id, body in sorted(high.items(), key=lambda kv: kv[1]["salt"][-1]["order"]):
        a = {k: v for item in body["salt"] if isinstance(item, dict) for k, v in item.items()}
        steps.append({"id": state_id, "name": a["name"], "tgt": a["tgt"], "sls": a.get("sls"),
                      "pillar": a.get("pillar"), "require": [r["salt"] for r in a.get("require", [])]})
    return steps


def test_cluster_orchestration_order_and_run_id(salt_env):
    steps = orch_steps(salt_env, "orch.cluster", {"hummer_run_id": "show-1"})
    assert [s["name"] for s in steps] == ["test.ping", "registry", "nfs-server", "common", "runtime", "master",
                                          "nodes", "monitoring", "telegraf", "portal"]
    by = {s["name"]: s for s in steps}
    assert by["registry"]["tgt"] == ["hm-master"] and by["nfs-server"]["tgt"] == ["hm-master"]
    assert by["common"]["require"] == ["orch-cluster-registry-salt-state", "orch-cluster-nfs-server-salt-state"]
    assert by["nodes"]["tgt"] == ["hm-node1", "hm-node2"] and by["monitoring"]["tgt"] == ["hm-node1"]
    assert by["portal"]["tgt"] == ["hm-node2"]
    for s in steps[1:]:
        assert s["pillar"] == {"hummer_run_id": "show-1", "hummer_step": s["name"]}
    # The join token is made here (and in orch.add_node), not by the master's highstate.
    assert by["master"]["sls"] == ["kubernetes.master", "kubernetes.master.token"]


def test_skipped_steps_keep_the_chain(salt_env):
    """'Retry from here' passes the steps that succeeded; what needed them needs what they needed."""
    steps = orch_steps(salt_env, "orch.cluster", {"hummer_run_id": "show-2",
                                                  "hummer_skip_steps": ["registry", "nfs-server", "common"]})
    by = {s["name"]: s for s in steps}
    assert not {"registry", "nfs-server", "common"} & set(by)
    assert by["runtime"]["require"] == ["orch-cluster-reachable-salt-function"]


def test_add_node_touches_only_the_new_node_and_the_token(salt_env):
    steps = orch_steps(salt_env, "orch.add_node", {"hummer_run_id": "add-1", "hummer_node": "hm-node2"})
    assert [(s["name"], s["tgt"]) for s in steps] == [
        ("test.ping", ["hm-node2", "hm-master"]),
        ("common", ["hm-node2"]), ("runtime", ["hm-node2"]), ("token", ["hm-master"]),
        ("join", ["hm-node2"]), ("telegraf", ["hm-node2"])]
    assert [s["sls"] for s in steps if s["name"] == "token"] == [["kubernetes.master.token"]]


def test_remove_node_drains_then_resets(salt_env):
    steps = orch_steps(salt_env, "orch.remove_node", {"hummer_run_id": "rm-1", "hummer_node": "hm-node1"})
    assert [(s["name"], s["tgt"], s["sls"]) for s in steps] == [
        ("test.ping", ["hm-master"], None),
        ("drain", ["hm-master"], ["kubernetes.master.remove_node"]),
        ("reset", ["hm-node1"], ["kubernetes.node.clean", "monitoring.telegraf.clean"])]
    assert steps[1]["pillar"]["hummer_node"] == "hm-node1"
