"""Shared set-up for the poll tests: a small MSP with three onboarded professionals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from storage.models import Group, Membership, User, utcnow
from storage.polls_models import Poll
from tests.harness import BotHarness, Person

GROUP = "MSP des Tilleuls"
NAMES = (("Camille", "ide"), ("Alex", "mg"), ("Sam", "ide"))


async def seed_group(bot: BotHarness, *, chat_id: int | None = None) -> tuple[int, list[Person]]:
    """The group and its three members (two nurses, one GP), already onboarded, in French."""
    people = [bot.person(name) for name, _ in NAMES]
    async with bot.db.begin() as session:
        group = Group(slug="msp-tilleuls", name=GROUP, kind="msp", chat_id=chat_id)
        session.add(group)
        await session.flush()
        for person, (name, profession) in zip(people, NAMES, strict=True):
            session.add(User(id=person.id, first_name=name, profession=profession, language="fr", onboarded_at=utcnow()))
        await session.flush()
        session.add_all(Membership(user_id=p.id, group_id=group.id) for p in people)
        return group.id, people


async def create_quick_poll(
    coordinator: Person,
    *,
    question: str = "Quel créneau pour la réunion d'équipe ?",
    options: str = "Lundi midi\nMardi soir\nJeudi matin",
    anonymous: bool = False,
    multiple: bool = False,
    audience: str = "Tout le groupe",
) -> None:
    """Walk through /sondage as a coordinator, up to the confirmation (not sent yet)."""
    await coordinator.send("/sondage")
    await coordinator.send(question)
    await coordinator.send(options)
    await coordinator.press("C'est tout")
    await coordinator.press("Plusieurs" if multiple else "Une seule")
    await coordinator.press("Anonyme" if anonymous else "Nominatif")
    await coordinator.send("vendredi 18h")
    await coordinator.press(GROUP)
    await coordinator.press(audience)


async def native_poll_of(bot: BotHarness, person: Person) -> dict[str, Any]:
    """The native poll this person received (waits for the outbox to send it)."""
    message = await bot.api.wait_for(lambda m: m["chat"]["id"] == person.id and "poll" in m)
    return message["poll"]


async def vote(bot: BotHarness, person: Person, poll_id: str, options: list[int]) -> None:
    update = bot.api.answer_poll(person.user, poll_id, options)
    await bot.handled(update)


async def only_poll(bot: BotHarness) -> Poll:
    async with bot.db.begin() as session:
        return (await session.scalars(select(Poll).options(selectinload(Poll.options)))).one()


def services(bot: BotHarness):  # type: ignore[no-untyped-def]
    return bot.application.bot_data["services"]


async def forge(bot: BotHarness, person: Person, data: str) -> None:
    """A callback query with made-up data, as a tampered client would send it."""
    if not person.messages():
        await person.send("/aide")
    message = person.messages()[-1]
    person._new_messages()
    update = bot.api.push_update(
        {"callback_query": {"id": "forged-1", "from": person.user, "message": message, "chat_instance": "forged", "data": data}}
    )
    await bot.handled(update)
    person.replies = person._new_messages()
