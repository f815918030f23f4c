"""Crisis communication data: bulletins, acknowledgements, escalations, digests, field reports.

What was delivered lives in the outbox (purposes below), so the counts the crisis cell sees
are the dispatcher's own records, not a second bookkeeping that could drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage import core
from storage.crisis_models import Bulletin, BulletinAck, CrisisRun, DigestOptOut, FieldReport
from storage.db import dialect_insert
from storage.models import Group, Membership, OutboxMessage, Setting, User
from storage.types import UTCDateTime

CATEGORIES = ("epidemic", "shortage", "cyber", "care_org", "prevention", "other")
SOURCES = ("ars", "has", "dgs", "ansm", "ght", "cpam", "cpts", "other")
PRIORITIES = ("urgent", "important", "info")
STOCK_LEVELS = ("out", "low", "ok")
ANSWERS = ("ack", "not_concerned")
CRISIS_MODE_KEY = "crisis_mode"


# -- outbox purposes ---------------------------------------------------------------------------
def channel_purpose(bulletin_id: int) -> str:
    return f"bulletin:{bulletin_id}:channel"


def channel_file_purpose(bulletin_id: int) -> str:
    return f"bulletin:{bulletin_id}:channel-file"


def urgent_purpose(bulletin_id: int) -> str:
    return f"bulletin:{bulletin_id}:urgent"


def relance_prefix(bulletin_id: int) -> str:
    return f"bulletin:{bulletin_id}:relance:"


def report_card_purpose(report_id: int) -> str:
    """A field report's card to the crisis cell (its chat, or each member)."""
    return f"report:{report_id}:cell"


# -- audience ----------------------------------------------------------------------------------
def audience_filter(audience: dict[str, Any]) -> ColumnElement[bool]:
    """The SQL condition on `User` for a bulletin's audience (onboarded professionals)."""
    kind = audience.get("kind", "all")
    values = list(audience.get("values") or [])
    condition: ColumnElement[bool] = User.onboarded_at.is_not(None)
    if kind == "professions":
        condition = and_(condition, User.profession.in_(values))
    elif kind == "groups":
        members = select(Membership.user_id).where(Membership.group_id.in_([int(v) for v in values]))
        condition = and_(condition, User.id.in_(members))
    return condition


async def audience_user_ids(session: AsyncSession, audience: dict[str, Any]) -> list[int]:
    return list(await session.scalars(select(User.id).where(audience_filter(audience)).order_by(User.id)))


async def audience_size(session: AsyncSession, audience: dict[str, Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(User).where(audience_filter(audience))) or 0)


# -- bulletins ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BulletinDraft:
    category: str
    source: str
    priority: str
    title: str
    body: str
    links: list[str]
    audience: dict[str, Any]
    attachment_file_id: str | None = None
    attachment_kind: str | None = None
    replaces_id: int | None = None


async def create_bulletin(
    session: AsyncSession, draft: BulletinDraft, *, created_by: int | None, now: datetime
) -> Bulletin:
    """Store a published bulletin; the one it replaces (if still in force) is marked replaced."""
    replaced = None
    if draft.replaces_id is not None:
        replaced = await session.get(Bulletin, draft.replaces_id, with_for_update=True)
        if replaced is None or replaced.status != "published":
            replaced = None
    bulletin = Bulletin(
        category=draft.category,
        source=draft.source,
        priority=draft.priority,
        title=draft.title,
        body=draft.body,
        links=list(draft.links),
        attachment_file_id=draft.attachment_file_id,
        attachment_kind=draft.attachment_kind,
        audience=dict(draft.audience),
        audience_count=await audience_size(session, draft.audience),
        replaces_id=replaced.id if replaced else None,
        created_by=created_by,
        published_at=now,
        status="published",
        escalations=0,
        channel_edit_done=False,
    )
    session.add(bulletin)
    await session.flush()
    if replaced is not None:
        replaced.status = "replaced"
        replaced.replaced_by_id = bulletin.id
        await cancel_escalations(session, replaced, reason=f"replaced by bulletin {bulletin.id}")
    return bulletin


