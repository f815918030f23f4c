"""Groups as coordinators run them: create, rename, archive, link a Telegram group chat, invite.

A group is never deleted: archiving hides it from pickers, /start and invitations while its
meetings, registrations and memberships stay. The short id (`slug`) is what people type in
commands, so it is checked here, in one place: lower-case ASCII letters, digits and single
dashes ("cpts-grand-havre"), proposed from the name and unique.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Group, Membership, utcnow

NAME_MAX = 200
SLUG_MIN, SLUG_MAX = 2, 40
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def clean_name(text: str) -> str:
    """A typed name with its spaces squeezed (line breaks included)."""
    return " ".join(text.split())


def slugify(text: str) -> str:
    """ "CPTS du Grand Havre (76)" → "cpts-du-grand-havre-76", cut on a dash under SLUG_MAX."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae"))
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX]
        slug = slug.rsplit("-", 1)[0] if "-" in slug else slug
    return slug


def slug_is_valid(slug: str) -> bool:
    return SLUG_MIN <= len(slug) <= SLUG_MAX and _SLUG.match(slug) is not None


async def get_group(session: AsyncSession, group_id: int, *, active: bool = False) -> Group | None:
    """The group, or None (also when `active` and it is archived)."""
    group = await session.get(Group, group_id)
    if group is None or (active and group.archived_at is not None):
        return None
    return group


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    """Archived groups keep their slug: a command or an old message may still name them."""
    return await session.scalar(select(func.count()).select_from(Group).where(Group.slug == slug)) != 0


async def free_slug(session: AsyncSession, base: str) -> str:
    """`base`, or `base-2`, `base-3`… the first one no group uses."""
    base = base if slug_is_valid(base) else (base + "-groupe").strip("-")[:SLUG_MAX]
    candidate, n = base, 1
    while await slug_taken(session, candidate):
        n += 1
        suffix = f"-{n}"
        candidate = base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix
    return candidate


async def name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    """Whether an active group already has this name (ignoring case): pickers would show it twice."""
    wanted = name.casefold()
    rows = await session.execute(select(Group.id, Group.name).where(Group.archived_at.is_(None)))
    return any(name_.casefold() == wanted and gid != except_id for gid, name_ in rows)


async def create_group(session: AsyncSession, *, name: str, slug: str) -> Group | None:
    """A new active group; None when another coordinator took the slug a moment ago."""
    group = Group(slug=slug, name=name, kind="other")
    try:
        async with session.begin_nested():
            session.add(group)
            await session.flush()
    except IntegrityError:
        return None
    return group


async def archived_groups(session: AsyncSession) -> list[Group]:
    return list(await session.scalars(select(Group).where(Group.archived_at.is_not(None)).order_by(Group.name)))


def archive(group: Group, now: datetime | None = None) -> None:
    if group.archived_at is None:
        group.archived_at = now or utcnow()


def restore(group: Group) -> None:
    group.archived_at = None


async def member_counts(session: AsyncSession, group_ids: list[int]) -> dict[int, int]:
    """Members per group (coordinators included), 0 for a group nobody follows."""
    if not group_ids:
        return {}
    rows = await session.execute(
        select(Membership.group_id, func.count())
        .where(Membership.group_id.in_(group_ids))
        .group_by(Membership.group_id)
    )
    counts = dict.fromkeys(group_ids, 0)
    counts.update({gid: int(n) for gid, n in rows})
    return counts


async def join(session: AsyncSession, user_id: int, group_id: int) -> bool:
    """Follow the group (an invitation); False when already following it."""
    if await session.get(Membership, (user_id, group_id)) is not None:
        return False
    session.add(Membership(user_id=user_id, group_id=group_id))
    await session.flush()
    return True
