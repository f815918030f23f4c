"""The French and English catalogues say the same things, with the same placeholders."""

from __future__ import annotations

import re
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


# Placeholders that are not counts, or hold a number that is always above one (a setting, a
# length over its maximum): a plural word after them is right.
NOT_COUNTS = {"name", "author", "number", "when", "date", "profession", "title", "label", "group", "ref"}
ALWAYS_MANY = {"max", "limit", "length", "site_max", "address_max", "limit_mb", "years"}
_PLURAL_AFTER = re.compile(r"\{(\w+)\}[ \t]+([^\W\d_]+)")


def test_counts_go_through_plural_forms() -> None:
    """A number a person reads is followed by a singular or plural word chosen by `tn`: a plain
    message may not say "{n} inscrits" ("1 inscrits"), "{total} destinataires" or "bulletin(s)"."""
    for lang in ("fr", "en"):
        for key, text in catalogue(lang).items():
            assert "(s)" not in text, (lang, key, text)
            # In a plural form the word after {n} is chosen for n; after any other count it is not.
            chosen = {"n"} if key.rsplit(".", 1)[-1] in ("zero", "one", "other") else set()
            for placeholder, word in _PLURAL_AFTER.findall(text):
                if placeholder in NOT_COUNTS | ALWAYS_MANY | chosen:
                    continue
                assert not word.endswith(("s", "x")), (lang, key, text)


def test_no_usage_line_anywhere() -> None:
    """Mistakes are explained in a sentence with an example, never a terse "Usage :" line."""
    for lang in ("fr", "en"):
        for key, text in catalogue(lang).items():
            assert not re.search(r"\busage\b", text, re.IGNORECASE), (lang, key, text)
