from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from portal.services.provisioning.settings import ROLES


class SettingsForm(FlaskForm):
    name = StringField(_l("Cluster name"))
    kubernetes_version = StringField(_l("Kubernetes version"), description=_l("e.g. %(example)s", example="1.30.4"))
    pod_cidr = StringField(_l("Pod network (flannel)"),
                           description=_l("default %(value)s", value="172.16.0.0/16"))
    service_cidr = StringField(_l("Service network"), description=_l("default %(value)s", value="10.0.1.0/24"))
    registry_port = IntegerField(_l("Registry port"), validators=[
        InputRequired(_l("Give the registry port.")),
        NumberRange(1, 65535, _l("The registry port must be between 1 and 65535."))])
    nfs_export = StringField(_l("NFS export"), description=_l("default %(value)s", value="/hummer"))


class RolesForm(FlaskForm):
    roles = SelectMultipleField(_l("Roles"), choices=[SelectChoice(r, r) for r in ROLES], validate_choice=False,
                                option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    address = StringField(_l("Address"))


class SSHHostForm(FlaskForm):
    """Add a host over SSH: salt-ssh installs salt-minion there (services/provisioning/enrolment.py checks the rest)."""

    address = StringField(_l("Address"), description=_l("IP address or DNS name of the host"))
    port = IntegerField(_l("SSH port"), default=22, validators=[
        InputRequired(_l("Give the SSH port.")),
        NumberRange(1, 65535, _l("The SSH port must be between 1 and 65535."))])
    user = StringField(_l("SSH user"), default="root", description=_l("root, or a user with sudo"))
    private_key = TextAreaField(_l("Private key"),
                                description=_l("pasted; used for this run only, never stored"))
    password = PasswordField(_l("or password"), description=_l("instead of a key; never stored"))
    minion_id = StringField(_l("Minion id"),
                            description=_l("the name the host gets in Salt, e.g. %(example)s", example="k8s-node3"))
