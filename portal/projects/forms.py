from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length

from portal import validation
from portal.forms import Check
from portal.models import Role


class ProjectForm(FlaskForm):
    name = StringField("Name", validators=[Check(validation.project_name)],
                       description="Lower-case letters, digits and '-'. It becomes the "
                                   "Kubernetes namespace and cannot change later.")
    display_name = StringField("Display name", validators=[Length(max=100)])
    description = TextAreaField("Description", validators=[Length(max=2000)])


class RenameForm(FlaskForm):
    display_name = StringField("Display name", validators=[
        DataRequired("Display name is required."), Length(max=100)])
    description = TextAreaField("Description", validators=[Length(max=2000)])


class DeleteForm(FlaskForm):
    confirm = StringField("Type the project name to confirm",
                          validators=[DataRequired("Type the project name to confirm.")])


def known_role(form, field):
    if field.data not in {r.value for r in Role}:
        raise ValidationError("Choose a role: " + ", ".join(r.value for r in Role) + ".")


def role_field(**kwargs) -> SelectField:
    return SelectField("Role", choices=Role.choices(), validate_choice=False,
                       validators=[known_role], **kwargs)


class MemberForm(FlaskForm):
    username = StringField("User", validators=[DataRequired("Enter a username.")])
    role = role_field(default=Role.DEVELOPER.value)


class RoleForm(FlaskForm):
    role = role_field()


class QuotaForm(FlaskForm):
    quota_cpu = StringField("CPU (requests)", description="e.g. 4 or 2500m, up to 100000 cores; blank for no limit")
    quota_memory = StringField("Memory (requests)", description="e.g. 8Gi, up to 16Pi; blank for no limit")
    quota_pods = StringField("Pods", description="1 to 100000; blank for no limit")
