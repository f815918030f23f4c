"""People and their groups: onboarding, profile, roles."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage import core
from storage.models import Group, Membership, User, utcnow

PROFESSIONS = (
    "mg",  # médecin généraliste
    "specialist",
    "ide",
    "ipa",
    "mk",
    "pharmacist",
    "midwife",
    "social_worker",
    "secretary",
    "coordinator",
    "other",
)


def _upsert(
    session: Session, user_id: int, first_name: str, last_name: str | None, username: str | None, language: str | None
) -> User:
    user = core.get(session, User, user_id)  # one Core statement; the row handed to the session as if loaded
    if user is None:
        user = User(
            id=user_id,
            first_name=first_name[:128],
            last_name=(last_name or None) and last_name[:128],
            username=username,
            language=language,
        )
        session.add(user)
        session.flush()
        return user
    if (user.first_name, user.last_name, user.username) != (first_name[:128], last_name, username):
        user.first_name, user.last_name, user.username = first_name[:128], last_name and last_name[:128], username
    if user.unreachable_at is not None:
        user.unreachable_at = None  # they wrote to us, so they unblocked the bot
    return user


async def upsert_user(
    session: AsyncSession,
    user_id: int,
    *,
    first_name: str,
    last_name: str | None,
    username: str | None,
    language: str | None = None,
) -> User:
    """The `User` row for a Telegram user, created on first contact, names kept current.

    `language` (from Telegram's language_code) is remembered at first contact so that
    messages sent later (reminders, bulletins) use it; /langue changes it. Every update runs
    this: the row is read with Core (storage/core.py); changes are flushed with the transaction.
    """
    return await core.run(session, _upsert, user_id, first_name, last_name, username, language)


async def followed_group_ids(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.scalars(select(Membership.group_id).where(Membership.user_id == user_id))
    return list(rows)


async def set_groups(session: AsyncSession, user_id: int, group_ids: Iterable[int]) -> None:
    """Follow exactly `group_ids`, keeping the role of groups still followed."""
    wanted = set(group_ids)
    current = {m.group_id: m for m in await session.scalars(select(Membership).where(Membership.user_id == user_id))}
    for gid in set(current) - wanted:
        await session.delete(current[gid])
    for gid in wanted - set(current):
        session.add(Membership(user_id=user_id, group_id=gid))


async def list_groups(session: AsyncSession, *, include_archived: bool = False) -> list[Group]:
    """Groups by name; archived ones only when asked (they are gone from every picker)."""
    query = select(Group).order_by(Group.name)
    if not include_archived:
        query = query.where(Group.archived_at.is_(None))
    return list(await session.scalars(query))


async def coordinated_group_ids(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.scalars(
        select(Membership.group_id).where(Membership.user_id == user_id, Membership.role == "coordinator")
    )
    return list(rows)


async def find_user(session: AsyncSession, ref: str) -> User | None:
    """A user by numeric id or @username (they must have talked to the bot)."""
    ref = ref.strip()
    if ref.lstrip("-").isdigit():
        return await session.get(User, int(ref))
    name = ref.removeprefix("@")
    if not name:
        return None
    return await session.scalar(select(User).where(User.username == name))


async def appoint_coordinator(session: AsyncSession, user: User, group_id: int | None) -> None:
    """Make `user` a coordinator of one group, or of every group when `group_id` is None."""
    if group_id is None:
        user.is_coordinator = True
        return
    membership = await session.get(Membership, (user.id, group_id))
    if membership is None:
        session.add(Membership(user_id=user.id, group_id=group_id, role="coordinator"))
    else:
        membership.role = "coordinator"


async def mark_onboarded(user: User) -> None:
    if user.onboarded_at is None:
        user.onboarded_at = utcnow()


async def reachable_user_ids(session: AsyncSession, user_ids: Iterable[int]) -> list[int]:
    ids = list(user_ids)
    if not ids:
        return []
    rows = await session.scalars(select(User.id).where(User.id.in_(ids), User.unreachable_at.is_(None)))
    return list(rows)


async def reachable_languages(session: AsyncSession, user_ids: Iterable[int], default: str) -> dict[int, str]:
    """Each reachable recipient's language (`default` when unset); people who blocked the bot
    are left out, so a notice is never queued for them. By 1000 ids: bounded bind parameters."""
    ids = list(user_ids)
    result: dict[int, str] = {}
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(User.id, User.language).where(User.id.in_(ids[start : start + 1000]), User.unreachable_at.is_(None))
        )
        result.update({uid: lang or default for uid, lang in rows})
    return result


async def forget_memberships(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(Membership).where(Membership.user_id == user_id))
