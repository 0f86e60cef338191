"""Hummer's registry garbage collection, as an execution module (synced from salt://_modules).

    salt -C 'I@hummer:roles:registry' hummer_registry.gc /etc/docker/registry/config.yml
    salt -C 'I@hummer:roles:registry' hummer_registry.gc /etc/docker/registry/config.yml dry_run=False

`gc` runs `docker-registry garbage-collect [--dry-run] [--delete-untagged] <config>` (an
argument list, no shell), reads the blobs it names ("blob eligible for deletion: sha256:..."),
and measures, in the storage directory the config names, the bytes of those blobs (their
`data` files as they were before the run) and the storage's size before and after. It
neither stops nor starts the registry: the `registry.gc` state does, around a real run.
A dry run deletes nothing and may run while the registry serves.
"""
from __future__ import annotations

import os
import re
import subprocess

import yaml

__virtualname__ = "hummer_registry"

BLOB = re.compile(r"^blob eligible for deletion: (sha256:[0-9a-f]{64})\s*$", re.M)
MANIFEST = re.compile(r"^manifest eligible for deletion: (sha256:[0-9a-f]{64})\s*$", re.M)
BLOBS_DIR = ("docker", "registry", "v2", "blobs", "sha256")
OUTPUT_LIMIT = 4000


def __virtual__():
    return __virtualname__


def storage_root(config: str) -> str:
    """The filesystem storage's root directory named in the registry's config.yml."""
    with open(config, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle) or {}
    root = ((doc.get("storage") or {}).get("filesystem") or {}).get("rootdirectory")
    if not isinstance(root, str) or not os.path.isabs(root):
        raise ValueError(f"{config} names no absolute storage.filesystem.rootdirectory")
    return root


def blob_path(root: str, digest: str) -> str:
    """<root>/docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data"""
    hexdigest = digest.split(":", 1)[1]
    return os.path.join(root, *BLOBS_DIR, hexdigest[:2], hexdigest, "data")


def storage_bytes(root: str) -> int:
    """The bytes of every regular file under root (their sizes, not following links)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(folder, name)):
                total += st.st_size
    return total


def blob_sizes(root: str) -> dict[str, int]:
    """{digest: size of its data file} for every blob in the storage."""
    sizes = {}
    base = os.path.join(root, *BLOBS_DIR)
    for prefix in (os.listdir(base) if os.path.isdir(base) else []):
        for hexdigest in os.listdir(os.path.join(base, prefix)):
            data = os.path.join(base, prefix, hexdigest, "data")
            if re.fullmatch(r"[0-9a-f]{64}", hexdigest) and os.path.isfile(data):
                sizes[f"sha256:{hexdigest}"] = os.path.getsize(data)
    return sizes


def gc(config, dry_run=True, delete_untagged=False, binary="/usr/bin/docker-registry", user=None, timeout=3600):
    """Run garbage-collect on the registry whose config.yml is `config`; what it found or freed.

    Returns a dict: dry_run, retcode, blobs (the digests eligible for deletion, sorted),
    blob_count, manifests (untagged manifests eligible, with delete_untagged), bytes (the
    eligible blobs' bytes, measured before the run), storage_before, storage_after (bytes
    under the storage root), bytes_freed (before - after; 0 on a dry run), remaining (eligible
    blobs still present after a real run: none when it worked), output (the tool's output,
    its end), error (why it failed, else "").
    """
    config = str(config)
    if not os.path.isabs(config) or not os.path.isfile(config):
        return {"dry_run": bool(dry_run), "retcode": 2, "error": f"no registry configuration at {config}"}
    try:
        root = storage_root(config)
    except (OSError, ValueError, yaml.YAMLError) as error:
        return {"dry_run": bool(dry_run), "retcode": 2, "error": str(error)}
    argv = [str(binary), "garbage-collect"]
    if dry_run:
        argv.append("--dry-run")
    if delete_untagged:
        argv.append("--delete-untagged")
    argv.append(config)
    sizes = blob_sizes(root)
    before = storage_bytes(root)
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=float(timeout), user=user or None, check=False)
        output, retcode = done.stdout, done.returncode
    except (OSError, subprocess.SubprocessError) as error:
        output, retcode = str(error), 1
    blobs = sorted(set(BLOB.findall(output)))
    after = storage_bytes(root)
    remaining = [] if dry_run else [d for d in blobs if os.path.exists(blob_path(root, d))]
    error = ""
    if retcode != 0:
        error = f"garbage-collect exited {retcode}"
    elif remaining:
        error = f"{len(remaining)} eligible blob(s) still present after garbage-collect"
    return {
        "dry_run": bool(dry_run),
        "retcode": retcode,
        "blobs": blobs,
        "blob_count": len(blobs),
        "manifests": len(set(MANIFEST.findall(output))),
        "bytes": sum(sizes.get(d, 0) for d in blobs),
        "storage_before": before,
        "storage_after": after,
        "bytes_freed": 0 if dry_run else max(0, before - after),
        "remaining": remaining,
        "output": output[-OUTPUT_LIMIT:],
        "error": error,
    }
