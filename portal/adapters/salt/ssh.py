"""salt-ssh: run Salt on a host that is not a minion yet, over SSH. Nothing here knows Flask.

    ssh = SaltSSH(config_dir="instance/salt-ssh", file_roots=["salt_states"])
    host = Target(minion_id="k8s-node3", host="192.0.2.13", port=22, user="root",
                  private_key="-----BEGIN OPENSSH PRIVATE KEY-----\n...")   # or password="..."
    ssh.grains(host)                       # {"os": "Debian", "osrelease": "12"}: connects, checks python3
    ssh.apply(host, "minion", pillar={"hummer": {"minion": {...}}})   # {state key: result}

It runs the venv's own `salt-ssh` (beside sys.executable) as a subprocess with a
configuration directory of its own (`config_dir`): a `master` file (root_dir, cachedir,
pki_dir, file_roots, an empty pillar_roots, known_hosts_file), the `known_hosts` the
host keys are kept in, and salt-ssh's cache (the thin tarball) and log. Each call writes
a roster (mode 0600, `#!yaml` so nothing in it is templated) and, for a pasted private
key, the key (0600) into a private temporary directory, and deletes both when salt-ssh
has finished; nothing secret stays on disk.

Host keys: trust on first use. The first connection to host:port records its key
(StrictHostKeyChecking=accept-new, UserKnownHostsFile=<config_dir>/known_hosts); a
different key later is refused (SSHHostKeyChanged) until someone removes the old one.

Errors: SaltSSHError is the base; SSHAuthError (the key or password was refused, a key
with a passphrase, sudo wanting a password), SSHUnreachable (connection refused, no route,
timeout, unknown name), SSHHostKeyChanged, SSHNoPython (no python3 on the host),
SaltSSHStateFailed (a state failed: .state_id, .comment, .results).

Notes on salt-ssh 3008.4 (salt/client/ssh/__init__.py, shell.py, roster/flat.py):
- Options verified by running it: `salt-ssh -c DIR --roster-file FILE --out=json --static
  [-w] ID FUN ARGS...`. `-t` means --regen-thin in salt-ssh, not a timeout; the remote
  command has no time limit of its own, so this adapter kills the process group after
  `timeout` seconds (salt-ssh also retries a failing thin deploy for ever).
- After "Permission denied" salt-ssh asks on stdin whether to deploy its own key
  (`input("[Y/n]")`); we answer "n" on stdin, so it never changes the host's
  authorized_keys and never dies of EOFError. The prompt text precedes the JSON on stdout.
- The master option `ssh_priv: agent-forwarding` keeps salt-ssh from generating a key of its
  own (pki_dir/ssh/salt-ssh.rsa) and from passing any IdentityFile but the roster's; being
  truthy, it also gives ssh salt's "key" options (UserKnownHostsFile from known_hosts_file,
  no StrictHostKeyChecking of salt's), so ours (accept-new) from the roster's ssh_options
  win. With a password alone, PubkeyAuthentication=no; SSH_AUTH_SOCK is dropped.
- The remote shim runs with `set_path` as PATH: a login shell's PATH may put a shell-script
  `python3` (pyenv shims) first, which the shim's `set -u` cannot run.
- Remote sshd needs the sftp subsystem: OpenSSH 9's scp (the thin's upload) speaks SFTP.
"""
from __future__ import annotations

import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from portal.adapters.salt.results import state_outcome

__all__ = ["SaltSSHError", "SSHAuthError", "SSHUnreachable", "SSHHostKeyChanged", "SSHNoPython", "UnsafeTarget",
           "SaltSSHStateFailed", "SaltSSHNoAnswer", "Target", "SaltSSH"]

# The allow-list every roster value is checked against just before salt-ssh runs (check_target).
SAFE_MINION_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?\Z")
SAFE_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z")
SAFE_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
SAFE_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")
SAFE_IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}\Z")
REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TEXT_LIMIT = 2000


# --------------------------------------------------------------------------- errors

