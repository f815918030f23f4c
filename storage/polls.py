"""Polls, date polls and questionnaires: who receives them, answers, results, closing.

Anonymity is kept here, not on Telegram's side: a native poll sent to a private chat is
always non-anonymous for Telegram (otherwise no `poll_answer` reaches the bot), while an
anonymous poll's results never name anyone (no "who voted what", no "who has not answered").
Votes stay keyed by user only so that a voter can change or retract theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, distinct, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from storage import core, outbox
from storage.models import Group, Meeting, MeetingSession, Membership, OutboxMessage, Registration, User
from storage.polls_models import Poll, PollOption, PollRecipient, PollTextAnswer, PollUnmatchedAnswer, PollVote

QUICK, DATES, FORM = "quick", "dates", "form"
YES, MAYBE, NO = 2, 1, 0
MAX_OPTIONS, MAX_SLOTS, MAX_QUESTIONS = 12, 20, 10
QUESTION_MAX, OPTION_MAX = 300, 100  # Telegram's limits for a native poll


# --------------------------------------------------------------------------- creation


@dataclass(frozen=True)
class Audience:
    """Who receives a poll: a group, a profession in a group, a meeting's registrants, a group chat."""

    kind: str  # group | profession | meeting | chat
    group_id: int
    profession: str | None = None
    meeting_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "group_id": self.group_id,
            "profession": self.profession,
            "meeting_id": self.meeting_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audience:
        return cls(data["kind"], int(data["group_id"]), data.get("profession"), data.get("meeting_id"))


@dataclass(frozen=True)
class OptionDraft:
    text: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    has_time: bool = True
    choices: list[str] | None = None


async def audience_recipients(session: AsyncSession, audience: Audience) -> list[tuple[int, int | None]]:
    """(chat_id, user_id) pairs; people who blocked the bot are left out."""
    if audience.kind == "chat":
        chat_id = await session.scalar(select(Group.chat_id).where(Group.id == audience.group_id))
        return [(int(chat_id), None)] if chat_id else []
    ids: Select[tuple[int | None]] | Select[tuple[int]]
    if audience.kind == "meeting":
        ids = (
            select(Registration.user_id)
            .join(MeetingSession, Registration.session_id == MeetingSession.id)
            .where(
                MeetingSession.meeting_id == audience.meeting_id,
                Registration.status.in_(("confirmed", "waitlisted")),
            )
        )
    else:
        ids = select(Membership.user_id).where(Membership.group_id == audience.group_id)
    stmt = select(User.id).where(User.id.in_(ids), User.unreachable_at.is_(None)).order_by(User.id)
    if audience.kind == "profession":
        stmt = stmt.where(User.profession == audience.profession)
    return [(uid, uid) for uid in await session.scalars(stmt)]


async def create_poll(
    session: AsyncSession,
    *,
    kind: str,
    question: str,
    options: Sequence[OptionDraft],
    audience: Audience,
    closes_at: datetime,
    created_by: int | None,
    multiple: bool = False,
    anonymous: bool = False,
) -> tuple[Poll, list[tuple[int, int | None]]]:
    """The poll, its options and its recipients (returned, to queue their messages)."""
    poll = Poll(
        kind=kind,
        question=question,
        multiple=multiple,
        anonymous=anonymous,
        group_id=audience.group_id,
        audience=audience.to_json(),
        closes_at=closes_at,
        created_by=created_by,
        status="open",
    )
    poll.options = [
        PollOption(
            position=i, text=o.text, starts_at=o.starts_at, ends_at=o.ends_at, has_time=o.has_time, choices=o.choices
        )
        for i, o in enumerate(options)
    ]
    session.add(poll)
    await session.flush()
    recipients = await audience_recipients(session, audience)
    if recipients:  # one executemany, no ORM objects: thousands of recipients stay cheap
        await session.execute(
            insert(PollRecipient),
            [{"poll_id": poll.id, "chat_id": chat_id, "user_id": user_id} for chat_id, user_id in recipients],
        )
    return poll, recipients


async def get_poll(session: AsyncSession, poll_id: int, *, lock: bool = False) -> Poll | None:
    stmt = select(Poll).where(Poll.id == poll_id).options(selectinload(Poll.options))
    if lock:
        stmt = stmt.with_for_update(of=Poll)
    return await session.scalar(stmt)


def is_open(poll: Poll, now: datetime) -> bool:
    return poll.status == "open" and poll.closes_at > now


