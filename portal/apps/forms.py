"""The deploy form (also the edit form) and the small action forms of an app.

Fields carry no validators beyond CSRF: services.apps.parse() is the single place
that judges the input, and `attach_errors` puts each of its messages beside the
field it names (for repeating rows, beside the row's own field: ports-1-container_port).
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from portal.adapters.kube_objects import AppSpec

PROTOCOLS = [SelectChoice("TCP", "TCP"), SelectChoice("UDP", "UDP")]
EXPOSURES = [SelectChoice("internal", "Internal (ClusterIP)"), SelectChoice("external", "External (NodePort)")]
PROBES = [SelectChoice("none", "None"), SelectChoice("http", "HTTP GET"), SelectChoice("tcp", "TCP socket"),
          SelectChoice("exec", "Exec command")]
ENV_SOURCES = [SelectChoice("plain", "Value"), SelectChoice("secret", "From a project secret")]


class PortRow(Form):
    name = StringField("Name", description="optional, e.g. http")
    protocol = SelectField("Protocol", choices=PROTOCOLS, validate_choice=False, default="TCP")
    container_port = StringField("Container port")
    exposure = SelectField("Exposure", choices=EXPOSURES, validate_choice=False, default="internal")
    node_port = StringField("Node port", description="optional, 30000-32767")


class EnvRow(Form):
    name = StringField("Name")
    source = SelectField("Source", choices=ENV_SOURCES, validate_choice=False, default="plain")
    value = StringField("Value")
    secret = StringField("Secret")
    key = StringField("Key")


class ProbeForm(Form):
    kind = SelectField("Check", choices=PROBES, validate_choice=False, default="none")
    path = StringField("HTTP path", default="/")
    port = StringField("Port")
    command = StringField("Command")


class AppForm(FlaskForm):
    name = StringField("App name", description="Lower-case letters, digits and '-', starting with a letter.")
    image = StringField("Image", description="e.g. nginx or registry:5000/team/web")
    tag = StringField("Tag", default="latest")
    replicas = StringField("Replicas", default="1")
    plan = SelectField("Resource plan", validate_choice=False, default="")
    cpu_request = StringField("CPU request")
    memory_request = StringField("Memory request")
    cpu_limit = StringField("CPU limit")
    memory_limit = StringField("Memory limit")
    ports = FieldList(FormField(PortRow), min_entries=1)
    env = FieldList(FormField(EnvRow), min_entries=1)
    command = StringField("Command", description="overrides the image's entrypoint; shell-style quoting")
    args = StringField("Arguments")
    workdir = StringField("Working directory")
    readiness = FormField(ProbeForm, label="Readiness")
    liveness = FormField(ProbeForm, label="Liveness")
    session_affinity = BooleanField("Session affinity (the same client keeps reaching the same pod)")
    autoscale = BooleanField("Autoscale on CPU (autoscaling/v1)")
    min_replicas = StringField("Minimum replicas", default="1")
    max_replicas = StringField("Maximum replicas", default="3")
    cpu_target = StringField("CPU target %", default="80")
    generation = HiddenField()

    def set_plans(self, plans, default: str = "") -> None:
        self.plan.choices = [SelectChoice("", "Custom requests and limits")] + [
            SelectChoice(p.name, p.label) for p in plans]
        if self.plan.data is None:
            self.plan.data = default


def form_from_spec(spec: AppSpec, generation: int) -> AppForm:
    data = {
        "name": spec.name, "image": spec.image, "tag": spec.tag, "replicas": str(spec.replicas),
        "plan": spec.plan, "cpu_request": spec.cpu_request, "memory_request": spec.memory_request,
        "cpu_limit": spec.cpu_limit, "memory_limit": spec.memory_limit,
        "ports": [{"name": p.name, "protocol": p.protocol, "container_port": str(p.container_port),
                   "exposure": p.exposure, "node_port": str(p.node_port or "")} for p in spec.ports] or [{}],
        "env": [{"name": e.name, "source": "secret" if e.secret else "plain", "value": e.value,
                 "secret": e.secret, "key": e.key} for e in spec.env] or [{}],
        "command": spec.command, "args": spec.args, "workdir": spec.workdir,
        "readiness": {"kind": spec.readiness.kind, "path": spec.readiness.path,
                      "port": str(spec.readiness.port or ""), "command": spec.readiness.command},
        "liveness": {"kind": spec.liveness.kind, "path": spec.liveness.path,
                     "port": str(spec.liveness.port or ""), "command": spec.liveness.command},
        "session_affinity": spec.session_affinity, "autoscale": spec.autoscale,
        "min_replicas": str(spec.min_replicas), "max_replicas": str(spec.max_replicas),
        "cpu_target": str(spec.cpu_target), "generation": str(generation),
    }
    return AppForm(formdata=None, data=data)


def _fields(form):
    for f in form:
        if f.type == "FieldList":
            for entry in f:
                yield from _fields(entry.form)
        elif f.type == "FormField":
            yield from _fields(f.form)
        else:
            yield f


def attach_errors(form, errors: dict[str, str]) -> None:
    """Each message beside the field whose id it names; unknown ids go to the top."""
    by_id = {f.id: f for f in _fields(form)}
    for field_id, message in errors.items():
        field = by_id.get(field_id)
        if field is not None:
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)


class ScaleForm(FlaskForm):
    replicas = StringField("Replicas")


class ImageForm(FlaskForm):
    image = StringField("Image")
    tag = StringField("Tag")
    generation = HiddenField()


class RollbackForm(FlaskForm):
    revision = HiddenField()
    generation = HiddenField()


class ConfirmForm(FlaskForm):
    confirm = StringField("Type the app name to confirm")


class ActionForm(FlaskForm):
    """Just the CSRF token, for restart, stop and start."""
