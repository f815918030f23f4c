"""Meetings, their sessions and registrations (seats and waiting lists).

Registration and cancellation lock the session row first (`FOR UPDATE` on PostgreSQL, the
database write lock on SQLite), so fifty people racing for the last three seats get exactly
three seats and a waiting list in the order they arrived. The queue order is the row id,
assigned under that lock (a re-registration gets a new row, so it joins at the back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Connection,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from storage import core
from storage.models import Group, Meeting, MeetingSession, Membership, Registration, User, utcnow

CONFIRMED, WAITLISTED, CANCELLED = "confirmed", "waitlisted", "cancelled"


@dataclass(frozen=True)
class SessionDraft:
    starts_at: datetime
    ends_at: datetime | None
    has_time: bool
    site: str | None
    address: str | None
    capacity: int | None


@dataclass(frozen=True)
class SessionView:
    """A session as a professional sees it in /rencontres."""

    session: MeetingSession | SessionInfo
    meeting: Meeting | MeetingInfo
    confirmed: int
    waitlisted: int
    my_status: str | None

    @property
    def seats_left(self) -> int | None:
        if self.session.capacity is None:
            return None
        return max(self.session.capacity - self.confirmed, 0)


RegisterOutcome = Literal[
    "confirmed", "waitlisted", "already_confirmed", "already_waitlisted", "closed", "past", "cancelled", "missing"
]


@dataclass(frozen=True)
class RegisterResult:
    outcome: RegisterOutcome
    position: int | None = None
    session: SessionInfo | None = None
    meeting: MeetingInfo | None = None


@dataclass(frozen=True)
class CancelResult:
    cancelled: bool
    promoted_user_id: int | None = None
    session: MeetingSession | None = None


async def create_meeting(
    session: AsyncSession,
    *,
    group_id: int,
    title: str,
    theme: str | None,
    created_by: int | None,
    sessions: list[SessionDraft],
) -> Meeting:
    meeting = Meeting(group_id=group_id, title=title, theme=theme, created_by=created_by)
    meeting.sessions = [
        MeetingSession(
            starts_at=d.starts_at,
            ends_at=d.ends_at,
            has_time=d.has_time,
            site=d.site,
            address=d.address,
            capacity=d.capacity,
        )
        for d in sessions
    ]
    session.add(meeting)
    await session.flush()
    return meeting


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as read for a listing: plain values, no tracked ORM object (cheaper)."""

    id: int
    meeting_id: int
    starts_at: datetime
    ends_at: datetime | None
    has_time: bool
    site: str | None
    address: str | None
    capacity: int | None
    status: str


@dataclass(frozen=True, slots=True)
class MeetingInfo:
    """The meeting a listed session belongs to (what a card shows)."""

    id: int
    group_id: int
    title: str
    theme: str | None
    status: str


_MS, _MT, _REG = MeetingSession.__table__, Meeting.__table__, Registration.__table__
_SESSION_COLUMNS = tuple(f.name for f in fields(SessionInfo))
_MEETING_COLUMNS = tuple(f.name for f in fields(MeetingInfo))


def _seat_counts(session_id: ColumnExpressionArgument[int]) -> tuple[ScalarSelect[int], ...]:
    """Confirmed and waiting counts of the session `session_id` refers to (correlated, indexed)."""
    return tuple(
        select(func.count()).where(_REG.c.session_id == session_id, _REG.c.status == status).scalar_subquery()
        for status in (CONFIRMED, WAITLISTED)
    )


