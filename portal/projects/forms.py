from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length

from portal import validation
from portal.forms import Check
from portal.models import Role


class ProjectForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Check(validation.project_name)],
                       description=_l("Lower-case letters, digits and '-'. It becomes the "
                                      "Kubernetes namespace and cannot change later."))
    display_name = StringField(_l("Display name"), validators=[Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])


class RenameForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[
        DataRequired(_l("Display name is required.")), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])


class DeleteForm(FlaskForm):
    confirm = StringField(_l("Type the project name to confirm"),
                          validators=[DataRequired(_l("Type the project name to confirm."))])


def known_role(form, field):
    if field.data not in {r.value for r in Role}:
        raise ValidationError(_("Choose a role: %(roles)s.", roles=", ".join(r.value for r in Role)))


def role_field(**kwargs) -> SelectField:
    return SelectField(_l("Role"), choices=Role.choices(), validate_choice=False,
                       validators=[known_role], **kwargs)


class MemberForm(FlaskForm):
    username = StringField(_l("User"), validators=[DataRequired(_l("Enter a username."))])
    role = role_field(default=Role.DEVELOPER.value)


class RoleForm(FlaskForm):
    role = role_field()


class QuotaForm(FlaskForm):
    quota_cpu = StringField(_l("CPU (requests)"),
                            description=_l("e.g. 4 or 2500m, up to 100000 cores; blank for no limit"))
    quota_memory = StringField(_l("Memory (requests)"), description=_l("e.g. 8Gi, up to 16Pi; blank for no limit"))
    quota_pods = StringField(_l("Pods"), description=_l("1 to 100000; blank for no limit"))
    quota_storage = StringField(_l("Storage (volumes' capacity)"),
                                description=_l("e.g. 100Gi, up to 16Pi; blank for no limit"))
    quota_claims = StringField(_l("Volumes"), description=_l("1 to 10000; blank for no limit"))