async def is_recipient(session: AsyncSession, poll_id: int, user_id: int) -> bool:
    found = await session.scalar(
        select(PollRecipient.id).where(PollRecipient.poll_id == poll_id, PollRecipient.user_id == user_id)
    )
    return found is not None


async def polls_for_manager(session: AsyncSession, group_ids: list[int] | None, *, limit: int = 10) -> list[Poll]:
    """The latest polls of the groups a coordinator manages (None: every group)."""
    stmt = select(Poll).options(selectinload(Poll.options)).order_by(Poll.id.desc()).limit(limit)
    if group_ids is not None:
        stmt = stmt.where(Poll.group_id.in_(group_ids))
    return list(await session.scalars(stmt))


# --------------------------------------------------------------------------- native polls


def purpose(poll_id: int, what: str) -> str:
    """Outbox purposes of a poll: "poll:<id>:<what>" (send, intro, stop, summary, chart…)."""
    return f"poll:{poll_id}:{what}"


async def record_sent_poll(session: AsyncSession, purpose_text: str, chat_id: int, result: Any) -> None:
    """Remember which Telegram poll (and message) a recipient got; replay answers that came first."""
    parts = purpose_text.split(":")
    if len(parts) != 3 or parts[2] != "send" or not isinstance(result, dict):
        return
    tg_poll = result.get("poll") or {}
    tg_poll_id = str(tg_poll.get("id") or "")
    if not tg_poll_id or not parts[1].isdigit():
        return
    poll_id = int(parts[1])
    # Locks in the order every writer of these rows takes them: the poll, then a recipient.
    # A share lock is enough to wait for (or hold off) the closing job, which takes the poll
    # FOR UPDATE SKIP LOCKED (claim_due), and, unlike FOR UPDATE, it does not block the key
    # share lock a vote takes on the poll through its foreign key: a voter holding their
    # recipient row and inserting a vote never waits for us while we wait for them.
    status = await session.scalar(select(Poll.status).where(Poll.id == poll_id).with_for_update(read=True))
    await session.execute(
        update(PollRecipient)
        .where(PollRecipient.poll_id == poll_id, PollRecipient.chat_id == chat_id)
        .values(tg_poll_id=tg_poll_id, message_id=result.get("message_id"))
    )
    # The deadline may have passed while this poll was on its way: the closing job did not see
    # it, so stop it here.
    if status is not None and status != "open" and result.get("message_id") is not None:
        await outbox.enqueue(
            session,
            purpose=purpose(poll_id, "stop"),
            chat_id=chat_id,
            payload={"message_id": result["message_id"]},
            method="stopPoll",
            priority=outbox.HIGH,
        )
        return
    await replay_unmatched(session, tg_poll_id)


async def replay_unmatched(session: AsyncSession, tg_poll_id: str | None = None) -> int:
    """Apply answers received before their poll's Telegram id was known (all, or one poll's)."""
    stmt = select(PollUnmatchedAnswer).order_by(PollUnmatchedAnswer.id)
    if tg_poll_id is not None:
        stmt = stmt.where(PollUnmatchedAnswer.tg_poll_id == tg_poll_id)
    else:
        stmt = stmt.where(
            PollUnmatchedAnswer.tg_poll_id.in_(
                select(PollRecipient.tg_poll_id).where(PollRecipient.tg_poll_id.is_not(None))
            )
        )
    replayed = 0
    for pending in list(await session.scalars(stmt)):
        recipient = await session.scalar(select(PollRecipient).where(PollRecipient.tg_poll_id == pending.tg_poll_id))
        if recipient is None:
            continue
        poll = await get_poll(session, recipient.poll_id)
        if poll is not None and poll.status == "open" and poll.closes_at > pending.received_at:
            await set_votes(session, poll, pending.user_id, pending.option_ids, pending.received_at)
        await session.delete(pending)
        replayed += 1
    await session.flush()
    return replayed


async def _recipient_for_answer(session: AsyncSession, tg_poll_id: str, user_id: int) -> PollRecipient | None:
    """The recipient row of a Telegram poll id, or the voter's only poll whose id is not known yet.

    The candidates are locked first: if the outbox is recording this very poll's id right now,
    we wait for it and then find the recorded id (see record_sent_poll).
    """
    known = await session.scalar(select(PollRecipient).where(PollRecipient.tg_poll_id == tg_poll_id))
    if known is not None:  # the usual case
        return known
    candidates = list(
        await session.scalars(
            select(PollRecipient)
            .join(Poll, Poll.id == PollRecipient.poll_id)
            .where(
                PollRecipient.user_id == user_id,
                PollRecipient.tg_poll_id.is_(None),
                Poll.kind == QUICK,
                Poll.status == "open",
            )
            .with_for_update(of=PollRecipient)
        )
    )
    known = await session.scalar(select(PollRecipient).where(PollRecipient.tg_poll_id == tg_poll_id))
    if known is not None:
        return known
    if len(candidates) == 1:
        candidates[0].tg_poll_id = tg_poll_id
        return candidates[0]
    return None


