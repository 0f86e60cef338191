"""Projects: the ones the token may see."""
from __future__ import annotations

from spectree import Response

from portal.api import schemas
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.extensions import db
from portal.services import authz, projects

TAG = "projects"


def project_body(project, role) -> schemas.Project:
    return schemas.Project(name=project.name, display_name=project.display_name,
                           description=project.description, role=role.value,
                           created_at=schemas.when(project.created_at))


def _shown_role(project):
    return authz.role_in(actor(), project)


@bp.get("/projects")
@spec.validate(query=schemas.PageQuery, resp=Response(HTTP_200=schemas.ProjectList, HTTP_401=schemas.Problem,
                                                      HTTP_422=schemas.Problem, HTTP_429=schemas.Problem),
               tags=[TAG], operation_id="listProjects")
def project_list(query: schemas.PageQuery):
    """List the projects the token may see."""
    page = db.paginate(projects.visible_to(actor()), page=query.page, per_page=query.per_page,
                       error_out=False)
    items = [project_body(p, _shown_role(p)) for p in page.items]
    return schemas.ProjectList(items=items, page=query.page, per_page=query.per_page, total=page.total or 0,
                               links=page_links(query.page, page.pages or 1, per_page=query.per_page))


@bp.get("/projects/<name>")
@spec.validate(resp=Response(HTTP_200=schemas.Project, HTTP_401=schemas.Problem, HTTP_404=schemas.Problem,
                             HTTP_429=schemas.Problem),
               tags=[TAG], operation_id="getProject")
def project_get(name: str):
    """One project, with the token's role in it."""
    project, role = project_for(name)
    return project_body(project, role)
