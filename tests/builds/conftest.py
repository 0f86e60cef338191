"""The apps' fixtures (the portal on the real test cluster, a project with a plan) for the
build that ends in a deploy (test_build_browser.py)."""
from tests.apps.conftest import apps_api, kproject, kube_app, plan  # noqa: F401 (fixtures)
