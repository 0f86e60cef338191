"""A real Salt master, several minions and salt-api on 127.0.0.1 for tests and benchmarks.

    env = SaltEnv(minion_ids=["hm-master", "hm-node1", "hm-node2"]).start()
    env.salt("hm-master", "test.ping")           # the `salt` CLI, JSON-decoded
    env.salt_run("state.orchestrate", "orch.cluster", "test=True")
    env.write_cluster_pillar({...}); env.refresh_pillar()
    env.api_url, env.api_user, env.api_password, env.eauth   # salt-api (rest_cherrypy)
    env.stop()

Everything lives in one temporary directory: the master's and each minion's
config, root_dir, pki and cache, and a copy of the repository's `pillar/` tree
(so tests can write the generated cluster pillar without touching the work
tree). `file_roots` points at the repository's `salt_states/` itself.

Keys are pre-accepted: each minion's RSA key pair is generated here with
`cryptography` and its public half copied to the master's
`pki/master/minions/<id>` (`salt-key --gen-keys` prints a traceback in 3008.4).

Every daemon runs in its own session (process group); stop() terminates the
groups, waits, kills what is left and checks that no process of theirs remains.

Optionally the daemons run in network namespaces (tests/support/netns.py builds
them): `master_netns` holds salt-master, salt-api and every CLI helper (salt,
salt-run, salt-key: LocalClient talks to the master's ret_port over TCP), and
`minion_netns` maps minion ids to their namespaces; `master_interface` is the
master's `interface` and `master_address` what the minions use as `master`.
api_url then only answers inside master_netns (netns.NetnsSalt points it at a
forwarder). The defaults run everything here on 127.0.0.1, as before.

The minions run as root on this machine. Anything a test applies for real must
be harmless here; the Salt tree parameterises its paths through each
component's map so tests can redirect files into a temporary directory.
"""
from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.support.daemons import Daemon
from tests.support.processes import die_with_parent as _die_with_parent  # noqa: F401 (re-exported for tests and benches)
from tests.support.processes import free_port, port_open
from tests.support.salt_modules import unused_state_modules

REPO = Path(__file__).resolve().parents[2]
STATE_ROOT = REPO / "salt_states"
PILLAR_ROOT = REPO / "pillar"
GENERATED_PILLAR = Path("generated") / "cluster.yaml"
API_CLIENTS = ["local", "local_async", "runner", "runner_async", "wheel"]


class SaltEnvError(RuntimeError):
    pass


# The minions run as root on the test machine. This stand-in for apt-get sits
# first on their PATH: `apt-get update` (which salt's pkg states run even in
# test mode, to resolve "latest" versions) becomes a no-op, so tests never
# reach a package mirror; anything that would install or remove a package is
# refused, so a test can never change the machine's packages. dpkg-query and
# apt-cache (what test-mode pkg states read) are the real ones.
APT_GET_STANDIN = """#!/bin/sh
echo "$(date +%s) apt-get $*" >> "$(dirname "$0")/apt-get.log"
for a in "$@"; do
  case "$a" in
    update) echo "Hit:0 hummer-test-harness (apt-get update skipped)"; exit 0 ;;
  esac
done
echo "E: apt-get $* refused by the Hummer test harness (minions must not change packages here)" >&2
exit 100
"""

# The real apt-cache, with a binary package cache kept in the harness'
# directory: this machine's apt configuration turns the cache off, so every
# `apt-cache policy` of a test-mode pkg state would re-read all package lists
# (2 s instead of 0.1 s). Same answers, nothing written outside the harness.
APT_CACHE_WRAPPER = """#!/bin/sh
d="$(dirname "$0")"
exec /usr/bin/apt-cache -o Dir::Cache::pkgcache="$d/apt-pkgcache.bin" \\
  -o Dir::Cache::srcpkgcache="$d/apt-srcpkgcache.bin" "$@"
"""


# --------------------------------------------------------------------------- helpers

def venv_bin() -> Path:
    """The directory holding salt-master & co: the running interpreter's venv, else the repo's."""
    here = Path(sys.prefix) / "bin"
    if (here / "salt-master").exists():
        return here
    return REPO / ".venv" / "bin"


