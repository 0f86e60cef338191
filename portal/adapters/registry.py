"""The private registry (Docker Distribution, Debian's docker-registry): its HTTP API v2, as a
thin client with errors of its own.

    registry = Registry("http://10.0.1.5:5000", username="hummer", password="...")
    registry.catalog()                      # every repository, page by page (Link: rel="next")
    registry.tags("shop/web")               # [] for a repository whose tags were all deleted
    m = registry.manifest("shop/web", "1.0")   # Docker schema 2, OCI, manifest lists, indexes
    m.digest, m.media_type, m.layers, m.config, m.size
    registry.delete("shop/web", m.digest)   # by digest only, as the registry requires
    registry.mount("shop/api", digest, source="shop/web") or registry.upload("shop/api", chunks, digest)
    registry.put_manifest("shop/api", "1.0", raw, media_type)

What the registry does that a client must know (verified against docker-registry 2.8):
  * A manifest is read with an Accept header naming every type we take: without one an OCI
    manifest is 404 and a schema 2 manifest comes back converted to schema 1 (another digest).
  * A blob is pushed with POST, then the bytes, then PUT ?digest= (a single POST with a body
    is not supported); the Location of each answer says where the next request goes.
  * Deletion is by digest only (a tag gives 400), and only where the config says
    storage.delete.enabled (405 otherwise: DeletionDisabled says how to enable it). After the
    last tag goes, the tag list is JSON null and the repository stays in the catalog.

Errors (RegistryError, each with a short `message` for an operator; services translate):
Unreachable (no connection, a timeout, 5xx after retries), Unauthorized (401 and 403: the
credentials), NotFound (404: no such repository, tag, manifest or blob), DeletionDisabled
(405 on a delete), Refused (any other 4xx, with the registry's error codes), BadName (a
repository, tag or digest the registry would refuse: checked before any request, so a name
never becomes another path). urllib3's Retry retries what nothing reached, and the
idempotent requests on 502, 503 and 504, honouring Retry-After.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["Registry", "Manifest", "RegistryError", "Unreachable", "Unauthorized", "NotFound",
           "DeletionDisabled", "Refused", "BadName", "MANIFEST_TYPES", "check_repository",
           "check_tag", "check_digest"]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
LISTS = frozenset({OCI_INDEX, DOCKER_LIST})
RETRY_STATUS = (502, 503, 504)
BODY_LIMIT = 300

# The distribution reference grammar (github.com/distribution/reference): path components of
# lower-case letters and digits joined by one separator; a tag of at most 128 word characters,
# dots and dashes, not starting with either; a sha256 digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)  # \w as the registry means it: [A-Za-z0-9_]
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
REPOSITORY_MAX = 255
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RegistryError(Exception):
    """Base of every error this adapter raises; `message` is short and safe to show."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None, codes: tuple[str, ...] = ()):
        message = " ".join(str(message).split())
        if len(message) > BODY_LIMIT:
            message = message[:BODY_LIMIT - 1] + "…"
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.codes = codes


class Unreachable(RegistryError):
    """No connection, no answer in time, or 5xx after the retries."""


class Unauthorized(RegistryError):
    """401 or 403: no credentials, wrong ones, or a user the registry does not let in."""


class NotFound(RegistryError):
    status = 404


class DeletionDisabled(RegistryError):
    status = 405


class Refused(RegistryError):
    """Any other 4xx: the registry's error codes are in `codes` (DIGEST_INVALID, ...)."""


class BadName(RegistryError):
    """A repository, tag or digest the registry would refuse (no request was sent)."""

    status = 400


def check_repository(name: str) -> str:
    if not isinstance(name, str) or len(name) > REPOSITORY_MAX or not REPOSITORY.fullmatch(name):
        raise BadName(f"{name!r} is not a repository name: lower-case letters and digits, "
                      "parts joined by '.', '_', '__' or '-', path parts by '/'.")
    return name


def check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise BadName(f"{tag!r} is not a tag: up to 128 letters, digits, '_', '.' and '-', "
                      "not starting with '.' or '-'.")
    return tag


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise BadName(f"{digest!r} is not a sha256 digest.")
    return digest


