"""The races around native polls, at the storage level (both databases)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import polls as store
from storage.db import Database
from storage.models import Group, Membership, OutboxMessage, User, utcnow


async def two_polls_for_one_member(db: Database) -> tuple[int, int, int]:
    async with db.begin() as session:
        group = Group(slug="g", name="G")
        session.add_all([group, User(id=501, first_name="Lou")])
        await session.flush()
        session.add(Membership(user_id=501, group_id=group.id))
        await session.flush()
        audience = store.Audience("group", group.id)
        ids = []
        for question in ("Pizza ?", "Salle ?"):
            poll, _ = await store.create_poll(
                session, kind=store.QUICK, question=question, options=[store.OptionDraft("Oui"), store.OptionDraft("Non")],
                audience=audience, closes_at=utcnow() + timedelta(days=1), created_by=None,
            )
            ids.append(poll.id)
        return ids[0], ids[1], 501


async def test_an_answer_arriving_before_the_poll_id_is_replayed_on_the_right_poll(db: Database) -> None:
    first, second, voter = await two_polls_for_one_member(db)
    async with db.begin() as session:  # two open polls: the voter's answer cannot be guessed yet
        assert await store.record_native_answer(session, "tg-2", voter, [1], utcnow()) == "queued"
    async with db.begin() as session:
        await store.record_sent_poll(session, f"poll:{first}:send", voter, {"message_id": 7, "poll": {"id": "tg-1"}})
        await store.record_sent_poll(session, f"poll:{second}:send", voter, {"message_id": 8, "poll": {"id": "tg-2"}})
    async with db.begin() as session:
        results_first = await store.quick_results(session, await store.get_poll(session, first))  # type: ignore[arg-type]
        results_second = await store.quick_results(session, await store.get_poll(session, second))  # type: ignore[arg-type]
    assert results_first.counts == [0, 0]
    assert results_second.counts == [0, 1] and results_second.voters == 1


async def test_a_poll_delivered_after_its_deadline_is_stopped_at_once(db: Database) -> None:
    first, _, voter = await two_polls_for_one_member(db)
    async with db.begin() as session:
        closed = await store.claim_due(session, utcnow() + timedelta(days=2))
        assert {p.id for p in closed} == {first, first + 1}
    async with db.begin() as session:
        await store.record_sent_poll(session, f"poll:{first}:send", voter, {"message_id": 7, "poll": {"id": "tg-1"}})
    async with db.begin() as session:
        stop = (await session.scalars(select(OutboxMessage).where(OutboxMessage.method == "stopPoll"))).one()
    assert (stop.chat_id, stop.payload, stop.purpose) == (voter, {"message_id": 7}, f"poll:{first}:stop")


def test_best_slots_rank_oui_then_si_besoin_then_time() -> None:
    from storage.polls_models import PollOption

    def slot(position: int, yes: int, maybe: int, no: int = 0) -> store.SlotResult:
        return store.SlotResult(PollOption(id=position + 1, position=position, text=""), yes, maybe, no)

    ranked = store.best_slots([slot(0, 1, 0), slot(1, 2, 0), slot(2, 1, 3), slot(3, 0, 0, 5), slot(4, 2, 0)])
    assert [r.option.position for r in ranked] == [1, 4, 2, 0]
