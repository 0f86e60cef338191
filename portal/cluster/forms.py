from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, NumberRange
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from portal.services.bootstrap import ROLES


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
