"""Resource plans: named CPU/memory presets, managed by admins."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select, update

from portal import validation
from portal.extensions import db
from portal.models import ResourcePlan
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound

FIELDS = ("cpu_request", "memory_request", "cpu_limit", "memory_limit")


def all_plans() -> list[ResourcePlan]:
    return list(db.session.scalars(select(ResourcePlan).order_by(ResourcePlan.name)))


def get(plan_id: int) -> ResourcePlan:
    plan = db.session.get(ResourcePlan, plan_id) if validation.row_id(plan_id) else None
    if plan is None:
        raise NotFound(_("No such plan."))
    return plan


def _validate(name: str, values: dict[str, str], plan: ResourcePlan | None) -> None:
    message = validation.dns_label(name, _("Plan name"))
    if message:
        raise Invalid("name", message)
    clash = db.session.scalar(select(ResourcePlan).where(ResourcePlan.name == name))
    if clash is not None and clash is not plan:
        raise Invalid("name", _("A plan named '%(name)s' already exists.", name=name))
    for field in FIELDS:
        message = validation.quantity(values[field], field.split("_")[0])
        if message:
            raise Invalid(field, message)
    for kind in ("cpu", "memory"):
        if not validation.not_less(values[f"{kind}_request"], values[f"{kind}_limit"]):
            raise Invalid(f"{kind}_limit", validation.limit_below_request(kind))


def save(name: str, values: dict[str, str], is_default: bool, by: Actor,
         plan: ResourcePlan | None = None) -> ResourcePlan:
    require_admin(by.user)
    name = name.strip()
    values = {f: (values.get(f) or "").strip() for f in FIELDS}
    _validate(name, values, plan)
    created = plan is None
    if created:
        plan = ResourcePlan(name=name, **values)
        db.session.add(plan)
    else:
        plan.name = name
        for field, value in values.items():
            setattr(plan, field, value)
    if is_default:
        db.session.execute(update(ResourcePlan).values(is_default=False))
    plan.is_default = is_default
    db.session.flush()
    audit.record(by, "plan.create" if created else "plan.update", "plan", plan.name,
                 detail=" ".join(f"{f}={values[f]}" for f in FIELDS))
    db.session.commit()
    return plan


def delete(plan: ResourcePlan, by: Actor) -> None:
    require_admin(by.user)
    audit.record(by, "plan.delete", "plan", plan.name)
    db.session.delete(plan)
    db.session.commit()
