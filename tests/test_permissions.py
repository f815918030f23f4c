"""Coordinator and crisis-cell actions are refused to a plain professional, and change nothing.

Two kinds of checks. The tables below try every privileged command and forged button
(callback data a modified client can send: Telegram does not check it against the message)
as an onboarded professional, and compare a dump of every table before and after. The
discovery tests read the running application's handlers, so a command or button prefix
added by a feature must be classified here (member, or a row in the tables) or they fail.
"""

from __future__ import annotations

import html
import itertools
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.i18n import catalogue
from bot.sample_data import load_samples
from storage import dialogs
from storage import users as users_store
from storage.all_models import Base
from storage.db import Database
from storage.models import Group, Meeting, MeetingSession, utcnow
from tests.harness import COORDINATOR_ID, BotHarness, Person

GHT = "GHT Cœur Grand Est"
# Per table, columns a refused action may legitimately touch (Telegram names refresh on every update).
HARMLESS = {
    "users": {"first_name", "last_name", "username", "unreachable_at"},
    "processed_updates": {"update_id", "handler", "handled_at"},  # every update is recorded as handled, refused or not
}

# Commands any professional may use (their own data, their own registrations, help…).
MEMBER_COMMANDS = {
    "start", "aide", "help", "profil", "langue", "language", "annuler", "cancel",
    "rencontres", "inscrire", "desinscrire", "mesinscriptions", "mesdonnees", "oublier",
    "rappels", "questionnaire", "abonnements", "signaler", "telephone", "kit_crise", "calendrier",
}
# (command as typed, role required). Placeholders are filled from the seeded data.
PRIVILEGED_COMMANDS: list[tuple[str, str]] = [
    ("/nouvelle_rencontre", "coordinator"),
    ("/inscrits", "coordinator"),
    ("/gerer", "coordinator"),
    ("/lien", "coordinator"),
    ("/coordinateur {pro}", "coordinator"),
    ("/coordinateur @sacha_ide ght-coeur-grand-est", "coordinator"),
    ("/coordinateur {other} coordos-52", "coordinator"),
    ("/coordinateur", "coordinator"),
    ("/groupes", "coordinator"),
    ("/sondage", "coordinator"),
    ("/sondage_dates", "coordinator"),
    ("/resultats", "coordinator"),
    ("/envois", "coordinator"),
    ("/rappels_rencontre", "coordinator"),
    ("/bulletin", "crisis"),
    ("/suivi", "crisis"),
    ("/suivi {bulletin}", "crisis"),
    ("/relancer {bulletin}", "crisis"),
    ("/relancer {bulletin} 30", "crisis"),
    ("/crise on", "crisis"),
    ("/crise off", "crisis"),
    ("/cellule {pro}", "coordinator"),
    ("/cellule retirer {coordinator}", "coordinator"),
    ("/signalements", "crisis"),
]
# Forged callback data that would act on seeded objects if a check were missing, with the
# conversation the presser is (still) in: someone demoted half-way through a wizard, or a
# forged button of a wizard they never could open. (data, dialog flow, dialog step)
PRIVILEGED_CALLBACKS: list[tuple[str, str | None, str | None]] = [
    *((f"co:{action}:{{meeting}}", None, None) for action in ("ins", "lnk", "ger")),
    *((f"co:{action}:{{session}}", None, None) for action in ("ses", "date", "place", "cap", "tbd", "nolim", "cxl", "cxlok", "keep")),
    ("co:dok:{session}:1", "edit_session", "date_confirm"),
    ("co:dno:{session}:1", "edit_session", "date_confirm"),
    ("nr:grp:{group}", "new_meeting", "group"),
    ("nr:skip:0", "new_meeting", "theme"),
    ("nr:dok:1", "new_meeting", "date_confirm"),
    ("nr:tbd:0", "new_meeting", "place"),
    ("nr:nolim:0", "new_meeting", "capacity"),
    ("nr:done:0", "new_meeting", "more"),
    ("nr:pub:0", "new_meeting", "review"),
    ("nr:pub:0", None, None),
    ("p:n:send:1", "poll_new", "confirm"),
    ("p:n:group:{group}", "poll_new", "group"),
    ("p:n:aud:g", "poll_new", "audience"),
    ("p:n:done:0", "poll_new", "options"),
    ("p:n:meet:{meeting}", "poll_new", "meeting"),
    ("p:n:send:1", None, None),
    ("p:r:{poll}:0", None, None),
    ("p:r:{date_poll}:0", None, None),
    ("p:r:{form}:0", None, None),
    ("p:d:mk:{date_poll}:{slot}", None, None),
    ("p:f:new:0", None, None),
    ("cb:pub:1", "bulletin", "preview"),
    ("cb:cat:epidemic", "bulletin", "category"),
    ("cb:aud:all", "bulletin", "audience"),
    ("cb:ag:{group}", "bulletin", "groups"),
    ("cb:pub:1", None, None),
    ("cv:ref:{bulletin}:0", None, None),
    ("cv:now:{bulletin}:0", None, None),
    ("cv:in:{bulletin}:30", None, None),
    ("cr:done:{report}", None, None),
    ("cr:ans:{report}", None, None),
    *((f"gp:{action}:{{group}}", None, None) for action in ("open", "inv", "ren", "unl", "arc", "arcok", "unarc")),
    ("gp:list:0", None, None),
    ("gp:new:0", None, None),
    ("gp:arch:0", None, None),
    ("gp:slug:0", "groups", "slug"),
    ("gp:apt:{group}:{coordinator}", None, None),
    ("gp:apt:0:{coordinator}", None, None),
    ("r:cfg:{meeting}", None, None),
    ("r:def:{meeting}", None, None),
    ("r:none:{meeting}", None, None),
]
# Button prefixes whose every action is a member's own business (re-checked by their handlers).
MEMBER_CALLBACK_PATTERNS = {"^o:", "^l:", "^m:", "^m:ics:", "^pv:", "^ca:", "^tel:", "^ab:", "^rp:"}
# Phrases that mean "no": the bot must answer a forged action with one of these (or stay silent).
REFUSAL_KEY = re.compile(r"(not_allowed|only_admin|cell_only|not_recipient|stale_button|not_for_you|start_first|private_only)")

