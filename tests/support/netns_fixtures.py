"""pytest plugin: Salt across several "hosts" made of network namespaces (tests/support/netns.py).

Registered from tests/conftest.py next to salt_fixtures.

    def test_something(netns_salt):
        netns_salt.env.salt("ns-n2", "grains.item", "ipv4")   # the salt CLI, inside the master's namespace
        netns_salt.address("ns-n2")                            # "10.213.0.12"
        netns_salt.lan.block("n3", netns_salt.address("ns-n1"))
        netns_salt.env.api_url                                 # salt-api through a forwarder on 127.0.0.1

    def test_wizard(netns_portal, ...):                       # the app pointed at that salt-api

The three minions ns-n1, ns-n2, ns-n3 play the example cluster's k8s-master, k8s-node1 and
k8s-node2 (pillar/generated/cluster.yaml.example), with their lan addresses.
Skipped, with the reason, only when this is not root or `ip netns` does not work.
"""
from __future__ import annotations

import pytest

from tests.support.netns import NetnsSalt, unavailable_reason
from tests.support.pillar import example_pillar
from tests.support.salt_harness import REPO

HOSTS = ("n1", "n2", "n3")
NETNS_ROLES = {
    "ns-n1": ["master", "registry", "nfs"],
    "ns-n2": ["node", "monitoring"],
    "ns-n3": ["node", "portal"],
}


def netns_example_pillar(salt: NetnsSalt) -> dict:
    """The repository's example cluster pillar for the namespaced minions, with their lan addresses."""
    return example_pillar(NETNS_ROLES, addresses={mid: salt.address(mid) for mid in NETNS_ROLES},
                          network=salt.lan.subnet.with_prefixlen)


@pytest.fixture(scope="session")
def netns_salt():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"multi-node Salt tests need network namespaces: {reason}")
    salt = NetnsSalt(HOSTS, minion_ids=list(NETNS_ROLES),
                     extra_file_roots=[REPO / "tests" / "salt" / "states"])
    try:
        salt.start()
        salt.example_pillar = netns_example_pillar(salt)
        salt.env.example_pillar = salt.example_pillar
        salt.env.roles = NETNS_ROLES
        salt.env.write_cluster_pillar(salt.example_pillar)
        salt.env.refresh_pillar()
        yield salt
    finally:
        salt.stop()


@pytest.fixture
def netns_portal(app, netns_salt):
    """The app pointed at the namespaced Salt master's salt-api (through the forwarder).

    Afterwards: every blocked route is lifted and the example pillar is put back (if written).
    """
    env = netns_salt.env
    app.config.update(SALT_API_URL=env.api_url, SALT_API_USER=env.api_user,
                      SALT_API_PASSWORD=env.api_password, SALT_API_EAUTH=env.eauth,
                      SALT_PILLAR_FILE=str(env.cluster_pillar_path),
                      SALT_DRY_RUN=True, SALT_RUN_PILLAR={})
    before = env.cluster_pillar_stamp()
    try:
        yield app
    finally:
        netns_salt.lan.unblock_all()
        if env.cluster_pillar_stamp() != before:  # a test that did not write it costs no refresh
            env.write_cluster_pillar(netns_salt.example_pillar)
            env.refresh_pillar()
