"""The printable crisis kit: a PDF for the day the computers are down (cyberattack, outage).

It holds the bulletins in force, the groups' contact list (names, professions, and the phone
numbers members chose to share with /telephone) and the upcoming meetings. fpdf2 with the
DejaVu Sans font that matplotlib ships, so accents print correctly and nothing is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dates import When, format_moment, format_when
from bot.i18n import t
from bot.services import Services
from handlers.crisis.shared import category_label, priority_label, source_label
from storage import crisis as store
from storage import meetings as meetings_store
from storage import users as users_store


def _font_dir() -> Path:
    """matplotlib and fpdf2 are imported on first use (~40 MiB the bot does not carry otherwise)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


_NO_GLYPH = re.compile("[\U00010000-\U0010ffff\ufe0f\u200d]")  # emoji: not in DejaVu Sans


@dataclass(frozen=True)
class KitBulletin:
    number: int
    heading: str
    title: str
    body: str
    links: list[str]


@dataclass(frozen=True)
class KitContact:
    name: str
    profession: str
    phone: str


@dataclass(frozen=True)
class KitMeeting:
    title: str
    when: str
    place: str


@dataclass(frozen=True)
class KitData:
    printed: str
    bulletins: list[KitBulletin]
    directory: list[tuple[str, list[KitContact]]]
    meetings: list[KitMeeting]
    people: tuple[int, ...] = ()  # whom the directory names (for /mesdonnees and /oublier)


def kit_filename(now: datetime, tz: ZoneInfo) -> str:
    return f"kit-crise-{now.astimezone(tz):%Y-%m-%d-%Hh%M}.pdf"


def plain(text: str) -> str:
    return _NO_GLYPH.sub("", text or "").strip()


async def gather(session: AsyncSession, services: Services, *, now: datetime, lang: str) -> KitData:
    """Everything the kit prints, read in the caller's transaction."""
    tz = services.tz
    bulletins = [
        KitBulletin(
            number=b.id,
            heading=t(
                "crisis.kit_bulletin_heading",
                lang,
                html=False,
                number=b.id,
                priority=priority_label(b.priority, lang),
                category=category_label(b.category, lang, icon=False),
                source=source_label(b.source, lang),
                date=format_moment(b.published_at, lang, tz, year=True),
            ),
            title=b.title,
            body=b.body,
            links=list(b.links or []),
        )
        for b in await store.in_force(session)
    ]
    no_phone = t("crisis.kit_no_phone", lang, html=False)
    contacts = await store.contacts_by_group(session)
    directory = [
        (
            group.name,
            [
                KitContact(
                    u.display_name, t(f"profession.{u.profession or 'other'}", lang, html=False), u.phone or no_phone
                )
                for u in members
            ],
        )
        for group, members in contacts
    ]
    group_ids = [g.id for g in await users_store.list_groups(session)]
    views, _ = await meetings_store.upcoming_sessions(session, user_id=0, now=now, limit=60, group_ids=group_ids)
    place_tbd = t("meetings.place_tbd", lang, html=False)
    meetings = [
        KitMeeting(
            v.meeting.title,
            format_when(
                When(v.session.starts_at, v.session.ends_at, v.session.has_time), lang, services.settings.timezone
            ),
            ", ".join(p for p in (v.session.site, v.session.address) if p) or place_tbd,
        )
        for v in views
    ]
    printed = format_when(When(now, None, True), lang, services.settings.timezone)
    people = tuple(sorted({u.id for _, members in contacts for u in members}))
    return KitData(printed, bulletins, directory, meetings, people)


def _kit_pdf(**kwargs: Any) -> Any:  # an fpdf.FPDF, imported lazily
    from fpdf import FPDF

    class _KitPDF(FPDF):
        footer_text = ""

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", size=8)
            self.cell(0, 8, f"{self.footer_text} — {self.page_no()}/{{nb}}", align="C")

    return _KitPDF(**kwargs)


def render(data: KitData, lang: str) -> bytes:
    """The kit as PDF bytes (pure function: easy to test, safe to run in a thread)."""
    from fpdf.enums import XPos, YPos

    pdf = _kit_pdf(format="A4")
    pdf.footer_text = plain(t("crisis.kit_footer", lang, html=False, printed=data.printed))
    font_dir = _font_dir()
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(plain(t("crisis.kit_title", lang, html=False)))
    pdf.add_page()

    def heading(text: str, size: int = 15) -> None:
        pdf.set_font("DejaVu", "B", size)
        pdf.multi_cell(0, size * 0.55, plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)

    def para(text: str, size: int = 10, bold: bool = False) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.multi_cell(0, size * 0.5, plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    heading(t("crisis.kit_title", lang, html=False), 18)
    para(t("crisis.kit_printed", lang, html=False, printed=data.printed), 9)
    para(t("crisis.kit_warning", lang, html=False), 9)
    pdf.ln(4)

    heading(t("crisis.kit_section_bulletins", lang, html=False, n=len(data.bulletins)))
    if not data.bulletins:
        para(t("crisis.kit_empty_bulletins", lang, html=False))
    for b in data.bulletins:
        para(b.heading, 9)
        para(b.title, 11, bold=True)
        if b.body:
            para(b.body)
        for link in b.links:
            para(link, 9)
        pdf.ln(3)

    heading(t("crisis.kit_section_directory", lang, html=False))
    if not data.directory:
        para(t("crisis.kit_empty_directory", lang, html=False))
    columns = (
        t("crisis.kit_col_name", lang, html=False),
        t("crisis.kit_col_profession", lang, html=False),
        t("crisis.kit_col_phone", lang, html=False),
    )
    for group_name, contacts in data.directory:
        para(group_name, 11, bold=True)
        pdf.set_font("DejaVu", size=9)
        with pdf.table(col_widths=(70, 60, 50), text_align="LEFT", line_height=5, first_row_as_headings=True) as table:
            header = table.row()
            for column in columns:
                header.cell(plain(column))
            for contact in contacts:
                row = table.row()
                for value in (contact.name, contact.profession, contact.phone):
                    row.cell(plain(value))
        pdf.ln(3)

    heading(t("crisis.kit_section_meetings", lang, html=False))
    if not data.meetings:
        para(t("crisis.kit_empty_meetings", lang, html=False))
    for m in data.meetings:
        para(m.title, 10, bold=True)
        para(f"{m.when} — {m.place}", 9)
        pdf.ln(1)
    return bytes(pdf.output())
