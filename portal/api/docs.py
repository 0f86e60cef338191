"""The OpenAPI 3.1 document, generated from the routes and their models by SpecTree, and
the reference page (Swagger UI, vendored). Both are public: they hold no data."""
from __future__ import annotations

from flask import current_app, render_template

from portal.api.core import PREFIX, bp, spec
from portal.api.logs import NDJSON
from portal.api.problems import MEDIA_TYPE
from portal.api.volume_files import document_raw_bodies
from portal.converters import RepositoryName

_DOCUMENT: dict | None = None


def _problems_as_problem_json(node) -> None:
    """Error answers are application/problem+json (RFC 9457), not application/json."""
    if isinstance(node, dict):
        content = node.get("content")
        if isinstance(content, dict) and "application/json" in content:
            ref = (content["application/json"].get("schema") or {}).get("$ref", "")
            if ref == "#/components/schemas/Problem":
                content[MEDIA_TYPE] = content.pop("application/json")
        for value in node.values():
            _problems_as_problem_json(value)
    elif isinstance(node, list):
        for value in node:
            _problems_as_problem_json(value)


def _repository_parameters(paths: dict) -> None:
    """SpecTree knows Werkzeug's own converters only: the images' <repository:...> parameter
    gets its schema here, the registry's grammar as a pattern."""
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("schema") is None:
                    parameter["schema"] = {"type": "string", "pattern": f"^(?:{RepositoryName.regex})$",
                                           "maxLength": 255}
                    parameter["description"] = ("The full repository name, such as shop/web; its '/' "
                                                "stay as they are in the path.")


def document() -> dict:
    global _DOCUMENT
    if _DOCUMENT is None:
        doc = dict(spec.spec)
        doc["servers"] = [{"url": "/"}]
        _problems_as_problem_json(doc["paths"])
        _repository_parameters(doc["paths"])
        follow = doc["paths"][PREFIX + "/projects/{name}/apps/{app}/logs/follow"]["get"]
        follow["responses"]["200"] = {
            "description": "One JSON object per line (NDJSON): {\"pod\": ..., \"line\": ...}, or {} to keep "
                           "the connection alive.",
            "content": {NDJSON: {"schema": {"type": "string"}}}}
        document_raw_bodies(doc["paths"], PREFIX)
        _DOCUMENT = doc
    return _DOCUMENT


@bp.get("/openapi.json")
def openapi():
    return current_app.json.response(document())


@bp.get("/docs")
def docs():
    return render_template("api/docs.html", prefix=PREFIX)
