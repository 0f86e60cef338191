"""The deploy form as the server renders it (no cluster needed): the default plan chosen,
the no-cluster banner before anything is typed, probes labelled, examples called
examples, the advanced sections folded with a count of what is set, and opened when
they hold an error."""
from __future__ import annotations

import html
import re

from tests.apps.conftest import deploy_form, form_data
from tests.support.html import field_value
from tests.support.web import error_beside, text


def page_of(web, team):
    project, _ = team
    response = web.get(f"/projects/{project.name}/apps/new")
    assert response.status_code == 200
    return project, text(response)


def test_the_default_plan_is_chosen_and_the_banner_shown_first(team, plan, login, web):
    login("dev")
    project, page = page_of(web, team)
    assert form_data(page)["plan"] == "small"
    assert field_value(page, "plan") == "small"
    banner = re.search(r'<p class="banner" role="alert" id="cluster-banner">(.*?)</p>', page, re.S)
    assert banner and "No Kubernetes cluster is configured" in html.unescape(banner.group(1))
    assert page.index("cluster-banner") < page.index('id="app-form"')  # before the form, not after a post


def test_probes_are_labelled_and_examples_said_to_be_examples(team, plan, login, web):
    login("dev")
    _, page = page_of(web, team)
    assert re.search(r'<label for="readiness-kind">Readiness check', page)
    assert re.search(r'<label for="liveness-kind">Liveness check', page)
    assert "<legend>Readiness</legend>" in page and "<legend>Liveness</legend>" in page
    for example in ("250m", "256Mi", "500m", "512Mi"):
        assert f'placeholder="e.g. {example}"' in page
    assert "examples, not defaults" in page


def test_env_rows_mark_which_fields_belong_to_which_source(team, plan, login, web):
    login("dev")
    _, page = page_of(web, team)
    assert '<div class="grid rowset env-row">' in page
    assert re.search(r'class="env-plain">\s*<label for="env-0-value"', page)
    assert re.search(r'class="env-secret">\s*<label for="env-0-secret"', page)
    assert re.search(r'class="env-secret">\s*<label for="env-0-key"', page)


def test_advanced_sections_are_folded_with_a_count(team, plan, login, web):
    login("dev")
    project, page = page_of(web, team)
    for section in ("command", "health", "scaling"):
        assert re.search(rf'<details id="section-{section}">', page), section  # collapsed: no "open"
        assert f'id="section-{section}-count">0 set<' in page
    # what was typed is counted when the form comes back (Show YAML fails here: no cluster, but parse runs first)
    data = deploy_form("web", command="/bin/web", workdir="/srv", session_affinity="y", autoscale="y",
                       **{"liveness-kind": "tcp", "liveness-port": "8080", "op": "add-env"})
    page = text(web.post(f"/projects/{project.name}/apps/new", data, htmx="app-form"))
    assert 'id="section-command-count">2 set<' in page
    assert 'id="section-health-count">2 set<' in page   # readiness http and liveness tcp
    assert 'id="section-scaling-count">2 set<' in page


def test_a_section_with_an_error_opens(team, plan, login, web):
    login("dev")
    project, _ = page_of(web, team)
    data = deploy_form("web", workdir="srv")
    response = web.post(f"/projects/{project.name}/apps/new", data, htmx="app-form")
    assert response.status_code == 422
    page = text(response)
    assert "absolute path" in error_beside(page, "workdir")
    assert '<details id="section-command" open>' in page
    assert '<details id="section-health">' in page


def test_replicas_outside_the_autoscaling_range_are_explained(team, plan, login, web):
    login("dev")
    project, _ = page_of(web, team)
    data = deploy_form("web", replicas=1, autoscale="y", min_replicas="2", max_replicas="5")
    response = web.post(f"/projects/{project.name}/apps/new", data, htmx="app-form")
    assert response.status_code == 422
    assert "from 2 to 5" in error_beside(text(response), "replicas")


def test_errors_of_fields_the_page_lacks_go_to_the_general_area(app):
    from portal.apps.forms import EDIT_HIDDEN, AppForm, attach_errors
    with app.test_request_context("/", method="POST"):
        form = AppForm()
        attach_errors(form, {"image": "Image is required.", "env-0-name": "Bad name.", "nowhere": "Odd."},
                      EDIT_HIDDEN)
        assert not form.image.errors and list(form.env[0].form.name.errors) == ["Bad name."]
        assert form.form_errors == ["Image is required.", "Odd."]
