"""The translation catalogues under portal/translations/: what `./hummer i18n` runs.

    python scripts/catalogues.py [refresh]   extract, update every catalogue, compile (the default)
    python scripts/catalogues.py extract     messages.pot from the code and templates (babel.cfg)
    python scripts/catalogues.py update      extract, then merge it into every LANG/.../messages.po
    python scripts/catalogues.py compile     every messages.po into its messages.mo (committed)
    python scripts/catalogues.py add LANG    start a catalogue for LANG (a Babel name: de, pt_BR)
    python scripts/catalogues.py check       what tests/test_i18n_catalogue.py fails on, listed

The pybabel flags live here only (EXTRACT, UPDATE, COMPILE); the tests re-extract with them.
"""
from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "portal" / "translations"
POT = TRANSLATIONS / "messages.pot"

# --no-location and --sort-output keep the diffs small; `# Translators:` comments in the code
# ({# Translators: ... #} in a template) reach the translators; _l is lazy_gettext.
EXTRACT = ["extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l", "--no-location", "--sort-output",
           "--add-comments=Translators:", "--project=Hummer", "--copyright-holder=Hummer's authors"]
# No fuzzy guesses (a guessed translation is worse than none) and no obsolete entries.
UPDATE = ["update", "-d", str(TRANSLATIONS), "--no-fuzzy-matching", "--ignore-obsolete"]
COMPILE = ["compile", "-d", str(TRANSLATIONS), "--statistics"]


def pybabel(*args: str) -> None:
    """pybabel ARGS, in this process (the same Babel the portal runs)."""
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(output: Path = POT) -> Path:
    with contextlib.chdir(ROOT):  # babel.cfg's paths are relative to the directory scanned
        pybabel(*EXTRACT, "-o", str(output), ".")
    return output


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def catalogue(language: str, translations: Path = TRANSLATIONS) -> Path:
    return translations / language / "LC_MESSAGES" / "messages.po"


def update() -> None:
    extract()
    for language in languages():
        pybabel(*UPDATE, "-i", str(POT), "-l", language)


def compile_all() -> None:
    pybabel(*COMPILE)


def add(language: str) -> None:
    try:
        Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        raise SystemExit(f"{language!r} is not a locale Babel knows; use its Babel name, e.g. de, pt_BR, zh_Hant")
    if catalogue(language).exists():
        raise SystemExit(f"{catalogue(language).relative_to(ROOT)} exists already; ./hummer i18n update refreshes it")
    extract()
    pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", language)
    print(f"started {catalogue(language).relative_to(ROOT)}. Next:\n"
          f"  1. translate every msgstr in it (terms: portal/translations/GLOSSARY.md);\n"
          f"  2. add {language!r} to LANGUAGES and its own name to NAMES in portal/i18n.py\n"
          f"     (and any Accept-Language aliases to ALIASES);\n"
          f"  3. ./hummer i18n compile, and commit the .po and the .mo.")


# Checks (tests/test_i18n_catalogue.py asserts each is empty) --------------------------------

def _key(value):
    """A message's id or string as a hashable, comparable value (plurals are tuples)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    return all(strings)


def _ids(path: Path) -> set:
    with path.open("rb") as fh:
        return {_key(m.id) for m in read_po(fh) if m.id}


def stale_template() -> tuple[set, set]:
    """(msgids the code has that messages.pot lacks, msgids messages.pot has that the code lost)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = _ids(extract(Path(tmp) / "messages.pot"))
    committed = _ids(POT)
    return fresh - committed, committed - fresh


def unfinished(language: str, translations: Path = TRANSLATIONS) -> list[str]:
    """The entries of `language`'s catalogue that are untranslated, fuzzy, or missing from it."""
    with catalogue(language, translations).open("rb") as fh:
        po = read_po(fh)
    problems = []
    for message in po:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not _translated(message):
            problems.append(f"untranslated: {message.id!r}")
    missing = _ids(POT) - {_key(m.id) for m in po if m.id}
    problems += [f"not in the catalogue (./hummer i18n update): {mid!r}" for mid in sorted(missing, key=str)]
    return problems


def stale_compiled(language: str, translations: Path = TRANSLATIONS) -> list[str]:
    """The differences between `language`'s messages.mo and what its messages.po compiles to."""
    mo_path = catalogue(language, translations).with_suffix(".mo")
    if not mo_path.exists():
        return [f"{mo_path} is missing (./hummer i18n compile)"]
    with catalogue(language, translations).open("rb") as fh:
        po = read_po(fh)
    with mo_path.open("rb") as fh:
        mo = read_mo(fh)
    want = {_key(m.id): _key(m.string) for m in po if m.id and not m.fuzzy and _translated(m)}
    have = {_key(m.id): _key(m.string) for m in mo if m.id}
    return ([f"not compiled: {mid!r}" for mid in want if have.get(mid) != want[mid]]
            + [f"compiled but no longer in the .po: {mid!r}" for mid in have if mid not in want])


def check() -> int:
    gained, lost = stale_template()
    problems = [f"messages.pot lacks {mid!r} (./hummer i18n update)" for mid in sorted(gained, key=str)]
    problems += [f"messages.pot still has {mid!r} (./hummer i18n update)" for mid in sorted(lost, key=str)]
    for language in languages():
        problems += [f"{language}: {p}" for p in unfinished(language) + stale_compiled(language)]
    print("\n".join(problems) or "the catalogues are complete and compiled")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("refresh", [])
    if command == "add" and len(args) == 1:
        add(args[0])
    elif command == "refresh" and not args:
        update()
        compile_all()
    elif command in ("extract", "update", "compile", "check") and not args:
        if command == "check":
            return check()
        {"extract": extract, "update": update, "compile": compile_all}[command]()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