# A poll answer's usual case, in Core (storage/core.py): its recipient row, poll and options in one
# statement (a row per option; tg_poll_id is unique), then the voter's votes replaced.
_PR, _P, _PO = PollRecipient.__table__, Poll.__table__, PollOption.__table__
_PV = PollVote.__table__
_ANSWER_TARGET = (
    select(_PR.c.poll_id, _PR.c.user_id, _P.c.status, _P.c.closes_at, _P.c.multiple, _PO.c.position, _PO.c.id)
    .join(_P, _P.c.id == _PR.c.poll_id)
    .outerjoin(_PO, _PO.c.poll_id == _P.c.id)
    .where(_PR.c.tg_poll_id == bindparam("tg"))
)
_DELETE_VOTES = delete(_PV).where(_PV.c.poll_id == bindparam("pid"), _PV.c.user_id == bindparam("uid"))
_INSERT_VOTE = insert(_PV)


def _known_answer(session: Session, tg_poll_id: str, user_id: int, positions: list[int], now: datetime) -> str | None:
    """`record_native_answer` when the Telegram poll id is known; None when it is not (the rare path)."""
    session.flush()
    connection = session.connection()
    rows = connection.execute(_ANSWER_TARGET, {"tg": tg_poll_id}).all()
    if not rows:
        return None
    poll_id, recipient_user, status, closes_at, multiple = rows[0][:5]
    if recipient_user is not None and recipient_user != user_id:  # sent to someone since forgotten
        return "closed"  # their answer stays counted, under a pseudonym; a new one would count twice
    if status != "open" or closes_at <= now:
        return "closed"
    _replace_votes(
        connection,
        poll_id,
        bool(multiple),
        {row.position: row.id for row in rows if row.id is not None},
        user_id,
        positions,
        now,
    )
    return "recorded" if positions else "retracted"


def _replace_votes(
    connection: Connection,
    poll_id: int,
    multiple: bool,
    by_position: dict[int, int],
    user_id: int,
    positions: Sequence[int],
    now: datetime,
) -> None:
    connection.execute(_DELETE_VOTES, {"pid": poll_id, "uid": user_id})
    chosen = [by_position[p] for p in dict.fromkeys(positions) if p in by_position]
    if not multiple:
        chosen = chosen[:1]
    if chosen:
        connection.execute(
            _INSERT_VOTE,
            [
                {"poll_id": poll_id, "user_id": user_id, "option_id": oid, "value": 1, "answered_at": now}
                for oid in chosen
            ],
        )


async def record_native_answer(
    session: AsyncSession, tg_poll_id: str, user_id: int, option_ids: list[int], now: datetime
) -> str:
    """A `poll_answer`: "recorded", "retracted", "closed" (ignored), or "queued" (poll id not known yet)."""
    known = await core.run(session, _known_answer, tg_poll_id, user_id, list(option_ids), now)
    if known is not None:
        return known
    recipient = await _recipient_for_answer(session, tg_poll_id, user_id)
    if recipient is None:
        session.add(
            PollUnmatchedAnswer(tg_poll_id=tg_poll_id, user_id=user_id, option_ids=list(option_ids), received_at=now)
        )
        await session.flush()
        return "queued"
    if recipient.user_id is not None and recipient.user_id != user_id:  # sent to someone since forgotten
        return "closed"  # their answer stays counted, under a pseudonym; a new one would count twice
    poll = await get_poll(session, recipient.poll_id)
    if poll is None or not is_open(poll, now):
        return "closed"
    await set_votes(session, poll, user_id, option_ids, now)
    return "recorded" if option_ids else "retracted"