def make_keypair(pki_dir: Path, name: str) -> Path:
    """Write <name>.pem / <name>.pub (RSA 2048, PEM) the way salt expects; return the .pub path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pki_dir.mkdir(parents=True, exist_ok=True)
    pem = pki_dir / f"{name}.pem"
    pub = pki_dir / f"{name}.pub"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
    pem.chmod(0o400)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return pub


# --------------------------------------------------------------------------- the environment

class SaltEnv:
    """salt-master + N salt-minions + salt-api, all on 127.0.0.1, in one temp directory.

    Attributes after start(): root, config_dir (the master's config dir, for `-c`),
    master_id, minion_ids, api_url, api_user, api_password, eauth, pillar_dir,
    publish_port, ret_port, api_port, pids.
    """

    def __init__(self, minion_ids=("hm-master", "hm-node1", "hm-node2"), workdir=None, api: bool = True,
                 extra_file_roots=(), master_opts: dict | None = None, minion_opts: dict | None = None,
                 worker_threads: int = 5, master_netns: str | None = None, minion_netns: dict | None = None,
                 master_interface: str = "127.0.0.1", master_address: str = "127.0.0.1"):
        self.minion_ids = list(minion_ids)
        self._own_root = workdir is None
        self.root = Path(workdir or tempfile.mkdtemp(prefix="hummer-salt-"))
        self.api = api
        self.extra_file_roots = [str(p) for p in extra_file_roots]
        self.master_opts = master_opts or {}
        self.minion_opts = minion_opts or {}
        self.worker_threads = worker_threads
        self.master_netns = master_netns
        self.minion_netns = dict(minion_netns or {})
        self.master_interface = master_interface
        self.master_address = master_address
        # Where the master's ports answer inside its namespace.
        self._master_host = "127.0.0.1" if master_interface in ("0.0.0.0", "::") else master_interface
        self.bin = venv_bin()
        self.master_id = "hm-saltmaster"
        self.config_dir = self.root / "master" / "conf"
        self.pillar_dir = self.root / "pillar"
        self.api_user = "hummer"
        self.api_password = secrets.token_urlsafe(12)
        self.eauth = "file"
        self.publish_port = free_port()
        self.ret_port = free_port()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.daemons: dict[str, Daemon] = {}
        self._started = False

    # ----------------------------------------------------------------- config
    def _write_master(self):
        mroot = self.root / "master"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        users = mroot / "api-users"
        users.write_text(f"{self.api_user}:{self.api_password}\n")
        users.chmod(0o600)
        if not self.pillar_dir.exists():
            shutil.copytree(PILLAR_ROOT, self.pillar_dir,
                            ignore=shutil.ignore_patterns("cluster.yaml", "__pycache__"))
        (self.pillar_dir / "generated").mkdir(exist_ok=True)
        conf = {
            "id": self.master_id,
            "user": "root",
            "root_dir": str(mroot),
            "pki_dir": str(mroot / "pki"),
            "cachedir": str(mroot / "cache"),
            "sock_dir": str(mroot / "sock"),
            "pidfile": str(mroot / "salt-master.pid"),
            "log_file": str(mroot / "master.log"),
            "api_logfile": str(mroot / "api.log"),
            "api_pidfile": str(mroot / "salt-api.pid"),
            "key_logfile": str(mroot / "key.log"),
            "log_level": "warning",
            "log_level_logfile": "info",
            "interface": self.master_interface,
            "publish_port": self.publish_port,
            "ret_port": self.ret_port,
            "worker_threads": self.worker_threads,
            "auto_accept": False,
            "file_roots": {"base": [str(STATE_ROOT)] + self.extra_file_roots},
            "pillar_roots": {"base": [str(self.pillar_dir)]},
            "timeout": 10,
            "gather_job_timeout": 10,
            "keep_jobs_seconds": 3600,
            "netapi_enable_clients": API_CLIENTS,
            # the orchestrations' state loader: only the modules the tree names (salt_modules.py)
            "disable_states": list(unused_state_modules()),
            "external_auth": {"file": {
                "^filename": str(users),
                "^hashtype": "plaintext",
                self.api_user: [".*", "@runner", "@wheel", "@jobs"],
            }},
            "rest_cherrypy": {"host": "127.0.0.1", "port": self.api_port, "disable_ssl": True},
        }
        conf.update(self.master_opts)
        (self.config_dir / "master").write_text(yaml.safe_dump(conf, sort_keys=False))
        (mroot / "pki" / "minions").mkdir(parents=True, exist_ok=True)

    def _write_standins(self):
        bin_dir = self.root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, text in (("apt-get", APT_GET_STANDIN), ("apt-cache", APT_CACHE_WRAPPER)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        if Path("/usr/bin/apt-cache").exists():
            # Build the binary cache once, before the minions race to build it.
            subprocess.run([str(bin_dir / "apt-cache"), "-q", "policy", "apt"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
        self.minion_env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")

    @property
    def apt_get_log(self) -> list[str]:
        """The apt-get calls the minions made (each a line "<time> apt-get <args>")."""
        try:
            return (self.root / "bin" / "apt-get.log").read_text().splitlines()
        except OSError:
            return []

    def _write_minion(self, mid: str) -> Path:
        mroot = self.root / "minions" / mid
        conf_dir = mroot / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        pki = mroot / "pki"
        if not (pki / "minion.pem").exists():
            pub = make_keypair(pki, "minion")
            shutil.copy(pub, self.root / "master" / "pki" / "minions" / mid)
        conf = {
            "id": mid,
            "user": "root",
            "master": self.master_address,
            "master_port": self.ret_port,
            "publish_port": self.publish_port,
            "root_dir": str(mroot),
            "pki_dir": str(pki),
            "cachedir": str(mroot / "cache"),
            "sock_dir": str(mroot / "sock"),
            "pidfile": str(mroot / "salt-minion.pid"),
            "log_file": str(mroot / "minion.log"),
            "log_level": "warning",
            "log_level_logfile": "info",
            "state_events": True,
            "enable_fqdns_grains": False,
            "enable_gpu_grains": False,
            "acceptance_wait_time": 1,
            "acceptance_wait_time_max": 2,
            "random_reauth_delay": 0,
            "recon_default": 200,
            "recon_max": 1000,
            "grains": {"hummer_test_minion": True},
            # each state job's loader: only the modules the tree names (salt_modules.py)
            "disable_states": list(unused_state_modules()),
            # Jobs in threads of the minion, with the loader it has already built, instead of
            # a process per job that builds its own: an orchestration step in test mode took
            # about 3 s, now about 1.5 s (the states' own time is ~0.5 s either way). Results,
            # events, saltutil.running and the job cache are the same; a real node's minion
            # (the `minion` formula) keeps Salt's default.
            "multiprocessing": False,
        }
        conf.update(self.minion_opts)
        (conf_dir / "minion").write_text(yaml.safe_dump(conf, sort_keys=False))
        return conf_dir

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 90.0) -> "SaltEnv":
        atexit.register(self.stop)
        t0 = time.monotonic()
        self._write_master()
        self._write_standins()
        for mid in self.minion_ids:
            self._write_minion(mid)
        self.daemons["master"] = Daemon("salt-master", self._netns_argv(self.master_netns) + [
                                            str(self.bin / "salt-master"), "-c", str(self.config_dir)],
                                        self.root / "master" / "stdout.log", error=SaltEnvError)
        self._wait_master(t0 + timeout)
        for mid in self.minion_ids:
            self.start_minion(mid)
        if self.api:
            self.daemons["api"] = Daemon("salt-api", self._netns_argv(self.master_netns) + [
                                             str(self.bin / "salt-api"), "-c", str(self.config_dir)],
                                         self.root / "master" / "api-stdout.log", error=SaltEnvError)
        self._started = True
        self.wait_minions(self.minion_ids, deadline=t0 + timeout)
        if self.api:
            self._wait_api(t0 + timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_master(self, deadline: float):
        sock = self.root / "master" / "sock" / "master_event_pub.ipc"
        master = self.daemons["master"]
        try:
            master.wait_ready(lambda: (self._master_port_open(self.ret_port)
                                       and self._master_port_open(self.publish_port) and sock.exists()),
                              timeout=max(0.0, deadline - time.monotonic()), interval=0.2)
        except AssertionError:
            raise SaltEnvError(f"salt-master not ready; log:\n{master.tail()}") from None

    def _wait_api(self, deadline: float):
        import requests
        url = self.api_url if not self.master_netns else f"http://127.0.0.1:{self.api_port}"

        def login():
            return requests.post(url + "/login", json={
                "username": self.api_user, "password": self.api_password, "eauth": self.eauth}, timeout=5)

        def logged_in() -> bool:
            if not self._in_master_netns(port_open, self.api_port):
                return False
            try:
                return self._in_master_netns(login).status_code == 200
            except requests.RequestException:
                return False
        api = self.daemons["api"]
        try:
            api.wait_ready(logged_in, timeout=max(0.0, deadline - time.monotonic()), interval=0.3)
        except AssertionError:
            raise SaltEnvError(f"salt-api not ready; log:\n{api.tail()}") from None

    @staticmethod
    def _netns_argv(netns: str | None) -> list[str]:
        """argv prefix running a daemon or command in a network namespace ([] without one)."""
        if not netns:
            return []
        from tests.support.netns import exec_prefix
        return exec_prefix(netns)

    def _in_master_netns(self, fn, *args):
        """fn(*args), in a thread inside the master's namespace when it has one."""
        if not self.master_netns:
            return fn(*args)
        from tests.support.netns import run_in_netns
        return run_in_netns(self.master_netns, fn, *args)

    def _master_port_open(self, port: int) -> bool:
        if not self.master_netns:
            return port_open(port)
        return self._in_master_netns(port_open, port, self._master_host)

    def start_minion(self, mid: str):
        """Start (or restart) one minion; a restarted minion refuses to start while the old one lives."""
        if mid not in self.minion_ids:
            self.minion_ids.append(mid)
        conf_dir = self._write_minion(mid)
        old = self.daemons.get(f"minion:{mid}")
        if old is not None:
            left = old.stop()
            if left:
                raise SaltEnvError(f"old minion {mid} still alive: {left}")
        self.daemons[f"minion:{mid}"] = Daemon(f"salt-minion {mid}", self._netns_argv(self.minion_netns.get(mid)) + [
                                               str(self.bin / "salt-minion"), "-c", str(conf_dir)],
                                               self.root / "minions" / mid / "stdout.log", env=self.minion_env,
                                               error=SaltEnvError)

    def stop_minion(self, mid: str) -> list[int]:
        d = self.daemons.pop(f"minion:{mid}", None)
        return d.stop() if d else []

    def add_minions(self, ids, timeout: float = 120.0):
        for mid in ids:
            self.start_minion(mid)
        self.wait_minions(list(ids), deadline=time.monotonic() + timeout)

    def wait_minions(self, ids, deadline: float):
        pending = set(ids)
        while pending:
            for mid in list(pending):
                self.daemons[f"minion:{mid}"].check()
            if time.monotonic() > deadline:
                raise SaltEnvError(f"minions not answering: {sorted(pending)}; "
                                   f"log of one:\n{self.daemons[f'minion:{sorted(pending)[0]}'].tail()}")
            try:
                res = self.salt("-L", ",".join(sorted(pending)), "test.ping", timeout=5, check=False)
            except SaltEnvError:
                res = {}
            pending -= {m for m, v in (res or {}).items() if v is True}
            if pending:
                time.sleep(1)

    def stop(self, grace: float = 3.0):
        """Stop everything: minions and salt-api together, then the master; leave no process behind.

        A salt-minion takes about 10 s to honour SIGTERM; after `grace` seconds
        the process groups get SIGKILL (nothing of a test minion needs saving).
        """
        if not self.daemons:
            return
        leftovers = {}
        others = [n for n in self.daemons if n != "master"]
        for name in others:
            self.daemons[name].signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name in others:
            left = self.daemons[name].reap(deadline)
            if left:
                leftovers[name] = left
        if "master" in self.daemons:
            left = self.daemons["master"].stop(grace)
            if left:
                leftovers["master"] = left
        self.daemons.clear()
        if self._own_root and not os.environ.get("HUMMER_KEEP_SALT_ENV"):
            shutil.rmtree(self.root, ignore_errors=True)
        if leftovers:
            raise SaltEnvError(f"processes left behind: {leftovers}")

    @property
    def pids(self) -> dict[str, int]:
        return {n: d.pid for n, d in self.daemons.items()}

    # ----------------------------------------------------------------- CLI
    def _cli(self, prog: str, args, timeout: float, check: bool, out_json: bool = True):
        argv = self._netns_argv(self.master_netns) + [str(self.bin / prog), "-c", str(self.config_dir)]
        if out_json:
            argv += ["--out=json", "--out-indent=-1"]
        argv += [str(a) for a in args]
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=timeout + 30, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise SaltEnvError(f"{' '.join(argv)} timed out") from e
        if check and p.returncode not in (0, 1, 11, 20):
            # 1: some minion returned False; 11: a minion did not return; 20: orchestration state failed
            raise SaltEnvError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr[-3000:]}\n{p.stdout[-3000:]}")
        self.last_cli = p
        if not out_json:
            return p.stdout
        return _parse_json_stream(p.stdout)

    def salt(self, *args, timeout: float = 60, check: bool = True):
        """`salt -c CONF --out=json --static ARGS...`; returns {minion: return}."""
        return self._cli("salt", ["--static", "-t", str(int(timeout))] + list(args), timeout, check)

    def salt_run(self, *args, timeout: float = 300, check: bool = True, pass_timeout: bool = True):
        """`salt-run -c CONF --out=json [-t TIMEOUT] ARGS...`; returns the runner's return.

        pass_timeout=False runs it as an operator would (the master's timeout);
        `timeout` then only bounds the wait for the command.
        """
        extra = ["-t", str(int(timeout))] if pass_timeout else []
        return self._cli("salt-run", extra + list(args), timeout, check)

    def salt_key(self, *args, timeout: float = 30, check: bool = True):
        return self._cli("salt-key", list(args), timeout, check)

    # ----------------------------------------------------------------- pillar
    @property
    def cluster_pillar_path(self) -> Path:
        return self.pillar_dir / GENERATED_PILLAR

    def write_cluster_pillar(self, data: dict) -> Path:
        """Write the generated cluster pillar the way the portal does."""
        from portal.adapters.pillar_file import write_cluster_pillar
        return write_cluster_pillar(self.cluster_pillar_path, data)

    def cluster_pillar_stamp(self) -> tuple | None:
        """What tells whether the generated cluster pillar was written since: its mtime, size
        and content (None when there is none)."""
        try:
            stat = self.cluster_pillar_path.stat()
            return stat.st_mtime_ns, stat.st_size, self.cluster_pillar_path.read_bytes()
        except FileNotFoundError:
            return None

    def remove_cluster_pillar(self):
        self.cluster_pillar_path.unlink(missing_ok=True)

    def refresh_pillar(self, ids=None):
        ids = ids or self.minion_ids
        return self.salt("-L", ",".join(ids), "saltutil.refresh_pillar", "wait=True", timeout=30)


def _parse_json_stream(text: str):
    """salt's --out=json prints one JSON document (or several, one per minion without --static)."""
    text = text.strip()
    if not text:
        return None
    dec = json.JSONDecoder()
    docs, i = [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            # Non-JSON noise (a warning line); skip it.
            nl = text.find("\n", i)
            if nl < 0:
                break
            i = nl + 1
            continue
        docs.append(obj)
    if len(docs) == 1:
        return docs[0]
    merged = {}
    for d in docs:
        if isinstance(d, dict):
            merged.update(d)
    return merged