_query_ids = itertools.count(8_100_000_001)


# ------------------------------------------------------------------------------------ helpers
@pytest.fixture
async def quiet_bot(db: Database, api) -> AsyncIterator[BotHarness]:  # type: ignore[no-untyped-def]
    """The real bot without background work (no periodic job writes between two dumps) and
    without the flood throttle (these tests send many updates from one person on purpose)."""
    harness = BotHarness(api, db, extra={"FLOOD_PER_MINUTE": "0"})
    harness.application.bot_data["background"] = False
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def dump_tables(db: Database, harmless: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """Every row of every table (sorted, as text), minus the harmless columns."""
    harmless = HARMLESS if harmless is None else harmless
    dump: dict[str, list[str]] = {}
    async with db.begin() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in harmless.get(table.name, set())]
            if not columns:
                continue
            rows = (await session.execute(select(*columns))).all()
            dump[table.name] = sorted(repr(tuple(row)) for row in rows)
    return dump


def differences(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    out = []
    for name in before:
        gone, new = set(before[name]) - set(after[name]), set(after[name]) - set(before[name])
        if gone or new:
            out.append(f"{name}: -{sorted(gone)[:2]} +{sorted(new)[:2]}")
    return out


def registered_commands(application: Application) -> set[str]:
    return {c for group in application.handlers.values() for h in group if isinstance(h, CommandHandler) for c in h.commands}


def callback_patterns(application: Application) -> list[re.Pattern[str]]:
    found = []
    for group in application.handlers.values():
        for h in group:
            if isinstance(h, CallbackQueryHandler) and isinstance(h.pattern, re.Pattern):
                found.append(h.pattern)
    return found


def refusal_phrases() -> list[str]:
    """The start of every refusal message, as Telegram shows it (tags removed)."""
    phrases = []
    for key, template in catalogue("fr").items():
        if REFUSAL_KEY.search(key):
            plain = html.unescape(re.sub(r"<[^>]+>", "", template)).split("{", 1)[0].strip()
            if len(plain) >= 12:
                phrases.append(plain[:40])
    return phrases


async def forge_press(bot: BotHarness, person: Person, data: str) -> str:
    """Send callback data the person's newest message may not carry; returns the notice shown."""
    messages = person.messages()
    if not messages:
        await person.send("/aide")
        messages = person.messages()
    qid = str(next(_query_ids))
    bot.api._open_callbacks.add(qid)  # a delivered query is answerable, forged data or not
    query = {"id": qid, "from": person.user, "message": messages[-1], "chat_instance": "1", "data": data}
    person._new_messages()
    update = bot.api.push_update({"callback_query": query})
    await bot.handled(update)
    person.replies = person._new_messages()
    return str(bot.api.callback_answers.get(qid, {}).get("text") or "")


async def seed(bot: BotHarness) -> dict[str, Any]:
    """Sample groups and meetings, a poll of each kind, an urgent bulletin, a field report:
    ids to aim forged actions at."""
    from storage import crisis as crisis_store
    from storage import polls as polls_store
    from storage.crisis_models import FieldReport

    now = utcnow()
    async with bot.db.begin() as session:
        await load_samples(session, now=now)
        group = await session.scalar(select(Group).where(Group.slug == "ght-coeur-grand-est"))
        meeting = await session.scalar(select(Meeting).where(Meeting.group_id == group.id))
        ms = await session.scalar(select(MeetingSession).where(MeetingSession.meeting_id == meeting.id).order_by(MeetingSession.starts_at))
        audience = polls_store.Audience("group", group.id)
        common = {"audience": audience, "closes_at": now + timedelta(days=7), "created_by": COORDINATOR_ID}
        poll, _ = await polls_store.create_poll(
            session, kind=polls_store.QUICK, question="Quel thème ?", options=[polls_store.OptionDraft("A"), polls_store.OptionDraft("B")], **common
        )
        slots = [polls_store.OptionDraft(f"slot {i}", starts_at=now + timedelta(days=10 + i), ends_at=now + timedelta(days=10 + i, hours=2)) for i in range(2)]
        date_poll, _ = await polls_store.create_poll(session, kind=polls_store.DATES, question="Quand ?", options=slots, **common)
        form, _ = await polls_store.create_poll(
            session, kind=polls_store.FORM, question="Bilan", options=[polls_store.OptionDraft("Qu'avez-vous retenu ?")], **common
        )
        bulletin = await crisis_store.create_bulletin(
            session,
            crisis_store.BulletinDraft(category="epidemic", source="ars", priority="urgent", title="Alerte", body="Texte", links=[], audience={"kind": "all"}),
            created_by=COORDINATOR_ID,
            now=now,
        )
        report = FieldReport(user_id=None, category="shortage", commune="Verdun", text="rupture", status="open", replies=0)
        session.add(report)
        await session.flush()
        return {
            "group": group.id, "meeting": meeting.id, "session": ms.id, "coordinator": COORDINATOR_ID,
            "poll": poll.id, "date_poll": date_poll.id, "slot": date_poll.options[0].id, "form": form.id,
            "bulletin": bulletin.id, "report": report.id,
        }


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def professional(bot: BotHarness, ids: dict[str, Any]) -> Person:
    pro = bot.person("Sacha", username="sacha_ide")
    await pro.onboard("Infirmier", (GHT,))
    other = bot.person("Noa")
    await other.send("/start")
    ids.update(pro=pro.id, other=other.id)
    return pro


# ------------------------------------------------------------------------------------ discovery
async def test_every_registered_command_is_classified(bot: BotHarness) -> None:
    privileged = {text.split()[0][1:] for text, _ in PRIVILEGED_COMMANDS}
    unknown = registered_commands(bot.application) - MEMBER_COMMANDS - privileged
    assert not unknown, f"classify these commands in tests/test_permissions.py: {sorted(unknown)}"


async def test_every_button_prefix_is_classified(bot: BotHarness) -> None:
    unclassified = [
        p.pattern for p in callback_patterns(bot.application)
        if p.pattern not in MEMBER_CALLBACK_PATTERNS and not any(p.match(data) for data, _, _ in PRIVILEGED_CALLBACKS)
    ]
    assert not unclassified, f"add forged rows for these button prefixes in tests/test_permissions.py: {unclassified}"


# ------------------------------------------------------------------------------------ the tables
async def test_plain_professional_is_refused_every_privileged_command(quiet_bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = quiet_bot
    ids = await seed(bot)
    pro = await professional(bot, ids)
    registered = registered_commands(bot.application)
    phrases = refusal_phrases()
    failures, tried = [], 0
    for template, role in PRIVILEGED_COMMANDS:
        text = template.format(**ids)
        if text.split()[0][1:] not in registered:
            continue  # that feature has not landed yet
        tried += 1
        before = await dump_tables(bot.db)
        await pro.send(text)
        said = pro.reply_text
        if changed := differences(before, await dump_tables(bot.db)):
            failures.append(f"{text} ({role}) changed the database: {changed}")
        if not any(phrase in said for phrase in phrases):
            failures.append(f"{text} ({role}) was not refused: {said[:120]!r}")
        if "Oups" in said:
            failures.append(f"{text} failed with an error")
    assert tried >= 5
    assert not failures, "\n".join(failures)
    assert not errors(caplog)


async def test_plain_professional_cannot_forge_privileged_buttons(quiet_bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = quiet_bot
    ids = await seed(bot)
    pro = await professional(bot, ids)
    patterns = callback_patterns(bot.application)
    phrases = refusal_phrases()
    failures, tried = [], 0
    for template, flow, step in PRIVILEGED_CALLBACKS:
        data = template.format(**ids)
        if not any(p.match(data) for p in patterns):
            continue  # no handler for it (yet): Telegram's query is simply never answered
        tried += 1
        async with bot.db.begin() as session:
            if flow is None:
                await dialogs.finish(session, pro.id, pro.id)
            else:
                await dialogs.start(session, pro.id, pro.id, flow, step, {"group_id": ids["group"], "proposal": 1})
        before = await dump_tables(bot.db)
        notice = await forge_press(bot, pro, data)
        said = "\n".join([notice, *(m.get("text") or m.get("caption") or "" for m in pro.replies)])
        if changed := differences(before, await dump_tables(bot.db)):
            failures.append(f"{data} changed the database: {changed}")
        if said.strip() and not any(phrase in said for phrase in phrases):
            failures.append(f"{data} answered something other than a refusal: {said[:160]!r}")
        if "Oups" in said:
            failures.append(f"{data} failed with an error")
    assert tried >= 10
    assert not failures, "\n".join(failures)
    assert not errors(caplog)


async def test_a_coordinator_of_another_group_cannot_manage_this_one(quiet_bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = quiet_bot
    ids = await seed(bot)
    alex = bot.person("Alex")
    await alex.onboard("Coordinateur", ("Haute-Marne",))
    async with bot.db.begin() as session:
        user = await users_store.find_user(session, str(alex.id))
        other_group = await session.scalar(select(Group.id).where(Group.slug == "coordos-52"))
        await users_store.appoint_coordinator(session, user, other_group)
    patterns = callback_patterns(bot.application)
    failures = []
    for template, flow, _ in PRIVILEGED_CALLBACKS:
        data = template.format(**ids)
        if flow or not data.startswith(("co:", "p:r:", "p:d:mk", "r:", "gp:")) or not any(p.match(data) for p in patterns):
            continue
        before = await dump_tables(bot.db)
        await forge_press(bot, alex, data)
        if changed := differences(before, await dump_tables(bot.db)):
            failures.append(f"{data} changed the database: {changed}")
    assert not failures, "\n".join(failures)
    assert not errors(caplog)
