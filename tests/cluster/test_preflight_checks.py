"""The preflight's checks on what minions return: pure functions, no Salt, no app."""
from portal.services.provisioning import preflight as p

SWAPS_OFF = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
SWAPS_ON = SWAPS_OFF + "/swapfile                               file\t\t2097148\t\t0\t\t-2\n"
SS = ("LISTEN 0      4096   127.0.0.1:10250      0.0.0.0:*\n"
      "LISTEN 0      128          [::]:22           [::]:*\n")


def test_os_debian_12_and_ubuntu_lts_pass_others_say_what_to_use():
    assert p.check_os({"os": "Debian", "osrelease": "12"}).ok
    assert p.check_os({"os": "Ubuntu", "osrelease": "24.04"}).ok
    bad = p.check_os({"os": "CentOS Stream", "osrelease": "9"})
    assert not bad.ok and bad.detail == "CentOS Stream 9"
    assert bad.row("n1") == {"node": "n1", "check": "os", "ok": False, "detail": "CentOS Stream 9",
                             "fix": "Use Debian 12 or Ubuntu 22.04/24.04 on cluster nodes."}
    assert not p.check_os({"os": "Debian", "osrelease": "11"}).ok
    assert p.check_os({}).detail == "? ?"


def test_master_size_wants_two_cpus_and_1_7_gib():
    cpus, memory = p.check_master_size({"num_cpus": 1, "mem_total": 1024})
    assert (cpus.check, cpus.ok, cpus.detail) == ("cpus", False, "1 CPUs")
    assert (memory.check, memory.ok, memory.detail) == ("memory", False, "1024 MiB")
    assert all(c.ok for c in p.check_master_size({"num_cpus": 2, "mem_total": 1741}))


def test_swap_off_passes_a_swap_area_fails():
    assert p.check_swap(SWAPS_OFF).ok and p.check_swap(SWAPS_OFF).detail == "off"
    on = p.check_swap(SWAPS_ON)
    assert not on.ok and on.detail == "1 swap area(s) on" and "swapoff -a" in on.fix
    assert p.check_swap("").ok  # nothing answered: nothing to count


def test_ports_busy_are_named():
    assert p.wanted_ports(["master", "node"]) == p.MASTER_PORTS
    assert p.wanted_ports(["node"]) == (10250,) and p.wanted_ports(["nfs"]) == ()
    busy = p.check_ports(SS, p.wanted_ports(["node"]))
    assert not busy.ok and busy.detail == "in use: 10250" and "10250" in busy.fix
    free = p.check_ports(SS, (6443,))
    assert free.ok and free.detail == "free: 6443"


def test_master_reachable_tells_a_missing_ping_from_no_answer():
    assert p.check_master_reachable("n1", "192.0.2.10", True, "/usr/bin/ping").ok
    no_answer = p.check_master_reachable("n1", "192.0.2.10", False, "/usr/bin/ping")
    assert not no_answer.ok and no_answer.detail == "ping 192.0.2.10: no answer"
    no_ping = p.check_master_reachable("n1", "192.0.2.10", None, "")
    assert not no_ping.ok and no_ping.detail == "cannot tell: ping is not installed"
    assert "iputils-ping" in no_ping.fix


def test_disk_wants_10_gib_free_on_root():
    assert p.check_disk({"/": {"available": str(11 * 1024 * 1024)}}).ok
    low = p.check_disk({"/": {"available": 1024 * 1024}, "/data": {"available": 10 ** 9}})
    assert not low.ok and low.detail == "1.0 GiB free on /"
    assert p.check_disk(None).detail == "0.0 GiB free on /"
