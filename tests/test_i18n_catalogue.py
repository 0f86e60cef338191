"""The catalogues are complete and in step with the code: messages.pot holds exactly what the
code marks (re-extracted with ./hummer i18n's own flags), every language's messages.po
translates every entry without a fuzzy one, and the committed messages.mo is what the .po
compiles to. `./hummer i18n check` lists the same problems."""
from __future__ import annotations

import importlib.util

import pytest

from portal import i18n
from tests.test_i18n_marking import ROOT

spec = importlib.util.spec_from_file_location("catalogues", ROOT / "scripts" / "catalogues.py")
catalogues = importlib.util.module_from_spec(spec)
spec.loader.exec_module(catalogues)

TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.LANGUAGES[0]]


def test_every_shipped_language_has_a_catalogue_and_no_catalogue_is_unshipped():
    assert catalogues.languages() == sorted(TRANSLATED)


def test_the_template_holds_exactly_what_the_code_marks():
    gained, lost = catalogues.stale_template()
    assert not gained and not lost, (
        "portal/translations/messages.pot is stale; run ./hummer i18n\n"
        f"marked in the code but not in it: {sorted(gained, key=str)}\n"
        f"in it but no longer marked: {sorted(lost, key=str)}")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_entry_is_translated_and_none_is_fuzzy(language):
    problems = catalogues.unfinished(language)
    assert not problems, f"{catalogues.catalogue(language).relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_is_what_the_po_compiles_to(language):
    problems = catalogues.stale_compiled(language)
    assert not problems, "run ./hummer i18n compile:\n" + "\n".join(problems)


def test_the_checks_catch_a_fuzzy_an_empty_and_a_stale_entry(tmp_path):
    """The checks themselves, on a copy of the zh_Hans catalogue with three faults."""
    from babel.messages.pofile import read_po, write_po
    copy = tmp_path / "zh_Hans" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    with catalogues.catalogue("zh_Hans").open("rb") as fh:
        po = read_po(fh)
    po["Save"].flags.add("fuzzy")
    po["Language"].string = ""
    po["just now"].string = "刚才"  # the .mo still says 刚刚
    with (copy / "messages.po").open("wb") as fh:
        write_po(fh, po)
    (copy / "messages.mo").write_bytes(catalogues.catalogue("zh_Hans").with_suffix(".mo").read_bytes())
    assert catalogues.unfinished("zh_Hans", tmp_path) == ["untranslated: 'Language'", "fuzzy: 'Save'"]
    assert sorted(catalogues.stale_compiled("zh_Hans", tmp_path)) == [
        "compiled but no longer in the .po: 'Language'", "compiled but no longer in the .po: 'Save'",
        "not compiled: 'just now'"]
