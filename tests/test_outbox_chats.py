"""The outbox and groups or channels: a chat that refuses the bot, the bot back, a chat that moved.

Against the fake Bot API, on both databases: a refusal is `refused` (never a person marked
unreachable), a failure hook reacts in the transaction that records it, a refused row is
sent again in place exactly once, and a group upgraded to a supergroup is followed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot import outbox as dispatcher
from bot.wiring import Wiring
from storage import outbox
from storage.chats import current_chat_id
from storage.db import Database
from storage.models import ChatMove, Group, OutboxMessage, Setting, User, utcnow
from tests.fakebot import FakeBotAPI
from tests.test_outbox import make_dispatcher, people, rows, shut

GROUP = -4518810793
CHANNEL = -1001234567890


async def test_a_group_that_refuses_the_bot_never_marks_a_person_unreachable(db: Database, api: FakeBotAPI) -> None:
    (uid,) = await people(db, api, 1)
    admin = api.make_user(42, "Admin")
    api.add_chat(CHANNEL, "channel", "Canal")
    api.set_bot_status(CHANNEL, "kicked", admin)
    async with db.begin() as session:
        # A row to the channel that names a person (as a report card once did), and that person's own message.
        await outbox.enqueue(session, purpose="post", chat_id=CHANNEL, user_id=uid, payload={"text": "canal"})
        await outbox.enqueue(session, purpose="perso", chat_id=uid, user_id=uid, payload={"text": "privé"})
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    by_purpose = {r.purpose: r for r in await rows(db)}
    assert by_purpose["post"].status == "refused" and "kicked from the channel chat" in by_purpose["post"].last_error
    assert by_purpose["perso"].status == "sent"
    async with db.begin() as session:
        assert (await session.get(User, uid)).unreachable_at is None  # type: ignore[union-attr]


async def test_failure_hooks_react_in_the_transaction_that_records_the_failure(db: Database, api: FakeBotAPI) -> None:
    seen: list[dispatcher.Failure] = []

    async def hook(session: Any, failure: dispatcher.Failure, services: Any) -> None:
        seen.append(failure)
        session.add(Setting(key=f"told:{failure.row_id}", value={"status": failure.status}))

    async def broken(session: Any, failure: dispatcher.Failure, services: Any) -> None:
        raise RuntimeError("a feature's bug")

    hooks = Wiring(failed_hooks={"essai": hook, "casse": broken})
    async with db.begin() as session:
        await outbox.enqueue(session, purpose="essai:1", chat_id=-1009999999999, payload={"text": "x"})
        await outbox.enqueue(session, purpose="casse:1", chat_id=-1008888888888, payload={"text": "x"})
    d = make_dispatcher(db, api, hooks=hooks)
    await d.drain()
    await shut(d)
    statuses = {r.purpose: (r.id, r.status) for r in await rows(db)}
    assert statuses["essai:1"][1] == "refused" and statuses["casse:1"][1] == "refused"  # a broken hook loses nothing
    assert [(f.purpose, f.status) for f in seen] == [("essai:1", "refused")] and "chat not found" in (
        seen[0].error or ""
    )
    async with db.begin() as session:
        told = await session.get(Setting, f"told:{statuses['essai:1'][0]}")
    assert told is not None and told.value == {"status": "refused"}


async def test_a_refused_row_is_sent_again_in_place_exactly_once(db: Database, api: FakeBotAPI) -> None:
    admin = api.make_user(42, "Admin")
    api.add_chat(CHANNEL, "channel", "Canal")
    api.set_bot_status(CHANNEL, "left", admin)
    async with db.begin() as session:
        await outbox.enqueue(session, purpose="bulletin:1:channel", chat_id=CHANNEL, payload={"text": "Bulletin n° 1"})
    d = make_dispatcher(db, api)
    await d.drain()
    (row,) = await rows(db)
    assert row.status == "refused"
    # The same row, enqueued again by the feature: the key still holds it (nothing new, nothing sent).
    async with db.begin() as session:
        await outbox.enqueue(session, purpose="bulletin:1:channel", chat_id=CHANNEL, payload={"text": "Bulletin n° 1"})
    api.set_bot_status(CHANNEL, "administrator", admin)

    async def again() -> list[int]:
        async with db.begin() as session:
            return await outbox.requeue(session, chat_id=CHANNEL, reason="bot back")

    results = await asyncio.gather(*(again() for _ in range(5)))  # "Republier" and the bot re-added, at once
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 1]
    await d.drain()
    await d.drain()
    await shut(d)
    assert [m["text"] for m in api.messages(CHANNEL)] == ["Bulletin n° 1"]
    (row,) = await rows(db)
    assert row.status == "sent" and row.id == results[[len(r) for r in results].index(1)][0]


async def test_a_group_upgraded_to_a_supergroup_gets_the_row_and_everything_queued_for_it(
    db: Database, api: FakeBotAPI
) -> None:
    admin = api.make_user(42, "Admin")
    api.add_chat(GROUP, "group", "MSP des Tilleuls")
    async with db.begin() as session:
        session.add(Group(slug="msp-tilleuls", name="MSP des Tilleuls", kind="msp", chat_id=GROUP))
        await outbox.enqueue(session, purpose="sondage:1:intro", chat_id=GROUP, payload={"text": "Sondage"})
        await outbox.enqueue(
            session,
            purpose="sondage:1:rappel",
            chat_id=GROUP,
            payload={"text": "Rappel"},
            due_at=utcnow().replace(year=2100),
        )
    new_id, _ = api.migrate_to_supergroup(GROUP, admin, announce=False)  # the bot has not seen the service messages
    async with db.begin() as session:  # already queued for the new id too: must not go twice
        await outbox.enqueue(
            session,
            purpose="sondage:1:rappel",
            chat_id=new_id,
            payload={"text": "Rappel"},
            due_at=utcnow().replace(year=2100),
        )
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    assert [m["text"] for m in api.messages(new_id)] == ["Sondage"]
    found = {(r.purpose, r.chat_id): r.status for r in await rows(db)}
    assert found == {
        ("sondage:1:intro", new_id): "sent",
        ("sondage:1:rappel", new_id): "pending",
        ("sondage:1:rappel", GROUP): "skipped",
    }
    async with db.begin() as session:
        assert (await session.scalar(select(Group.chat_id))) == new_id
        assert (await session.get(ChatMove, GROUP)).new_chat_id == new_id  # type: ignore[union-attr]
        assert await current_chat_id(session, GROUP) == new_id
        sent = await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "sondage:1:intro"))
    assert sent is not None and sent.attempts == 1  # a move is not a failed try