def _check_reference(reference: str) -> str:
    return check_digest(reference) if reference.startswith("sha256:") else check_tag(reference)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry stores it: `raw` is the exact bytes, `digest` their sha256."""

    repository: str
    reference: str
    digest: str
    media_type: str
    raw: bytes
    data: dict

    @property
    def is_list(self) -> bool:
        return self.media_type in LISTS

    @property
    def config(self) -> Descriptor | None:
        c = self.data.get("config")
        return _descriptor(c) if c else None

    @property
    def layers(self) -> list[Descriptor]:
        return [_descriptor(d) for d in self.data.get("layers") or []]

    @property
    def children(self) -> list[Descriptor]:
        """A list's (index's) manifests, one per platform."""
        return [_descriptor(d) for d in self.data.get("manifests") or []]

    @property
    def size(self) -> int:
        """The compressed size of the image: the sum of its layers (0 for a list)."""
        return sum(d.size for d in self.layers)


def _descriptor(d: dict) -> Descriptor:
    return Descriptor(d.get("mediaType", ""), d.get("digest", ""), int(d.get("size") or 0),
                      dict(d.get("platform") or {}))


class Registry:
    """A client of one registry, with basic auth when given a username."""

    def __init__(self, url: str, username: str = "", password: str = "", *, timeout: float = 30.0,
                 connect_timeout: float = 5.0, retries: int = 3, backoff: float = 0.3,
                 verify: bool | str = True, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.timeout = (connect_timeout, timeout)
        self.verify = verify
        self.session = session or requests.Session()
        if username:
            self.session.auth = (username, password)
        again = max(0, retries - 1)
        adapter = HTTPAdapter(max_retries=Retry(
            total=again, connect=again, read=again, redirect=0, other=0, status=again,
            status_forcelist=RETRY_STATUS, backoff_factor=backoff, respect_retry_after_header=True,
            raise_on_status=False))  # allowed_methods: urllib3's idempotent ones (not POST, PATCH)
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, adapter)

    # ----------------------------------------------------------------- transport
    def _request(self, method: str, path: str, what: str, *, expect=(200,), **kw) -> requests.Response:
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("verify", self.verify)
        try:
            response = self.session.request(method, self.url + path, **kw)
        except requests.exceptions.Timeout as exc:
            raise Unreachable(f"The registry at {self.url} did not answer in time ({what}).") from exc
        except requests.exceptions.ConnectionError as exc:
            raise Unreachable(f"Cannot connect to the registry at {self.url} ({what}): "
                              f"{_reason(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise Unreachable(f"The registry at {self.url} failed ({what}): {exc}") from exc
        if response.status_code not in expect:
            raise _error(response, what, self.url, method)
        return response

    # ----------------------------------------------------------------- reading
    def ping(self) -> None:
        """The API answers and takes our credentials (GET /v2/)."""
        self._request("GET", "/v2/", "checking the API")

    def catalog(self, page_size: int = 100) -> list[str]:
        return list(self.iter_catalog(page_size))

    def iter_catalog(self, page_size: int = 100) -> Iterator[str]:
        """Every repository, following the Link header page by page."""
        path = f"/v2/_catalog?n={int(page_size)}"
        seen: set[str] = set()
        while path:
            response = self._request("GET", path, "listing repositories")
            for name in response.json().get("repositories") or []:
                yield name
            path = _next_page(response.headers.get("Link", ""), seen)

    def tags(self, repository: str) -> list[str]:
        """The repository's tags, sorted; [] where every tag was deleted (the registry says null)."""
        check_repository(repository)
        found: list[str] = []
        path, seen = f"/v2/{repository}/tags/list?n=1000", set()
        while path:
            response = self._request("GET", path, f"listing the tags of {repository}")
            found.extend(response.json().get("tags") or [])
            path = _next_page(response.headers.get("Link", ""), seen)
        return sorted(found)

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest a tag or digest names, as stored (every type accepted: see the docstring)."""
        check_repository(repository)
        _check_reference(reference)
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}",
                                 f"reading {repository}:{reference}",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
        raw = response.content
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        stated = response.headers.get("Docker-Content-Digest", digest)
        if stated != digest or (reference.startswith("sha256:") and reference != digest):
            raise Refused(f"The registry sent a manifest for {repository}:{reference} whose content "
                          f"does not match its digest ({stated}).")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise Refused(f"The manifest of {repository}:{reference} is not JSON.") from exc
        media_type = data.get("mediaType") or response.headers.get("Content-Type", "").split(";")[0]
        return Manifest(repository, reference, digest, media_type, raw, data)

    def digest(self, repository: str, tag: str) -> str:
        """The digest a tag points to now (a HEAD, no body)."""
        check_repository(repository)
        _check_reference(tag)
        response = self._request("HEAD", f"/v2/{repository}/manifests/{tag}", f"resolving {repository}:{tag}",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
        return response.headers.get("Docker-Content-Digest", "")

    def blob_exists(self, repository: str, digest: str) -> bool:
        check_repository(repository)
        check_digest(digest)
        try:
            self._request("HEAD", f"/v2/{repository}/blobs/{digest}", f"checking blob {digest[:19]}")
        except NotFound:
            return False
        return True

    def blob_json(self, repository: str, digest: str, limit: int = 1 << 20) -> dict:
        """A small JSON blob (an image's config), checked against its digest."""
        check_repository(repository)
        check_digest(digest)
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}", f"reading blob {digest[:19]}",
                                 stream=True)
        with response:
            body = response.raw.read(limit + 1, decode_content=True)
        if len(body) > limit:
            raise Refused(f"Blob {digest[:19]} of {repository} is larger than {limit} bytes.")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise Refused(f"Blob {digest[:19]} of {repository} does not match its digest.")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise Refused(f"Blob {digest[:19]} of {repository} is not JSON.") from exc

    # ----------------------------------------------------------------- pushing
    def mount(self, repository: str, digest: str, source: str) -> bool:
        """Link a blob that `source` already holds into `repository`, with no bytes sent (the
        registry's cross-repository mount). False when it does not hold it (the upload the
        registry then opened is cancelled)."""
        check_repository(repository)
        check_repository(source)
        check_digest(digest)
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source}",
                                 f"mounting blob {digest[:19]}", expect=(201, 202))
        if response.status_code == 201:
            return True
        self.cancel(self._location(response, repository))
        return False

    def upload(self, repository: str, chunks: Iterable[bytes], digest: str | None = None) -> tuple[str, int]:
        """Upload one blob from `chunks` (an iterable of bytes: a file read piece by piece, a
        stream); its digest and size. The registry checks the bytes against `digest`, or,
        without one, against the sha256 computed while they stream. One POST opens the
        upload, one PATCH streams the chunks (chunked transfer encoding: the blob is never
        held whole), one PUT ?digest= closes it; on any failure the upload is cancelled, and
        what was sent becomes garbage for the collector."""
        check_repository(repository)
        if digest is not None:
            check_digest(digest)
        opened = self._request("POST", f"/v2/{repository}/blobs/uploads/", f"starting an upload to {repository}",
                               expect=(202,))
        location = self._location(opened, repository)
        hashed, sent = hashlib.sha256(), [0]

        def counted():
            for chunk in chunks:
                if chunk:
                    hashed.update(chunk)
                    sent[0] += len(chunk)
                    yield chunk
        try:
            patched = self._request("PATCH", location, f"uploading to {repository}", expect=(202,),
                                    data=counted(), headers={"Content-Type": "application/octet-stream"})
            location = self._location(patched, repository)
            digest = digest or "sha256:" + hashed.hexdigest()
            self._request("PUT", _with_query(location, "digest", digest), f"finishing {digest[:19]}",
                          expect=(201,), headers={"Content-Length": "0"})
        except BaseException:
            self.cancel(location)
            raise
        return digest, sent[0]

    def cancel(self, location: str) -> None:
        """Cancel an open upload (best effort: the registry forgets it in any case)."""
        try:
            self._request("DELETE", location, "cancelling an upload", expect=(204, 404))
        except RegistryError:
            pass

    def put_manifest(self, repository: str, tag: str, raw: bytes, media_type: str) -> str:
        """Store a manifest under `tag` (or at its digest); the digest, checked against `raw`."""
        check_repository(repository)
        _check_reference(tag)
        if media_type not in MANIFEST_TYPES:
            raise BadName(f"{media_type!r} is not a manifest type this registry client pushes.")
        response = self._request("PUT", f"/v2/{repository}/manifests/{tag}", f"tagging {repository}:{tag}",
                                 expect=(201,), data=raw, headers={"Content-Type": media_type})
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        stated = response.headers.get("Docker-Content-Digest", digest)
        if stated != digest:
            raise Refused(f"The registry stored {repository}:{tag} as {stated}, not {digest}.")
        return digest

    def _location(self, response: requests.Response, repository: str) -> str:
        """The upload's path from a Location header, which must stay on this registry and
        this repository's uploads (a registry is not allowed to send us elsewhere)."""
        location = response.headers.get("Location", "")
        parts = urlsplit(location)
        base = urlsplit(self.url)
        if parts.netloc and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise Refused(f"The registry sent the upload of {repository} to another address ({parts.netloc}).")
        if not parts.path.startswith(f"/v2/{repository}/blobs/uploads/"):
            raise Refused(f"The registry gave no usable upload location for {repository}.")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # ----------------------------------------------------------------- changing
    def delete(self, repository: str, digest: str) -> None:
        """Delete the manifest `digest` names, and with it every tag that points to it."""
        check_repository(repository)
        check_digest(digest)  # a tag is refused by the registry (400): refuse it here first
        self._request("DELETE", f"/v2/{repository}/manifests/{digest}", f"deleting {repository}@{digest[:19]}",
                      expect=(202,))


