"""WTForms glue shared by every area: validators built on portal.validation."""
from __future__ import annotations

from flask import current_app
from wtforms import ValidationError

from portal import validation
from portal.services.errors import Invalid


class Check:
    """Run a portal.validation function as a WTForms validator."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __call__(self, form, field):
        message = self.func((field.data or "").strip(), *self.args)
        if message:
            raise ValidationError(message)


def password_check(form, field):
    message = validation.password(field.data or "", current_app.config["PASSWORD_MIN_LENGTH"])
    if message:
        raise ValidationError(message)


def attach(form, error: Invalid) -> None:
    """Show a service's Invalid beside its field (or at the top of the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = list(field.errors) + [error.message]
    else:
        form.form_errors.append(error.message)
