"""/mesdonnees reads like a document, in the person's language: labels, not column names."""

from __future__ import annotations

import json
import re

import pytest

from bot.i18n import catalogue
from storage.all_models import Base
from storage.privacy import personal_tables
from tests.harness import BotHarness
from tests.polls_support import seed_group


def exported(bot: BotHarness, person) -> dict:  # type: ignore[no-untyped-def]
    name, content, _ = bot.api.files(person.id)[-1]
    assert name == "mes-donnees-relais-sante.json"
    return json.loads(content)


def labels(export: dict) -> set[str]:
    """The export's headings: sections, profile fields, tables and their fields (not stored content)."""
    found = set(export) | set(export["Votre profil"]) | set(export["Vos données"])
    return found | {k for rows in export["Vos données"].values() for row in rows for k in row}


async def test_my_data_uses_labels_in_my_language(bot: BotHarness) -> None:
    camille = bot.person("Camille", last_name="Martin", username="camille_m")
    alex = bot.person("Alex", language_code="en")
    await seed_group(bot)  # so that /start stays open at the group step
    await camille.send("/start")
    await camille.press("Infirmier")
    await camille.send("/telephone 06 12 34 56 78")
    await alex.send("/start")
    await alex.press("Nurse")

    await camille.send("/mesdonnees")
    french = exported(bot, camille)
    sections = ["À propos de cet export", "Votre profil", "Vos données"]
    sections.append("Messages adressés à d'autres qui vous nomment")
    assert list(french) == sections
    profile = french["Votre profil"]
    assert profile["Prénom"] == "Camille" and profile["Téléphone"] == "06 12 34 56 78"
    assert profile["Profession"] == "Infirmier(ère) (IDE)" and profile["Langue des messages"] == "français"
    assert profile["Membre de la cellule de crise"] == "Non"
    first = profile["Premier message au bot"]
    assert re.fullmatch(r"\d{1,2} [a-zéû]+ \d{4}, \d{2}:\d{2}", first), first  # "5 décembre 2026, 09:33", Paris time
    assert french["Vos données"]["Saisie en cours"][0]["Étape"]  # the onboarding still open
    technical = {k for k in labels(french) if "_" in k or k.isascii() and k.islower()}
    assert technical == set(), technical  # no column name left: first_name, user_id, created_at…

    await alex.send("/mesdonnees")
    english = exported(bot, alex)
    assert english["Your profile"]["First name"] == "Alex" and english["Your profile"]["Profession"] == "Nurse (IDE)"
    assert english["Your profile"]["Language of messages"] == "English"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_table_and_column_a_person_may_find_has_a_label(lang: str) -> None:
    """A feature that adds a table holding people adds its labels too (handlers/account/my_data.py)."""
    messages = catalogue(lang)
    missing = []
    for table, _ in [(Base.metadata.tables["users"], []), *personal_tables()]:
        if table.name != "users" and f"privacy.table.{table.name}" not in messages:
            missing.append(table.name)
        for column in table.columns:
            keys = (f"privacy.column.{table.name}.{column.name}", f"privacy.column.{column.name}")
            if not any(key in messages for key in keys):
                missing.append(f"{table.name}.{column.name}")
    assert missing == []