async def cancel_escalations(session: AsyncSession, bulletin: Bulletin, *, reason: str) -> int:
    """Reminders of a bulletin still waiting to go out are not sent (it was replaced)."""
    if not bulletin.escalations:
        return 0
    result = await core.execute_dml(
        session,
        update(OutboxMessage)
        .where(
            OutboxMessage.purpose.in_(relance_purposes(bulletin.id, bulletin.escalations)),
            OutboxMessage.status == "pending",
        )
        .values(status="skipped", last_error=reason),
    )
    return result.rowcount or 0


async def get_bulletin(session: AsyncSession, bulletin_id: int) -> Bulletin | None:
    """`session.get`, through one Core statement (every acknowledgement button reads it: storage/core.py)."""
    return await core.run(session, core.get, Bulletin, bulletin_id)


async def in_force(session: AsyncSession, limit: int | None = None) -> list[Bulletin]:
    """Published bulletins not replaced, newest first."""
    stmt = (
        select(Bulletin)
        .where(Bulletin.status == "published")
        .order_by(Bulletin.published_at.desc(), Bulletin.id.desc())
    )
    if limit:
        stmt = stmt.limit(limit)
    return list(await session.scalars(stmt))


async def latest_urgent(session: AsyncSession) -> Bulletin | None:
    return await session.scalar(
        select(Bulletin).where(Bulletin.priority == "urgent").order_by(Bulletin.id.desc()).limit(1)
    )


async def posted_message_id(session: AsyncSession, purpose: str, chat_id: int) -> tuple[str | None, int | None]:
    """(status, message_id) of an outbox row: None status when it was never queued."""
    row = (
        await session.execute(
            select(OutboxMessage.status, OutboxMessage.message_id).where(
                OutboxMessage.purpose == purpose, OutboxMessage.chat_id == chat_id
            )
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


@dataclass(frozen=True)
class ChannelPost:
    """A bulletin's post in the crisis channel, as the outbox recorded it."""

    row_id: int
    chat_id: int
    status: str
    message_id: int | None
    error: str | None


async def channel_post(session: AsyncSession, bulletin_id: int) -> ChannelPost | None:
    """The channel post's row (None: never queued, e.g. no channel was configured)."""
    row = (
        await session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.chat_id,
                OutboxMessage.status,
                OutboxMessage.message_id,
                OutboxMessage.last_error,
            )
            .where(OutboxMessage.purpose == channel_purpose(bulletin_id))
            .order_by(OutboxMessage.id)
            .limit(1)
        )
    ).first()
    return ChannelPost(*row) if row else None


async def channel_rows(session: AsyncSession, bulletin_id: int) -> list[OutboxMessage]:
    """The post and its file, the rows "Republier" sends again."""
    purposes = [channel_purpose(bulletin_id), channel_file_purpose(bulletin_id)]
    return list(
        await session.scalars(
            select(OutboxMessage).where(OutboxMessage.purpose.in_(purposes)).order_by(OutboxMessage.id)
        )
    )


async def channel_posts(session: AsyncSession, bulletin_ids: Sequence[int], chat_id: int) -> dict[int, int]:
    """Channel message ids of bulletins already posted: {bulletin_id: message_id}."""
    if not bulletin_ids:
        return {}
    purposes = {channel_purpose(b): b for b in bulletin_ids}
    rows = await session.execute(
        select(OutboxMessage.purpose, OutboxMessage.message_id).where(
            OutboxMessage.purpose.in_(list(purposes)),
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.message_id.is_not(None),
        )
    )
    return {purposes[p]: int(mid) for p, mid in rows}


async def replaced_awaiting_edit(session: AsyncSession) -> list[Bulletin]:
    """Replaced bulletins whose channel post still shows them as in force."""
    stmt = (
        select(Bulletin)
        .where(Bulletin.status == "replaced", Bulletin.channel_edit_done.is_(False))
        .order_by(Bulletin.id)
    )
    return list(await session.scalars(stmt.with_for_update(skip_locked=True)))


# -- acknowledgements and escalation -----------------------------------------------------------
_OUTBOX: Table = OutboxMessage.__table__
_SENT_TO = select(_OUTBOX.c.id).where(_OUTBOX.c.purpose == bindparam("purpose"), _OUTBOX.c.chat_id == bindparam("chat"))