def _with_query(location: str, key: str, value: str) -> str:
    path, _, query = location.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != key]
    return f"{path}?{urlencode(pairs + [(key, value)])}"


def _next_page(link: str, seen: set[str]) -> str:
    """The path of the next page from a Link header ('' when there is none, or it repeats)."""
    match = _NEXT.search(link or "")
    if not match:
        return ""
    target = match.group(1)
    if "://" in target:  # an absolute URL: keep only its path (the registry is the one we ask)
        target = "/" + target.split("://", 1)[1].split("/", 1)[-1]
    if not target.startswith("/v2/") or target in seen:
        return ""
    seen.add(target)
    return target


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host",
                  "Network is unreachable", "certificate verify failed"):
        if known in text:
            return known.lower()
    return text[:120]


def _error(response: requests.Response, what: str, url: str, method: str) -> RegistryError:
    status = response.status_code
    codes, detail = (), ""
    try:
        errors = response.json().get("errors") or []
        codes = tuple(str(e.get("code", "")) for e in errors)
        detail = "; ".join(str(e.get("message", "")) for e in errors if e.get("message"))
    except (ValueError, AttributeError):
        detail = response.text[:BODY_LIMIT] if method != "HEAD" else ""
    if status in (401, 403):
        return Unauthorized(f"The registry at {url} refused the credentials ({what}): "
                            f"{detail or response.reason}.", status, codes)
    if status == 404:
        return NotFound(f"Not found in the registry ({what}){': ' + detail if detail else ''}.", status, codes)
    if status == 405 and method == "DELETE":
        return DeletionDisabled(
            f"Deletion is disabled on the registry at {url}. Enable it with storage.delete.enabled "
            "in its config.yml (pillar hummer:registry:delete_enabled, then apply registry.config) "
            "and restart the registry.", status, codes)
    if status >= 500:
        return Unreachable(f"The registry at {url} failed ({what}): {status} {detail or response.reason}.",
                           status, codes)
    return Refused(f"The registry refused {what}: {status} {detail or response.reason}.", status, codes)
