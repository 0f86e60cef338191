"""Several "hosts" on one test machine: Linux network namespaces joined by a bridge.

    lan = Lan(["n1", "n2", "n3"]).create()   # needs root and `ip netns`
    lan.salt_ns                              # "hmt<pid>-salt": the Salt master's namespace, bridge "lan", 10.213.0.1
    lan.ns("n2"), lan.address("n2")          # "hmt<pid>-n2", "10.213.0.12"
    lan.run("n2", "ss", "-Hltn")             # ip netns exec hmt<pid>-n2 ss -Hltn
    lan.block("n3", lan.address("n1"))      # n3 can no longer reach n1 (a "prohibit" route in n3)
    lan.unblock("n3", lan.address("n1"))
    lan.delete()

    fwd = TcpForwarder(lan.salt_ns, "127.0.0.1", 8001).start()   # 127.0.0.1:<fwd.port> here -> salt ns
    run_in_netns(lan.salt_ns, port_open, 8001)                    # any callable, inside a namespace

    salt = NetnsSalt(["n1", "n2", "n3"]).start()   # Lan + SaltEnv + forwarder; .env, .lan, .forwarder
    salt.stop()

Layout. Everything lives in namespaces this module creates; nothing is added to the
root namespace's interfaces or routes. The namespace `<prefix>salt` holds a bridge `lan`
with the master address (10.213.0.1/24); each host `<prefix>nK` has `eth0` with
10.213.0.(10+K)/24, the other end of a veth pair whose first end (`v-nK`) is a port of
that bridge. Both ends are created inside the namespaces, so no interface ever appears
in the root namespace. `lo` is up everywhere. There is no default route: traffic can only
go to the lan or stay on a namespace's own loopback.

Names. The prefix is `hmt<pid>-` (the creating process). At create() namespaces with this
kind of prefix whose creator process is gone (a crashed earlier run) are deleted, after
killing the processes still inside them. delete() (also registered with atexit) kills
whatever still runs in this Lan's namespaces and deletes them; their veths and the
bridge go with them.

Reaching inside from the test process. setns(2) on a network namespace changes only
the calling thread, and a socket keeps the namespace it was created in. run_in_netns()
runs a callable in a short-lived thread moved into the namespace; NetnsSockets is a
dedicated thread living in the namespace that creates sockets for others; TcpForwarder
listens on 127.0.0.1 in the root namespace and opens each outgoing connection with such
a socket, so pytest and the portal under test reach salt-api with a plain URL.
"""
from __future__ import annotations

import atexit
import ctypes
import ipaddress
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
STALE = re.compile(r"^hmt(\d+)-")
DEFAULT_SUBNET = "10.213.0.0/24"  # only ever used inside the namespaces below
BRIDGE = "lan"


class NetnsError(RuntimeError):
    pass


# --------------------------------------------------------------------------- basics

def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (None when they can): root and a working `ip netns`."""
    if os.geteuid() != 0:
        return "network namespaces need root (the test process runs as uid %d)" % os.geteuid()
    if not Path(IP).exists():
        return "the `ip` command (iproute2) is not installed"
    try:
        p = subprocess.run([IP, "netns", "list"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`ip netns list` failed: {error}"
    if p.returncode != 0:
        return f"`ip netns list` failed: {p.stderr.strip()}"
    return None


def ip(*args, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    p = subprocess.run([IP, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise NetnsError(f"ip {' '.join(map(str, args))}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def exec_prefix(name: str | None) -> list[str]:
    """argv prefix that runs a command inside namespace `name` ([] for None: here)."""
    return [IP, "netns", "exec", name] if name else []


def namespaces() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]


def pids_in(name: str) -> list[int]:
    p = ip("netns", "pids", name, check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_and_delete(name: str) -> list[int]:
    """SIGKILL what still runs in namespace `name` (never this process), delete it; return the pids killed."""
    killed = []
    for _ in range(50):
        pids = [p for p in pids_in(name) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    ip("netns", "delete", name, check=False)
    return sorted(set(killed))


def clean_stale() -> list[str]:
    """Delete namespaces `hmt<pid>-*` whose creator process is gone; return their names."""
    gone = []
    for name in namespaces():
        m = STALE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _kill_and_delete(name)
            gone.append(name)
    return gone


# --------------------------------------------------------------------------- entering a namespace

_libc = None


def _setns(name: str) -> None:
    """Move the calling thread into network namespace `name`."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in_netns(name: str | None, fn, *args, **kw):
    """fn(*args, **kw) in a fresh thread inside namespace `name` (here when None); its result or exception."""
    if not name:
        return fn(*args, **kw)
    box: dict = {}

    def target():
        try:
            _setns(name)
            box["result"] = fn(*args, **kw)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            box["error"] = error

    t = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


