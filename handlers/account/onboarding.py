"""First contact and profile: /start (with deep links), /profil, /langue, /aide.

Deep links: `/start r<session>` opens a session's registration card, `/start g<group>` is a
group's invitation (profession asked if missing, group joined, its next meetings shown).
With no active group yet, a global coordinator is guided to create the first one and anyone
else is told to ask for an invitation link: /start never ends on an empty group list.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import keys_with_prefix, t
from handlers.account import groups
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonRouter
from handlers.core.common import Ctx, handler, int_or_none
from handlers.core.render import session_card
from handlers.meetings import meetings
from storage import dialogs
from storage import groups as groups_store
from storage import meetings as meetings_store
from storage import users as users_store
from storage.models import Dialog, Group
from storage.users import PROFESSIONS

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

INVITE_MEETINGS_SHOWN = 3

ONBOARDING = "onboarding"


def profession_keyboard(ctx: Ctx) -> list[list[tuple[str, str]]]:
    labels = [(ctx.t(f"profession.{code}"), f"o:p:{code}") for code in PROFESSIONS]
    return [labels[i : i + 2] for i in range(0, len(labels), 2)]


async def groups_keyboard(ctx: Ctx, chosen: set[int]) -> list[list[tuple[str, str]]]:
    rows = [
        [(("✅ " if g.id in chosen else "▫️ ") + g.name, f"o:g:{g.id}")]
        for g in await users_store.list_groups(ctx.session)
    ]
    rows.append([(ctx.t("onboarding.groups_done"), "o:ok:0")])
    return rows


async def ask_profession(ctx: Ctx, *, edit: bool = False) -> None:
    text = ctx.t("onboarding.ask_profession")
    (ctx.edit if edit else ctx.send)(text, profession_keyboard(ctx))


@handler
async def on_start(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start [r<session>|g<group>]: onboarding for newcomers, then what a deep link points to."""
    payload = context.args[0] if context.args else ""
    if payload.startswith("g"):
        await accept_invitation(ctx, int_or_none(payload[1:]))
        return
    session_id = int_or_none(payload[1:]) if payload.startswith("r") else None
    if not await users_store.list_groups(ctx.session):
        if ctx.is_admin:
            await groups.first_run(ctx)
            return
        if ctx.user.onboarded_at is None:  # nothing to join yet: say how to get in, and learn the profession meanwhile
            ctx.say("groups.none_yet", name=ctx.user.first_name)
            if ctx.user.profession is None:
                await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, ONBOARDING, "profession", {})
                await ask_profession(ctx)
            return
    if ctx.user.onboarded_at is None:
        await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, ONBOARDING, "profession", {"deep_link": session_id})
        ctx.say("onboarding.welcome", name=ctx.user.first_name)
        await ask_profession(ctx)
        return
    if session_id is not None:
        await meetings.show_registration_card(ctx, session_id)
        return
    ctx.say("onboarding.welcome_back", name=ctx.user.first_name)


async def accept_invitation(ctx: Ctx, group_id: int | None) -> None:
    """/start g<id>: join that group, asking the profession first when we do not know it."""
    group = await groups_store.get_group(ctx.session, group_id, active=True) if group_id is not None else None
    if group is None:
        ctx.say("groups.invite.stale")
        if ctx.user.onboarded_at is None and await users_store.list_groups(ctx.session):
            ctx.say("groups.invite.stale_start")
        return
    if ctx.user.profession is None:
        await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, ONBOARDING, "profession", {"invite": group.id})
        ctx.say("groups.invite.welcome", name=ctx.user.first_name, group=group.name)
        await ask_profession(ctx)
        return
    current = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if current is not None and current.flow == ONBOARDING:  # the invitation answers what /start was asking
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    await join_invited(ctx, group)


async def join_invited(ctx: Ctx, group: Group, *, edit: bool = False) -> None:
    """Follow the group, finish onboarding, and show the group's next meetings with their buttons."""
    joined = await groups_store.join(ctx.session, ctx.user.id, group.id)
    await users_store.mark_onboarded(ctx.user)
    views, total = await meetings_store.upcoming_sessions(
        ctx.session, user_id=ctx.user.id, now=ctx.now, limit=INVITE_MEETINGS_SHOWN, group_ids=[group.id]
    )
    tz = ctx.services.settings.timezone
    lines = [ctx.t("groups.invite.joined" if joined else "groups.invite.already", group=group.name)]
    if views:
        lines.append(ctx.tn("groups.invite.next_header", total))
        lines.extend(session_card(v, ctx.lang, tz) for v in views)
        if total > len(views):
            lines.append(ctx.t("groups.invite.more"))
    else:
        lines.append(ctx.t("groups.invite.no_meeting"))
    keyboard = [meetings.register_button(ctx, v) for v in views if v.my_status or v.session.status == "open"]
    (ctx.edit if edit else ctx.send)("\n\n".join(lines), keyboard)


