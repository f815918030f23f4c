"""The French and English catalogues say the same things, with the same placeholders."""

from __future__ import annotations

import string

from bot.i18n import LOCALES_DIR, catalogue


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_exists_in_french_and_english() -> None:
    fr, en = catalogue("fr"), catalogue("en")
    assert set(fr) - set(en) == set(), "keys missing in English"
    assert set(en) - set(fr) == set(), "keys missing in French"


def test_translations_are_not_empty_and_share_placeholders() -> None:
    fr, en = catalogue("fr"), catalogue("en")
    for key in fr:
        assert fr[key].strip() and en[key].strip(), key
        assert _placeholders(fr[key]) == _placeholders(en[key]), key


def test_each_domain_file_exists_in_both_languages() -> None:
    fr = {p.name for p in (LOCALES_DIR / "fr" / "LC_MESSAGES").glob("*.po")}
    en = {p.name for p in (LOCALES_DIR / "en" / "LC_MESSAGES").glob("*.po")}
    assert fr == en
