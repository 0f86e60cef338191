"""The simulated pods' synthetic CPU and memory use, pure (no I/O, no clock).

A test says what the containers of some pods use; the metrics stand-in
(metrics.py) serves it as metrics.k8s.io, and anything that writes the same
figures elsewhere (Telegraf-shaped points, say) reads it from here too, so every
view of a pod's use agrees.

    rules = UsageRules()
    rules.set("shop", "hummer.io/app=web", cpu="300m")      # a label selector: pods made later match too
    rules.set("shop", "web-5d9c-abcde", memory="200Mi")      # one pod, by name
    rules.set("shop", {"hummer.io/app": "web"}, cpu=0.3)     # matchLabels; CPU in cores
    rules.set("shop", None, reported=False)                   # every pod of the namespace: no metrics at all
    rules.of("shop", "web-5d9c-abcde", {"hummer.io/app": "web"})  # -> Usage, or None when not reported

The figures are per container: each container of a matching pod uses that much
(the requests they are compared with are per container too). Later rules win,
field by field; what no rule sets is DEFAULT_USAGE.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(value) -> Decimal:
    """A Kubernetes quantity ("700m", "1.5", "128Mi", "1e3") or a number, as a Decimal."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        return Decimal(m.group(1)) * _SUFFIXES[m.group(2) or ""]
    except InvalidOperation:
        raise ValueError(f"not a quantity: {value!r}")


def cpu_nanocores(value) -> int:
    """CPU in cores (a number, "0.7", "700m", "700000000n") as whole nanocores."""
    n = parse_quantity(value) * 10**9
    if n < 0:
        raise ValueError(f"negative CPU: {value!r}")
    return int(n.to_integral_value())


def memory_bytes(value) -> int:
    """Memory in bytes (a number, "128Mi", "1G") as whole bytes."""
    n = parse_quantity(value)
    if n < 0:
        raise ValueError(f"negative memory: {value!r}")
    return int(n.to_integral_value())


def format_cpu(nanocores: int) -> str:
    """As metrics-server writes it: nanocores."""
    return f"{nanocores}n"


def format_memory(nbytes: int) -> str:
    """As metrics-server writes it: KiB when whole, else bytes."""
    return f"{nbytes // 1024}Ki" if nbytes % 1024 == 0 else str(nbytes)


# --------------------------------------------------------------------------- label selectors

_REQUIREMENT = re.compile(r"""^\s*(?:
    (?P<not>!)\s*(?P<nkey>[^\s=!(),]+) |
    (?P<skey>[^\s=!(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\) |
    (?P<ekey>[^\s=!(),]+)\s*(?P<eop>==|=|!=)\s*(?P<value>[^\s=!(),]*) |
    (?P<key>[^\s=!(),]+)
)\s*$""", re.X)


def _split_top(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_selector(selector) -> tuple:
    """A label selector (the API's string form, or a matchLabels dict) as a tuple of
    (key, op, values) with op in "in", "notin", "exists", "!exists"; raises ValueError."""
    if selector is None:
        return ()
    if isinstance(selector, dict):
        return tuple((str(k), "in", (str(v),)) for k, v in sorted(selector.items()))
    text = str(selector).strip()
    if not text:
        return ()
    reqs = []
    for part in _split_top(text):
        m = _REQUIREMENT.match(part)
        if not m:
            raise ValueError(f"bad label selector: {selector!r}")
        if m["nkey"]:
            reqs.append((m["nkey"], "!exists", ()))
        elif m["skey"]:
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            reqs.append((m["skey"], m["op"], values))
        elif m["ekey"]:
            reqs.append((m["ekey"], "notin" if m["eop"] == "!=" else "in", (m["value"],)))
        else:
            reqs.append((m["key"], "exists", ()))
    return tuple(reqs)


def selector_matches(requirements: tuple, labels: dict) -> bool:
    for key, op, values in requirements:
        present = key in labels
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
    return True


def _is_selector(target: str) -> bool:
    return any(ch in target for ch in "=!(), ")


# --------------------------------------------------------------------------- usage

@dataclass(frozen=True)
class Usage:
    """One container's use: CPU in nanocores, memory (working set) in bytes."""
    cpu: int
    memory: int

    @property
    def cpu_cores(self) -> float:
        return self.cpu / 1e9

    @property
    def cpu_millicores(self) -> float:
        return self.cpu / 1e6

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu + other.cpu, self.memory + other.memory)


DEFAULT_USAGE = Usage(cpu=cpu_nanocores("5m"), memory=memory_bytes("32Mi"))
NO_USAGE = Usage(0, 0)


@dataclass(frozen=True)
class Rule:
    namespace: str | None      # None: every namespace
    pod: str | None            # a pod's name, or None with a selector
    selector: tuple            # parse_selector(); () matches every pod
    cpu: int | None
    memory: int | None
    reported: bool

    def matches(self, namespace: str, name: str, labels: dict) -> bool:
        if self.namespace is not None and self.namespace != namespace:
            return False
        if self.pod is not None:
            return self.pod == name
        return selector_matches(self.selector, labels)


class UsageRules:
    """What a test said about the pods' use, in order (thread-safe)."""

    def __init__(self, default: Usage = DEFAULT_USAGE):
        self.default = default
        self._rules: list[Rule] = []
        self._lock = threading.Lock()

    def set(self, namespace: str | None, target=None, *, cpu=None, memory=None, reported: bool = True) -> Rule:
        """From now on, each container of the pods of namespace (None: of every namespace)
        that target names uses cpu (cores: 0.7, "0.7", "700m") and memory (bytes: 2**27,
        "128Mi"); what is not given stays as it was. target: None (every pod), a pod's
        name, a label selector ("app=web", "tier in (a,b)", "!canary") or a dict of labels.
        reported=False: the metrics API has no figures for those pods (as for pods
        metrics-server has not scraped yet)."""
        if target is None or isinstance(target, dict):
            pod, selector = None, parse_selector(target)
        elif _is_selector(str(target)):
            pod, selector = None, parse_selector(target)
        else:
            pod, selector = str(target), ()
        rule = Rule(namespace, pod, selector, None if cpu is None else cpu_nanocores(cpu),
                    None if memory is None else memory_bytes(memory), bool(reported))
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def of(self, namespace: str, name: str, labels: dict | None) -> Usage | None:
        """One container's use in this pod, or None when the pod is not reported."""
        with self._lock:
            rules = list(self._rules)
        cpu, memory, reported = self.default.cpu, self.default.memory, True
        for rule in rules:
            if not rule.matches(namespace, name, labels or {}):
                continue
            reported = rule.reported
            if rule.cpu is not None:
                cpu = rule.cpu
            if rule.memory is not None:
                memory = rule.memory
        return Usage(cpu, memory) if reported else None
