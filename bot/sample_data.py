"""Sample groups and meetings for the demo and tests, after the groups' own documents.

Towns, themes and rhythms come from the seeds (the GHT Cœur Grand Est meetings held on three
sites, the departmental coordinators' groups); no person's name or contact. The seeds' dates
are in the past, so each meeting is placed on the next future occurrence of its day and month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.meetings import SessionDraft, create_meeting
from storage.models import Group


@dataclass(frozen=True)
class SampleSession:
    month: int
    day: int
    start: time
    end: time | None
    site: str | None
    address: str | None
    capacity: int | None


GROUPS = (
    ("ght-coeur-grand-est", "GHT Cœur Grand Est — rencontres ville-hôpital", "ght"),
    ("coordos-52", "Coordinateurs de Haute-Marne (52)", "coordination"),
    ("coordos-10", "Coordinateurs de l'Aube (10)", "coordination"),
    ("coordos-08", "Coordinateurs des Ardennes (08)", "coordination"),
    ("coordos-55", "Coordinateurs de la Meuse (55)", "coordination"),
    ("cpts-grand-havre", "CPTS Grand Havre", "cpts"),
)

MEETINGS = (
    (
        "ght-coeur-grand-est",
        "Rencontre des professionnels de santé ville-hôpital",
        "Se connaître, partager nos pratiques et construire ensemble les parcours du territoire.",
        (
            SampleSession(1, 26, time(14), time(17), "Verdun", None, 40),
            SampleSession(4, 13, time(14), time(17), "Bar-le-Duc", None, 40),
            SampleSession(6, 22, time(14), time(17), "Saint-Dizier", None, 40),
        ),
    ),
    (
        "coordos-52",
        "L'IA au service de la coordination",
        "Usages, limites, éthique et confidentialité.",
        (SampleSession(2, 9, time(9, 30), time(12, 30), "Chaumont", "Centre Palestra", 12),),
    ),
    (
        "coordos-10",
        "Groupe des coordinateurs de l'Aube",
        "Fiche de poste du coordinateur, appui opérationnel.",
        (SampleSession(2, 10, time(14), time(16, 30), "Troyes", "Locaux de la CPTS", 15),),
    ),
    (
        "coordos-08",
        "Mobiliser les usagers dans les missions de santé publique",
        None,
        (SampleSession(2, 3, time(9), time(12), "Charleville-Mézières", "La Grande-Ourse", 15),),
    ),
    (
        "coordos-55",
        "Renforcer le lien entre CPTS et MSP",
        None,
        (
            SampleSession(3, 31, time(14), time(17), "Verdun", None, 20),
            SampleSession(4, 3, time(9), time(12), None, None, None),
        ),
    ),
)


def next_occurrence(month: int, day: int, today: date) -> date:
    """The next date with this day and month strictly after today."""
    year = today.year
    while True:
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29 February
            year += 1
            continue
        if candidate > today:
            return candidate
        year += 1


async def load_samples(
    session: AsyncSession, *, now: datetime, tz: str = "Europe/Paris", created_by: int | None = None
) -> dict[str, Group]:
    """Create the sample groups and meetings; returns the groups by slug."""
    zone = ZoneInfo(tz)
    groups = {slug: Group(slug=slug, name=name, kind=kind) for slug, name, kind in GROUPS}
    session.add_all(groups.values())
    await session.flush()
    today = now.astimezone(zone).date()
    for slug, title, theme, sessions in MEETINGS:
        drafts = []
        for s in sessions:
            day = next_occurrence(s.month, s.day, today)
            start = datetime.combine(day, s.start, zone)
            end = datetime.combine(day, s.end, zone) if s.end else None
            drafts.append(SessionDraft(start, end, True, s.site, s.address, s.capacity))
        await create_meeting(
            session, group_id=groups[slug].id, title=title, theme=theme, created_by=created_by, sessions=drafts
        )
    return groups