def _was_recipient(session: Session, bulletin_id: int, user_id: int) -> bool:
    return (
        session.connection().execute(_SENT_TO, {"purpose": urgent_purpose(bulletin_id), "chat": user_id}).first()
        is not None
    )


async def was_recipient(session: AsyncSession, bulletin_id: int, user_id: int) -> bool:
    """Whether the urgent bulletin was sent (or queued) to this user privately."""
    return await core.run(session, _was_recipient, bulletin_id, user_id)


def relance_purposes(bulletin_id: int, rounds: int) -> list[str]:
    """Every reminder round's purpose (equality on the (purpose, chat_id) index, never LIKE)."""
    return [f"{relance_prefix(bulletin_id)}{n}" for n in range(1, rounds + 1)]


# Plain SQL both databases share: SQLAlchemy cannot cache a compiled ON CONFLICT DO UPDATE
# (it was compiled again for every acknowledgement, 0.2 ms).
_ACK = text(
    "INSERT INTO crisis_acks (bulletin_id, user_id, answer, answered_at) VALUES (:bid, :uid, :answer, :now)"
    " ON CONFLICT (bulletin_id, user_id) DO UPDATE SET answer = excluded.answer, answered_at = excluded.answered_at"
).bindparams(bindparam("uid", type_=BigInteger()), bindparam("now", type_=UTCDateTime()))
_SKIP_RELANCES = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.purpose.in_(bindparam("purposes", expanding=True)),
        _OUTBOX.c.chat_id == bindparam("chat"),
        _OUTBOX.c.status == "pending",
    )
    .values(status="skipped", last_error="acknowledged")
)


def _record_answer(
    session: Session, bulletin_id: int, escalations: int, user_id: int, answer: str, now: datetime
) -> None:
    connection = session.connection()
    connection.execute(_ACK, {"bid": bulletin_id, "uid": user_id, "answer": answer, "now": now})
    if escalations:
        connection.execute(_SKIP_RELANCES, {"purposes": relance_purposes(bulletin_id, escalations), "chat": user_id})


async def record_answer(session: AsyncSession, bulletin: Bulletin, user_id: int, answer: str, *, now: datetime) -> None:
    """Keep the latest answer and drop reminders still queued for this person (Core, storage/core.py)."""
    await core.run(session, _record_answer, bulletin.id, bulletin.escalations, user_id, answer, now)


async def answer_of(session: AsyncSession, bulletin_id: int, user_id: int) -> str | None:
    return await session.scalar(
        select(BulletinAck.answer).where(BulletinAck.bulletin_id == bulletin_id, BulletinAck.user_id == user_id)
    )


async def unanswered_recipients(session: AsyncSession, bulletin_id: int, *, include_pending: bool) -> list[int]:
    """People the urgent bulletin reached (or will reach) who have not answered yet."""
    statuses = ["sent", "pending", "sending"] if include_pending else ["sent"]
    answered = exists().where(BulletinAck.bulletin_id == bulletin_id, BulletinAck.user_id == OutboxMessage.chat_id)
    rows = await session.scalars(
        select(OutboxMessage.chat_id)
        .where(OutboxMessage.purpose == urgent_purpose(bulletin_id), OutboxMessage.status.in_(statuses), ~answered)
        .order_by(OutboxMessage.chat_id)
    )
    return list(rows)


async def silent_people(
    session: AsyncSession, bulletin: Bulletin, limit: int = 15
) -> tuple[list[User], int, list[User], int]:
    """Who the cell should call: (reached but silent, their count, unreachable, their count).

    Silent: the urgent bulletin was delivered, no answer. Unreachable: its private message
    could not be delivered (blocked the bot, failed), or they were already known unreachable
    when it was published. Names first by first name, as people are called.
    """
    answered = exists().where(BulletinAck.bulletin_id == bulletin.id, BulletinAck.user_id == OutboxMessage.chat_id)
    urgent = OutboxMessage.purpose == urgent_purpose(bulletin.id)
    silent_ids = select(OutboxMessage.chat_id).where(urgent, OutboxMessage.status == "sent", ~answered)
    lost_ids = select(OutboxMessage.chat_id).where(
        urgent, OutboxMessage.status.in_(("unreachable", "failed", "skipped"))
    )
    queued = select(OutboxMessage.chat_id).where(urgent)
    never = select(User.id).where(
        audience_filter(bulletin.audience or {}), User.unreachable_at.is_not(None), User.id.not_in(queued)
    )
    order = (User.first_name, User.last_name, User.id)
    silent = list(await session.scalars(select(User).where(User.id.in_(silent_ids)).order_by(*order).limit(limit)))
    silent_n = int(await session.scalar(select(func.count()).select_from(silent_ids.subquery())) or 0)
    lost_filter = User.id.in_(lost_ids) | User.id.in_(never)
    lost = list(await session.scalars(select(User).where(lost_filter).order_by(*order).limit(limit)))
    lost_n = int(await session.scalar(select(func.count()).select_from(User).where(lost_filter)) or 0)
    return silent, silent_n, lost, lost_n


