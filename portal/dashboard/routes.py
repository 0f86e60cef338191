from flask_login import current_user, login_required
from sqlalchemy import select

from portal.dashboard import bp
from portal.extensions import db
from portal.models import AuditEvent, Project
from portal.services import alerts, health, metrics, overview, projects, provisioning
from portal.web import render

DASHBOARD_PROJECTS = 10


def _my_projects() -> list[Project]:
    return list(db.session.scalars(projects.visible_to(current_user).limit(DASHBOARD_PROJECTS)))


@bp.route("/")
@login_required
def index():
    mine = _my_projects()
    recent_stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(10)
    if not current_user.is_admin:
        recent_stmt = recent_stmt.where(AuditEvent.project_id.in_(
            projects.visible_to(current_user).with_only_columns(Project.id)))
    recent = list(db.session.scalars(recent_stmt))
    may_see_nodes = current_user.is_admin
    last_run = None
    if may_see_nodes:
        last_run = next(iter(provisioning.runs(1)), None)
    return render("dashboard/index.html", projects=mine,
                  project_count=projects.count_visible(current_user), recent=recent,
                  summaries=None, summary_note="", may_see_nodes=may_see_nodes,
                  may_see_audit=current_user.is_admin,
                  cluster_nodes=provisioning.nodes() if may_see_nodes else [], last_run=last_run,
                  usage_card=metrics.configured())


@bp.route("/dashboard/health")
@login_required
def health_card():
    """The cluster's health, loaded after the dashboard (hx-trigger="load")."""
    return render("dashboard/health.html", "dashboard/_health.html", checks=overview.checks(),
                  may_see_detail=current_user.is_admin, may_set_up=current_user.is_admin)


@bp.route("/dashboard/usage")
@login_required
def usage_card():
    """Nodes' and apps' use of the last minutes from InfluxDB, loaded after the dashboard: admins
    see every node and app, others the apps of their projects."""
    namespaces = None if current_user.is_admin else [p.name for p in db.session.scalars(
        projects.visible_to(current_user))]
    return render("dashboard/usage.html", "dashboard/_usage.html", o=metrics.overview(namespaces),
                  may_see_nodes=current_user.is_admin)


@bp.route("/dashboard/alerts")
@login_required
def alerts_card():
    """Alerts firing now and the latest resolved, loaded after the dashboard: admins see every
    alert (nodes' too) and when the rules were last judged, others their projects' apps'."""
    return render("dashboard/alerts.html", "dashboard/_alerts.html", board=alerts.board(current_user))


@bp.route("/dashboard/projects")
@login_required
def project_status():
    """The user's projects with their apps' status, loaded after the dashboard."""
    mine = _my_projects()
    summaries, note = overview.project_summaries(mine)
    return render("dashboard/projects.html", "dashboard/_projects.html", projects=mine,
                  summaries=summaries, summary_note=note)


@bp.route("/healthz")
def healthz():
    """JSON with each dependency's status; 200 while the database answers, else 503.
    Never loads the logged-in user: a probe must not depend on the session."""
    body, status = health.check()
    return body, status, {"Cache-Control": "no-store"}
