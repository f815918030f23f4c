"""Spotting patient-identifying data in free text before anything is stored.

Field reports and bulletins must never carry a patient's identity. Two things are refused:

* a French social-security number (NIR): sex digit, year, month, department (2A/2B for
  Corsica), commune, order number, then the 2-digit key, written with or without spaces,
  dots or dashes. Only numbers whose key checks (97 − number mod 97) are flagged, so a
  phone number or a batch number is not mistaken for one;
* a date of birth: a birth marker ("né le", "née le", "date de naissance", "DDN"…) followed
  by a date, or a civility and a name ("Mme Dupont") followed closely by a full date.

This is a safety net, not a guarantee: the reminder shown to users remains the first defence.
"""

from __future__ import annotations

import re
from typing import Literal

Finding = Literal["nir", "birth_date"]

_SEP = " \u00a0\u202f.\\-"
_CORSICA = re.compile(rf"(?<=[\d{_SEP}])2([AaBb])(?=[\d{_SEP}])")
_RUN = re.compile(rf"[\d\x01\x02]+(?:[{_SEP}]{{1,2}}[\d\x01\x02]+)*")
_SPLIT = re.compile(rf"[{_SEP}]+")
_NIR = re.compile(r"[1-478]\d{2}\d{2}(?:\d{2}|2A|2B)\d{3}\d{3}\d{2}")

_MONTHS = (
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
    "|janv|févr|fevr|avr|juil|sept|oct|nov|déc|dec"
)
_DATE = (
    rf"(?:\d{{1,2}}\s*[/.\-]\s*\d{{1,2}}\s*[/.\-]\s*\d{{2,4}}"
    rf"|(?:1er|\d{{1,2}})\s+(?:{_MONTHS})\.?\s+\d{{4}}"
    r"|(?:en\s+)?(?:19|20)\d{2})"
)
# Next to a name, only a date that looks like a birth (before 2020): "Mme Dupont, stock vide depuis le
# 12/01/2025" speaks of a pharmacist and a shortage, not of a patient.
_BIRTH_YEAR = r"(?:19\d{2}|20[01]\d)"
_FULL_DATE = (
    rf"(?:\d{{1,2}}\s*[/.\-]\s*\d{{1,2}}\s*[/.\-]\s*{_BIRTH_YEAR}|(?:1er|\d{{1,2}})\s+(?:{_MONTHS})\.?\s+{_BIRTH_YEAR})"
)
_BIRTH_MARKER = (
    r"(?:\b(?:né|née|nés|nées|nee|nees)\b\s*(?:le|en|au|:)?"
    r"|\bdate\s+de\s+naissance\b\s*:?"
    r"|\bd\.?\s?d\.?\s?n\.?(?=\W)\s*:?"
    r"|\bnaissance\b\s*:?)"
)
_BIRTH = re.compile(rf"{_BIRTH_MARKER}\s*(?:le\s+)?{_DATE}", re.IGNORECASE)
_CIVILITY = r"\b(?:M\.|Mr\.?|Mme\.?|Mlle\.?|Madame|Monsieur|Mademoiselle)"
_NAME = r"[A-ZÉÈÀÂÎÔÛÇ][\w'\-]+(?:\s+[A-ZÉÈÀÂÎÔÛÇ][\w'\-]+)?"
_NAMED_DATE = re.compile(rf"{_CIVILITY}\s+{_NAME}[^\n]{{0,40}}?{_FULL_DATE}")


def nir_key_ok(nir: str) -> bool:
    """Whether a 15-character NIR (digits, 2A/2B department) has the right key."""
    if not _NIR.fullmatch(nir):
        return False
    number = int(nir[:13].replace("2A", "19").replace("2B", "18"))
    return 97 - number % 97 == int(nir[13:])


def _expand(token: str) -> str:
    return token.replace("\x01", "2A").replace("\x02", "2B")


def contains_nir(text: str) -> bool:
    """A valid NIR anywhere in `text`, however its groups are spaced."""
    marked = _CORSICA.sub(lambda m: "\x01" if m.group(1).upper() == "A" else "\x02", text)
    for run in _RUN.finditer(marked):
        tokens = [_expand(t) for t in _SPLIT.split(run.group()) if t]
        for start in range(len(tokens)):
            joined = ""
            for token in tokens[start:]:
                joined += token
                if len(joined) == 15 and nir_key_ok(joined):
                    return True
                if len(joined) >= 15:
                    break
    return False


def contains_birth_date(text: str) -> bool:
    """A date of birth: after a birth marker, or next to a civility and a name."""
    return bool(_BIRTH.search(text) or _NAMED_DATE.search(text))


def find_patient_data(text: str | None) -> Finding | None:
    """What kind of patient-identifying data `text` seems to hold, or None."""
    if not text:
        return None
    if contains_nir(text):
        return "nir"
    if contains_birth_date(text):
        return "birth_date"
    return None
