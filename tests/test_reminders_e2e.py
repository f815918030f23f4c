"""Reminders end to end: what a professional receives, mutes and adds to their calendar,
what a coordinator sets and sees, and what happens when the bot was down or a session moves."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import func, select, update

from handlers.meetings import session_events
from handlers.reminders import planner as reminders
from handlers.reminders.planner import EVE_18, decide, due_time, parse_offsets
from handlers.core.render import when_text
from storage import meetings as store
from storage.db import Database
from storage.meetings import SessionDraft
from storage.models import Group, Meeting, MeetingSession, OutboxMessage, Registration, User, utcnow
from storage.reminders_models import ReminderMark
from tests.harness import BotHarness, Person

PARIS = ZoneInfo("Europe/Paris")
GROUP = "CPTS du Verdunois"
ADDRESS = "2 rue d'Anthouard, 55100 Verdun"


async def make_meeting(db: Database, starts_at: datetime, *, offsets: list[int] | None, capacity: int | None = None, title: str = "Parcours diabète") -> tuple[int, int]:
    """A published meeting with one session; returns (group id, session id)."""
    async with db.begin() as session:
        group = await session.scalar(select(Group).where(Group.slug == "cpts-verdun"))
        if group is None:
            group = Group(slug="cpts-verdun", name=GROUP, kind="cpts")
            session.add(group)
            await session.flush()
        meeting = await store.create_meeting(
            session, group_id=group.id, title=title, theme="Coordination ville-hôpital", created_by=None,
            sessions=[SessionDraft(starts_at, starts_at + timedelta(hours=2), True, "Hôpital de Verdun", ADDRESS, capacity)],
        )  # fmt: skip
        meeting.reminder_offsets = offsets
        return group.id, meeting.sessions[0].id


async def join(person: Person, session_id: int, *, days_ago: float | None = 10) -> None:
    """Onboard, open the deep link, confirm; then date the registration back (registered earlier)."""
    if not person.messages():
        await person.onboard("Infirmier", (GROUP,))
    await person.send(f"/start r{session_id}")
    await person.press("Confirmer")
    if days_ago is not None:
        async with person.harness.db.begin() as session:
            await session.execute(
                update(Registration)
                .where(Registration.user_id == person.id, Registration.session_id == session_id)
                .values(created_at=utcnow() - timedelta(days=days_ago))
            )


async def plan(bot: BotHarness, now: datetime | None = None) -> reminders.PlanReport:
    report = await reminders.plan_due(bot.db, now=now)
    bot.application.bot_data["services"].wake_outbox()
    return report


async def forge(bot: BotHarness, person: Person, data: str) -> dict[str, Any]:
    """A callback the person's client was never shown."""
    api = bot.api
    person._new_messages()
    query_id = str(next(api._callback_ids))
    api._open_callbacks.add(query_id)
    pushed = api.push_update({"callback_query": {"id": query_id, "from": person.user, "message": person.messages()[-1], "chat_instance": "1", "data": data}})
    await bot.handled(pushed)
    person.replies = person._new_messages()
    return api.callback_answers.get(query_id, {})


def calendar(content: bytes) -> tuple[Calendar, Any]:
    cal = Calendar.from_ical(content)
    (event,) = cal.walk("VEVENT")
    return cal, event


async def reminder_rows(db: Database) -> list[OutboxMessage]:
    async with db.begin() as session:
        return list(await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose.like("rem:%")).order_by(OutboxMessage.id)))


