"""A real OpenSSH server on 127.0.0.1 for tests: Debian's /usr/sbin/sshd with a config of its own.

    server = SSHD().start()                 # a free port, a fresh host key, nobody authorized yet
    private, public = server.client_key("admin")   # an ed25519 key pair (OpenSSH text)
    server.authorize(public)                # root may log in with it
    server.port, server.host_fingerprint
    server.new_host_key()                   # the same port, another host key (a "reinstalled" host)
    server.stop()

`./hummer test` installs openssh-server without starting the system's sshd; this one runs
`sshd -D -e -f <tmp>/sshd_config` in a session (process group) of its own, with its host key,
AuthorizedKeysFile and PidFile in the temporary directory, PermitRootLogin prohibit-password
and no password logins, and stop() ends its whole process group. The remote side of every
test connection is this machine as root, as a new cluster host would be.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.support.daemons import Daemon
from tests.support.processes import free_port

SSHD_BIN = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; the system service creates it


class SSHDError(RuntimeError):
    pass


def keygen(path: Path, comment: str = "hummer-test") -> tuple[str, str]:
    """An ed25519 key pair at path / path.pub; return (private text, public line)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=30)
    return path.read_text(), Path(f"{path}.pub").read_text().strip()


class SSHD:
    def __init__(self, workdir: str | os.PathLike | None = None, port: int | None = None):
        if not SSHD_BIN.exists():
            raise SSHDError(f"{SSHD_BIN} is missing: `./hummer test` installs Debian's openssh-server "
                            "(apt-get install openssh-server)")
        self._own = workdir is None
        self.root = Path(workdir or tempfile.mkdtemp(prefix="hummer-sshd-"))
        self.port = port or free_port()
        self.config = self.root / "sshd_config"
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.authorized_keys = self.root / "authorized_keys"
        self.daemon: Daemon | None = None
        self.host_fingerprint = ""

    def _write(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            keygen(self.host_key, "hummer-test-host")
            self.host_fingerprint = subprocess.run(
                ["ssh-keygen", "-l", "-f", f"{self.host_key}.pub"], capture_output=True, text=True,
                check=True).stdout.split()[1]
        self.authorized_keys.touch(mode=0o600, exist_ok=True)
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"PidFile {self.root / 'sshd.pid'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The temp dir sits under /tmp (world-writable): StrictModes would refuse the keys file.
            "StrictModes no",
            # OpenSSH 9's scp (salt-ssh's upload) speaks SFTP.
            "Subsystem sftp internal-sftp",
            "PrintMotd no",
            "LogLevel VERBOSE",
            "",
        ]))

    def start(self, timeout: float = 20) -> "SSHD":
        if not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._write()
        check = subprocess.run([str(SSHD_BIN), "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode:
            raise SSHDError(f"sshd -t refused {self.config}: {check.stderr.strip()}")
        self.daemon = Daemon("sshd", [str(SSHD_BIN), "-D", "-e", "-f", str(self.config)], self.root / "sshd.log",
                             error=SSHDError)
        try:
            self.daemon.wait_ready(self._banner, timeout=timeout)
        except AssertionError:
            raise SSHDError(f"sshd did not answer on 127.0.0.1:{self.port}; log:\n{self.daemon.tail()}") from None
        return self

    def _banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def client_key(self, name: str) -> tuple[str, str]:
        """A new client key pair (not authorized yet): (private text, public line)."""
        path = self.root / "clients" / name
        path.parent.mkdir(exist_ok=True)
        for p in (path, Path(f"{path}.pub")):
            p.unlink(missing_ok=True)
        return keygen(path, f"hummer-test-{name}")

    def authorize(self, public_line: str) -> None:
        with open(self.authorized_keys, "a") as fh:
            fh.write(public_line.strip() + "\n")

    def new_host_key(self) -> str:
        """Restart on the same port with another host key (as a reinstalled host); its fingerprint."""
        self.stop(keep=True)
        for p in (self.host_key, Path(f"{self.host_key}.pub")):
            p.unlink(missing_ok=True)
        self.start()
        return self.host_fingerprint

    def log(self) -> str:
        return self.daemon.tail(200) if self.daemon else ""

    def stop(self, keep: bool = False) -> None:
        if self.daemon is not None:
            left = self.daemon.stop(grace=5)
            self.daemon = None
            if left:
                raise SSHDError(f"sshd processes left behind: {left}")
        if not keep and self._own and not os.environ.get("HUMMER_KEEP_SSHD"):
            shutil.rmtree(self.root, ignore_errors=True)