class SaltSSHError(Exception):
    """Base of every error this adapter raises; `detail` holds salt-ssh's own words."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class SSHAuthError(SaltSSHError):
    """The host refused the key or password (or sudo wants a password, or the key a passphrase)."""


class SSHUnreachable(SaltSSHError):
    """Nothing answers SSH at host:port (refused, no route, timeout, unknown name)."""


class SSHHostKeyChanged(SaltSSHError):
    """The host key differs from the one recorded on first use."""


class SSHNoPython(SaltSSHError):
    """The host has no python3, which salt-ssh needs."""


class UnsafeTarget(SaltSSHError):
    """A roster value (host, port, user, minion id) is outside the allow-list; nothing was run.

    salt-ssh 3008.4 joins its ssh command into one string and splits it on spaces, so a
    value with a space, a quote or an option (`-oProxyCommand=...`) would become ssh options
    and run commands on the portal's host. `field` names the value refused."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class SaltSSHStateFailed(SaltSSHError):
    """A state failed; state_id and comment name the first cause, results hold every state."""

    def __init__(self, message: str, state_id: str = "", comment: str = "", results: Any = None,
                 detail: str = ""):
        super().__init__(message, detail)
        self.state_id = state_id
        self.comment = comment
        self.results = results


def _trim(text: str, limit: int = TEXT_LIMIT) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


class SaltSSHNoAnswer(SaltSSHError):
    """salt-ssh ended without a usable return for the host (no JSON for it, or no state results):
    nothing says the host refused anything, so trying once more is reasonable."""


# --------------------------------------------------------------------------- the host

@dataclass
class Target:
    """One host to reach: the minion id it is (to be) known by, and how to log in."""

    minion_id: str
    host: str
    port: int = 22
    user: str = "root"
    private_key: str = ""
    password: str = ""

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"


def check_target(target: Target) -> None:
    """Refuse (UnsafeTarget) any host, port, user or minion id outside the allow-list.

    host: a plain IPv4 address, an IPv6 address without a zone id, or an RFC 1123 host name;
    port: an int 1-65535; user: a POSIX user name; minion id: letters, digits, '.', '_', '-'."""
    host = target.host if isinstance(target.host, str) else ""
    if not _safe_host(host):
        raise UnsafeTarget(f"Refused to run salt-ssh: {host[:80]!r} is not a plain IP address or host name.", "host")
    port = target.port
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UnsafeTarget(f"Refused to run salt-ssh: the port {str(port)[:20]!r} is not 1-65535.", "port")
    if not isinstance(target.user, str) or not SAFE_USER.match(target.user):
        raise UnsafeTarget(f"Refused to run salt-ssh: {str(target.user)[:40]!r} is not a user name.", "user")
    if not isinstance(target.minion_id, str) or not SAFE_MINION_ID.match(target.minion_id):
        raise UnsafeTarget(f"Refused to run salt-ssh: {str(target.minion_id)[:80]!r} is not a minion id.",
                           "minion_id")


def _safe_host(host: str) -> bool:
    if SAFE_IPV4.match(host):
        return True
    if ":" in host:
        if not SAFE_IPV6.match(host):
            return False
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if not host or len(host) > 253 or host.replace(".", "").isdigit():
        return False
    return all(SAFE_HOST_LABEL.match(label) for label in host.split("."))


# --------------------------------------------------------------------------- the client