# ------------------------------------------------------------------------------------ stories
async def test_a_reminder_says_what_when_where_and_offers_cannot_come_and_calendar(bot: BotHarness) -> None:
    start = (utcnow() + timedelta(hours=2) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    _, sid = await make_meeting(bot.db, start, offsets=None, capacity=1)
    camille, lou = bot.person("Camille"), bot.person("Lou")
    await join(camille, sid)
    assert "Inscription confirmée" in camille.reply_text
    assert ("📅 Ajouter à mon agenda", f"m:ics:{sid}") in camille.buttons()
    await join(lou, sid)  # waiting list (one seat)

    await camille.press("Ajouter à mon agenda")
    ((name, content, caption),) = bot.api.files(camille.id)
    cal, event = calendar(content)
    assert name == f"rencontre-{sid}.ics" and "Parcours diabète" in caption
    assert str(cal["METHOD"]) == "PUBLISH" and str(event["UID"]) == f"session-{sid}@relais-sante" and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == start and "Verdun" in str(event["LOCATION"])

    report = await plan(bot)
    assert report.queued == 1  # Lou is waiting, not confirmed
    message = await bot.api.wait_for(lambda m: m["chat"]["id"] == camille.id and "Rappel" in m["text"], timeout=10)
    text = message["text"]
    assert "Parcours diabète, dans 2 heures" in text
    assert when_text(await _session(bot.db, sid), "fr", "Europe/Paris") in text and "h" in text
    assert "Hôpital de Verdun" in text and ADDRESS in text
    link = next(e for e in message["entities"] if e["type"] == "text_link")
    assert link["url"].startswith("https://www.openstreetmap.org/search?query=") and "Verdun" in link["url"]
    labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Je ne pourrai pas venir", "📅 Ajouter à mon agenda", "🔕 Plus de rappel"]

    assert (await plan(bot)).queued == 0  # decided once
    assert len(await reminder_rows(bot.db)) == 1

    await camille.press("Je ne pourrai pas venir", message=message)
    await camille.press("Oui, me désinscrire")
    assert any("inscription est annulée" in (m.get("text") or "") for m in camille.messages())
    await bot.api.wait_for(lambda m: m["chat"]["id"] == lou.id and "place s'est libérée" in m["text"], timeout=10)


async def _session(db: Database, sid: int) -> MeetingSession:
    async with db.begin() as session:
        return await session.get(MeetingSession, sid)


async def test_seven_days_before_only_for_those_registered_earlier_and_muted_people_get_nothing(bot: BotHarness) -> None:
    start = utcnow() + timedelta(days=7) - timedelta(minutes=1)
    _, sid = await make_meeting(bot.db, start, offsets=None)
    early, late, quiet, picky = (bot.person(n) for n in ("Alex", "Sam", "Noa", "Eli"))
    await join(early, sid, days_ago=10)
    await join(late, sid, days_ago=None)  # registered after the 7-day mark: the confirmation is enough
    await join(quiet, sid, days_ago=10)
    await join(picky, sid, days_ago=10)

    await quiet.send("/rappels")
    assert "Vos rappels" in quiet.reply_text and "7 jours avant, la veille à 18 h, 2 heures avant" in quiet.reply_text
    await quiet.press("Couper tous mes rappels")
    assert "coupés pour toutes les rencontres" in quiet.last_text
    await picky.send("/rappels")
    await picky.press("Couper — Hôpital de Verdun")
    assert "rappels coupés" in picky.last_text

    report = await plan(bot)
    assert report.queued == 1
    message = await bot.api.wait_for(lambda m: "Rappel" in m["text"], timeout=10)
    assert message["chat"]["id"] == early.id and "dans 7 jours" in message["text"]
    assert [r.chat_id for r in await reminder_rows(bot.db)] == [early.id]

    await quiet.send("/rappels")
    await quiet.press("Réactiver mes rappels")
    async with bot.db.begin() as session:
        assert (await session.get(User, quiet.id)).reminders_muted is False


async def test_muting_from_a_reminder_drops_what_is_queued(bot: BotHarness) -> None:
    start = utcnow() + timedelta(hours=2) - timedelta(minutes=1)
    _, sid = await make_meeting(bot.db, start, offsets=[120, 60 * 24 * 3])
    camille = bot.person("Camille")
    await join(camille, sid)
    await plan(bot)
    message = await bot.api.wait_for(lambda m: m["chat"]["id"] == camille.id and "Rappel" in m["text"], timeout=10)
    await camille.press("Plus de rappel", message=message)
    assert "plus de rappel pour cette rencontre" in camille.reply_text
    async with bot.db.begin() as session:
        reg = await session.scalar(select(Registration).where(Registration.user_id == camille.id))
    assert reg.reminders_muted is True


async def test_bot_down_across_reminder_times_sends_the_useful_one_once_and_records_the_stale(db: Database) -> None:
    now = utcnow()
    _, started = await make_meeting(db, now - timedelta(hours=1), offsets=None, title="Déjà commencée")
    _, soon = await make_meeting(db, now + timedelta(minutes=90), offsets=None, title="Bientôt")
    async with db.begin() as session:
        session.add(User(id=42, first_name="Camille", language="fr"))
        await session.flush()
        for sid in (started, soon):
            session.add(Registration(session_id=sid, user_id=42, status="confirmed", created_at=now - timedelta(days=10)))

    report = await reminders.plan_due(db, now=now)
    assert (report.planned, report.queued) == (1, 1)
    async with db.begin() as session:
        marks = {(m.session_id, m.offset_min): m.status for m in await session.scalars(select(ReminderMark))}
    assert marks[(started, 120)] == marks[(started, EVE_18)] == marks[(started, 7 * 24 * 60)] == "stale"
    assert marks[(soon, 120)] == "queued"
    assert marks[(soon, 7 * 24 * 60)] == marks[(soon, EVE_18)] == "superseded"
    (row,) = await reminder_rows(db)
    assert row.purpose.startswith(f"rem:s{soon}:o120:") and "dans 2 heures" in row.payload["text"] and row.not_after is not None

    again = await reminders.plan_due(db, now=now + timedelta(minutes=1))
    assert again.queued == 0 and len(await reminder_rows(db)) == 1


async def test_a_moved_session_replans_its_reminders_and_updates_calendars_a_cancelled_one_drops_them(db: Database) -> None:
    now = utcnow()
    _, sid = await make_meeting(db, now + timedelta(hours=2) - timedelta(minutes=1), offsets=[120])
    async with db.begin() as session:
        session.add(User(id=42, first_name="Camille", language="en"))
        await session.flush()
        session.add(Registration(session_id=sid, user_id=42, status="confirmed", created_at=now - timedelta(days=10)))
        await reminders.store.record_calendar_copy(session, 42, sid, 0, now)
    assert (await reminders.plan_due(db, now=now)).queued == 1

    async with db.begin() as session:  # what /gerer does: change, notify, then the reminders' listener
        ms = await store.update_session(session, sid, starts_at=now + timedelta(days=1, hours=2))
        await reminders.follow_session_change(session, ms, "date")
    rows = await reminder_rows(db)
    assert [r.status for r in rows] == ["skipped"] and rows[0].last_error == "obsolete"
    async with db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(ReminderMark)) == 0
        doc = await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == f"ics:s{sid}:v1"))
    assert doc.method == "sendDocument" and "has changed" in doc.payload["caption"]
    _, event = calendar(base64.b64decode(doc.payload["document"]["b64"]))
    assert int(event["SEQUENCE"]) == 1

    assert (await reminders.plan_due(db, now=now)).queued == 0  # not yet: it follows the new time
    assert (await reminders.plan_due(db, now=now + timedelta(days=1, minutes=1))).queued == 1

    async with db.begin() as session:
        ms = await store.cancel_session(session, sid)
        await reminders.follow_session_change(session, ms, "cancelled")
        doc = await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == f"ics:s{sid}:v2"))
    assert all(r.status == "skipped" for r in await reminder_rows(db))
    cal, event = calendar(base64.b64decode(doc.payload["document"]["b64"]))
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 2
    assert (await reminders.plan_due(db, now=now + timedelta(days=1, hours=1))).queued == 0


