"""The Salt state modules that the Salt tree names, and the others, which the suite's masters
and minions are told not to load (`disable_states` in their configs, tests/support/salt_harness.py).

Why: Salt's state loader, asked for a function that no loaded module has, imports every one of
its ~130 state modules (Salt 3008) in turn and runs their `__virtual__` checks, and it does so in every job
(each job makes a new State and loader). Every `unless`, `onlyif` or `creates` asks it for
`<module>.mod_run_check`, which `cmd` has not, so a state job paid 1.1 to 1.9 s of CPU on 2 cores
before its first such state ran (salt-call, one `cmd.run` with `unless`: 1,100-1,900 ms; with the
unused modules disabled: 15 to 60 ms). Salt skips a disabled module's file before importing it.

Which are used is read from the tree, generously: every `word.` and every requisite `- word:` in
salt_states/ and the test states. A module the tree starts to use is found by the same scan; one
the scan missed fails the state loudly ("'x.y' was not available"), never silently. Production
minions load every module as Salt ships them: operators' own states may use any.
"""
from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREES = (REPO / "salt_states", REPO / "tests" / "salt" / "states")
NAMED = re.compile(r"\b([a-z_][a-z0-9_]*)\.[a-z_]+|^\s*-\s*([a-z_][a-z0-9_]*)\s*:", re.MULTILINE)
VIRTUALNAME = re.compile(r"""^__virtualname__\s*=\s*["']([a-z0-9_]+)["']""", re.MULTILINE)


@functools.cache
def used_names() -> frozenset[str]:
    """Every name the tree could mean as a state module (more than it does: harmless)."""
    names: set[str] = set()
    for tree in TREES:
        for path in tree.rglob("*"):
            if path.suffix in (".sls", ".jinja") and path.is_file():
                for found in NAMED.finditer(path.read_text(encoding="utf-8")):
                    names.add(found.group(1) or found.group(2))
    return frozenset(names)


@functools.cache
def unused_state_modules() -> tuple[str, ...]:
    """The file names (without .py) of Salt's own state modules that the tree never names,
    by the module's file name or by its __virtualname__ (pip_state.py is `pip`)."""
    used = used_names()
    unused = []
    states = Path(importlib.util.find_spec("salt").origin).parent / "states"  # not imported: its warnings
    for path in sorted(states.glob("*.py")):
        if path.stem == "__init__":
            continue
        virtual = VIRTUALNAME.search(path.read_text(encoding="utf-8", errors="replace"))
        if path.stem not in used and (virtual is None or virtual.group(1) not in used):
            unused.append(path.stem)
    return tuple(unused)
