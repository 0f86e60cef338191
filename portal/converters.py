"""URL converters the page blueprints and the API share (registered in create_app)."""
from __future__ import annotations

from werkzeug.routing import BaseConverter


class RepositoryName(BaseConverter):
    """A repository name as the registry's grammar has it (portal.adapters.registry.REPOSITORY):
    path parts of lower-case letters and digits joined by '.', '_', '__' or dashes."""

    regex = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    part_isolating = False


CONVERTERS = {"repository": RepositoryName}
