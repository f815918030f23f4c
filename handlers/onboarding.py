"""First contact and profile: /start (with deep links), /profil, /langue, /aide."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import keys_with_prefix, t
from handlers import dialog, meetings
from handlers.common import Ctx, callback_parts, handler, int_or_none
from storage import dialogs
from storage import users as users_store
from storage.users import PROFESSIONS

ONBOARDING = "onboarding"
dialog.flow(ONBOARDING, {})  # every step is answered with buttons


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
    """/start [r<id>]: onboarding for newcomers, then the meeting a deep link points to."""
    payload = context.args[0] if context.args else ""
    session_id = int_or_none(payload[1:]) if payload.startswith("r") else None
    if ctx.user.onboarded_at is None:
        await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, ONBOARDING, "profession", {"deep_link": session_id})
        ctx.say("onboarding.welcome", name=ctx.user.first_name)
        await ask_profession(ctx)
        return
    if session_id is not None:
        await meetings.show_registration_card(ctx, session_id)
        return
    ctx.say("onboarding.welcome_back", name=ctx.user.first_name)


@handler
async def on_profile(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/profil: show and change profession and groups."""
    group_ids = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
    names = [g.name for g in await users_store.list_groups(ctx.session) if g.id in group_ids]
    ctx.say(
        "onboarding.profile",
        keyboard=[[(ctx.t("onboarding.change_profession"), "o:edit:p"), (ctx.t("onboarding.change_groups"), "o:edit:g")]],
        name=ctx.user.display_name,
        profession=ctx.t(f"profession.{ctx.user.profession or 'other'}"),
        groups=", ".join(names) or ctx.t("onboarding.no_group"),
    )


@handler
async def on_onboarding_button(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons o:p:<profession>, o:g:<group>, o:ok:0, o:edit:p|g."""
    parts = callback_parts(update, 3)
    if parts is None:
        ctx.answer(ctx.t("common.stale_button"))
        return
    _, action, value = parts
    dialog = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if action == "edit":
        await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, ONBOARDING, "profession" if value == "p" else "groups", {"edit": True})
        if value == "p":
            await ask_profession(ctx, edit=True)
        else:
            chosen = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
            ctx.edit(ctx.t("onboarding.ask_groups"), await groups_keyboard(ctx, chosen))
        return
    if dialog is None or dialog.flow != ONBOARDING:
        ctx.answer(ctx.t("common.stale_button"))
        return
    if action == "p":
        if value not in PROFESSIONS:
            ctx.answer(ctx.t("common.stale_button"))
            return
        ctx.user.profession = value
        if dialog.data.get("edit"):
            await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
            ctx.edit(ctx.t("onboarding.profession_saved", profession=ctx.t(f"profession.{value}")))
            return
        dialogs.advance(dialog, "groups")
        chosen = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
        ctx.edit(ctx.t("onboarding.ask_groups"), await groups_keyboard(ctx, chosen))
        return
    if action == "g":
        group_id = int_or_none(value)
        groups = {g.id for g in await users_store.list_groups(ctx.session)}
        if group_id not in groups:
            ctx.answer(ctx.t("common.stale_button"))
            return
        chosen = set(await users_store.followed_group_ids(ctx.session, ctx.user.id))
        chosen ^= {group_id}
        await users_store.set_groups(ctx.session, ctx.user.id, chosen)
        ctx.edit(ctx.t("onboarding.ask_groups"), await groups_keyboard(ctx, chosen))
        return
    if action == "ok":
        chosen = await users_store.followed_group_ids(ctx.session, ctx.user.id)
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
        return
    ctx.answer(ctx.t("common.stale_button"))


@handler
async def on_language(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/langue: choose French or English."""
    ctx.say("onboarding.ask_language", keyboard=[[("Français", "l:fr"), ("English", "l:en")]])


@handler
async def on_language_button(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons l:fr / l:en."""
    parts = callback_parts(update, 2)
    if parts is None or parts[1] not in ("fr", "en"):
        ctx.answer(ctx.t("common.stale_button"))
        return
    ctx.user.language = ctx.lang = parts[1]
    ctx.edit(ctx.t("onboarding.language_saved"))


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