class NetnsSockets:
    """A dedicated thread inside a namespace that creates sockets there for other threads."""

    def __init__(self, name: str):
        self.name = name
        self._requests: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=f"netns-sockets-{name}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise NetnsError(f"cannot enter namespace {name}: {self._error}") from self._error

    def _serve(self):
        try:
            _setns(self.name)
        except BaseException as error:  # noqa: BLE001
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        while True:
            item = self._requests.get()
            if item is None:
                return
            args, box, done = item
            try:
                box["sock"] = socket.socket(*args)
            except BaseException as error:  # noqa: BLE001
                box["error"] = error
            done.set()

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM) -> socket.socket:
        if not self._thread.is_alive():
            raise NetnsError(f"the socket thread of {self.name} has stopped")
        box: dict = {}
        done = threading.Event()
        self._requests.put(((family, type), box, done))
        if not done.wait(10):
            raise NetnsError(f"no socket from namespace {self.name}")
        if "error" in box:
            raise box["error"]
        return box["sock"]

    def close(self):
        self._requests.put(None)
        self._thread.join(5)


# --------------------------------------------------------------------------- the forwarder

class _Connection:
    """One forwarded connection: a thread per direction; closed when both are done."""

    GRACE = 2.0  # after one side's EOF, how long the other direction may still run

    def __init__(self, forwarder: "TcpForwarder", client: socket.socket, upstream: socket.socket):
        self.forwarder, self.client, self.upstream = forwarder, client, upstream
        self.lock = threading.Lock()
        self.running = 2
        self.closed = False
        self.serial = 0  # set by the forwarder: its accept count when this connection was opened
        self.bytes = {"up": 0, "down": 0}
        self.threads = [threading.Thread(target=self._pump, args=(client, upstream, "up"), daemon=True,
                                         name="fwd-up"),
                        threading.Thread(target=self._pump, args=(upstream, client, "down"), daemon=True,
                                         name="fwd-down")]

    def start(self):
        for t in self.threads:
            t.start()

    def abort(self):
        with self.lock:
            if self.closed:
                return
            for s in (self.client, self.upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str):
        try:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    self.abort()
                    break
                if not data:  # EOF: pass it on, give the other direction a moment to finish
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    self._watch_other()
                    break
                try:
                    dst.sendall(data)
                except OSError:
                    self.abort()
                    break
                self.bytes[direction] += len(data)
        finally:
            with self.lock:
                self.running -= 1
                if self.running == 0:
                    self.closed = True
                    for s in (self.client, self.upstream):
                        s.close()
            if self.closed:
                self.forwarder._done(self)

    def _watch_other(self):
        """A stream (salt-api's /events) never ends on its own: abort it GRACE s after the other side's EOF."""
        def watchdog():
            deadline = time.monotonic() + self.GRACE
            while time.monotonic() < deadline:
                with self.lock:
                    if self.running == 0:
                        return
                time.sleep(0.1)
            self.abort()
        threading.Thread(target=watchdog, daemon=True, name="fwd-grace").start()


