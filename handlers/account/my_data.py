"""/mesdonnees as a person reads it: labels in their language, dates in their time zone, codes spelled out.

storage/privacy.export_user gathers the rows (generic over every table); this module only puts
words on them. Labels come from the catalogue: `privacy.table.<table>`, `privacy.column.<column>`
(or `privacy.column.<table>.<column>` where a column means something particular), and
`privacy.value.<column>.<value>` for codes such as a status. A table added later without labels
still exports, under its technical names; tests/test_my_data.py asks for the labels.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import UnknownLocaleError

from bot.i18n import catalogue, fmt_datetime, t
from storage.privacy import jsonable

EXPORT_FILENAME = "mes-donnees-relais-sante.json"


def _label(lang: str, *keys: str, fallback: str) -> str:
    messages = catalogue(lang)
    for key in keys:
        if messages.get(key):
            return t(key, lang, html=False)
    return fallback


def table_label(table: str, lang: str) -> str:
    return _label(lang, f"privacy.table.{table}", fallback=table)


def column_label(table: str, column: str, lang: str) -> str:
    return _label(lang, f"privacy.column.{table}.{column}", f"privacy.column.{column}", fallback=column)


def _language_name(code: str, lang: str) -> str:
    try:
        return Locale.parse(code).get_display_name(lang) or code
    except (ValueError, UnknownLocaleError):
        return code


def _payload_text(payload: Any, lang: str) -> Any:
    """A queued message as its reader sees it: its text or caption, or which file it carries."""
    if not isinstance(payload, dict):
        return jsonable(payload)
    if payload.get("forgotten"):
        return t("privacy.value.payload.forgotten", lang, html=False)
    for key in ("text", "caption", "question"):
        if isinstance(payload.get(key), str):
            return payload[key]
    files = [v for v in payload.values() if isinstance(v, dict) and ("b64" in v or v.get("removed"))]
    if files:
        return t("privacy.value.payload.file", lang, html=False, name=str(files[0].get("filename") or "—"))
    return jsonable(payload)


def value_text(table: str, column: str, value: Any, lang: str, tz: ZoneInfo) -> Any:
    """One stored value, readable: yes/no, a local date, a profession or a status in words."""
    if value is None:
        return None
    if isinstance(value, bool):
        return t("common.yes" if value else "common.no", lang, html=False)
    if isinstance(value, datetime):
        return fmt_datetime(value, lang, tz=tz, fmt="d MMMM y, HH:mm")  # the bot's time zone, like every screen
    if isinstance(value, date):
        return value.isoformat()
    if column == "payload":
        return _payload_text(value, lang)
    if column in ("language", "lang") and isinstance(value, str):
        return _language_name(value, lang)
    if column == "profession" and isinstance(value, str):
        return _label(lang, f"profession.{value}", fallback=value)
    if column in ("category", "priority", "source", "stock") and isinstance(value, str):  # crisis codes, worded once
        return _label(lang, f"crisis.{column}.{value}", fallback=value)
    if isinstance(value, str):
        return _label(lang, f"privacy.value.{column}.{value}", fallback=value)
    return jsonable(value)


def readable_row(table: str, row: dict[str, Any], lang: str, tz: ZoneInfo) -> dict[str, Any]:
    return {
        column_label(table, column, lang): value_text(table, column, value, lang, tz) for column, value in row.items()
    }


def purpose_label(purpose: str, lang: str) -> str:
    """ "report:12:cell" -> "Fiche du signalement n° 12 envoyée à la cellule de crise"."""
    parts = purpose.split(":")
    number = next((p for p in parts[1:] if p.isdigit()), "")
    keys = [f"privacy.purpose.{parts[0]}.{parts[-1]}"] if len(parts) > 2 else []
    keys.append(f"privacy.purpose.{parts[0]}")
    for key in keys:
        if catalogue(lang).get(key):
            return t(key, lang, html=False, number=number)
    return t("privacy.purpose.other", lang, html=False, purpose=purpose)


def readable_export(data: dict[str, Any], lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """The whole export (storage/privacy.export_user) with labels a person can read."""
    label = lambda key: t(f"privacy.export.{key}", lang, html=False)  # noqa: E731
    named = [
        {
            label("message"): purpose_label(m["purpose"], lang),
            label("date"): value_text("outbox", "created_at", m["created_at"], lang, tz),
            label("state"): value_text("outbox", "status", m["status"], lang, tz),
            label("to"): t(f"privacy.export.to_{m['to']}", lang, html=False),
            label("holds"): [t(f"privacy.export.holds_{what}", lang, html=False) for what in m["holds"]],
        }
        for m in data["named_in_messages_to_others"]
    ]
    profile = data["profile"]
    return {
        label("about"): {
            label("format"): data["format"],
            label("generated_at"): value_text("", "generated_at", data["generated_at"], lang, tz),
            label("telegram_id"): data["user_id"],
        },
        label("profile"): readable_row("users", profile, lang, tz) if profile is not None else None,
        label("tables"): {
            table_label(table, lang): [readable_row(table, row, lang, tz) for row in rows]
            for table, rows in data["tables"].items()
        },
        label("named"): named,
    }
