from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import Email, Length, Optional

from portal import validation
from portal.forms import Check, password_check


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[Check(validation.username)])
    email = EmailField(_l("Email"), validators=[
        Optional(), Length(max=validation.EMAIL_MAX_LENGTH,
                           message=_l("At most %(num)d characters.", num=validation.EMAIL_MAX_LENGTH)),
        Email(_l("Enter a valid email address."))])
    password = PasswordField(_l("Password"), validators=[password_check])
    is_admin = BooleanField(_l("Administrator"))


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[password_check])


def _quantity(kind):
    return Check(validation.quantity, kind)


class PlanForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Check(validation.dns_label, _l("Plan name"))])
    cpu_request = StringField(_l("CPU request"), validators=[_quantity("cpu")],
                              description=_l("e.g. %(example)s", example="250m"))
    memory_request = StringField(_l("Memory request"), validators=[_quantity("memory")],
                                 description=_l("e.g. %(example)s", example="256Mi"))
    cpu_limit = StringField(_l("CPU limit"), validators=[_quantity("cpu")],
                            description=_l("e.g. %(example)s", example="500m"))
    memory_limit = StringField(_l("Memory limit"), validators=[_quantity("memory")],
                               description=_l("e.g. %(example)s", example="512Mi"))
    is_default = BooleanField(_l("Default plan for new apps"))
