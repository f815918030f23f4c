"""/nouvelle_rencontre: a coordinator creates a meeting and its sessions in a guided conversation.

The answers live in the `Dialog` row (handlers/core/dialog.py), so a restart or an idle hour never
leaves half a meeting in the database: nothing is stored until "Publier". Steps answered by
typing are declared in `FLOWS`; button steps are routed by handlers/core/buttons.py (callback data
"nr:<action>:<n>"), re-checking the step and the user's rights on every press.

The small parsers here (date, place, capacity) are shared with /gerer (handlers/meetings/coordination.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.dates import DateParseError, When, date_hint, format_when, parse_when
from bot.i18n import SafeHTML, t
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonFn, ButtonRouter, coordinators_only
from handlers.core.common import Ctx, handler
from storage import dialogs
from storage import meetings as store
from storage import users as users_store
from storage.models import Dialog, Group

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

FLOW = "new_meeting"
TITLE_MAX, THEME_MAX = 200, 1000
SITE_MAX, ADDRESS_MAX = 200, 300
CAPACITY_MAX = 10_000
SESSIONS_MAX = 20


# -- answers shared with /gerer ------------------------------------------------------------


class AnswerError(ValueError):
    """A typed answer we refuse, with the catalogue key (and params) that explain why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def read_date(ctx: Ctx, text: str) -> When:
    """What the coordinator typed as a `When`, or an `AnswerError` in their language."""
    try:
        return parse_when(text, now=ctx.now, tz=ctx.services.settings.timezone)
    except DateParseError as err:
        raise AnswerError(err.key, **err.params_for(ctx.lang)) from None


def date_error_text(ctx: Ctx, err: AnswerError) -> str:
    """The refusal plus the example line, so the next try has a model to copy."""
    return f"{ctx.t(err.key, **err.params)}\n{hint_text(ctx)}"


def hint_text(ctx: Ctx) -> str:
    """The example dates under a date question, computed from today so they are never stale."""
    return date_hint(ctx.lang, ctx.now, ctx.services.settings.timezone)