async def set_votes(session: AsyncSession, poll: Poll, user_id: int, positions: Sequence[int], now: datetime) -> None:
    """Replace a voter's choices (positions); an empty list retracts the vote."""
    by_position = {o.position: o.id for o in poll.options}
    await session.execute(delete(PollVote).where(PollVote.poll_id == poll.id, PollVote.user_id == user_id))
    chosen = [by_position[p] for p in dict.fromkeys(positions) if p in by_position]
    if not poll.multiple:
        chosen = chosen[:1]
    session.add_all(
        PollVote(poll_id=poll.id, user_id=user_id, option_id=oid, value=1, answered_at=now) for oid in chosen
    )
    await session.flush()


async def record_chat_counts(
    session: AsyncSession, tg_poll_id: str, question: str, counts: list[int], total: int
) -> bool:
    """Totals Telegram reports for an anonymous poll in a group chat (no per-voter answers there).

    If the outbox has not recorded this poll's Telegram id yet, the only open group-chat poll
    with the same question is the one.
    """
    recipient = await session.scalar(select(PollRecipient).where(PollRecipient.tg_poll_id == tg_poll_id))
    if recipient is None:
        candidates = list(
            await session.scalars(
                select(PollRecipient)
                .join(Poll, Poll.id == PollRecipient.poll_id)
                .where(
                    PollRecipient.user_id.is_(None),
                    PollRecipient.tg_poll_id.is_(None),
                    Poll.status == "open",
                    Poll.question == question,
                )
                .with_for_update(of=PollRecipient)
            )
        )
        recipient = await session.scalar(select(PollRecipient).where(PollRecipient.tg_poll_id == tg_poll_id))
        if recipient is None and len(candidates) == 1:
            recipient = candidates[0]
            recipient.tg_poll_id = tg_poll_id
    if recipient is None or recipient.user_id is not None:
        return False
    poll = await session.get(Poll, recipient.poll_id)
    if poll is None or not poll.anonymous or poll.status != "open":
        return False
    recipient.counts = {"options": list(counts), "total": int(total)}
    return True


@dataclass
class QuickResults:
    options: list[PollOption]
    counts: list[int]
    voters: int
    recipients: int  # private recipients (a group chat counts as none: its size is unknown)
    missing: list[str | None] = field(default_factory=list)  # names (None: someone forgotten); none if anonymous

    def percent(self, i: int) -> int:
        return round(100 * self.counts[i] / self.voters) if self.voters else 0


async def quick_results(session: AsyncSession, poll: Poll) -> QuickResults:
    """Counts per option, how many voted, and (non-anonymous only) who has not answered yet."""
    per_option = dict(
        (
            await session.execute(
                select(PollVote.option_id, func.count()).where(PollVote.poll_id == poll.id).group_by(PollVote.option_id)
            )
        )
        .tuples()
        .all()
    )
    counts = [int(per_option.get(o.id, 0)) for o in poll.options]
    voter_ids = set(await session.scalars(select(distinct(PollVote.user_id)).where(PollVote.poll_id == poll.id)))
    voters = len(voter_ids)
    recipients = list(await session.scalars(select(PollRecipient).where(PollRecipient.poll_id == poll.id)))
    for tally in (r.counts for r in recipients if r.counts):
        chat_counts = tally.get("options", [])
        counts = [c + (chat_counts[i] if i < len(chat_counts) else 0) for i, c in enumerate(counts)]
        voters += int(tally.get("total", 0))
    private = [r.user_id for r in recipients if r.user_id is not None]
    missing: list[str | None] = []
    if not poll.anonymous:
        absent = [uid for uid in private if uid not in voter_ids]
        if absent:
            users = list(
                await session.scalars(select(User).where(User.id.in_(absent)).order_by(User.first_name, User.id))
            )
            missing = [u.display_name for u in users] + [None] * (len(absent) - len(users))
    return QuickResults(list(poll.options), counts, voters, len(private), missing)


# --------------------------------------------------------------------------- date polls


@dataclass
class SlotResult:
    option: PollOption
    yes: int
    maybe: int
    no: int


async def set_slot_answer(
    session: AsyncSession, poll: Poll, user_id: int, option_id: int, value: int, now: datetime
) -> None:
    """oui / si besoin / non for one slot (replacing the previous answer to that slot)."""
    await session.execute(
        delete(PollVote).where(
            PollVote.poll_id == poll.id, PollVote.user_id == user_id, PollVote.option_id == option_id
        )
    )
    session.add(PollVote(poll_id=poll.id, user_id=user_id, option_id=option_id, value=value, answered_at=now))
    await session.flush()


async def my_slot_answers(session: AsyncSession, poll_id: int, user_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(PollVote.option_id, PollVote.value).where(PollVote.poll_id == poll_id, PollVote.user_id == user_id)
    )
    return {oid: value for oid, value in rows}