@handler
async def on_profile(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/profil: show and change profession and groups."""
    group_ids = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
    names = [g.name for g in await users_store.list_groups(ctx.session) if g.id in group_ids]
    ctx.say(
        "onboarding.profile",
        keyboard=[
            [(ctx.t("onboarding.change_profession"), "o:edit:p"), (ctx.t("onboarding.change_groups"), "o:edit:g")]
        ],
        name=ctx.user.display_name,
        profession=ctx.t(f"profession.{ctx.user.profession or 'other'}"),
        groups=", ".join(names) or ctx.t("onboarding.no_group"),
    )


async def onboarding_dialog(ctx: Ctx) -> Dialog:
    """The open onboarding conversation; without one, a profession or group button is stale."""
    dialog = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if dialog is None or dialog.flow != ONBOARDING:
        raise BadButton("no onboarding conversation")
    return dialog


@router.on("o", "edit", args=1)
async def pressed_edit(ctx: Ctx, button: Button) -> None:
    """o:edit:p|g from /profil: change my profession or my groups."""
    value = button.choice(0, ("p", "g"))
    if value != "p" and not await users_store.list_groups(ctx.session):
        await no_group_to_offer(ctx)
        return
    await dialogs.start(
        ctx.session, ctx.user.id, ctx.chat_id, ONBOARDING, "profession" if value == "p" else "groups", {"edit": True}
    )
    if value == "p":
        await ask_profession(ctx, edit=True)
    else:
        chosen = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
        ctx.edit(ctx.t("onboarding.ask_groups"), await groups_keyboard(ctx, chosen))


@router.on("o", "p", args=1)
async def pressed_profession(ctx: Ctx, button: Button) -> None:
    """o:p:<profession>."""
    dialog = await onboarding_dialog(ctx)
    value = button.choice(0, PROFESSIONS)
    ctx.user.profession = value
    if dialog.data.get("edit"):
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.edit(ctx.t("onboarding.profession_saved", profession=ctx.t(f"profession.{value}")))
        return
    if dialog.data.get("invite"):
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        group = await groups_store.get_group(ctx.session, int(dialog.data["invite"]), active=True)
        if group is None:  # archived while they were choosing
            ctx.edit(ctx.t("groups.invite.stale"))
            return
        await join_invited(ctx, group, edit=True)
        return
    if not await users_store.list_groups(ctx.session):
        await no_group_to_offer(ctx)
        return
    dialogs.advance(dialog, "groups")
    chosen = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
    ctx.edit(ctx.t("onboarding.ask_groups"), await groups_keyboard(ctx, chosen))


@router.on("o", "g", args=1)
async def pressed_group(ctx: Ctx, button: Button) -> None:
    """o:g:<group>: follow it, or not any more."""
    await onboarding_dialog(ctx)
    group_id = button.int(0)
    if group_id not in {g.id for g in await users_store.list_groups(ctx.session)}:
        raise BadButton("not a group on offer")
    chosen = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
    chosen ^= {group_id}
    await users_store.set_groups(ctx.session, ctx.user.id, chosen)
    ctx.edit(ctx.t("onboarding.ask_groups"), await groups_keyboard(ctx, chosen))


@router.on("o", "ok", args=1)
async def pressed_done(ctx: Ctx, button: Button) -> None:
    """o:ok:0: my groups are chosen."""
    dialog = await onboarding_dialog(ctx)
    chosen = await users_store.followed_group_ids(ctx.session, ctx.user.id)
    if not chosen and not await users_store.list_groups(ctx.session):
        await no_group_to_offer(ctx)  # every group was archived meanwhile: nothing to pick from
        return
    if not chosen:
        ctx.answer(ctx.t("onboarding.pick_one_group"), alert=True)
        return
    deep_link = dialog.data.get("deep_link")
    was_new = ctx.user.onboarded_at is None
    await users_store.mark_onboarded(ctx.user)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.edit(ctx.t("onboarding.done" if was_new else "onboarding.groups_saved"))
    if deep_link:
        await meetings.show_registration_card(ctx, int(deep_link))


async def no_group_to_offer(ctx: Ctx) -> None:
    """Onboarding reached the group list and there is none: say who can help, never an empty list."""
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    if ctx.is_admin:
        await groups.first_run(ctx, edit=True)
        return
    ctx.edit(ctx.t("groups.none_yet_short", profession=ctx.t(f"profession.{ctx.user.profession or 'other'}")))


@handler
async def on_language(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/langue: choose French or English."""
    ctx.say("onboarding.ask_language", keyboard=[[("Français", "l:fr"), ("English", "l:en")]])


async def pressed_language(ctx: Ctx, button: Button) -> None:
    """l:fr / l:en."""
    ctx.user.language = ctx.lang = button.action
    ctx.edit(ctx.t("onboarding.language_saved"))


router.on("l", "fr", pressed_language)
router.on("l", "en", pressed_language)


@handler
async def on_help(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/aide: what this user's role can do."""
    sections = ["member"]
    if await ctx.is_coordinator():
        sections.append("coordinator")
    if ctx.is_crisis_cell:
        sections.append("crisis")
    ctx.send("\n\n".join(help_section(ctx.lang, section) for section in sections))


def help_section(lang: str, section: str) -> str:
    """A heading plus every "help.<section>.*" line, so each feature documents its own commands."""
    lines = [t(key, lang) for key in keys_with_prefix(f"help.{section}.", lang)]
    return "\n".join([t(f"help.{section}", lang), *lines])


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    ONBOARDING: {},  # every step is answered with buttons
}
