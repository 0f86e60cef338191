"""The volume pages' forms. As elsewhere, the services judge the values; the forms carry
them and the CSRF token."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

ACCESS_MODES = [SelectChoice("ReadWriteMany", _l("ReadWriteMany: many nodes read and write (NFS)")),
                SelectChoice("ReadWriteOnce", _l("ReadWriteOnce: one node reads and writes")),
                SelectChoice("ReadOnlyMany", _l("ReadOnlyMany: many nodes read"))]


class VolumeForm(FlaskForm):
    name = StringField(_l("Volume name"), description=_l("lower-case letters, digits and '-', e.g. %(example)s",
                                                         example="data"))
    capacity = StringField(_l("Capacity"), default="1Gi", description=_l("e.g. 500Mi, 10Gi"))
    access_mode = SelectField(_l("Access mode"), choices=ACCESS_MODES, validate_choice=False,
                              default="ReadWriteMany")
    description = TextAreaField(_l("Description"))


class ResizeForm(FlaskForm):
    capacity = StringField(_l("New capacity"))


class ConfirmForm(FlaskForm):
    confirm = StringField(_l("Type the volume name to confirm"))


class FolderForm(FlaskForm):
    path = HiddenField()
    name = StringField(_l("New folder"))


class RenameForm(FlaskForm):
    path = HiddenField()
    new = StringField(_l("New name"))


class UploadForm(FlaskForm):
    """Shown only: the script sends each chosen file as one request body."""
    overwrite = BooleanField(_l("Replace files of the same name"))
