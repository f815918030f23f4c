"""A professional's digest categories (/abonnements) and the printable crisis kit (/kit_crise).

Buttons: "ab:t:<category>" toggles one category, "ab:all:1|0" all of them, "ab:ok:0" closes.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, Reply, handler, send_late
from handlers.crisis.crisis_kit import gather, kit_filename, render
from handlers.crisis.shared import category_label, require_cell
from storage import crisis as store

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers


async def subscriptions_view(ctx: Ctx) -> tuple[str, list[list[tuple[str, str]]]]:
    out = await store.opted_out(ctx.session, ctx.user.id)
    rows = [[(("✅ " if c not in out else "▫️ ") + category_label(c, ctx.lang), f"ab:t:{c}")] for c in store.CATEGORIES]
    rows.append([(ctx.t("crisis.subs_all"), "ab:all:1"), (ctx.t("crisis.subs_none"), "ab:all:0")])
    rows.append([(ctx.t("crisis.subs_done"), "ab:ok:0")])
    key = "crisis.subs_none_chosen" if len(out) >= len(store.CATEGORIES) else "crisis.subs_intro"
    return ctx.t(key), rows


@handler
async def on_subscriptions(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/abonnements: choose the categories of my personal digest."""
    text, keyboard = await subscriptions_view(ctx)
    ctx.send(text, keyboard)


async def redraw_subscriptions(ctx: Ctx) -> None:
    await ctx.session.flush()
    text, keyboard = await subscriptions_view(ctx)
    ctx.edit(text, keyboard)


@router.on("ab", "t", args=1)
async def pressed_toggle(ctx: Ctx, button: Button) -> None:
    """ab:t:<category>: that category's digest on or off."""
    await store.toggle_category(ctx.session, ctx.user.id, button.choice(0, store.CATEGORIES))
    await redraw_subscriptions(ctx)


@router.on("ab", "all", args=1)
async def pressed_all(ctx: Ctx, button: Button) -> None:
    """ab:all:<0|1>: every category off or on."""
    await store.set_all_categories(ctx.session, ctx.user.id, button.choice(0, ("0", "1")) == "1")
    await redraw_subscriptions(ctx)


@router.on("ab", "ok", args=1)
async def pressed_done(ctx: Ctx, button: Button) -> None:
    """ab:ok:0: done, with what I am subscribed to."""
    out = await store.opted_out(ctx.session, ctx.user.id)
    chosen = [category_label(c, ctx.lang) for c in store.CATEGORIES if c not in out]
    ctx.edit(ctx.t("crisis.subs_saved", categories=", ".join(chosen)) if chosen else ctx.t("crisis.subs_saved_none"))


@handler
async def on_kit(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/kit_crise: the printable PDF for the day the computers are down (crisis cell).

    The data is read in the transaction; the PDF is drawn after commit (in a thread), so a
    large directory never holds the database while it is laid out.
    """
    if not require_cell(ctx):
        return
    data = await gather(ctx.session, ctx.services, now=ctx.now, lang=ctx.lang)
    lang = ctx.lang
    name, caption = kit_filename(ctx.now, ctx.services.tz), ctx.t("crisis.kit_caption")

    async def send() -> None:
        pdf = await asyncio.to_thread(render, data, lang)
        await send_late(ctx, context, Reply(caption, document=(name, pdf)))

    ctx.after_commit.append(send)
