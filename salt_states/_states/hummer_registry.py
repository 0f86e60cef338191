"""Hummer's registry garbage collection, as a state (synced from salt://_states).

    registry-gc-hummer_registry-collected:
      hummer_registry.collected:
        - name: /etc/docker/registry/config.yml
        - delete_untagged: True

In test mode (`state.apply registry.gc test=True`) it runs garbage-collect with --dry-run,
which deletes nothing: the result is None when blobs would be deleted, with what and how
many bytes in `changes`. A real run collects and reports the blobs deleted and the bytes
freed (the storage measured before and after). The measuring is the execution module's
(salt://_modules/hummer_registry.py).
"""
from __future__ import annotations

__virtualname__ = "hummer_registry"


def __virtual__():
    return __virtualname__


def _gib(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def collected(name, delete_untagged=False, binary="/usr/bin/docker-registry", user=None, timeout=3600):
    """Garbage-collect the registry whose config.yml is `name` (in test mode: a dry run)."""
    test = bool(__opts__.get("test"))  # noqa: F821 - the Salt loader provides it
    gc = __salt__["hummer_registry.gc"]  # noqa: F821
    found = gc(name, dry_run=test, delete_untagged=delete_untagged, binary=binary, user=user, timeout=timeout)
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    summary = {k: found.get(k) for k in ("blobs", "blob_count", "manifests", "bytes", "storage_before",
                                         "storage_after", "bytes_freed")}
    if found.get("error"):
        ret["result"] = False
        ret["comment"] = f"{found['error']}. Its output:\n{found.get('output', '')}".strip()
        ret["changes"] = summary if found.get("retcode") == 0 else {}
        return ret
    count, size = found["blob_count"], found["bytes"]
    if test:
        ret["comment"] = (f"{count} blob(s), {_gib(size)}, would be deleted (garbage-collect --dry-run)"
                          if count else "No blob is eligible for deletion.")
        if count:
            ret["result"] = None
            ret["changes"] = summary
        return ret
    ret["comment"] = (f"{count} blob(s) deleted, {_gib(found['bytes_freed'])} freed "
                      f"({_gib(found['storage_before'])} -> {_gib(found['storage_after'])})"
                      if count else "No blob was eligible for deletion.")
    if count or found["bytes_freed"]:
        ret["changes"] = summary
    return ret
