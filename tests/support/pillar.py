"""The one builder of the example cluster pillar: the repository's examples
(pillar/generated/cluster.yaml.example and every salt_states/*/pillar.example) merged, with
the example's nodes (k8s-master, k8s-node1, k8s-node2, in that order) played by the test's
minions."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
STATE_ROOT = REPO / "salt_states"
EXAMPLE = REPO / "pillar" / "generated" / "cluster.yaml.example"
EXAMPLE_NODES = ("k8s-master", "k8s-node1", "k8s-node2")


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def example_pillar(roles: dict[str, list[str]] | None = None, addresses: dict[str, str] | None = None,
                   network: str | None = None) -> dict:
    """The merged examples. With `roles` ({minion id: roles}, at most three), the i-th
    minion plays the i-th example node with those roles (and its address from `addresses`
    when given); `network` replaces the cluster's network."""
    data = yaml.safe_load(EXAMPLE.read_text())
    for example in sorted(STATE_ROOT.glob("*/pillar.example")):
        data = deep_merge(data, yaml.safe_load(example.read_text()))
    if roles is not None:
        if len(roles) > len(EXAMPLE_NODES):
            raise ValueError(f"the example has {len(EXAMPLE_NODES)} nodes, asked for {len(roles)}")
        nodes = data["hummer"]["nodes"]
        data["hummer"]["nodes"] = {}
        for (mid, its_roles), example in zip(roles.items(), EXAMPLE_NODES, strict=False):
            node = dict(nodes[example], roles=list(its_roles))
            if addresses:
                node["address"] = addresses[mid]
            data["hummer"]["nodes"][mid] = node
    if network is not None:
        data["hummer"]["cluster"]["network"] = network
    return data