async def test_cancelled_session_sends_the_calendar_cancel_to_who_took_the_file(bot: BotHarness) -> None:
    _, sid = await make_meeting(bot.db, utcnow() + timedelta(days=3), offsets=[])
    camille = bot.person("Camille")
    await join(camille, sid)
    await camille.press("Ajouter à mon agenda")
    async with bot.db.begin() as session:
        ms = await store.cancel_session(session, sid)
        await session_events.on_session_changed(bot.application.bot_data["services"], session, ms, "cancelled")
    bot.application.bot_data["services"].wake_outbox()
    await bot.api.wait_for(lambda m: m["chat"]["id"] == camille.id and "annulée" in (m.get("caption") or ""), timeout=10)
    cal, event = calendar(bot.api.files(camille.id)[-1][1])
    assert str(cal["METHOD"]) == "CANCEL" and int(event["SEQUENCE"]) == 1


async def test_coordinator_sets_reminders_per_meeting_and_sees_delivery_counts(bot: BotHarness) -> None:
    start = utcnow() + timedelta(hours=1, minutes=59)
    _, sid = await make_meeting(bot.db, start, offsets=None)
    dominique = bot.coordinator()
    await dominique.send("/rappels_rencontre")
    await dominique.press("Parcours diabète")
    assert "Rappels actuels : 7 jours avant, la veille à 18 h, 2 heures avant" in dominique.last_text
    await dominique.send("dans 3 jours, veille 19h30")
    assert "Je n'ai pas compris « dans 3 jours »" in dominique.reply_text
    await dominique.send("3j, veille 19h30, 2h")
    assert "3 jours avant, la veille à 19 h 30, 2 heures avant" in dominique.reply_text
    async with bot.db.begin() as session:
        meeting = await session.scalar(select(Meeting))
    assert meeting.reminder_offsets == [3 * 24 * 60, -(19 * 60 + 30), 120]
    async with bot.db.begin() as session:  # added times already past are not sent late
        marks = {m.offset_min: m.status for m in await session.scalars(select(ReminderMark))}
    assert marks == {3 * 24 * 60: "superseded", -(19 * 60 + 30): "superseded"}

    people = [bot.person(n) for n in ("Alex", "Sam", "Noa")]
    for person in people:
        await join(person, sid)
    bot.api.block(people[2].id)
    since = len(bot.api.calls)
    await plan(bot)
    await bot.api.wait_for_call(lambda method, p: method == "sendMessage" and p["chat_id"] == people[2].id, timeout=10, since=since)
    await bot.application.bot_data["services"].outbox.settle()  # the dispatcher committed every answer
    await dominique.send("/envois")
    text = dominique.reply_text
    assert "Derniers envois" in text and "Rappel 2 heures avant · Parcours diabète" in text
    assert "3 destinataires" in text and "✅ 2 envoyés" in text
    assert "🚫 1 injoignable" in text and "injoignables" not in text