class TcpForwarder:
    """127.0.0.1:<port> in this namespace -> host:port inside namespace `netns`, both ways.

    Each accepted connection gets an outgoing socket made inside the namespace (by a
    NetnsSockets thread) and two pump threads. An EOF on one side is passed on as a
    half-close; a connection whose other side has not finished GRACE seconds later
    (a long-lived stream whose client left) is shut down. close() stops listening,
    shuts every connection down and waits for the threads.
    """

    def __init__(self, netns: str, host: str, port: int, listen_host: str = "127.0.0.1"):
        self.netns, self.host, self.target_port = netns, host, port
        self.listen_host = listen_host
        self.port = 0
        self.connections: set[_Connection] = set()
        self.accepted = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: NetnsSockets | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.port}"

    @property
    def active(self) -> int:
        with self._lock:
            return len(self.connections)

    def start(self) -> "TcpForwarder":
        self._sockets = NetnsSockets(self.netns)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.listen_host, 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"fwd-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(client,), daemon=True, name="fwd-open").start()

    def _open(self, client: socket.socket):
        upstream = None
        try:
            upstream = self._sockets.socket()
            upstream.settimeout(10)
            upstream.connect((self.host, self.target_port))
            upstream.settimeout(None)
        except (OSError, NetnsError):
            with self._lock:
                self.failed += 1
            if upstream is not None:
                upstream.close()
            client.close()  # the client sees the connection closed, as with nothing listening
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(self, client, upstream)
        with self._lock:
            if self._closed:
                conn.abort()
            self.accepted += 1
            conn.serial = self.accepted
            self.connections.add(conn)
        conn.start()

    def _done(self, conn: _Connection):
        with self._lock:
            self.connections.discard(conn)

    def open_since(self, accepted: int = 0) -> int:
        """How many connections accepted after the `accepted`-th are still open."""
        with self._lock:
            return sum(c.serial > accepted for c in self.connections)

    def wait_idle(self, timeout: float = 15, since: int = 0) -> bool:
        """Wait until every connection accepted after the `since`-th is closed; True if so."""
        deadline = time.monotonic() + timeout
        while self.open_since(since) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.open_since(since)

    def close(self, timeout: float = 10):
        self._closed = True
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.abort()
        deadline = time.monotonic() + timeout
        for conn in conns:
            for t in conn.threads:
                t.join(max(0.1, deadline - time.monotonic()))
        if self._sockets is not None:
            self._sockets.close()
        left = self.active
        if left:
            raise NetnsError(f"forwarder to {self.netns}: {left} connection(s) would not close")


# --------------------------------------------------------------------------- the lan