class SaltSSH:
    """salt-ssh with a configuration directory of its own."""

    def __init__(self, config_dir: str | os.PathLike, file_roots: list[str | os.PathLike], *,
                 bin_dir: str | os.PathLike | None = None, connect_timeout: int = 15,
                 remote_path: str = REMOTE_PATH):
        self.config_dir = Path(config_dir).resolve()
        self.file_roots = [str(Path(p).resolve()) for p in file_roots]
        self.bin = Path(bin_dir or Path(sys.executable).parent) / "salt-ssh"
        self.connect_timeout = connect_timeout
        self.remote_path = remote_path

    @property
    def known_hosts(self) -> Path:
        return self.config_dir / "known_hosts"

    # ----------------------------------------------------------------- configuration
    def prepare(self) -> Path:
        """Write (or refresh) the master config; keep known_hosts. Return the config dir."""
        root = self.config_dir
        for sub in ("", "pillar", "cache", "pki", "sock", "calls"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        (root / "calls").chmod(0o700)
        if not self.known_hosts.exists():
            fd = os.open(self.known_hosts, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        conf = {
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "root_dir": str(root),
            "pki_dir": str(root / "pki"),
            "cachedir": str(root / "cache"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "master.log"),
            "ssh_log_file": str(root / "ssh.log"),
            "log_level_logfile": "warning",
            "file_roots": {"base": self.file_roots},
            "pillar_roots": {"base": [str(root / "pillar")]},
            "known_hosts_file": str(self.known_hosts),
            # No key of salt-ssh's own (it would generate pki/ssh/salt-ssh.rsa): a roster entry
            # brings the pasted key, or logs in with its password alone.
            "ssh_priv": "agent-forwarding",
            # ssh's ConnectTimeout for an entry without `timeout` is ssh_timeout + timeout;
            # our roster entries set `timeout` themselves.
            "ssh_timeout": max(1, self.connect_timeout - 5),
            "timeout": 5,
        }
        text = "# Written by the Hummer portal (portal/adapters/salt/ssh.py) for salt-ssh.\n"
        text += yaml.safe_dump(conf, sort_keys=False)
        path = root / "master"
        if not path.exists() or path.read_text() != text:
            fd, tmp = tempfile.mkstemp(prefix=".master-", dir=root)  # calls may run side by side
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        return root

    def _roster(self, target: Target, key_file: Path | None) -> dict:
        options = ["StrictHostKeyChecking=accept-new", f"UserKnownHostsFile={self.known_hosts}"]
        entry: dict[str, Any] = {
            "host": target.host, "port": int(target.port), "user": target.user,
            "identities_only": True, "set_path": self.remote_path,
            "timeout": self.connect_timeout,
        }
        if key_file is not None:
            entry["priv"] = str(key_file)
        if target.password:
            entry["passwd"] = target.password
            if key_file is None:
                options.append("PubkeyAuthentication=no")
        if target.user != "root":
            entry["sudo"] = True
        entry["ssh_options"] = options
        return {target.minion_id: entry}

    # ----------------------------------------------------------------- calls
    def grains(self, target: Target, items=("os", "osrelease"), timeout: float = 180) -> dict:
        """Connect and read grains: proves the login, the host key and python3 on the host."""
        ret = self.run(target, ["grains.item", *items], timeout=timeout)
        if not isinstance(ret, dict) or _is_failure(ret):
            raise self._failure(target, ret)
        return ret

    def apply(self, target: Target, mods: str, pillar: dict | None = None, test: bool = False,
              timeout: float = 1800, wipe: bool = True) -> dict:
        """state.apply MODS on the host; return {state key: result}, or raise SaltSSHStateFailed.

        wipe: remove salt-ssh's files from the host afterwards (its thin in /var/tmp).
        """
        args = ["state.apply", mods]
        if pillar:
            args.append("pillar=" + json.dumps(pillar, separators=(",", ":")))
        if test:
            args.append("test=True")
        ret = self.run(target, args, timeout=timeout, wipe=wipe)
        if isinstance(ret, list):  # render errors
            text = "\n".join(map(str, ret))
            raise SaltSSHStateFailed(f"{mods} could not be rendered on {target.minion_id}: {_trim(text, 500)}",
                                     comment=_trim(text), results=ret, detail=text)
        if not isinstance(ret, dict) or _is_failure(ret):
            raise self._failure(target, ret)
        outcome = state_outcome(ret)
        if not outcome.states:
            raw = json.dumps(ret, indent=2, default=str)
            raise SaltSSHNoAnswer(f"salt-ssh returned no state results for {mods} on {target.minion_id}: "
                                  f"{_trim(raw, 500)}", detail=raw)
        cause = outcome.first_failure(causes_first=True)
        if cause is not None:
            raise SaltSSHStateFailed(f"State {cause.state_id} failed on {target.minion_id}: "
                                     f"{_trim(cause.comment, 500)}",
                                     state_id=cause.state_id, comment=cause.comment, results=ret)
        return ret

    def run(self, target: Target, args: list[str], timeout: float = 600, wipe: bool = False) -> Any:
        """Run `salt-ssh ... ID ARGS`; return what the host returned (parsed JSON), unclassified."""
        check_target(target)  # before anything is written or spawned
        self.prepare()
        if not target.private_key and not target.password:
            raise SSHAuthError(f"Give a private key or a password to log in to {target.where}.")
        workdir = Path(tempfile.mkdtemp(prefix="call-", dir=self.config_dir / "calls"))
        try:
            key_file = None
            if target.private_key:
                key_file = workdir / "id"
                _write_private(key_file, _normalise_key(target.private_key))
            roster = workdir / "roster"
            _write_private(roster, "#!yaml\n" + yaml.safe_dump(self._roster(target, key_file), sort_keys=False))
            argv = [str(self.bin), "-c", str(self.config_dir), "--roster-file", str(roster),
                    "--out=json", "--static"]
            if wipe:
                argv.append("--wipe")
            argv += [target.minion_id, *args]
            stdout, stderr, code = self._spawn(argv, timeout, target)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        ret = _host_return(stdout, target.minion_id)
        if ret is _MISSING:
            raise SaltSSHNoAnswer(f"salt-ssh gave no answer for {target.minion_id} (exit {code}): "
                               f"{_trim(stderr or stdout, 500)}", detail=_trim(stderr + stdout, 10000))
        return ret

    def _spawn(self, argv: list[str], timeout: float, target: Target) -> tuple[str, str, int]:
        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        env.pop("SSH_AUTH_SOCK", None)  # never the portal user's agent keys
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True, close_fds=True, env=env)
        try:
            # "n": never let salt-ssh deploy its own key after a refused login.
            stdout, stderr = proc.communicate("n\n" * 4, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            stdout, stderr = proc.communicate()
            raise SaltSSHError(f"salt-ssh did not finish on {target.where} within {int(timeout)} s and was "
                               "stopped.", detail=_trim((stderr or "") + (stdout or ""), 10000))
        except BaseException:
            _kill_group(proc)
            raise
        return stdout or "", stderr or "", proc.returncode

    # ----------------------------------------------------------------- errors
    def _failure(self, target: Target, ret: Any) -> SaltSSHError:
        """Map a failed host return (a string, or salt-ssh's error dict) to an error a person can act on."""
        if isinstance(ret, dict):
            text = "\n".join(str(ret.get(k) or "") for k in ("stderr", "stdout", "_error") if ret.get(k))
        else:
            text = str(ret)
        where = target.where
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
            fingerprint = re.search(r"(SHA256:[A-Za-z0-9+/=]+)", text)
            host = f"[{target.host}]:{target.port}" if int(target.port) != 22 else target.host
            return SSHHostKeyChanged(
                f"The SSH host key of {target.host}:{target.port} has changed since the portal first connected"
                f"{' (it now offers ' + fingerprint.group(1) + ')' if fingerprint else ''}; refused, as someone may "
                f"be intercepting the connection. If the host was reinstalled, remove its old key with "
                f"`ssh-keygen -f {self.known_hosts} -R '{host}'` and add it again.", detail=_trim(text, 10000))
        if "Unable to locate appropriate python command" in text or "Python version error" in text:
            return SSHNoPython(f"{where} has no python3, which salt-ssh needs: install python3 on the host "
                               "(apt-get install python3) and try again.", detail=_trim(text, 10000))
        if "need passphrase" in text:
            return SSHAuthError(f"The private key for {where} is protected by a passphrase; paste a key "
                                "without one (or use the password).", detail=_trim(text, 10000))
        if re.search(r"sudo.*password|Sudo password is required", text, re.I):
            return SSHAuthError(f"{target.user} on {target.host} needs a password for sudo: give the password, "
                                "or allow it sudo without one.", detail=_trim(text, 10000))
        if re.search(r"Permission denied|Password authentication failed|no authentication information|"
                     r"Too many authentication failures", text):
            how = "key" if target.private_key else "password"
            return SSHAuthError(f"{where} refused the login: the {how} was not accepted "
                                f"({_last_line(text)}).", detail=_trim(text, 10000))
        if re.search(r"Connection refused|No route to host|Connection timed out|timed out during banner|"
                     r"Could not resolve hostname|Name or service not known|Network is unreachable|"
                     r"Connection reset|Connection closed by", text, re.I):
            return SSHUnreachable(f"No SSH server answers at {target.host}:{target.port} "
                                  f"({_last_line(text)}). Check the address and port, and that sshd runs "
                                  "and the firewall lets the portal in.", detail=_trim(text, 10000))
        return SaltSSHError(f"salt-ssh failed on {where}: {_trim(_last_line(text) or text, 500)}",
                            detail=_trim(text, 10000))


# --------------------------------------------------------------------------- helpers

_MISSING = object()


def _is_failure(ret: dict) -> bool:
    """salt-ssh's error dict ({stdout, stderr, retcode, _error, ...}) rather than a function's return."""
    return "_error" in ret or ({"stderr", "retcode"} <= set(ret) and "stdout" in ret)


def _host_return(stdout: str, minion_id: str) -> Any:
    """The host's entry of the JSON document on stdout (salt-ssh may print a prompt before it)."""
    dec = json.JSONDecoder()
    for match in re.finditer(r"\{", stdout):
        try:
            obj, _ = dec.raw_decode(stdout, match.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and minion_id in obj:
            return obj[minion_id]
    return _MISSING


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].rstrip(".") if lines else ""


def _normalise_key(text: str) -> str:
    """A pasted key: CRLF from a browser's textarea to LF, and the final newline OpenSSH insists on."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip() + "\n"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