async def test_members_cannot_configure_reminders_or_see_sends_even_with_forged_buttons(bot: BotHarness) -> None:
    _, sid = await make_meeting(bot.db, utcnow() + timedelta(days=3), offsets=None)
    mallory = bot.person("Mallory")
    await mallory.onboard("Infirmier", (GROUP,))
    await mallory.send("/rappels_rencontre")
    assert "pas autorisé" in mallory.reply_text or "réservé" in mallory.reply_text
    await mallory.send("/envois")
    assert "pas autorisé" in mallory.reply_text or "réservé" in mallory.reply_text
    async with bot.db.begin() as session:
        meeting_id = (await session.scalar(select(Meeting))).id
    await forge(bot, mallory, f"r:none:{meeting_id}")
    async with bot.db.begin() as session:
        assert (await session.scalar(select(Meeting))).reminder_offsets is None
    outsider = bot.person("Zoé")
    await outsider.onboard("Pharmacien", ())
    await forge(bot, outsider, f"m:ics:{sid}")
    assert bot.api.files(outsider.id) == []


# ------------------------------------------------------------------------------------ rules
def test_offsets_are_read_in_french_and_english() -> None:
    assert parse_offsets("7j, veille 18h, 2h") == [7 * 24 * 60, EVE_18, 120]
    assert parse_offsets("3 jours et 30 min") == [3 * 24 * 60, 30]
    assert parse_offsets("7d, eve 18:00, 2 hours") == [7 * 24 * 60, EVE_18, 120]
    assert parse_offsets("défaut") is None and parse_offsets("aucun") == []
    assert parse_offsets("2 semaines, veille 18h") == [14 * 24 * 60, EVE_18]
    assert parse_offsets("1 semaine et 2 sem") == [14 * 24 * 60, 7 * 24 * 60]


def test_the_eve_reminder_is_at_18h_paris_across_daylight_saving() -> None:
    start = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # Monday 9:00 in Paris (summer time since Sunday)
    assert due_time(EVE_18, start, PARIS) == datetime(2026, 3, 29, 16, 0, tzinfo=UTC)  # Sunday 18:00 CEST
    winter = datetime(2026, 1, 26, 13, 0, tzinfo=UTC)
    assert due_time(EVE_18, winter, PARIS).astimezone(PARIS).hour == 18


def test_catching_up_after_downtime_keeps_only_the_latest_due_reminder() -> None:
    ms = MeetingSession(id=1, starts_at=datetime(2026, 5, 12, 12, 0, tzinfo=UTC), has_time=True)
    now = datetime(2026, 5, 12, 10, 30, tzinfo=UTC)
    decision = decide(ms, [7 * 24 * 60, EVE_18, 120], {}, now, PARIS)
    assert decision.plan == (120, datetime(2026, 5, 12, 10, 0, tzinfo=UTC))
    assert sorted(o for o, _ in decision.superseded) == [EVE_18, 7 * 24 * 60]
