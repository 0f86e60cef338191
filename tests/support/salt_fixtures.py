"""pytest plugin: one real Salt master, three minions and salt-api for the whole session.

Registered from tests/conftest.py (`pytest_plugins = ["tests.support.salt_fixtures"]`).

    def test_something(salt_env):
        salt_env.salt("hm-master", "test.ping")        # the salt CLI, JSON-decoded
        salt_env.salt_run("state.orchestrate", ...)    # salt-run
        salt_env.api_url, salt_env.api_user, salt_env.api_password, salt_env.eauth
        salt_env.write_cluster_pillar(data); salt_env.refresh_pillar()

The cluster pillar is the repository's examples merged (tests/support/pillar.py), with
the example's nodes played by the test minions (see ROLES).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pillar import deep_merge  # noqa: F401 (re-exported)
from tests.support.pillar import example_pillar as build_example_pillar
from tests.support.salt_harness import REPO, SaltEnv

# The example cluster's three nodes, played by three minions on this host.
ROLES = {
    "hm-master": ["master", "registry", "nfs"],
    "hm-node1": ["node", "monitoring"],
    "hm-node2": ["node", "portal"],
}


def example_pillar() -> dict:
    """The generated-cluster pillar built from the repository's examples, for the test minions."""
    return build_example_pillar(ROLES)


@pytest.fixture(scope="session")
def salt_env():
    # tests/salt/states holds test-only SLS (hummer_test.*) next to the real tree.
    env = SaltEnv(minion_ids=list(ROLES), extra_file_roots=[REPO / "tests" / "salt" / "states"])
    try:
        env.start()
        env.example_pillar = example_pillar()
        env.roles = ROLES
        env.write_cluster_pillar(env.example_pillar)
        env.refresh_pillar()
        yield env
    finally:
        env.stop()


@pytest.fixture
def salt_api(salt_env):
    """A portal-side salt-api client logged in as the test user."""
    from portal.adapters.salt import SaltAPI
    return SaltAPI(salt_env.api_url, salt_env.api_user, salt_env.api_password, eauth=salt_env.eauth)


def repo_path(*parts) -> Path:
    return REPO.joinpath(*parts)
