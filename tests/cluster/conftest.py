"""The portal pointed at the session's real Salt master (tests/support/salt_fixtures.py)."""
import pytest


@pytest.fixture
def salt_portal(app, salt_env):
    """Configure the app for the real salt-api; put the session's example pillar back after.

    The wizard writes the generated cluster pillar the Salt tests also read, so each
    wizard test leaves it as it found it (a test that did not write it costs no refresh).
    """
    app.config.update(SALT_API_URL=salt_env.api_url, SALT_API_USER=salt_env.api_user,
                      SALT_API_PASSWORD=salt_env.api_password, SALT_API_EAUTH=salt_env.eauth,
                      SALT_PILLAR_FILE=str(salt_env.cluster_pillar_path),
                      SALT_DRY_RUN=True, SALT_RUN_PILLAR={})
    before = salt_env.cluster_pillar_stamp()
    try:
        yield app
    finally:
        if salt_env.cluster_pillar_stamp() != before:
            salt_env.write_cluster_pillar(salt_env.example_pillar)
            salt_env.refresh_pillar()


@pytest.fixture
def sshd(tmp_path):
    """A real sshd on 127.0.0.1:<free port> with its own host key; stopped afterwards (tests/support/sshd.py)."""
    from tests.support.sshd import SSHD
    server = SSHD(tmp_path / "sshd").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin(app, web, login, make_user):
    make_user("root", admin=True)
    return login("root")
