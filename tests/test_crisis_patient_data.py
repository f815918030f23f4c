"""Patient-identifying data is recognised before anything is stored (bot/patient_data.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.patient_data import contains_nir, find_patient_data, nir_key_ok


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1 84 12 76 451 089 46", "nir"),
        ("184127645108946", "nir"),
        ("NIR : 1.84.12.76.451.089.46, merci", "nir"),
        ("2 69 05 2A 012 345 37", "nir"),  # Corsica: 2A counts as 19 in the key
        ("né le 12/03/1954", "birth_date"),
        ("Mme Dupont née le 3 mars 1954", "birth_date"),
        ("nee le 1er avril 1961", "birth_date"),
        ("M. Martin (12/03/1948) hospitalisé", "birth_date"),
        ("DDN 01/02/1960", "birth_date"),
        ("date de naissance : 5/6/71", "birth_date"),
        ("Tél. 06 12 34 56 78, lot 34009 123 456 7", None),
        ("1 84 12 76 451 089 47", None),  # wrong key: not a NIR
        ("1841276451089", None),  # 13 digits without key: nothing to check
        ("Mme Dupont, pharmacienne, rupture depuis le 12/01/2025", None),
        ("Réunion le 12/03/2026 à Verdun", None),
        ("On ne le saura que le 12/03/2026", None),
        ("", None),
    ],
)
def test_examples(text: str, kind: str | None) -> None:
    assert find_patient_data(text) == kind


def _nir(sex: int, year: int, month: int, dept: str, commune: int, order: int) -> str:
    body = f"{sex}{year:02d}{month:02d}{dept}{commune:03d}{order:03d}"
    key = 97 - int(body.replace("2A", "19").replace("2B", "18")) % 97
    return f"{body}{key:02d}"


nirs = st.builds(
    _nir,
    st.sampled_from([1, 2]),
    st.integers(0, 99),
    st.integers(1, 12),
    st.one_of(st.integers(1, 95).map(lambda d: f"{d:02d}"), st.sampled_from(["2A", "2B"])),
    st.integers(1, 999),
    st.integers(1, 999),
)


@given(nirs, st.lists(st.sampled_from(["", " ", ".", "-", "\u00a0"]), min_size=14, max_size=14), st.text(max_size=20))
def test_any_valid_nir_is_caught_however_it_is_spaced(nir: str, separators: list[str], prefix: str) -> None:
    assert nir_key_ok(nir)
    separators[5] = ""  # nobody splits the Corsican department "2A" itself
    spaced = "".join(ch + sep for ch, sep in zip(nir, [*separators, ""], strict=True))
    assert contains_nir(f"{prefix} {spaced} fin")


@given(nirs, st.integers(1, 96))
def test_a_wrong_key_is_not_a_nir(nir: str, shift: int) -> None:
    wrong = f"{nir[:13]}{(int(nir[13:]) + shift) % 100:02d}"
    if not nir_key_ok(wrong):
        assert not contains_nir(f"dossier {wrong}")