async def next_escalation_round(session: AsyncSession, bulletin_id: int) -> int:
    """Bump and return the bulletin's escalation counter (row-locked: two cells never collide)."""
    bulletin = await session.get(Bulletin, bulletin_id, with_for_update=True)
    assert bulletin is not None
    bulletin.escalations = (bulletin.escalations or 0) + 1
    return bulletin.escalations


@dataclass
class EscalationRound:
    number: int
    due_at: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Tracking:
    """Where an urgent bulletin stands, as the crisis cell sees it in /suivi."""

    audience: int
    queued: int = 0
    delivered: int = 0
    pending: int = 0
    unreachable: int = 0
    acknowledged: int = 0
    not_concerned: int = 0
    escalations: list[EscalationRound] = field(default_factory=list)

    @property
    def no_answer(self) -> int:
        return max(self.delivered - self.acknowledged - self.not_concerned, 0)


async def tracking(session: AsyncSession, bulletin: Bulletin) -> Tracking:
    result = Tracking(audience=bulletin.audience_count)
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.purpose == urgent_purpose(bulletin.id))
        .group_by(OutboxMessage.status)
    )
    counts = {status: int(n) for status, n in rows}
    result.queued = sum(counts.values())
    result.delivered = counts.get("sent", 0)
    result.pending = counts.get("pending", 0) + counts.get("sending", 0)
    never_queued = max(bulletin.audience_count - result.queued, 0)  # already known unreachable when published
    result.unreachable = (
        counts.get("unreachable", 0) + counts.get("failed", 0) + counts.get("skipped", 0) + never_queued
    )
    answers = await session.execute(
        select(BulletinAck.answer, func.count())
        .where(BulletinAck.bulletin_id == bulletin.id)
        .group_by(BulletinAck.answer)
    )
    by_answer = {answer: int(n) for answer, n in answers}
    result.acknowledged = by_answer.get("ack", 0)
    result.not_concerned = by_answer.get("not_concerned", 0)
    prefix = relance_prefix(bulletin.id)
    relances = await session.execute(
        select(OutboxMessage.purpose, OutboxMessage.status, func.count(), func.min(OutboxMessage.due_at))
        .where(OutboxMessage.purpose.in_(relance_purposes(bulletin.id, bulletin.escalations or 0)))
        .group_by(OutboxMessage.purpose, OutboxMessage.status)
    )
    rounds: dict[int, EscalationRound] = {}
    for purpose, status, n, due in relances:
        number = int(purpose[len(prefix) :])
        entry = rounds.setdefault(number, EscalationRound(number, due))
        entry.due_at = min(entry.due_at, due)
        entry.counts[status] = int(n)
    result.escalations = [rounds[k] for k in sorted(rounds)]
    return result


# -- crisis mode -------------------------------------------------------------------------------
async def crisis_mode(session: AsyncSession) -> dict[str, Any]:
    row = await session.get(Setting, CRISIS_MODE_KEY)
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    return {"on": bool(value.get("on")), "since": value.get("since"), "by": value.get("by")}


async def set_crisis_mode(session: AsyncSession, on: bool, *, by: int, now: datetime) -> bool:
    """Switch crisis mode; returns whether it changed."""
    row = await session.get(Setting, CRISIS_MODE_KEY, with_for_update=True)
    value = {"on": on, "since": now.isoformat(), "by": by}
    if row is None:
        session.add(Setting(key=CRISIS_MODE_KEY, value=value, updated_at=now))
        return on
    if bool((row.value or {}).get("on")) == on:
        return False
    row.value, row.updated_at = value, now
    return True