def propose_date(
    ctx: Ctx,
    d: Dialog,
    text: str,
    *,
    button: Callable[[str, int], str],
    save_as: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Read a typed date and show it back in French with "Oui" / "Non, je corrige" buttons.

    Each proposal gets a number carried by its buttons (`button(action, proposal)`), so an
    older "Oui" cannot confirm a date typed since; `save_as` says where the dialog keeps it.
    """
    try:
        when = read_date(ctx, text)
    except AnswerError as err:
        dialogs.advance(d, "date")
        ctx.send(date_error_text(ctx, err))
        return
    proposal = int(d.data.get("proposal", 0)) + 1
    dialogs.advance(d, "date_confirm", proposal=proposal, **save_as(when_to_data(when)))
    ctx.say(
        "coord.confirm_date",
        [
            [
                (ctx.t("coord.button_date_ok"), button("dok", proposal)),
                (ctx.t("coord.button_date_fix"), button("dno", proposal)),
            ]
        ],
        when=format_when(when, ctx.lang, ctx.services.settings.timezone),
    )


def when_to_data(when: When) -> dict[str, Any]:
    return {
        "start": when.start.isoformat(),
        "end": when.end.isoformat() if when.end else None,
        "has_time": when.has_time,
        "period": when.period,
    }


def when_from_data(data: dict[str, Any]) -> When:
    end = data.get("end")
    return When(
        datetime.fromisoformat(data["start"]),
        datetime.fromisoformat(end) if end else None,
        bool(data["has_time"]),
        data.get("period"),
    )


def read_place(text: str) -> tuple[str, str | None]:
    """ "Chaumont, Centre Palestra" → site "Chaumont", address "Centre Palestra" (first line or comma splits)."""
    cleaned = text.strip()
    if not cleaned:
        raise AnswerError("coord.place_empty")
    if "\n" in cleaned:
        site, _, address = cleaned.partition("\n")
    else:
        site, _, address = cleaned.partition(",")
    site, address = " ".join(site.split()), " ".join(address.split())
    if len(site) > SITE_MAX or len(address) > ADDRESS_MAX:
        raise AnswerError("coord.place_too_long", site_max=SITE_MAX, address_max=ADDRESS_MAX)
    return site, address or None


_UNIT = r"(?:places?|personnes?|pers\.?|participants?|inscrits?)"
_CAPACITY = re.compile(rf"^\s*(?P<sign>[+-]?)\s*(?P<n>\d[\d\s.,]*?)\s*{_UNIT}?\s*[.!]?\s*$", re.I | re.A)
_GROUPED = re.compile(r"\d{1,3}(?:[\s.]\d{3})+")  # "1 000", "1.000": thousands, not decimals
_DECIMAL = re.compile(r"\d[.,]\d")


def read_capacity(text: str) -> int:
    """A whole seat count between 1 and 10 000 ("25", "25 places", "1 000"); refusals say why.

    A decimal ("12.5", "12,5") is refused rather than read as 125.
    """
    match = _CAPACITY.match(text)
    digits = match.group("n") if match else ""
    if match and (digits.isdigit() or _GROUPED.fullmatch(digits)):
        value = int(re.sub(r"\D", "", digits))
    elif match and _DECIMAL.search(digits):
        raise AnswerError("coord.capacity_decimal", text=text.strip()[:40])
    else:
        raise AnswerError("coord.capacity_not_number", text=text.strip()[:40])
    if match.group("sign") == "-" and value:
        raise AnswerError("coord.capacity_negative")
    if value == 0:
        raise AnswerError("coord.capacity_zero")
    if value > CAPACITY_MAX:
        raise AnswerError("coord.capacity_too_big", max=CAPACITY_MAX)
    return value


def venue_text(lang: str, site: str | None, address: str | None) -> str:
    """ "Chaumont, Centre Palestra", or "lieu à définir"."""
    if not site and not address:
        return t("meetings.place_tbd", lang)
    return ", ".join(part for part in (site, address) if part)


def place_label(ctx: Ctx, site: str | None, address: str | None) -> str:
    return venue_text(ctx.lang, site, address)


def capacity_label(ctx: Ctx, capacity: int | None) -> str:
    return ctx.t("coord.capacity_unlimited") if capacity is None else ctx.tn("coord.capacity_seats", capacity)


def deep_link(ctx: Ctx, session_id: int) -> str:
    """The t.me link that opens the session's registration card (handled by /start r<id>)."""
    return f"https://t.me/{ctx.services.bot_username}?start=r{session_id}"


# -- the conversation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """The saved answers, read from the dialog row."""

    title: str
    theme: str | None
    group_id: int | None
    sessions: list[dict[str, Any]]

    @classmethod
    def of(cls, d: Dialog) -> Draft:
        data = d.data or {}
        return cls(data.get("title", ""), data.get("theme"), data.get("group_id"), list(data.get("sessions", [])))


async def manageable_groups(ctx: Ctx) -> list[Group]:
    allowed = await ctx.coordinated_group_ids()
    return [g for g in await users_store.list_groups(ctx.session) if allowed is None or g.id in allowed]


@handler
async def on_new_meeting(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/nouvelle_rencontre: start the guided creation (coordinators only)."""
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    if not await manageable_groups(ctx):
        if ctx.is_admin:  # a fresh database: the meeting needs a group, offer to create it
            ctx.say("groups.create_first_for_meeting", [[(ctx.t("groups.button_first"), "gp:new:0")]])
        else:
            ctx.say("coord.new.no_groups")
        return
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, FLOW, "title", {"sessions": []})
    ctx.say("coord.new.ask_title", max=TITLE_MAX)


async def step_title(ctx: Ctx, d: Dialog, text: str) -> None:
    title = " ".join(text.split())
    if not title:
        ctx.say("coord.new.title_empty")
        return
    if len(title) > TITLE_MAX:
        ctx.say("coord.new.title_too_long", length=len(title), max=TITLE_MAX)
        return
    dialogs.advance(d, "theme", title=title)
    ctx.say("coord.new.ask_theme", [[(ctx.t("coord.new.button_skip"), "nr:skip:0")]], max=THEME_MAX)


async def step_theme(ctx: Ctx, d: Dialog, text: str) -> None:
    theme = text.strip()
    if len(theme) > THEME_MAX:
        ctx.say("coord.new.theme_too_long", length=len(theme), max=THEME_MAX)
        return
    dialogs.advance(d, "group", theme=theme or None)
    await ask_group(ctx)


async def ask_group(ctx: Ctx) -> None:
    groups = await manageable_groups(ctx)
    ctx.say("coord.new.ask_group", [[(g.name[:60], f"nr:grp:{g.id}")] for g in groups])


def ask_date(ctx: Ctx, d: Dialog) -> None:
    ctx.send(f"{ctx.t('coord.new.ask_date', n=len(Draft.of(d).sessions) + 1)}\n{hint_text(ctx)}")


async def step_date(ctx: Ctx, d: Dialog, text: str) -> None:
    """A typed date (also accepted while the previous one awaits confirmation: a correction)."""
    propose_date(
        ctx,
        d,
        text,
        button=lambda action, proposal: f"nr:{action}:{proposal}",
        save_as=lambda when: {"current": {"when": when}},
    )


def ask_place(ctx: Ctx) -> None:
    ctx.say("coord.ask_place", [[(ctx.t("coord.button_place_tbd"), "nr:tbd:0")]])


async def step_place(ctx: Ctx, d: Dialog, text: str) -> None:
    try:
        site, address = read_place(text)
    except AnswerError as err:
        ctx.say(err.key, **err.params)
        return
    await set_place(ctx, d, site, address)


async def set_place(ctx: Ctx, d: Dialog, site: str | None, address: str | None) -> None:
    current = dict(d.data.get("current") or {})
    current.update(site=site, address=address)
    dialogs.advance(d, "capacity", current=current)
    ctx.say("coord.ask_capacity", [[(ctx.t("coord.button_unlimited"), "nr:nolim:0")]], max=CAPACITY_MAX)


async def step_capacity(ctx: Ctx, d: Dialog, text: str) -> None:
    try:
        capacity = read_capacity(text)
    except AnswerError as err:
        ctx.say(err.key, **err.params)
        return
    await add_session(ctx, d, capacity)


async def add_session(ctx: Ctx, d: Dialog, capacity: int | None) -> None:
    current = dict(d.data.get("current") or {})
    current["capacity"] = capacity
    sessions = [*Draft.of(d).sessions, current]
    dialogs.advance(d, "more", sessions=sessions, current=None)
    keyboard = [[(ctx.t("coord.new.button_more"), "nr:more:0")], [(ctx.t("coord.new.button_done"), "nr:done:0")]]
    ctx.say("coord.new.session_added", keyboard, n=len(sessions), line=session_line(ctx, current))


def session_line(ctx: Ctx, s: dict[str, Any]) -> SafeHTML:
    """One session of the draft, already HTML (its parts were escaped by `ctx.t`)."""
    return SafeHTML(
        ctx.t(
            "coord.new.session_line",
            when=format_when(when_from_data(s["when"]), ctx.lang, ctx.services.settings.timezone),
            place=place_label(ctx, s.get("site"), s.get("address")),
            capacity=capacity_label(ctx, s.get("capacity")),
        )
    )


async def summary(ctx: Ctx, d: Dialog) -> str:
    draft = Draft.of(d)
    group = await ctx.session.get(Group, draft.group_id) if draft.group_id else None
    lines = [
        ctx.t("coord.new.summary_header"),
        ctx.t("meetings.card_title", title=draft.title),
    ]
    if draft.theme:
        lines.append(ctx.t("meetings.card_theme", theme=draft.theme))
    lines.append(ctx.t("coord.new.summary_group", group=group.name if group else "?"))
    lines.append(ctx.tn("coord.new.summary_sessions", len(draft.sessions)))
    lines.extend(session_line(ctx, s) for s in sorted(draft.sessions, key=lambda s: when_from_data(s["when"]).start))
    lines.append(ctx.t("coord.new.summary_question"))
    return "\n".join(lines)


async def publish(ctx: Ctx, d: Dialog) -> None:
    draft = Draft.of(d)
    if draft.group_id is None or not await ctx.may_manage_group(draft.group_id):
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.refuse()
        return
    drafts = []
    for s in draft.sessions:
        when = when_from_data(s["when"])
        drafts.append(
            store.SessionDraft(when.start, when.end, when.has_time, s.get("site"), s.get("address"), s.get("capacity"))
        )
    meeting = await store.create_meeting(
        ctx.session,
        group_id=draft.group_id,
        title=draft.title,
        theme=draft.theme,
        created_by=ctx.user.id,
        sessions=drafts,
    )
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    tz = ctx.services.settings.timezone
    lines = [ctx.t("coord.new.published", title=meeting.title)]
    for ms in sorted(meeting.sessions, key=lambda ms: (ms.starts_at, ms.id)):
        lines.append(
            ctx.t(
                "coord.link_line",
                when=format_when(When(ms.starts_at, ms.ends_at, ms.has_time), ctx.lang, tz),
                place=place_label(ctx, ms.site, ms.address),
                link=deep_link(ctx, ms.id),
            )
        )
    lines.append(ctx.t("coord.new.published_next"))
    ctx.send("\n\n".join(lines))


async def pressed_skip(ctx: Ctx, d: Dialog, _: int) -> None:
    dialogs.advance(d, "group", theme=None)
    ctx.edit(ctx.t("coord.new.theme_skipped"))
    await ask_group(ctx)


async def pressed_group(ctx: Ctx, d: Dialog, group_id: int) -> None:
    group = await ctx.session.get(Group, group_id)
    if group is None or not await ctx.may_manage_group(group_id):
        ctx.refuse()
        return
    if group.archived_at is not None:  # archived since the list was shown
        ctx.answer(ctx.t("common.stale_button"), alert=True)
        return
    dialogs.advance(d, "date", group_id=group_id)
    ctx.edit(ctx.t("coord.new.group_chosen", group=group.name))
    ask_date(ctx, d)


def check_latest_proposal(d: Dialog, proposal: int) -> None:
    """Buttons of an earlier, corrected date are stale."""
    if proposal != int(d.data.get("proposal", 0)):
        raise BadButton("an earlier date proposal")


async def pressed_date_ok(ctx: Ctx, d: Dialog, proposal: int) -> None:
    check_latest_proposal(d, proposal)
    current = d.data.get("current") or {}
    when = when_from_data(current["when"])
    dialogs.advance(d, "place")
    ctx.edit(ctx.t("coord.date_chosen", when=format_when(when, ctx.lang, ctx.services.settings.timezone)))
    ask_place(ctx)


async def pressed_date_fix(ctx: Ctx, d: Dialog, proposal: int) -> None:
    check_latest_proposal(d, proposal)
    dialogs.advance(d, "date", current=None)
    ctx.edit(f"{ctx.t('coord.retype_date')}\n{hint_text(ctx)}")


async def pressed_place_tbd(ctx: Ctx, d: Dialog, _: int) -> None:
    ctx.edit(ctx.t("coord.place_chosen", place=ctx.t("meetings.place_tbd")))
    await set_place(ctx, d, None, None)


async def pressed_unlimited(ctx: Ctx, d: Dialog, _: int) -> None:
    ctx.edit(ctx.t("coord.capacity_chosen", capacity=ctx.t("coord.capacity_unlimited")))
    await add_session(ctx, d, None)


async def pressed_more(ctx: Ctx, d: Dialog, _: int) -> None:
    if len(Draft.of(d).sessions) >= SESSIONS_MAX:
        ctx.answer(ctx.t("coord.new.too_many_sessions", max=SESSIONS_MAX), alert=True)
        return
    dialogs.advance(d, "date")
    ctx.edit(ctx.t("coord.new.adding_session"))
    ask_date(ctx, d)


async def pressed_done(ctx: Ctx, d: Dialog, _: int) -> None:
    dialogs.advance(d, "review")
    ctx.edit(ctx.t("coord.new.sessions_done"))
    keyboard = [[(ctx.t("coord.new.button_publish"), "nr:pub:0"), (ctx.t("coord.new.button_abandon"), "nr:drop:0")]]
    ctx.send(await summary(ctx, d), keyboard)


async def pressed_publish(ctx: Ctx, d: Dialog, _: int) -> None:
    ctx.edit(await summary_without_question(ctx, d))
    await publish(ctx, d)


async def summary_without_question(ctx: Ctx, d: Dialog) -> str:
    text = await summary(ctx, d)
    return text.rsplit("\n", 1)[0]


async def pressed_abandon(ctx: Ctx, d: Dialog, _: int) -> None:
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.edit(ctx.t("coord.new.abandoned"))


# Which step each button belongs to: a button from an older message (or a forged one) at
# another step is stale and changes nothing.
BUTTON_STEPS = {
    "skip": "theme",
    "grp": "group",
    "dok": "date_confirm",
    "dno": "date_confirm",
    "tbd": "place",
    "nolim": "capacity",
    "more": "more",
    "done": "more",
    "pub": "review",
    "drop": "review",
}
BUTTONS = {
    "skip": pressed_skip,
    "grp": pressed_group,
    "dok": pressed_date_ok,
    "dno": pressed_date_fix,
    "tbd": pressed_place_tbd,
    "nolim": pressed_unlimited,
    "more": pressed_more,
    "done": pressed_done,
    "pub": pressed_publish,
    "drop": pressed_abandon,
}


def _step_button(action: str, fn: Callable[[Ctx, Dialog, int], Awaitable[None]]) -> ButtonFn:
    """nr:<action>:<n>: only at the step it was shown for, in a conversation still open."""

    async def pressed(ctx: Ctx, button: Button) -> None:
        value = button.int(0, negative=True)
        d = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
        if d is None or d.flow != FLOW:
            raise BadButton("no creation conversation")
        if dialogs.is_expired(d, timedelta(minutes=ctx.services.settings.conversation_timeout_minutes), ctx.now):
            await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
            ctx.edit(ctx.t("dialog.expired"))
            return
        if d.step != BUTTON_STEPS[action]:
            raise BadButton("another step")
        await fn(ctx, d, value)

    return pressed


for _action, _fn in BUTTONS.items():
    router.on("nr", _action, _step_button(_action, _fn), args=1)
router.guard("nr", coordinators_only)


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    FLOW: {
        "title": step_title,
        "theme": step_theme,
        "date": step_date,
        "date_confirm": step_date,
        "place": step_place,
        "capacity": step_capacity,
    },
}
