"""Registrants as a CSV file that French Excel opens as-is (`;` separator, UTF-8 with BOM).

Only confirmed people and the waiting list are listed (seat holders first, then the queue in
order). Someone who asked to be forgotten (user_id NULL) still counts, shown as "(anonymisé)".
The session is spread over columns (date, hours, site, address) so a spreadsheet can filter
on any of them; people of a cancelled session are listed with the status "session annulée",
never "confirmé".
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from bot.dates import When, format_hours
from bot.i18n import t
from storage.models import MeetingSession, Registration, User
from storage.users import PROFESSIONS

STATUS_ORDER = {"confirmed": 0, "waitlisted": 1}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("date", "hours", "site", "address", "name", "profession", "status", "registered_at")


def _cell(value: str) -> str:
    """Neutralise text Excel would run as a formula (a name typed as "=HYPERLINK(…)")."""
    return "'" + value if value.startswith(FORMULA_START) else value


def registrants_csv(rows: Iterable[tuple[MeetingSession, Registration, User | None]], *, lang: str, tz: str) -> bytes:
    """The CSV bytes: header in `lang`, one line per active registration, dates in `tz`."""
    zone = ZoneInfo(tz)
    active = [row for row in rows if row[1].status in STATUS_ORDER]
    # Stable sort: sessions keep their order, seat holders before the queue, queue by arrival.
    positions = {ms.id: i for i, (ms, _, _) in enumerate(active)}
    active.sort(key=lambda row: (positions[row[0].id], STATUS_ORDER[row[1].status], row[1].id))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([t(f"coord.csv.{column}", lang, html=False) for column in COLUMNS])
    for ms, reg, user in active:
        if user is None:
            name = t("coord.csv.anonymised", lang, html=False)
            profession = ""
        else:
            name = user.display_name
            profession = t(f"profession.{user.profession}", lang, html=False) if user.profession in PROFESSIONS else ""
        status = "session_cancelled" if ms.status == "cancelled" else reg.status
        writer.writerow(
            [
                ms.starts_at.astimezone(zone).strftime("%d/%m/%Y"),  # a date French Excel sorts and filters as one
                format_hours(When(ms.starts_at, ms.ends_at, ms.has_time), lang, tz),
                _cell(ms.site or ""),
                _cell(ms.address or ""),
                _cell(name),
                _cell(profession),
                t(f"coord.csv.status_{status}", lang, html=False),
                reg.created_at.astimezone(zone).strftime("%d/%m/%Y %H:%M"),  # a value to sort on, in Excel's format
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def filename_for(title: str, prefix: str = "inscrits") -> str:
    """ "inscrits-rencontre-ville-hopital.csv": ASCII only, so every mail client keeps it."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:50].strip("-")
    return f"{prefix}-{slug or 'rencontre'}.csv"
