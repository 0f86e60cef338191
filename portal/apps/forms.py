"""The deploy form (also the edit form) and the small action forms of an app.

Fields carry no validators beyond CSRF: services.apps.parse() is the single place
that judges the input, and `attach_errors` puts each of its messages beside the
field it names (for repeating rows, beside the row's own field: ports-1-container_port).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from portal.domain.apps import AppSpec

PROTOCOLS = [SelectChoice("TCP", "TCP"), SelectChoice("UDP", "UDP")]
EXPOSURES = [SelectChoice("internal", _l("Internal (ClusterIP)")),
             SelectChoice("external", _l("External (NodePort)"))]
PROBES = [SelectChoice("none", _l("None")), SelectChoice("http", "HTTP GET"),
          SelectChoice("tcp", _l("TCP socket")), SelectChoice("exec", _l("Exec command"))]
ENV_SOURCES = [SelectChoice("plain", _l("Value")), SelectChoice("secret", _l("From a project secret"))]


class PortRow(Form):
    name = StringField(_l("Name"), description=_l("optional, e.g. %(example)s", example="http"))
    protocol = SelectField(_l("Protocol"), choices=PROTOCOLS, validate_choice=False, default="TCP")
    container_port = StringField(_l("Container port"))
    exposure = SelectField(_l("Exposure"), choices=EXPOSURES, validate_choice=False, default="internal")
    node_port = StringField(_l("Node port"), description=_l("optional, %(range)s", range="30000-32767"))


class EnvRow(Form):
    name = StringField(_l("Name"))
    source = SelectField(_l("Source"), choices=ENV_SOURCES, validate_choice=False, default="plain")
    value = StringField(_l("Value"))
    secret = StringField(_l("Secret"))
    key = StringField(_l("Key"))


class MountRow(Form):
    volume = SelectField(_l("Volume"), validate_choice=False, default="")
    mount_path = StringField(_l("Mount path"), description=_l("e.g. %(example)s", example="/data"))
    sub_path = StringField(_l("Sub-path"), description=_l("optional: a folder inside the volume"))
    read_only = BooleanField(_l("Read-only"))


class ProbeForm(Form):
    kind = SelectField(_l("Check"), choices=PROBES, validate_choice=False, default="none")
    path = StringField(_l("HTTP path"), default="/")
    port = StringField(_l("Port"))
    command = StringField(_l("Command"))


class ReadinessForm(ProbeForm):
    kind = SelectField(_l("Readiness check"), choices=PROBES, validate_choice=False, default="none",
                       description=_l("Traffic reaches a pod only while this passes."))


class LivenessForm(ProbeForm):
    kind = SelectField(_l("Liveness check"), choices=PROBES, validate_choice=False, default="none",
                       description=_l("The container is restarted when this fails."))


# The autoscaling fields' defaults: the deploy form's, and the edit form's for an app without an HPA.
AUTOSCALE_DEFAULTS = {"min_replicas": "1", "max_replicas": "3", "cpu_target": "80"}
# Fields of AppForm the edit page does not render (the app's page changes them).
EDIT_HIDDEN = ("name", "image", "tag", "replicas")


class AppForm(FlaskForm):
    name = StringField(_l("App name"), description=_l("Lower-case letters, digits and '-', starting with a letter."))
    image = StringField(_l("Image"), description=_l("e.g. nginx or registry:5000/team/web"))
    # Empty by default: "latest" then, or the tag a full name picked from the image list carries.
    tag = StringField(_l("Tag"), default="", description=_l("empty: latest, or the tag the image names"))
    replicas = StringField(_l("Replicas"), default="1")
    plan = SelectField(_l("Resource plan"), validate_choice=False, default="")
    cpu_request = StringField(_l("CPU request"))
    memory_request = StringField(_l("Memory request"))
    cpu_limit = StringField(_l("CPU limit"))
    memory_limit = StringField(_l("Memory limit"))
    ports = FieldList(FormField(PortRow), min_entries=1)
    env = FieldList(FormField(EnvRow), min_entries=1)
    volumes = FieldList(FormField(MountRow), min_entries=1)
    command = StringField(_l("Command"), description=_l("overrides the image's entrypoint; shell-style quoting"))
    args = StringField(_l("Arguments"))
    workdir = StringField(_l("Working directory"))
    readiness = FormField(ReadinessForm, label=_l("Readiness"))
    liveness = FormField(LivenessForm, label=_l("Liveness"))
    session_affinity = BooleanField(_l("Session affinity (the same client keeps reaching the same pod)"))
    autoscale = BooleanField(_l("Autoscale on CPU (autoscaling/v1)"))
    min_replicas = StringField(_l("Minimum replicas"), default=AUTOSCALE_DEFAULTS["min_replicas"])
    max_replicas = StringField(_l("Maximum replicas"), default=AUTOSCALE_DEFAULTS["max_replicas"])
    cpu_target = StringField(_l("CPU target %"), default=AUTOSCALE_DEFAULTS["cpu_target"])
    token = HiddenField()   # a fingerprint of what the form owns (see services.apps.actions._check)

    def set_plans(self, plans, default: str = "") -> None:
        """The plan choices; a form not yet submitted starts on `default` (the default plan)."""
        self.plan.choices = [SelectChoice("", _l("Custom requests and limits"))] + [
            SelectChoice(p.name, p.label) for p in plans]
        if default and not self.is_submitted():
            self.plan.data = default

    def set_volumes(self, names) -> None:
        """The project's volumes as each mount row's choices (a name no longer there stays
        chosen, so that the row's message can say so)."""
        for row in self.volumes:
            current = row.form.volume.data or ""
            choices = [SelectChoice("", _l("(no volume)"))] + [SelectChoice(n, n) for n in names]
            if current and current not in names:
                choices.append(SelectChoice(current, current))
            row.form.volume.choices = choices

    def sections_set(self) -> dict[str, int]:
        """How many settings are made in each collapsed section (shown in its summary)."""
        probes = sum(1 for p in (self.readiness, self.liveness) if (p.form.kind.data or "none") != "none")
        return {
            "command": sum(1 for f in (self.command, self.args, self.workdir) if (f.data or "").strip()),
            "health": probes,
            "scaling": int(bool(self.session_affinity.data)) + int(bool(self.autoscale.data)),
            "volumes": sum(1 for row in self.volumes if (row.form.volume.data or "").strip()),
        }

    def section_errors(self) -> dict[str, bool]:
        """Which collapsed sections hold an error: those open, so the message is seen."""
        def bad(*fields):
            return any(f.errors for f in fields)
        return {
            "command": bad(self.command, self.args, self.workdir),
            "health": bad(*self.readiness.form, *self.liveness.form),
            "scaling": bad(self.session_affinity, self.autoscale, self.min_replicas, self.max_replicas,
                           self.cpu_target),
            "volumes": bad(*(f for row in self.volumes for f in row.form)),
        }


def form_from_spec(spec: AppSpec, token: str) -> AppForm:
    data = {
        "name": spec.name, "image": spec.image, "tag": spec.tag, "replicas": str(spec.replicas),
        "plan": spec.plan, "cpu_request": spec.cpu_request, "memory_request": spec.memory_request,
        "cpu_limit": spec.cpu_limit, "memory_limit": spec.memory_limit,
        "ports": [{"name": p.name, "protocol": p.protocol, "container_port": str(p.container_port),
                   "exposure": p.exposure, "node_port": str(p.node_port or "")} for p in spec.ports] or [{}],
        "env": [{"name": e.name, "source": "secret" if e.secret else "plain", "value": e.value,
                 "secret": e.secret, "key": e.key} for e in spec.env] or [{}],
        "volumes": [{"volume": v.claim, "mount_path": v.mount_path, "sub_path": v.sub_path,
                     "read_only": v.read_only} for v in spec.volumes] or [{}],
        "command": spec.command, "args": spec.args, "workdir": spec.workdir,
        "readiness": {"kind": spec.readiness.kind, "path": spec.readiness.path,
                      "port": str(spec.readiness.port or ""), "command": spec.readiness.command},
        "liveness": {"kind": spec.liveness.kind, "path": spec.liveness.path,
                     "port": str(spec.liveness.port or ""), "command": spec.liveness.command},
        "session_affinity": spec.session_affinity, "autoscale": spec.autoscale,
        "token": token,
    }
    if spec.autoscale:
        data.update({"min_replicas": str(spec.min_replicas), "max_replicas": str(spec.max_replicas),
                     "cpu_target": str(spec.cpu_target)})
    else:
        data.update(AUTOSCALE_DEFAULTS)
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


def attach_errors(form, errors: dict[str, str], hidden=()) -> None:
    """Each message beside the field whose id it names; ids of fields the page does not
    show (`hidden`) or does not have go to the form's general error area at the top."""
    by_id = {f.id: f for f in _fields(form) if f.id not in hidden}
    for field_id, message in errors.items():
        field = by_id.get(field_id)
        if field is not None:
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)


class ScaleForm(FlaskForm):
    replicas = StringField(_l("Replicas"))


class ImageForm(FlaskForm):
    image = StringField(_l("Image"))
    tag = StringField(_l("Tag"))
    token = HiddenField()   # the pod template's fingerprint, refreshed by the status poll


class RollbackForm(FlaskForm):
    revision = HiddenField()
    token = HiddenField()


class ConfirmForm(FlaskForm):
    confirm = StringField(_l("Type the app name to confirm"))
