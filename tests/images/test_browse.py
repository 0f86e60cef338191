"""Browsing a project's images against the real registry (open and locked): what the pages
show is what skopeo, the independent client, reads from the same registry."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from portal.extensions import db
from portal.models import ImagePush, PublicImage
from tests.images.conftest import blobs_of, layers_size, raw_digest, use_registry
from tests.support.html import find, find_all
from tests.support.processes import free_port
from tests.support.registry import oci_layout
from tests.support.web import text


def rows(page: str) -> dict[str, dict[str, str]]:
    """The tags table: tag -> {column label: cell text}, and the digest and bytes behind them."""
    found = {}
    for tr in find_all(page, "tr", data_tag=True):
        cells = {td.get("data-label"): td.text for td in tr.find_all("td")}
        cells["digest"] = tr.find("code", data_digest=True).get("data-digest")
        cells["bytes"] = tr.find("td", data_bytes=True).get("data-bytes")
        time = tr.find_all("td")[4].find("time")
        cells["created"] = time.get("datetime") if time else ""
        found[tr.get("data-tag")] = cells
    return found


def test_the_pages_show_what_skopeo_reads(site, images):
    name = site.name
    digest_a = site.push(images["a"], f"{name}/web", "1.0")
    site.push(images["a"], f"{name}/web", "latest")
    digest_b = site.push(images["b"], f"{name}/api", "2.0")
    vic = site.as_user("vic")

    index = vic.get(f"/projects/{name}/images")
    assert index.status_code == 200
    table = find(text(index), "table", id="repositories")
    listed = {tr.find("a").text: tr.find_all("td")[1].text for tr in table.find_all("tr") if tr.find("a")}
    assert listed == {f"{name}/api": "1", f"{name}/web": "2"}
    assert find(text(index), "a", href=f"/projects/{name}/images", aria_current="page")  # the Images tab

    page = vic.get(f"/projects/{name}/images/{name}/web")
    assert page.status_code == 200
    found = rows(text(page))
    assert set(found) == {"1.0", "latest"}
    inspected = site.server.inspect(f"{name}/web:1.0")
    assert found["1.0"]["digest"] == inspected["Digest"] == digest_a == found["latest"]["digest"]
    assert int(found["1.0"]["bytes"]) == layers_size(site.server, f"{name}/web:1.0")
    assert found["1.0"]["Platform"] == f"{inspected['Os']}/{inspected['Architecture']}" == "linux/amd64"
    assert found["1.0"]["created"] == "2026-11-30T12:00:00Z" == inspected["Created"]
    assert found["1.0"]["Pushed by"] == "-"  # pushed by skopeo, past the portal

    tag = vic.get(f"/projects/{name}/images/{name}/api/-/tags/2.0")
    assert tag.status_code == 200
    html = text(tag)
    assert find(html, id="digest").text == digest_b == site.server.inspect(f"{name}/api:2.0")["Digest"]
    assert find(html, id="platforms").text == "linux/amd64"
    assert find(html, id="created").find("time").get("datetime") == "2026-11-30T12:00:00Z"
    assert int(find(html, id="size").get("data-bytes")) == layers_size(site.server, f"{name}/api:2.0")
    image = f"{site.server.host}/{name}/api:2.0"
    assert find(html, id="pull-command").text == f"docker pull {image}"
    copy = find(html, "button", data_copy="pull-command")
    assert copy is not None and copy.get("data-copied")
    assert find(html, id="deploy") is None and find(html, id="delete") is None  # a viewer

    dev = site.as_user("dev").get(f"/projects/{name}/images/{name}/api/-/tags/2.0")
    deploy = find(text(dev), id="deploy").get("href")
    assert urlsplit(deploy).path == f"/projects/{name}/apps/new"
    assert parse_qs(urlsplit(deploy).query) == {"image": [image]}
    assert find(text(dev), id="delete").get("href") == f"/projects/{name}/images/{name}/api/-/tags/2.0/delete"


def test_storage_counts_each_blob_once(site, images):
    name = site.name
    site.push(images["a"], f"{name}/web", "1.0")
    site.push(images["a"], f"{name}/web", "1.1")      # the same image again
    site.push(images["a"], f"{name}/copy", "1.0")     # the same blobs in another repository
    site.push(images["b"], f"{name}/web", "2.0")      # shares its first layer with a
    expected = {}
    for ref in (f"{name}/web:1.0", f"{name}/web:2.0"):
        expected.update(blobs_of(site.server, ref))
    assert len(expected) == 5  # two configs, three layers (one shared)
    page = text(site.as_user("vic").get(f"/projects/{name}/images"))
    storage = find(page, id="storage")
    assert int(storage.get("data-bytes")) == sum(expected.values())
    assert storage.get("data-blobs") == "5" and " 5 " in storage.text


def test_pushed_by_shows_for_a_tag_the_portal_pushed(site, images):
    name = site.name
    digest = site.push(images["a"], f"{name}/web", "1.0")
    site.push(images["a"], f"{name}/web", "moved")
    db.session.add_all([
        ImagePush(project_id=site.project.id, repository=f"{name}/web", tag="1.0", digest=digest,
                  size=1, pushed_by="olivia"),
        # a record the tag no longer matches (pushed again past the portal): not shown
        ImagePush(project_id=site.project.id, repository=f"{name}/web", tag="moved",
                  digest="sha256:" + "0" * 64, size=1, pushed_by="dev")])
    db.session.commit()
    vic = site.as_user("vic")
    found = rows(text(vic.get(f"/projects/{name}/images/{name}/web")))
    assert found["1.0"]["Pushed by"].startswith("olivia ")
    assert found["moved"]["Pushed by"] == "-"
    tag = text(vic.get(f"/projects/{name}/images/{name}/web/-/tags/1.0"))
    assert find(tag, id="pushed-by").text.startswith("olivia ")
    assert find(tag, id="pushed-by").find("time") is not None


def test_an_index_shows_its_platforms(open_site, tmp_path):
    name = open_site.name
    layout = oci_layout(tmp_path / "multi", arches=("amd64", "arm64"))
    open_site.push(layout, f"{name}/multi", "1.0", all_images=True)
    page = text(open_site.as_user("vic").get(f"/projects/{name}/images/{name}/multi/-/tags/1.0"))
    assert find(page, id="digest").text == raw_digest(open_site.server, f"{name}/multi:1.0")
    assert find(page, id="platforms").text == "linux/amd64, linux/arm64"
    assert int(find(page, id="size").get("data-bytes")) > 0
    assert find(page, id="created").text == "-"
    row = rows(text(open_site.as_user("vic").get(f"/projects/{name}/images/{name}/multi")))["1.0"]
    assert row["Platform"] == "linux/amd64, linux/arm64"


def test_tags_are_paginated(open_site, images, app):
    name = open_site.name
    for tag in ("a1", "a2", "a3"):
        open_site.push(images["a"], f"{name}/web", tag)
    app.config["PAGE_SIZE"] = 2
    vic = open_site.as_user("vic")
    first = text(vic.get(f"/projects/{name}/images/{name}/web"))
    assert set(rows(first)) == {"a1", "a2"}
    assert find(first, "nav", class_="pager") is not None
    second = vic.get(f"/projects/{name}/images/{name}/web?page=2", htmx="tag-rows")
    assert set(rows(text(second))) == {"a3"}
    assert find(text(second), "html") is None  # the fragment only


def test_a_repository_whose_tags_were_all_deleted(open_site, images):
    name = open_site.name
    digest = open_site.push(images["a"], f"{name}/gone", "1.0")
    open_site.push(images["b"], f"{name}/kept", "1.0")
    open_site.registry().delete(f"{name}/gone", digest)
    assert open_site.registry().tags(f"{name}/gone") == []  # JSON null, still in the catalog
    vic = open_site.as_user("vic")
    index = text(vic.get(f"/projects/{name}/images"))
    names = [a.text for a in find(index, "table", id="repositories").find_all("a")]
    assert names == [f"{name}/kept"]
    page = vic.get(f"/projects/{name}/images/{name}/gone")
    assert page.status_code == 200 and find(text(page), id="no-tags") is not None


def test_public_repositories_are_listed_for_every_project(site, images, make_project, people):
    name = site.name
    other = make_project(f"pub-{name}", {people["olivia"]: "owner"})
    site.push(images["a"], f"{other.name}/base", "1.0")
    site.push(images["b"], f"{other.name}/secret", "1.0")
    db.session.add(PublicImage(repository=f"{other.name}/base", marked_by="root"))
    db.session.commit()
    vic = site.as_user("vic")
    index = text(vic.get(f"/projects/{name}/images"))
    table = find(index, "table", id="repositories")
    listed = {tr.find("a").text: tr.find_all("td")[2].text for tr in table.find_all("tr") if tr.find("a")}
    assert listed == {f"{other.name}/base": "public"}
    tag = vic.get(f"/projects/{name}/images/{other.name}/base/-/tags/1.0")
    assert tag.status_code == 200 and find(text(tag), id="delete") is None
    dev = site.as_user("dev")
    assert find(text(dev.get(f"/projects/{name}/images/{other.name}/base/-/tags/1.0")), id="delete") is None
    assert dev.get(f"/projects/{name}/images/{other.name}/base/-/tags/1.0/delete").status_code == 404
    assert dev.post(f"/projects/{name}/images/{other.name}/base/-/tags/1.0/delete",
                    {"digest": "sha256:" + "0" * 64}).status_code == 404
    assert site.registry().tags(f"{other.name}/base") == ["1.0"]


@pytest.mark.parametrize("path", [
    "{other}/secret", "{other}/secret/-/tags/1.0", "{other}/secret/-/tags/1.0/delete",
    "{name}/../{other}/secret", "{name}/..%2F{other}/secret/-/tags/1.0", "{name}%2F..%2F{other}/secret",
    "{name}/WEB", "{name}/web/-/tags/..", "{name}/web/-/tags/-x", "{name}/web/-/tags/%2E%2E%2Fx",
    "{name}", "{other}",
])
def test_a_crafted_name_outside_the_project_is_not_found(open_site, images, make_project, people, path):
    name = open_site.name
    other = f"sec-{name}"
    make_project(other, {people["olivia"]: "owner"})
    open_site.push(images["b"], f"{other}/secret", "1.0")
    url = f"/projects/{name}/images/" + path.format(name=name, other=other)
    vic, dev = open_site.as_user("vic"), open_site.as_user("dev")
    # a viewer may not delete at all (403 before any name is looked at); a developer sees nothing
    assert vic.get(url).status_code == (403 if url.endswith("/delete") else 404), url
    assert dev.get(url).status_code == 404, url
    assert dev.post(url, {"digest": "sha256:" + "0" * 64}).status_code in (404, 405)
    assert open_site.registry().tags(f"{other}/secret") == ["1.0"]


def test_an_unreachable_registry_gives_a_banner_not_an_error(app, people, make_project, client):
    from tests.images.conftest import Site, project_for
    app.config["REGISTRY_URL"] = f"http://127.0.0.1:{free_port()}"
    site = Site(None, project_for(make_project, people), people, client)
    vic = site.as_user("vic")
    index = vic.get(f"/projects/{site.name}/images")
    assert index.status_code == 200
    banner = find(text(index), id="registry-banner")
    assert banner is not None and "cannot be reached" in banner.text
    page = vic.get(f"/projects/{site.name}/images/{site.name}/web")
    assert page.status_code == 503 and "cannot be reached" in text(page)
    tag = vic.get(f"/projects/{site.name}/images/{site.name}/web/-/tags/1.0")
    assert tag.status_code == 503


def test_no_registry_configured_gives_a_banner(app, people, make_project, client):
    from tests.images.conftest import Site, project_for
    app.config["REGISTRY_URL"] = ""
    site = Site(None, project_for(make_project, people), people, client)
    index = site.as_user("vic").get(f"/projects/{site.name}/images")
    assert index.status_code == 200
    assert "No registry is configured" in find(text(index), id="registry-banner").text


def test_an_address_that_is_no_registry_gives_a_banner(app, registries, people, make_project, client):
    from tests.images.conftest import Site, project_for
    app.config["REGISTRY_URL"] = registries["open"].url + "/not-the-api"  # every request: 404
    site = Site(None, project_for(make_project, people), people, client)
    index = site.as_user("vic").get(f"/projects/{site.name}/images")
    assert index.status_code == 200
    assert find(text(index), id="registry-banner") is not None


def test_wrong_credentials_give_a_banner(app, registries, people, make_project, client):
    from tests.images.conftest import Site, project_for
    server = registries["locked"]
    use_registry(app, server)
    app.config["REGISTRY_PASSWORD"] = "not-the-password"
    site = Site(server, project_for(make_project, people), people, client)
    index = site.as_user("vic").get(f"/projects/{site.name}/images")
    assert index.status_code == 200
    assert "credentials" in find(text(index), id="registry-banner").text
