"""An update Telegram delivers twice is handled once (long polling and webhook, both databases).

Telegram delivers an update again when it did not learn that the bot got it: over a webhook,
no 2xx in time (a slow update, a process killed mid-update, a load balancer retrying on
another process); with long polling, a bot restarted before its next getUpdates confirmed the
offset. The fake does both (`api.redeliver`); each test checks what a person would see.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from sqlalchemy import func, select
from sqlalchemy import update as sa_update

from bot.app import build_application, start_application, stop_application
from bot.config import Settings
from handlers.account.retention import run_purge
from bot.runner import WEBHOOK_PATH
from bot.webhook import WebhookServer
from storage.db import Database
from storage.models import Meeting, OutboxMessage, User, utcnow
from storage.updates import ProcessedUpdate
from tests.fakebot import FakeBotAPI
from tests.harness import COORDINATOR_ID, BotHarness
from tests.polls_support import create_quick_poll, native_poll_of, seed_group
from tests.test_coordination_e2e import (
    NORD,
    first_session_text,
    seed_groups,
)
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CHANNEL,
    add_professionals,
    crisis,
    crisis_manual,
    drain,
    publish,
    text_of,
)
from tests.test_webhook import SECRET, webhook_bot


# ------------------------------------------------------------------------------ long polling
async def test_relancer_delivered_again_after_a_restart_escalates_once(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    silent = await add_professionals(bot, 3)
    cell = bot.coordinator()
    await publish(cell, title="Cyberattaque au GHT : consignes", body="Passez par le standard.")
    await drain(bot)
    update = bot.api.send_text(cell.user, "/relancer 1")
    await bot.handled(update)
    assert "3 professionnels" in text_of(bot.api.sent(cell.id)[-1])

    await bot.restart(unconfirmed=[update])  # the process died before confirming it: the new one gets it again
    await bot.handled(update)
    await drain(bot)
    for uid in silent:
        reminders = [m for m in bot.api.sent(uid) if "Rappel" in text_of(m)]
        assert len(reminders) == 1, f"{uid} got {len(reminders)} reminders"
    await cell.send("/suivi 1")
    assert "Relance 1" in cell.reply_text and "Relance 2" not in cell.reply_text


async def test_a_typed_answer_delivered_again_is_not_taken_for_the_next_step(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    title = "Plaies chroniques : parcours ville-hôpital"
    await coordinator.send("/nouvelle_rencontre")
    update = bot.api.send_text(coordinator.user, title)
    await bot.handled(update)
    assert "thème" in text_of(bot.api.sent(coordinator.id)[-1])
    answered = len(bot.api.sent(coordinator.id))

    await bot.restart(unconfirmed=[update])
    await bot.handled(update)
    assert len(bot.api.sent(coordinator.id)) == answered  # nothing said: it was already answered

    await coordinator.send("Cicatrisation, pansements, télésurveillance.")
    assert "Pour quel groupe" in coordinator.reply_text
    await coordinator.press(NORD)
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    await coordinator.press("Lieu à définir")
    await coordinator.press("Sans limite")
    await coordinator.press("Terminer")
    await coordinator.press("Publier")
    async with bot.db.begin() as session:
        meeting = (await session.scalars(select(Meeting))).one()
    assert (meeting.title, meeting.theme) == (title, "Cicatrisation, pansements, télésurveillance.")


async def test_a_vote_delivered_again_does_not_undo_a_changed_vote(bot: BotHarness) -> None:
    _, (camille, alex, _sam) = await seed_group(bot)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator)
    await coordinator.press("Envoyer")
    poll = await native_poll_of(bot, camille)
    first = bot.api.answer_poll(camille.user, poll["id"], [0])
    await bot.handled(first)
    await bot.handled(bot.api.answer_poll(camille.user, poll["id"], [2]))  # Camille changes her mind

    await bot.restart(unconfirmed=[first])
    await bot.handled(first)
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    assert "Jeudi matin : 1 (100 %)" in coordinator.reply_text and "Lundi midi : 0 (0 %)" in coordinator.reply_text


# ------------------------------------------------------------------------------ webhook
async def test_cellule_and_coordinateur_delivered_twice_over_the_webhook_act_once(
    db: Database, api: FakeBotAPI
) -> None:
    async with webhook_bot(db, api, coordinator_ids=frozenset({COORDINATOR_ID})):
        coordinator = api.make_user(COORDINATOR_ID, "Dominique")
        alex = api.make_user(510_001, "Alex", username="alex_ars")
        api.send_text(alex, "/start")
        await api.wait_for(lambda m: m["chat"]["id"] == alex["id"])
        commands = [api.send_text(coordinator, f"/{command} @alex_ars") for command in ("cellule", "coordinateur")]
        picker = await api.wait_for(lambda m: m["chat"]["id"] == COORDINATOR_ID and "Tous les groupes" in str(m), timeout=10)
        commands.append(api.press_button(coordinator, picker, "Tous les groupes"))
        await api.wait_for(lambda m: m["chat"]["id"] == alex["id"] and "coordinateur" in text_of(m), timeout=10)
        for update in commands:
            api.redeliver(update)  # Telegram got no answer in time: POSTed again
        # Updates of one chat are POSTed one after the other: once this one is answered, the
        # redeliveries before it were answered too.
        api.send_text(coordinator, "/aide")
        await api.wait_for(lambda m: m["chat"]["id"] == COORDINATOR_ID and "/bulletin" in text_of(m), timeout=10)
        await api.wait_for(lambda m: m["chat"]["id"] == alex["id"] and "coordinateur" in text_of(m), timeout=10)
        await api.wait_for(lambda m: m["chat"]["id"] == alex["id"] and "cellule de crise" in text_of(m), timeout=10)
        redelivered = [status for uid, status in api.webhook_deliveries if uid in {u["update_id"] for u in commands}]
        assert redelivered == [200] * 6
    told = [text_of(m) for m in api.messages(COORDINATOR_ID)]  # as they read now: the picker became the confirmation
    assert len([t for t in told if "fait maintenant partie de la cellule" in t]) == 1
    assert len([t for t in told if "est désormais coordinateur" in t]) == 1
    async with db.begin() as session:
        to_alex = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.chat_id == alex["id"])
        notices = await session.scalar(to_alex)
    assert notices == 2  # one "cellule de crise", one "coordinateur": none queued twice


async def test_one_update_posted_to_two_processes_at_once_acts_once(db: Database, api: FakeBotAPI) -> None:
    """A load balancer retries on a second process while the first is still handling the update:
    the second waits for the first's transaction, then sees the update handled."""
    async with db.begin() as session:
        session.add(User(id=510_011, first_name="Alex", username="alex_cell", language="fr"))
    update = {
        "update_id": 9_000_001,
        "message": {
            "message_id": 1, "date": 0, "text": "/cellule @alex_cell",
            "chat": {"id": COORDINATOR_ID, "type": "private", "first_name": "Dominique"},
            "from": {"id": COORDINATOR_ID, "is_bot": False, "first_name": "Dominique", "language_code": "fr"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
        },
    }
    api.make_user(COORDINATOR_ID, "Dominique")
    api.make_user(510_011, "Alex", username="alex_cell")
    settings = Settings(
        token=api.token, api_url=api.base_url, file_api_url=api.base_file_url, database_url=db.url,
        coordinator_ids=frozenset({COORDINATOR_ID}),
    )
    processes = []
    for _ in range(2):
        application = build_application(settings, db, background=False)
        await start_application(application, polling=False)
        server = WebhookServer(application, secret=SECRET)
        await server.start("127.0.0.1", 0)
        processes.append((application, server))
    try:
        async with aiohttp.ClientSession() as http:

            async def post(server: WebhookServer) -> int:
                url = f"http://127.0.0.1:{server.port}{WEBHOOK_PATH}"
                async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                    return response.status

            statuses = await asyncio.gather(*(post(server) for _, server in processes))
        assert statuses == [200, 200]
    finally:
        for application, server in processes:
            await server.stop()
            await stop_application(application)
    told = [text_of(m) for m in api.messages(COORDINATOR_ID)]  # as they read now: the picker became the confirmation
    assert told == ["✅ Alex fait maintenant partie de la cellule de crise."]  # once, and no "Oups" from the other
    async with db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 1


# ------------------------------------------------------------------------------ outbox keys
async def test_notices_are_keyed_by_what_happened_not_by_the_clock(crisis: BotHarness) -> None:
    """Two real events in the same second are two notices (a timestamp key merged them)."""
    coordinator = crisis.coordinator()
    alex = crisis.person("Alex", username="alex_ars")
    await alex.onboard("Médecin généraliste")
    for command in ("/cellule @alex_ars", "/cellule retirer @alex_ars", "/cellule @alex_ars"):
        await coordinator.send(command)
    for command in ("/crise on", "/crise off", "/crise on"):
        await coordinator.send(command)

    def notices(chat_id: int, words: str) -> list[str]:
        return [text_of(m) for m in crisis.api.sent(chat_id) if words in text_of(m)]

    await crisis.api.wait_for(lambda m: len(notices(alex.id, "cellule de crise")) == 2, timeout=10)
    async with crisis.db.begin() as session:
        purposes = await session.scalars(select(OutboxMessage.purpose).where(OutboxMessage.purpose.like("crisis:mode:%")))
        assert len(set(purposes)) == 3  # three announcements queued (one still waiting when the next came is dropped)
    await crisis.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and "activé" in text_of(m) and len(notices(CHANNEL, "ode crise")) >= 2)
    assert "activé" in notices(CHANNEL, "ode crise")[-1]  # the channel ends on the last word: crisis mode on


# ------------------------------------------------------------------------------ retention
async def test_handled_updates_are_remembered_past_telegrams_24_hours_then_purged(bot: BotHarness) -> None:
    camille = bot.person("Camille")
    update = bot.api.send_text(camille.user, "/aide")
    await bot.handled(update)
    assert len(bot.api.sent(camille.id)) == 1

    async def age(hours: int) -> None:
        async with bot.db.begin() as session:
            await session.execute(sa_update(ProcessedUpdate).values(handled_at=utcnow() - timedelta(hours=hours)))

    await age(30)  # Telegram gives up on an undelivered update after 24 hours
    await run_purge(bot.application.bot_data["services"])
    await bot.restart(unconfirmed=[update])
    await bot.handled(update)
    assert len(bot.api.sent(camille.id)) == 1  # still recognised: not answered twice

    await age(49)
    counts = await run_purge(bot.application.bot_data["services"])
    assert counts.get("processed_updates") == 1
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0