async def slot_results(session: AsyncSession, poll: Poll) -> list[SlotResult]:
    rows = await session.execute(
        select(PollVote.option_id, PollVote.value, func.count())
        .where(PollVote.poll_id == poll.id)
        .group_by(PollVote.option_id, PollVote.value)
    )
    tally: dict[int, dict[int, int]] = {}
    for oid, value, n in rows:
        tally.setdefault(oid, {})[value] = int(n)
    return [
        SlotResult(
            o, tally.get(o.id, {}).get(YES, 0), tally.get(o.id, {}).get(MAYBE, 0), tally.get(o.id, {}).get(NO, 0)
        )
        for o in poll.options
    ]


def best_slots(results: list[SlotResult]) -> list[SlotResult]:
    """Most "oui" first, then most "si besoin", then the earliest; slots nobody can attend are left out."""
    ranked = sorted(results, key=lambda r: (-r.yes, -r.maybe, r.option.position))
    return [r for r in ranked if r.yes or r.maybe]


async def answer_grid(session: AsyncSession, poll: Poll) -> list[tuple[str | None, dict[int, int]]]:
    """Each answerer's name and their answers per option id (Framadate's grid), by name.

    Someone forgotten since keeps their line, without a name (None), after the others.
    """
    rows = await session.execute(
        select(PollVote.user_id, User, PollVote.option_id, PollVote.value)
        .outerjoin(User, User.id == PollVote.user_id)
        .where(PollVote.poll_id == poll.id)
        .order_by(User.first_name, PollVote.user_id)
    )
    grid: dict[int, tuple[str | None, dict[int, int]]] = {}
    for uid, user, oid, value in rows:
        grid.setdefault(uid, (user.display_name if user is not None else None, {}))[1][oid] = value
    return sorted(grid.values(), key=lambda entry: entry[0] is None)  # stable: named people stay in order


async def answerer_ids(session: AsyncSession, poll_id: int) -> list[int]:
    """Everyone who answered a poll (votes or questionnaire answers)."""
    votes = set(await session.scalars(select(distinct(PollVote.user_id)).where(PollVote.poll_id == poll_id)))
    texts = set(
        await session.scalars(select(distinct(PollTextAnswer.user_id)).where(PollTextAnswer.poll_id == poll_id))
    )
    return sorted(votes | texts)


async def named_in_results(session: AsyncSession, poll: Poll) -> list[int]:
    """Who a poll's results name: the date grid's answerers, a named poll's missing voters, a
    questionnaire's respondents (its CSV). An anonymous poll's results name nobody."""
    if poll.kind == QUICK:
        if poll.anonymous:
            return []
        voters = select(PollVote.user_id).where(PollVote.poll_id == poll.id)
        missing = select(PollRecipient.user_id).where(
            PollRecipient.poll_id == poll.id, PollRecipient.user_id.is_not(None), PollRecipient.user_id.not_in(voters)
        )
        return sorted(await session.scalars(missing))
    return await answerer_ids(session, poll.id)


async def link_meeting(session: AsyncSession, poll: Poll, meeting: Meeting, now: datetime) -> None:
    """The date poll produced its meeting: it is closed for answers."""
    poll.meeting_id = meeting.id
    if poll.status == "open":
        poll.status, poll.closed_at = "closed", now


# --------------------------------------------------------------------------- questionnaires


def questions(poll: Poll) -> list[PollOption]:
    return list(poll.options)


async def form_answers(session: AsyncSession, poll_id: int, user_id: int) -> dict[int, PollTextAnswer]:
    rows = await session.scalars(
        select(PollTextAnswer).where(PollTextAnswer.poll_id == poll_id, PollTextAnswer.user_id == user_id)
    )
    return {a.option_id: a for a in rows}


async def next_question(session: AsyncSession, poll: Poll, user_id: int) -> tuple[PollOption | None, int]:
    """The first question this person has not answered yet (None when done) and how many they answered."""
    done = await form_answers(session, poll.id, user_id)
    for question in poll.options:
        if question.id not in done:
            return question, len(done)
    return None, len(done)


async def save_form_answer(
    session: AsyncSession,
    poll: Poll,
    user_id: int,
    option_id: int,
    *,
    choice: int | None = None,
    text: str | None = None,
    now: datetime,
) -> None:
    existing = await session.get(PollTextAnswer, (poll.id, user_id, option_id))
    if existing is None:
        session.add(
            PollTextAnswer(
                poll_id=poll.id, user_id=user_id, option_id=option_id, choice=choice, text=text, answered_at=now
            )
        )
    else:
        existing.choice, existing.text, existing.answered_at = choice, text, now
    await session.flush()