class Lan:
    """A bridge in the Salt master's namespace and one namespace per host, joined by veth pairs."""

    def __init__(self, hosts=("n1", "n2", "n3"), subnet: str = DEFAULT_SUBNET, prefix: str | None = None):
        self.subnet = ipaddress.ip_network(subnet)
        self.prefix = prefix or f"hmt{os.getpid()}-"
        self.salt_ns = self.prefix + "salt"
        base = self.subnet.network_address
        self.master_address = str(base + 1)
        self.hosts = list(hosts)
        if len(self.hosts) > 200:
            raise ValueError("at most 200 hosts")
        self._addresses = {h: str(base + 11 + i) for i, h in enumerate(self.hosts)}
        self.created: list[str] = []
        self.blocked: set[tuple[str, str]] = set()
        self.stale_removed: list[str] = []

    def ns(self, host: str) -> str:
        if host not in self._addresses:
            raise KeyError(f"no host {host!r} on this lan ({', '.join(self.hosts)})")
        return self.prefix + host

    def address(self, host: str) -> str:
        return self._addresses[host] if host != "salt" else self.master_address

    @property
    def names(self) -> list[str]:
        return [self.salt_ns] + [self.ns(h) for h in self.hosts]

    def create(self) -> "Lan":
        atexit.register(self.delete)
        self.stale_removed = clean_stale()
        existing = set(namespaces())
        clash = [n for n in self.names if n in existing]
        if clash:
            raise NetnsError(f"namespaces already exist: {clash} (another Lan of this process?)")
        plen = self.subnet.prefixlen
        try:
            self._add_ns(self.salt_ns)
            ip("-n", self.salt_ns, "link", "add", BRIDGE, "type", "bridge")
            ip("-n", self.salt_ns, "addr", "add", f"{self.master_address}/{plen}", "dev", BRIDGE)
            ip("-n", self.salt_ns, "link", "set", BRIDGE, "up")
            for h in self.hosts:
                ns = self.ns(h)
                self._add_ns(ns)
                port = f"v-{h}"[:15]
                ip("-n", self.salt_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
                ip("-n", self.salt_ns, "link", "set", port, "master", BRIDGE, "up")
                ip("-n", ns, "addr", "add", f"{self.address(h)}/{plen}", "dev", "eth0")
                ip("-n", ns, "link", "set", "eth0", "up")
            self._check()
        except BaseException:
            self.delete()
            raise
        return self

    def _add_ns(self, name: str):
        ip("netns", "add", name)
        self.created.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def _check(self, timeout: float = 10):
        """Every host reaches the master's address over TCP (a listener in the salt namespace)."""
        listener = run_in_netns(self.salt_ns, socket.socket)
        try:
            listener.bind((self.master_address, 0))
            listener.listen(len(self.hosts) + 1)
            port = listener.getsockname()[1]
            for h in self.hosts:
                deadline = time.monotonic() + timeout
                while True:
                    if run_in_netns(self.ns(h), _connects, self.master_address, port):
                        break
                    if time.monotonic() > deadline:
                        raise NetnsError(f"{h} ({self.address(h)}) cannot reach {self.master_address}")
                    time.sleep(0.1)
                listener.accept()[0].close()
        finally:
            listener.close()

    def exec_prefix(self, host: str) -> list[str]:
        return exec_prefix(self.salt_ns if host == "salt" else self.ns(host))

    def run(self, host: str, *argv, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a command inside a host's namespace ("salt" for the master's)."""
        p = subprocess.run(self.exec_prefix(host) + [str(a) for a in argv], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise NetnsError(f"{' '.join(map(str, argv))} in {host}: exit {p.returncode}: {p.stderr.strip()}")
        return p

    def connects(self, host: str, address: str, port: int, timeout: float = 2) -> bool:
        """Can `host` open a TCP connection to address:port (from its own namespace)?"""
        return run_in_netns(self.salt_ns if host == "salt" else self.ns(host), _connects, address, port, timeout)

    def block(self, host: str, address: str, kind: str = "prohibit"):
        """Make `address` unreachable from `host` (a prohibit/blackhole/unreachable route in its namespace)."""
        ip("-n", self.ns(host), "route", "add", kind, f"{address}/32")
        self.blocked.add((host, address))

    def unblock(self, host: str, address: str):
        ip("-n", self.ns(host), "route", "del", f"{address}/32")
        self.blocked.discard((host, address))

    def unblock_all(self):
        for host, address in list(self.blocked):
            self.unblock(host, address)

    def delete(self) -> dict[str, list[int]]:
        """Kill what still runs inside, delete every namespace of this lan; return {ns: killed pids}."""
        killed = {}
        for name in reversed(self.created):
            pids = _kill_and_delete(name)
            if pids:
                killed[name] = pids
        left = [n for n in self.created if n in set(namespaces())]
        self.created = []
        if left:
            raise NetnsError(f"namespaces left behind: {left}")
        return killed


def _connects(address: str, port: int, timeout: float = 2) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            return s.connect_ex((address, port)) == 0
        except OSError:
            return False


# --------------------------------------------------------------------------- Salt on the lan

class NetnsSalt:
    """A Lan, a SaltEnv with its master and salt-api in the salt namespace and one minion per host,
    and a forwarder from 127.0.0.1 here to salt-api.

    env.api_url is the forwarder's URL (what pytest and the portal use);
    minion_ids[i] runs in the namespace of hosts[i], with the address lan.address(hosts[i]).
    """

    def __init__(self, hosts=("n1", "n2", "n3"), minion_ids=None, subnet: str = DEFAULT_SUBNET, **salt_kw):
        self.hosts = list(hosts)
        self.minion_ids = list(minion_ids or [f"ns-{h}" for h in self.hosts])
        if len(self.minion_ids) != len(self.hosts):
            raise ValueError("one minion id per host")
        self.host_of = dict(zip(self.minion_ids, self.hosts, strict=False))
        self.subnet = subnet
        self.salt_kw = salt_kw
        self.lan: Lan | None = None
        self.env = None
        self.forwarder: TcpForwarder | None = None
        self.startup_seconds = 0.0
        self.lan_seconds = 0.0

    def address(self, minion_id: str) -> str:
        return self.lan.address(self.host_of[minion_id])

    def start(self, timeout: float = 120) -> "NetnsSalt":
        from tests.support.salt_harness import SaltEnv
        t0 = time.monotonic()
        atexit.register(self.stop)
        try:
            self.lan = Lan(self.hosts, subnet=self.subnet).create()
            self.lan_seconds = time.monotonic() - t0
            self.env = SaltEnv(minion_ids=self.minion_ids, master_netns=self.lan.salt_ns,
                               minion_netns={m: self.lan.ns(h) for m, h in self.host_of.items()},
                               master_interface="0.0.0.0", master_address=self.lan.master_address,
                               **self.salt_kw)
            self.env.start(timeout=timeout)
            self.forwarder = TcpForwarder(self.lan.salt_ns, "127.0.0.1", self.env.api_port).start()
            self.env.api_url = self.forwarder.url
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """Daemons, then the forwarder, then the namespaces; raise the first problem after doing all."""
        errors = []
        for step in (lambda: self.env and self.env.stop(), lambda: self.forwarder and self.forwarder.close(),
                     lambda: self.lan and self.lan.delete()):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - keep cleaning up
                errors.append(error)
        self.env = self.forwarder = None
        if errors:
            raise errors[0]