def _upcoming_statements(group_filter: ColumnElement[bool]) -> tuple[Select[Any], Select[tuple[int]]]:
    """(page, total) statements, built once: constructing them per call cost more than running them.

    The page is one Core statement: the page of sessions with the total as a window
    count, then, for those few sessions only, their seat counts and the reader's own status as
    correlated subqueries on the covering index. Counting every session's registrations, then
    keeping five, took 170-230 ms at 500,000 registrations; loading ORM objects and running the
    counts as a second statement cost more CPU than the query itself.
    """
    where = and_(
        _MS.c.starts_at > bindparam("now"), _MS.c.status != "cancelled", _MT.c.status == "published", group_filter
    )
    page = (
        select(
            *(_MS.c[name] for name in _SESSION_COLUMNS),
            *(_MT.c[name].label(f"m_{name}") for name in _MEETING_COLUMNS),
            func.count().over().label("total"),
        )
        .join(_MT, _MS.c.meeting_id == _MT.c.id)
        .where(where)
        .order_by(_MS.c.starts_at, _MS.c.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )

    mine = (
        select(_REG.c.status)
        .where(_REG.c.session_id == page.c.id, _REG.c.user_id == bindparam("user_id"), _REG.c.status != CANCELLED)
        .scalar_subquery()
    )
    with_counts = select(page, *_seat_counts(page.c.id), mine).order_by(page.c.starts_at, page.c.id)
    total = select(func.count()).select_from(_MS).join(_MT).where(where)
    return with_counts, total


_FOLLOWED_PAGE, _FOLLOWED_TOTAL = _upcoming_statements(
    _MT.c.group_id.in_(select(Membership.group_id).where(Membership.user_id == bindparam("user_id")))
)
_GROUPS_PAGE, _GROUPS_TOTAL = _upcoming_statements(_MT.c.group_id.in_(bindparam("group_ids", expanding=True)))
_N_SESSION, _N_MEETING = len(_SESSION_COLUMNS), len(_MEETING_COLUMNS)


def _view(row: Sequence[Any]) -> SessionView:
    n, m = _N_SESSION, _N_SESSION + _N_MEETING
    confirmed, waitlisted, mine = row[m + 1 :]
    return SessionView(SessionInfo(*row[:n]), MeetingInfo(*row[n:m]), int(confirmed or 0), int(waitlisted or 0), mine)


async def upcoming_sessions(
    session: AsyncSession,
    *,
    user_id: int,
    now: datetime,
    limit: int = 5,
    offset: int = 0,
    group_ids: list[int] | None = None,
) -> tuple[list[SessionView], int]:
    """Upcoming sessions of the groups the user follows (or `group_ids`), soonest first, and the total."""
    params: dict[str, object] = {"now": now, "user_id": user_id, "limit": limit, "offset": offset}
    if group_ids is None:
        page_stmt, total_stmt = _FOLLOWED_PAGE, _FOLLOWED_TOTAL
    else:
        page_stmt, total_stmt = _GROUPS_PAGE, _GROUPS_TOTAL
        params["group_ids"] = list(group_ids)
    return await core.run(session, _upcoming, page_stmt, total_stmt, params)


def _upcoming(
    session: Session, page_stmt: Any, total_stmt: Any, params: dict[str, object]
) -> tuple[list[SessionView], int]:
    connection = session.connection()
    page = connection.execute(page_stmt, params).all()
    if page:
        total = int(page[0][_N_SESSION + _N_MEETING])
    else:  # past the last page (a stale pager button): still say how many there are
        total = int(connection.execute(total_stmt, params).scalar() or 0)
    return [_view(row) for row in page], total


_MS_COLUMNS, _MT_COLUMNS = core.columns(MeetingSession), core.columns(Meeting)
_N_MS, _N_MT = len(_MS_COLUMNS), len(_MT_COLUMNS)
# A session, its meeting, its seat counts and the reader's own status: one statement (was four).
_SESSION_VIEW = (
    select(
        *_MS_COLUMNS,
        *_MT_COLUMNS,
        *_seat_counts(_MS.c.id),
        select(_REG.c.status)
        .where(_REG.c.session_id == _MS.c.id, _REG.c.user_id == bindparam("uid"), _REG.c.status != CANCELLED)
        .scalar_subquery(),
    )
    .join(_MT, _MS.c.meeting_id == _MT.c.id)
    .where(_MS.c.id == bindparam("sid"))
)


def _tracked_session(session: Session, row: Any) -> MeetingSession:
    """The session and its meeting (the first columns of `row`) as tracked ORM objects, `ms.meeting` set."""
    ms = core.attach(session, MeetingSession, core.row_values(MeetingSession, row[:_N_MS]))
    meeting = core.attach(session, Meeting, core.row_values(Meeting, row[_N_MS : _N_MS + _N_MT]))
    if "meeting" not in ms.__dict__:
        set_committed_value(ms, "meeting", meeting)
    return ms


def _session_view(session: Session, session_id: int, user_id: int) -> SessionView | None:
    session.flush()
    row = session.connection().execute(_SESSION_VIEW, {"sid": session_id, "uid": user_id}).first()
    if row is None:
        return None
    ms = _tracked_session(session, row)
    confirmed, waitlisted, my = row[_N_MS + _N_MT :]
    return SessionView(ms, ms.meeting, int(confirmed or 0), int(waitlisted or 0), my)


async def session_view(session: AsyncSession, session_id: int, user_id: int) -> SessionView | None:
    """A session as one person sees it (the cancel question, its card): one Core statement."""
    return await core.run(session, _session_view, session_id, user_id)


_SEAT_COUNTS = select(*_seat_counts(bindparam("sid")))


async def _status_counts(session: AsyncSession, session_id: int) -> tuple[int, int]:
    confirmed, waitlisted = (await session.execute(_SEAT_COUNTS, {"sid": session_id})).one()
    return int(confirmed or 0), int(waitlisted or 0)


async def _position(session: AsyncSession, session_id: int, registration_id: int | None) -> int:
    return int(await session.scalar(_POSITION, {"sid": session_id, "rid": registration_id}) or 0)


async def waitlist_position(session: AsyncSession, registration: Registration) -> int:
    """1 for the first person waiting: the queue order is the row id."""
    return await _position(session, registration.session_id, registration.id)


_LOCK_SESSION = (  # one query with its meeting (joined, not a second SELECT), built once
    select(MeetingSession)
    .where(MeetingSession.id == bindparam("session_id"))
    .options(joinedload(MeetingSession.meeting))
    .with_for_update(of=MeetingSession)
)


async def _lock_session(session: AsyncSession, session_id: int) -> MeetingSession | None:
    return await session.scalar(_LOCK_SESSION, {"session_id": session_id})


# The session to register for and its meeting, locked, read as plain rows: building ORM objects
# here cost 7-10 % of the database work per update (bench/updates.py storage floor).
# The seat counts stay a second statement: read after the lock is granted, they include the
# registration of whoever held it (on PostgreSQL, one statement would count from before).
_LOCK_FOR_REGISTRATION = (
    select(*(_MS.c[name] for name in _SESSION_COLUMNS), *(_MT.c[name].label(f"m_{name}") for name in _MEETING_COLUMNS))
    .join(_MT, _MS.c.meeting_id == _MT.c.id)
    .where(_MS.c.id == bindparam("sid"))
    .with_for_update(of=_MS)
)
# What registering needs to know once the session is locked, in one statement: the
# person's existing row, if any, and the seat counts.
_REGISTRATION_STATE = select(
    select(_REG.c.id)
    .where(_REG.c.session_id == bindparam("sid"), _REG.c.user_id == bindparam("uid"))
    .scalar_subquery(),
    select(_REG.c.status)
    .where(_REG.c.session_id == bindparam("sid"), _REG.c.user_id == bindparam("uid"))
    .scalar_subquery(),
    *_seat_counts(bindparam("sid")),
)
_INSERT_REGISTRATION = insert(_REG).returning(_REG.c.id)
_DELETE_REGISTRATION = delete(_REG).where(_REG.c.id == bindparam("rid"))
_POSITION = select(func.count()).where(
    _REG.c.session_id == bindparam("sid"), _REG.c.status == WAITLISTED, _REG.c.id <= bindparam("rid")
)


async def register(
    session: AsyncSession, session_id: int, user_id: int, *, now: datetime | None = None
) -> RegisterResult:
    """Give the user a seat, or a place on the waiting list. Idempotent.

    Core statements, one bridge (storage/core.py)."""
    return await core.run(session, _register, session_id, user_id, now or utcnow())


def _register(session: Session, session_id: int, user_id: int, now: datetime) -> RegisterResult:
    connection = session.connection()
    row = connection.execute(_LOCK_FOR_REGISTRATION, {"sid": session_id}).first()
    if row is None:
        return RegisterResult("missing")
    ms, meeting = SessionInfo(*row[:_N_SESSION]), MeetingInfo(*row[_N_SESSION:])
    outcome = partial(RegisterResult, session=ms, meeting=meeting)
    if ms.status == "cancelled" or meeting.status == "cancelled":
        return outcome("cancelled")
    if ms.starts_at <= now:
        return outcome("past")
    state = connection.execute(_REGISTRATION_STATE, {"sid": session_id, "uid": user_id}).one()
    existing_id, existing_status, confirmed, waitlisted = state
    if existing_status == CONFIRMED:
        return outcome("already_confirmed")
    if existing_status == WAITLISTED:
        return outcome("already_waitlisted", _queue_position(connection, session_id, existing_id))
    if ms.status == "closed":
        return outcome("closed")
    seat_free = ms.capacity is None or (confirmed < ms.capacity and waitlisted == 0)
    status = CONFIRMED if seat_free else WAITLISTED
    if existing_id is not None:  # a new row, so the queue order (id) is this arrival's
        connection.execute(_DELETE_REGISTRATION, {"rid": existing_id})
    new_id = connection.execute(
        _INSERT_REGISTRATION,
        {
            "session_id": session_id,
            "user_id": user_id,
            "status": status,
            "queued_at": now,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar()
    if status == CONFIRMED:
        return outcome("confirmed")
    return outcome("waitlisted", _queue_position(connection, session_id, new_id))


def _queue_position(connection: Connection, session_id: int, registration_id: int | None) -> int:
    return int(connection.execute(_POSITION, {"sid": session_id, "rid": registration_id}).scalar() or 0)


async def cancel_registration(
    session: AsyncSession, session_id: int, user_id: int, *, now: datetime | None = None
) -> CancelResult:
    """Free the user's seat or queue place; the first person waiting takes a freed seat (Core, one bridge)."""
    return await core.run(session, _cancel, session_id, user_id, now or utcnow())


# The session locked with its meeting, read with Core and handed to the ORM session as loaded objects.
_LOCK_SESSION_ROW = (
    select(*_MS_COLUMNS, *_MT_COLUMNS)
    .join(_MT, _MS.c.meeting_id == _MT.c.id)
    .where(_MS.c.id == bindparam("sid"))
    .with_for_update(of=_MS)
)
_MY_REGISTRATION = select(_REG.c.id, _REG.c.status).where(
    _REG.c.session_id == bindparam("sid"), _REG.c.user_id == bindparam("uid"), _REG.c.status != CANCELLED
)
_SET_STATUS = (
    update(_REG)
    .where(_REG.c.id.in_(bindparam("rids", expanding=True)))
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
_WAITING = select(_REG.c.id, _REG.c.user_id).where(_REG.c.session_id == bindparam("sid"), _REG.c.status == WAITLISTED)
_WAITING_ALL = _WAITING.order_by(_REG.c.id)
_WAITING_FIRST = _WAITING.order_by(_REG.c.id).limit(bindparam("free"))


def _cancel(session: Session, session_id: int, user_id: int, now: datetime) -> CancelResult:
    session.flush()
    connection = session.connection()
    row = connection.execute(_LOCK_SESSION_ROW, {"sid": session_id}).first()
    if row is None:
        return CancelResult(False)
    ms = _tracked_session(session, row)
    mine = connection.execute(_MY_REGISTRATION, {"sid": session_id, "uid": user_id}).first()
    if mine is None:
        return CancelResult(False, session=ms)
    connection.execute(_SET_STATUS, {"rids": [mine.id], "status": CANCELLED, "now": now})
    promoted = _promote(connection, ms, now) if mine.status == CONFIRMED else []
    return CancelResult(True, promoted[0] if promoted else None, session=ms)


def _promote(connection: Connection, ms: MeetingSession, now: datetime) -> list[int]:
    """Seats freed on a locked session go to the head of its waiting list (Core)."""
    if ms.starts_at <= now or ms.status == "cancelled":
        return []
    if ms.capacity is None:
        waiting = connection.execute(_WAITING_ALL, {"sid": ms.id}).all()
    else:
        confirmed, _ = connection.execute(_SEAT_COUNTS, {"sid": ms.id}).one()
        free = ms.capacity - int(confirmed or 0)
        if free <= 0:
            return []
        waiting = connection.execute(_WAITING_FIRST, {"sid": ms.id, "free": free}).all()
    if not waiting:
        return []
    connection.execute(_SET_STATUS, {"rids": [w.id for w in waiting], "status": CONFIRMED, "now": now})
    return [w.user_id for w in waiting if w.user_id is not None]


async def promote_waitlist(session: AsyncSession, ms: MeetingSession, *, now: datetime) -> list[int]:
    """Fill free seats from the head of the waiting list; returns the promoted user ids."""
    if ms.starts_at <= now or ms.status == "cancelled":
        return []
    confirmed, _ = await _status_counts(session, ms.id)
    free = None if ms.capacity is None else ms.capacity - confirmed
    stmt = (
        select(Registration)
        .where(Registration.session_id == ms.id, Registration.status == WAITLISTED)
        .order_by(Registration.id)
    )
    if free is not None:
        if free <= 0:
            return []
        stmt = stmt.limit(free)
    promoted = []
    for reg in await session.scalars(stmt):
        reg.status, reg.updated_at = CONFIRMED, now
        if reg.user_id is not None:
            promoted.append(reg.user_id)
    await session.flush()
    return promoted


async def my_registrations(
    session: AsyncSession, user_id: int, *, now: datetime
) -> list[tuple[Registration, MeetingSession, Meeting]]:
    rows = await session.execute(
        select(Registration, MeetingSession, Meeting)
        .join(MeetingSession, Registration.session_id == MeetingSession.id)
        .join(Meeting, MeetingSession.meeting_id == Meeting.id)
        .where(
            Registration.user_id == user_id,
            Registration.status != CANCELLED,
            MeetingSession.starts_at > now,
            MeetingSession.status != "cancelled",
        )
        .order_by(MeetingSession.starts_at)
    )
    return [tuple(r) for r in rows]


async def get_meeting(session: AsyncSession, meeting_id: int) -> Meeting | None:
    return await session.get(Meeting, meeting_id, options=[selectinload(Meeting.sessions), selectinload(Meeting.group)])


async def meetings_managed_by(session: AsyncSession, *, group_ids: list[int] | None, now: datetime) -> list[Meeting]:
    """Meetings with an open (not cancelled) session still ahead, of the given groups (None: every
    group), the soonest next session first."""
    ahead = (
        select(MeetingSession.meeting_id, func.min(MeetingSession.starts_at).label("next_at"))
        .where(MeetingSession.starts_at > now, MeetingSession.status != "cancelled")
        .group_by(MeetingSession.meeting_id)
        .subquery()
    )
    stmt = (
        select(Meeting)
        .join(ahead, ahead.c.meeting_id == Meeting.id)
        .options(selectinload(Meeting.sessions), selectinload(Meeting.group))
        .order_by(ahead.c.next_at, Meeting.id)
    )
    if group_ids is not None:
        stmt = stmt.where(Meeting.group_id.in_(group_ids))
    return list(await session.scalars(stmt))


async def registrants(session: AsyncSession, meeting_id: int) -> list[tuple[MeetingSession, Registration, User | None]]:
    """Every registration of a meeting (for counts and the CSV export), by session then queue order."""
    rows = await session.execute(
        select(MeetingSession, Registration, User)
        .join(Registration, Registration.session_id == MeetingSession.id)
        .outerjoin(User, Registration.user_id == User.id)
        .where(MeetingSession.meeting_id == meeting_id)
        .order_by(MeetingSession.starts_at, Registration.id)
    )
    return [tuple(r) for r in rows]


async def active_registrant_ids(session: AsyncSession, session_id: int) -> list[int]:
    rows = await session.scalars(
        select(Registration.user_id).where(
            Registration.session_id == session_id,
            Registration.status.in_((CONFIRMED, WAITLISTED)),
            Registration.user_id.is_not(None),
        )
    )
    return [uid for uid in rows if uid is not None]


async def update_session(session: AsyncSession, session_id: int, **changes: object) -> MeetingSession | None:
    """Change a session's date, place or capacity; bumps `version` (calendar files follow)."""
    ms = await _lock_session(session, session_id)
    if ms is None:
        return None
    for key, value in changes.items():
        setattr(ms, key, value)
    ms.version += 1
    ms.updated_at = utcnow()
    await session.flush()
    if "capacity" in changes:
        await promote_waitlist(session, ms, now=utcnow())
    return ms


async def cancel_session(session: AsyncSession, session_id: int) -> MeetingSession | None:
    ms = await _lock_session(session, session_id)
    if ms is None or ms.status == "cancelled":
        return None
    ms.status, ms.version, ms.updated_at = "cancelled", ms.version + 1, utcnow()
    await session.flush()
    return ms


async def group_by_slug(session: AsyncSession, slug: str) -> Group | None:
    """The active group with this short id (an archived one is not offered any more)."""
    return await session.scalar(select(Group).where(Group.slug == slug, Group.archived_at.is_(None)))


# -- A coordinator's side: counts, exports, edits -------------------------------


@dataclass(frozen=True)
class SessionCounts:
    """How full a session is, for /inscrits."""

    session: MeetingSession
    confirmed: int
    waitlisted: int


async def meeting_counts(session: AsyncSession, meeting_id: int) -> list[SessionCounts]:
    """Confirmed and waiting counts of every session of a meeting, soonest first."""
    rows = await session.execute(
        select(MeetingSession, *_seat_counts(MeetingSession.id))
        .where(MeetingSession.meeting_id == meeting_id)
        .order_by(MeetingSession.starts_at, MeetingSession.id)
    )
    return [SessionCounts(ms, int(c or 0), int(w or 0)) for ms, c, w in rows]


async def get_session(session: AsyncSession, session_id: int) -> MeetingSession | None:
    """A session with its meeting loaded (permission checks need the meeting's group)."""
    return await session.get(MeetingSession, session_id, options=[selectinload(MeetingSession.meeting)])


async def lock_session(session: AsyncSession, session_id: int) -> MeetingSession | None:
    """Take the session's lock before reading who waits, so an edit and a registration never interleave."""
    return await _lock_session(session, session_id)


async def waitlisted_user_ids(session: AsyncSession, session_id: int) -> list[int]:
    """Who is on the waiting list, in queue order (to see who a capacity change promoted)."""
    rows = await session.scalars(
        select(Registration.user_id)
        .where(
            Registration.session_id == session_id, Registration.status == WAITLISTED, Registration.user_id.is_not(None)
        )
        .order_by(Registration.id)
    )
    return [uid for uid in rows if uid is not None]


async def confirmed_user_ids(session: AsyncSession, session_id: int, among: list[int]) -> list[int]:
    """Which of `among` now hold a seat."""
    if not among:
        return []
    rows = await session.scalars(
        select(Registration.user_id).where(
            Registration.session_id == session_id, Registration.status == CONFIRMED, Registration.user_id.in_(among)
        )
    )
    return [uid for uid in rows if uid is not None]