# -- digest subscriptions ----------------------------------------------------------------------
async def opted_out(session: AsyncSession, user_id: int) -> set[str]:
    return set(await session.scalars(select(DigestOptOut.category).where(DigestOptOut.user_id == user_id)))


async def toggle_category(session: AsyncSession, user_id: int, category: str) -> bool:
    """Flip one category; returns whether the user now receives it."""
    row = await session.get(DigestOptOut, (user_id, category))
    if row is None:
        session.add(DigestOptOut(user_id=user_id, category=category))
        return False
    await session.delete(row)
    return True


async def set_all_categories(session: AsyncSession, user_id: int, wanted: bool) -> None:
    current = await opted_out(session, user_id)
    for category in CATEGORIES:
        if wanted and category in current:
            row = await session.get(DigestOptOut, (user_id, category))
            if row is not None:
                await session.delete(row)
        elif not wanted and category not in current:
            session.add(DigestOptOut(user_id=user_id, category=category))


# -- scheduled runs (digests, kits) ------------------------------------------------------------
async def claim_run(
    session: AsyncSession, *, kind: str, period_key: str, slot_at: datetime, now: datetime
) -> CrisisRun | None:
    """Take the run of one period, or None if it was already done (by us or another process)."""
    stmt = (
        dialect_insert(session, CrisisRun)
        .values(kind=kind, period_key=period_key, slot_at=slot_at, items=0, created_at=now)
        .on_conflict_do_nothing(index_elements=["kind", "period_key"])
        .returning(CrisisRun.id)
    )
    run_id = (await session.execute(stmt)).scalar()
    if run_id is None:
        return None
    return await session.get(CrisisRun, run_id)


async def run_exists(session: AsyncSession, *, kind: str, period_key: str) -> bool:
    found = await session.scalar(select(CrisisRun.id).where(CrisisRun.kind == kind, CrisisRun.period_key == period_key))
    return found is not None


async def latest_run_slot(session: AsyncSession, kind: str) -> datetime | None:
    return await session.scalar(select(func.max(CrisisRun.slot_at)).where(CrisisRun.kind == kind))


async def previous_slot(session: AsyncSession, kind: str, before: datetime) -> datetime | None:
    return await session.scalar(
        select(func.max(CrisisRun.slot_at)).where(CrisisRun.kind == kind, CrisisRun.slot_at < before)
    )


async def published_between(session: AsyncSession, since: datetime, until: datetime) -> list[Bulletin]:
    """Bulletins published in (since, until], in category order then oldest first."""
    stmt = (
        select(Bulletin)
        .where(Bulletin.published_at > since, Bulletin.published_at <= until)
        .order_by(Bulletin.published_at, Bulletin.id)
    )
    bulletins = list(await session.scalars(stmt))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(bulletins, key=lambda b: (order.get(b.category, len(order)), b.published_at, b.id))


async def digest_readers(session: AsyncSession) -> tuple[dict[int, str | None], dict[int, set[str]]]:
    """Reachable onboarded professionals with their language, and each one's opted-out categories."""
    rows = await session.execute(
        select(User.id, User.language).where(User.onboarded_at.is_not(None), User.unreachable_at.is_(None))
    )
    readers = {uid: lang for uid, lang in rows}
    outs: dict[int, set[str]] = defaultdict(set)
    for uid, category in await session.execute(select(DigestOptOut.user_id, DigestOptOut.category)):
        outs[uid].add(category)
    return readers, outs


# -- crisis cell -------------------------------------------------------------------------------
async def cell_member_ids(session: AsyncSession, coordinator_ids: Iterable[int]) -> list[int]:
    """Who receives field reports privately when no crisis-cell chat is configured."""
    ids = list(coordinator_ids)
    condition = User.is_crisis_cell.is_(True) | User.is_coordinator.is_(True)
    if ids:
        condition = condition | User.id.in_(ids)
    return list(await session.scalars(select(User.id).where(condition).order_by(User.id)))


async def cell_members(session: AsyncSession) -> list[User]:
    return list(
        await session.scalars(select(User).where(User.is_crisis_cell.is_(True)).order_by(User.first_name, User.id))
    )


