from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import Email, Length, Optional

from portal import validation
from portal.forms import Check, password_check


class UserForm(FlaskForm):
    username = StringField("Username", validators=[Check(validation.username)])
    email = EmailField("Email", validators=[
        Optional(), Length(max=validation.EMAIL_MAX_LENGTH,
                           message=f"At most {validation.EMAIL_MAX_LENGTH} characters."),
        Email("Enter a valid email address.")])
    password = PasswordField("Password", validators=[password_check])
    is_admin = BooleanField("Administrator")


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[password_check])


def _quantity(kind):
    return Check(validation.quantity, kind)


class PlanForm(FlaskForm):
    name = StringField("Name", validators=[Check(validation.dns_label, "Plan name")])
    cpu_request = StringField("CPU request", validators=[_quantity("cpu")],
                              description="e.g. 250m")
    memory_request = StringField("Memory request", validators=[_quantity("memory")],
                                 description="e.g. 256Mi")
    cpu_limit = StringField("CPU limit", validators=[_quantity("cpu")], description="e.g. 500m")
    memory_limit = StringField("Memory limit", validators=[_quantity("memory")],
                               description="e.g. 512Mi")
    is_default = BooleanField("Default plan for new apps")