async def pending_forms(session: AsyncSession, user_id: int, now: datetime) -> list[tuple[Poll, int]]:
    """Open questionnaires sent to this person and not finished, with how many questions they answered."""
    polls = await session.scalars(
        select(Poll)
        .join(PollRecipient, PollRecipient.poll_id == Poll.id)
        .where(PollRecipient.user_id == user_id, Poll.kind == FORM, Poll.status == "open", Poll.closes_at > now)
        .options(selectinload(Poll.options))
        .order_by(Poll.closes_at)
    )
    result = []
    for poll in polls:
        answered = await session.scalar(
            select(func.count())
            .select_from(PollTextAnswer)
            .where(PollTextAnswer.poll_id == poll.id, PollTextAnswer.user_id == user_id)
        )
        if int(answered or 0) < len(poll.options):
            result.append((poll, int(answered or 0)))
    return result


@dataclass
class FormSummary:
    recipients: int
    completed: int
    started: int
    choice_counts: dict[int, list[int]]  # question id -> count per choice


async def form_summary(session: AsyncSession, poll: Poll) -> FormSummary:
    recipients = int(
        await session.scalar(select(func.count()).select_from(PollRecipient).where(PollRecipient.poll_id == poll.id))
        or 0
    )
    per_user = dict(
        (
            await session.execute(
                select(PollTextAnswer.user_id, func.count())
                .where(PollTextAnswer.poll_id == poll.id)
                .group_by(PollTextAnswer.user_id)
            )
        )
        .tuples()
        .all()
    )
    completed = sum(1 for n in per_user.values() if n >= len(poll.options))
    counts = {q.id: [0] * len(q.choices) for q in poll.options if q.choices}
    rows = await session.execute(
        select(PollTextAnswer.option_id, PollTextAnswer.choice, func.count())
        .where(PollTextAnswer.poll_id == poll.id, PollTextAnswer.choice.is_not(None))
        .group_by(PollTextAnswer.option_id, PollTextAnswer.choice)
    )
    for oid, choice, n in rows:
        if oid in counts and 0 <= choice < len(counts[oid]):
            counts[oid][choice] = int(n)
    return FormSummary(recipients, completed, len(per_user) - completed, counts)


async def form_rows(session: AsyncSession, poll: Poll) -> list[tuple[str | None, dict[int, PollTextAnswer]]]:
    """Each respondent (name, None for someone forgotten) with their answers by question id (for the CSV)."""
    rows = await session.execute(
        select(PollTextAnswer, User)
        .outerjoin(User, User.id == PollTextAnswer.user_id)
        .where(PollTextAnswer.poll_id == poll.id)
        .order_by(PollTextAnswer.user_id)
    )
    people: dict[int, tuple[str | None, dict[int, PollTextAnswer]]] = {}
    for answer, user in rows:
        name = user.display_name if user is not None else None
        people.setdefault(answer.user_id, (name, {}))[1][answer.option_id] = answer
    return sorted(people.values(), key=lambda entry: entry[0] is None)


# --------------------------------------------------------------------------- closing


async def claim_due(session: AsyncSession, now: datetime, *, limit: int = 50) -> list[Poll]:
    """Open polls whose deadline passed, closed here (so one process alone reports each)."""
    polls = list(
        await session.scalars(
            select(Poll)
            .where(Poll.status == "open", Poll.closes_at <= now)
            .order_by(Poll.closes_at)
            .limit(limit)
            .options(selectinload(Poll.options))
            .with_for_update(skip_locked=True, of=Poll)
        )
    )
    for poll in polls:
        poll.status, poll.closed_at = "closed", now
    await session.flush()
    return polls


async def sent_poll_messages(session: AsyncSession, poll_id: int) -> list[tuple[int, int]]:
    """(chat_id, message_id) of every native poll of this survey that reached its chat (the outbox records them)."""
    rows = await session.execute(
        select(OutboxMessage.chat_id, OutboxMessage.message_id).where(
            OutboxMessage.purpose == purpose(poll_id, "send"),
            OutboxMessage.status == "sent",
            OutboxMessage.message_id.is_not(None),
        )
    )
    return [(int(c), int(m)) for c, m in rows]
