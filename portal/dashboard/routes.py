from flask_login import current_user, login_required
from sqlalchemy import select

from portal.dashboard import bp
from portal.extensions import db
from portal.models import AuditEvent, Project
from portal.services import bootstrap, health, projects
from portal.web import render


@bp.route("/")
@login_required
def index():
    mine = list(db.session.scalars(projects.visible_to(current_user).limit(10)))
    recent_stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(10)
    if not current_user.is_admin:
        recent_stmt = recent_stmt.where(AuditEvent.project_id.in_(
            projects.visible_to(current_user).with_only_columns(Project.id)))
    recent = list(db.session.scalars(recent_stmt))
    last_run = next(iter(bootstrap.runs(1)), None)
    bootstrap.ensure_followed(last_run)
    return render("dashboard/index.html", projects=mine,
                  project_count=projects.count_visible(current_user), recent=recent,
                  cluster_nodes=bootstrap.nodes(), last_run=last_run)


@bp.route("/healthz")
def healthz():
    """JSON with each dependency's status; 200 while the database answers, else 503.
    Never loads the logged-in user: a probe must not depend on the session."""
    body, status = health.check()
    return body, status, {"Cache-Control": "no-store"}
