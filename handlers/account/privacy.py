"""A person's RGPD rights, in two commands: /mesdonnees (a copy of everything) and /oublier.

The export and the erasure are generic (storage/privacy.py walks every table), so a feature
added later is covered without touching this file. Both work only in a private chat: a
group must never see someone's data.
"""

from __future__ import annotations

import json

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import SUPPORTED, t
from handlers.account import my_data
from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, handler, int_or_none
from storage import privacy as store

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

CONFIRM_SECONDS = 15 * 60  # an /oublier confirmation button older than this is refused


def _private(ctx: Ctx, update: Update) -> bool:
    if update.effective_chat is not None and update.effective_chat.type == "private":
        return True
    ctx.say("privacy.private_only")
    return False


@handler
async def on_my_data(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/mesdonnees: a JSON file with the profile and every row that names this person, labelled in their language."""
    if not _private(ctx, update):
        return
    await ctx.session.flush()
    data = await store.export_user(ctx.session, ctx.user.id, now=ctx.now)
    rows = sum(len(table_rows) for table_rows in data["tables"].values()) + len(data["named_in_messages_to_others"])
    readable = my_data.readable_export(data, ctx.lang, ctx.services.tz)
    content = json.dumps(readable, ensure_ascii=False, indent=2).encode("utf-8")
    ctx.send_document(my_data.EXPORT_FILENAME, content, caption=ctx.tn("privacy.export_caption", rows))


@handler
async def on_forget(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/oublier: explain what goes and what stays (anonymously), then ask to confirm."""
    if not _private(ctx, update):
        return
    stamp = int(ctx.now.timestamp())
    ctx.say(
        "privacy.forget_confirm",
        [[(ctx.t("privacy.button_forget"), f"pv:del:{stamp}")], [(ctx.t("privacy.button_keep"), "pv:keep:0")]],
    )


async def _private_button(ctx: Ctx, button: Button) -> bool:
    """pv: buttons only ever act on the person pressing, in their private chat."""
    if _private(ctx, button.update):
        return True
    ctx.answer(ctx.t("common.stale_button"))
    return False


@router.on("pv", "keep", args=1)
async def pressed_keep(ctx: Ctx, button: Button) -> None:
    """pv:keep:0."""
    ctx.edit(ctx.t("privacy.kept"))


@router.on("pv", "del", args=1)
async def pressed_forget(ctx: Ctx, button: Button) -> None:
    """pv:del:<when asked>: a confirmation older than CONFIRM_SECONDS is refused."""
    asked = int_or_none(button.text(0), bits=64)
    age = ctx.now.timestamp() - asked if asked is not None else None
    if age is None or not 0 <= age <= CONFIRM_SECONDS:
        ctx.answer(ctx.t("privacy.confirm_expired"), alert=True)
        ctx.edit(ctx.t("privacy.confirm_expired"))
        return
    labels = {lang: t("coord.csv.anonymised", lang, html=False) for lang in SUPPORTED}
    default = ctx.services.settings.default_locale
    await store.forget_user(ctx.session, ctx.user.id, anonymised_labels=labels, default_lang=default)
    ctx.answer(ctx.t("privacy.forgotten")[:190])
    ctx.edit(ctx.t("privacy.forgotten"))


router.guard("pv", _private_button)
