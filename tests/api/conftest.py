"""Tokens for the API tests, made through the service as the profile page makes them; and
the volume tests' fixtures (a volume as a row and a directory, a project on the cluster)."""
from datetime import date, timedelta

import pytest

from portal.services import tokens
from portal.services.context import Actor
from tests.apps.conftest import apps_api, core_api, kproject, kube_app, plan  # noqa: F401
from tests.images.conftest import images, open_site, people  # noqa: F401 (fixtures: test_api_images.py)
from tests.volumes.conftest import export_root, fproject, outside, volume_dir, vproject  # noqa: F401


@pytest.fixture
def make_token(app):
    """make_token(user, ceiling="developer", projects=None) -> the secret ("hmr_...");
    projects None: all of the user's projects."""
    def make(user, ceiling: str = "developer", projects=None, name: str | None = None) -> str:
        made = tokens.create(name or f"t{len(tokens.of_user(user))}", date.today() + timedelta(days=30), ceiling,
                             projects is None, projects or [], by=Actor(user))
        return made.secret
    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
