from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from portal.services.provisioning.settings import ROLES


class SettingsForm(FlaskForm):
    name = StringField("Cluster name")
    kubernetes_version = StringField("Kubernetes version", description="e.g. 1.30.4")
    pod_cidr = StringField("Pod network (flannel)", description="default 172.16.0.0/16")
    service_cidr = StringField("Service network", description="default 10.0.1.0/24")
    registry_port = IntegerField("Registry port", validators=[
        InputRequired("Give the registry port."),
        NumberRange(1, 65535, "The registry port must be between 1 and 65535.")])
    nfs_export = StringField("NFS export", description="default /hummer")


class RolesForm(FlaskForm):
    roles = SelectMultipleField("Roles", choices=[SelectChoice(r, r) for r in ROLES], validate_choice=False,
                                option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    address = StringField("Address")


class SSHHostForm(FlaskForm):
    """Add a host over SSH: salt-ssh installs salt-minion there (services/provisioning/enrolment.py checks the rest)."""

    address = StringField("Address", description="IP address or DNS name of the host")
    port = IntegerField("SSH port", default=22, validators=[
        InputRequired("Give the SSH port."),
        NumberRange(1, 65535, "The SSH port must be between 1 and 65535.")])
    user = StringField("SSH user", default="root", description="root, or a user with sudo")
    private_key = TextAreaField("Private key", description="pasted; used for this run only, never stored")
    password = PasswordField("or password", description="instead of a key; never stored")
    minion_id = StringField("Minion id", description="the name the host gets in Salt, e.g. k8s-node3")
