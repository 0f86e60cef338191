"""The `reuse_app` marker (tests/conftest.py): tests that share one app still start from
nothing: empty tables, the config as created, no rate limit spent, a pillar file of their own.
The second test runs after the first (one file goes to one worker, in order)."""
import pytest

from portal.extensions import db
from portal.models import User

pytestmark = pytest.mark.reuse_app

seen: dict = {}


def test_a_test_that_leaves_traces(app, make_user, web):
    seen["app"], seen["pillar"] = app, app.config["SALT_PILLAR_FILE"]
    make_user("leftover")
    app.config["PAGE_SIZE"] = 1
    app.config["ANONYMOUS_RATE_LIMIT"] = "2 per hour"
    assert [web.get("/login").status_code for _ in range(3)] == [200, 200, 429]


def test_the_next_one_sees_none_of_them(app, web):
    assert app is seen["app"]  # the same app...
    assert db.session.scalar(db.select(User).filter_by(username="leftover")) is None
    assert app.config["PAGE_SIZE"] != 1 and app.config["ANONYMOUS_RATE_LIMIT"] != "2 per hour"
    assert app.config["SALT_PILLAR_FILE"] != seen["pillar"]
    app.config["ANONYMOUS_RATE_LIMIT"] = "2 per hour"  # as before: the count starts again
    assert [web.get("/login").status_code for _ in range(2)] == [200, 200]
