"""Images: the project's repositories in the private registry, a repository's tags, one tag,
and deleting a tag, through services/images as the Images pages do.

Repository names are full, as the pages have them: <project>/<name>, or another project's
public repository (readable, never deletable). "/-/" separates the name from what follows, as
in the pages' URLs, since a name may have several parts. Deleting asks for the digest the
client read (from the tag, or from its deletion plan, which also names the other tags on the
same digest that go with it and the apps that run it): a tag moved meanwhile is a 409 and
nothing is deleted, as on the confirm page.
"""
from __future__ import annotations

from pydantic import BaseModel, Field
from spectree import Response

from portal.api import schemas
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.models import Role
from portal.services.images import catalog, deletion
from portal.services.paging import page_of

TAG = "images"
ERRORS = {"HTTP_401": schemas.Problem, "HTTP_404": schemas.Problem, "HTTP_429": schemas.Problem,
          "HTTP_403": schemas.Problem, "HTTP_422": schemas.Problem, "HTTP_503": schemas.Problem}
CHANGE_ERRORS = {**ERRORS, "HTTP_409": schemas.Problem}


# ----------------------------------------------------------------------------- bodies

class Repository(BaseModel):
    name: str = Field(description="<project>/<name>, or another project's public repository.")
    public: bool = Field(description="Marked public by an admin: every project may pull it.")
    own: bool = Field(description="The project's own repository (its tags may be deleted).")
    tags: int


class RepositoryList(BaseModel):
    items: list[Repository]
    page: int
    per_page: int
    total: int
    links: schemas.Links


class ImageTag(BaseModel):
    repository: str
    tag: str
    image: str = Field(description="The full image name, as apps and nodes pull it.")
    digest: str
    media_type: str
    size: int = Field(description="Compressed bytes: the sum of its layers.")
    layers: int
    is_list: bool = Field(description="An index (manifest list) of several platforms.")
    platforms: list[str] = Field(description="os/architecture[/variant] of each image.")
    created: str | None = Field(None, description="When the image was built, as its config says.")
    pushed_by: str | None = Field(None, description="Who pushed it through Hummer, while the tag still points "
                                                    "to what they pushed.")
    pushed_at: str | None = None


class TagList(BaseModel):
    items: list[ImageTag]
    page: int
    per_page: int
    total: int
    links: schemas.Links


class DeletionPlan(BaseModel):
    repository: str
    tag: str
    digest: str = Field(description="Send it back with the deletion.")
    tags: list[str] = Field(description="Every tag that goes: the registry deletes by digest, so the other "
                                        "tags on the same digest go too.")
    tags_partial: bool = Field(description="The repository has more tags than were compared.")
    apps: list[str] | None = Field(None, description="The project's apps running one of these images (their next "
                                                     "pull would fail); null when no cluster is configured.")
    apps_error: str = Field("", description="Why the apps could not be read, when they could not.")


class TagDeleteQuery(schemas.Loose):
    digest: str = Field(max_length=200, description="The digest read from the tag or its deletion plan: if "
                                                    "the tag points elsewhere now, nothing is deleted (409).")


class TagDeleted(BaseModel):
    digest: str
    deleted: list[str] = Field(description="The tags that went.")


# ----------------------------------------------------------------------------- routes


def tag_body(found: catalog.Tag) -> ImageTag:
    return ImageTag(repository=found.repository, tag=found.tag, image=found.image, digest=found.digest,
                    media_type=found.media_type, size=found.size, layers=found.layers, is_list=found.is_list,
                    platforms=[str(p) for p in found.platforms], created=schemas.when(found.created),
                    pushed_by=found.pushed_by or None, pushed_at=schemas.when(found.pushed_at))


@bp.get("/projects/<name>/images")
@spec.validate(query=schemas.PageQuery, resp=Response(HTTP_200=RepositoryList, **ERRORS),
               tags=[TAG], operation_id="listImageRepositories")
def image_list(name: str, query: schemas.PageQuery):
    """The project's repositories, then other projects' public ones, each with its number of
    tags (a repository whose tags were all deleted is left out)."""
    project, _role = project_for(name)
    page = page_of(catalog.repositories(project), query.page, query.per_page)
    prefix = project.name + "/"
    items = [Repository(name=r.name, public=r.public, own=r.name.startswith(prefix), tags=r.tags)
             for r in page.items]
    return RepositoryList(items=items, page=page.page, per_page=page.per_page, total=page.total,
                          links=page_links(page.page, page.pages, per_page=query.per_page))


@bp.get("/projects/<name>/images/<repository:repository>/-/tags")
@spec.validate(query=schemas.PageQuery, resp=Response(HTTP_200=TagList, **ERRORS),
               tags=[TAG], operation_id="listImageTags")
def image_tags(name: str, repository: str, query: schemas.PageQuery):
    """A repository's tags by name, each with its digest, size, platforms, creation and who
    pushed it."""
    project, _role = project_for(name)
    page = catalog.tag_page(project, repository, query.page, query.per_page)
    return TagList(items=[tag_body(t) for t in page.items], page=page.page, per_page=page.per_page,
                   total=page.total,
                   links=page_links(page.page, page.pages, per_page=query.per_page))


@bp.get("/projects/<name>/images/<repository:repository>/-/tags/<tag>")
@spec.validate(resp=Response(HTTP_200=ImageTag, **ERRORS), tags=[TAG], operation_id="getImageTag")
def image_tag(name: str, repository: str, tag: str):
    """One tag: what the image is, and its full name to deploy."""
    project, _role = project_for(name)
    return tag_body(catalog.tag(project, repository, tag))


@bp.get("/projects/<name>/images/<repository:repository>/-/tags/<tag>/deletion")
@spec.validate(resp=Response(HTTP_200=DeletionPlan, **ERRORS), tags=[TAG], operation_id="planImageTagDeletion")
def image_tag_plan(name: str, repository: str, tag: str):
    """What deleting the tag would delete, as the confirm page shows it (developer)."""
    project, _role = project_for(name, Role.DEVELOPER)
    plan = deletion.plan(project, repository, tag)
    return DeletionPlan(repository=plan.repository, tag=plan.tag, digest=plan.digest, tags=plan.tags,
                        tags_partial=plan.others_partial, apps=plan.apps, apps_error=plan.apps_error)


@bp.delete("/projects/<name>/images/<repository:repository>/-/tags/<tag>")
@spec.validate(query=TagDeleteQuery, resp=Response(HTTP_200=TagDeleted, **CHANGE_ERRORS), tags=[TAG],
               operation_id="deleteImageTag")
def image_tag_delete(name: str, repository: str, tag: str, query: TagDeleteQuery):
    """Delete the image the tag points to, with every tag on the same digest, provided the tag
    still points to `digest` (developer; the project's own repositories only). The registry
    frees the space at its next garbage collection."""
    project, _role = project_for(name, Role.DEVELOPER)
    digest = query.digest.strip()
    return TagDeleted(digest=digest, deleted=deletion.delete(project, repository, tag, digest, by=actor()))
