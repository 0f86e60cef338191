"""Public images: repositories an admin marked so that every project lists them and may deploy
them (models.PublicImage). Marking needs no registry: the name is checked as the registry
would, and must lie under the project's own `<project>/`."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from portal.adapters.registry import BadName, check_repository
from portal.extensions import db
from portal.models import Project, PublicImage
from portal.services import audit
from portal.services.context import Actor
from portal.services.errors import Invalid


def public_repositories() -> list[str]:
    return list(db.session.scalars(select(PublicImage.repository).order_by(PublicImage.repository)))


def is_public(repository: str) -> bool:
    return db.session.scalar(select(PublicImage.id).where(PublicImage.repository == repository)) is not None


def check(project: Project, repository: str) -> str:
    repository = (repository or "").strip()
    try:
        check_repository(repository)
    except BadName as error:
        raise Invalid("repository", _("Not a repository name: %(reason)s", reason=error.message)) from error
    if not repository.startswith(project.name + "/"):
        raise Invalid("repository", _("The repository must lie under %(prefix)s.", prefix=project.name + "/"))
    return repository


def set_public(actor: Actor, project: Project, repository: str, public: bool) -> bool:
    """Mark or unmark; True when something changed (one audit event then)."""
    repository = check(project, repository)
    row = db.session.scalar(select(PublicImage).where(PublicImage.repository == repository))
    if public == (row is not None):
        return False
    if public:
        db.session.add(PublicImage(repository=repository, marked_by=actor.user.username))
    else:
        db.session.delete(row)
    audit.record(actor, "image.public" if public else "image.private", "repository", repository, project)
    db.session.commit()
    return True