# -- field reports -----------------------------------------------------------------------------
async def create_report(session: AsyncSession, *, user_id: int, data: dict[str, Any], now: datetime) -> FieldReport:
    report = FieldReport(
        user_id=user_id,
        category=data["category"],
        commune=data["commune"],
        product=data.get("product"),
        place=data.get("place"),
        stock=data.get("stock"),
        text=data.get("text") or "",
        file_id=data.get("file_id"),
        file_kind=data.get("file_kind"),
        status="open",
        replies=0,
        created_at=now,
    )
    session.add(report)
    await session.flush()
    return report


async def get_report(session: AsyncSession, report_id: int, *, lock: bool = False) -> FieldReport | None:
    return await session.get(FieldReport, report_id, with_for_update=lock)


async def mark_handled(session: AsyncSession, report: FieldReport, *, by: int, now: datetime) -> bool:
    """Close a report; returns False if it already was."""
    if report.status == "handled":
        return False
    report.status, report.handled_by, report.handled_at = "handled", by, now
    return True


def _report_card_purpose() -> ColumnElement[str]:
    """`report_card_purpose`, in SQL, for each report of a query."""
    return literal("report:", String()) + cast(FieldReport.id, String()) + literal(":cell", String())


async def report_card_chats(session: AsyncSession, report_id: int) -> set[int]:
    """Every chat the report's card was queued to, whatever became of it."""
    rows = await session.scalars(
        select(OutboxMessage.chat_id).where(OutboxMessage.purpose == report_card_purpose(report_id))
    )
    return set(rows)


async def reports_never_delivered(session: AsyncSession, limit: int = 100) -> list[FieldReport]:
    """Open reports with no card delivered or on its way to anyone (oldest first)."""
    on_its_way = exists().where(
        OutboxMessage.purpose == _report_card_purpose(), OutboxMessage.status.in_(("pending", "sending", "sent"))
    )
    stmt = select(FieldReport).where(FieldReport.status == "open", ~on_its_way).order_by(FieldReport.id).limit(limit)
    return list(await session.scalars(stmt))


@dataclass
class ReportSummary:
    total: int
    open: int
    by_category: list[tuple[str, int, int]]  # category, total, open
    by_commune: list[tuple[str, int, int]]
    open_reports: list[FieldReport]


async def report_summary(session: AsyncSession, *, since: datetime, open_limit: int = 10) -> ReportSummary:
    is_open = func.sum(case((FieldReport.status == "open", 1), else_=0))
    base = FieldReport.created_at >= since
    cats = await session.execute(
        select(FieldReport.category, func.count(), is_open)
        .where(base)
        .group_by(FieldReport.category)
        .order_by(func.count().desc())
    )
    by_category = [(c, int(n), int(o or 0)) for c, n, o in cats]
    communes = await session.execute(
        select(func.min(FieldReport.commune), func.count(), is_open)
        .where(base)
        .group_by(func.lower(FieldReport.commune))
        .order_by(func.count().desc(), func.min(FieldReport.commune))
        .limit(15)
    )
    by_commune = [(c, int(n), int(o or 0)) for c, n, o in communes]
    open_reports = list(
        await session.scalars(
            select(FieldReport)
            .where(base, FieldReport.status == "open")
            .order_by(FieldReport.created_at.desc())
            .limit(open_limit)
        )
    )
    total = sum(n for _, n, _ in by_category)
    return ReportSummary(total, sum(o for _, _, o in by_category), by_category, by_commune, open_reports)


# -- crisis kit --------------------------------------------------------------------------------
async def contacts_by_group(session: AsyncSession) -> list[tuple[Group, list[User]]]:
    """Every group with its onboarded members, for the printable directory."""
    rows = await session.execute(
        select(Group, User)
        .join(Membership, Membership.group_id == Group.id)
        .join(User, User.id == Membership.user_id)
        .where(User.onboarded_at.is_not(None))
        .order_by(Group.name, User.last_name, User.first_name, User.id)
    )
    grouped: dict[int, tuple[Group, list[User]]] = {}
    for group, user in rows:
        grouped.setdefault(group.id, (group, []))[1].append(user)
    return list(grouped.values())
