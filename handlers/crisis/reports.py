"""Field reports up to the crisis cell: /signaler, the cell's answer and "traité", /signalements.

A professional describes what they see (category, commune, text; for a shortage the product,
the place and the stock level; optionally a photo or a document). Patient-identifying text
is refused before anything is saved (bot/input_gate.py, for every typed text). The report reaches the crisis
cell's chat (CRISIS_CELL_CHAT_ID) or, without one, each crisis-cell member privately, with
"Répondre" and "Traité" buttons; the sender hears back either way.

Buttons: "rp:<step>:<value>" (the /signaler conversation), "cr:ans|done:<report>" (the cell).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import flood, notify
from bot.dates import format_moment
from bot.i18n import SafeHTML, t
from bot.services import Services
from handlers.core import dialog
from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, Reply, handler, int_or_none
from handlers.crisis import bulletins
from handlers.crisis.shared import (
    attachment_payload,
    category_label,
    cell_chat_id,
    cell_targets,
    keyboard_rows,
    require_cell,
    stock_label,
)
from storage import crisis as store
from storage import dialogs, outbox
from storage.crisis_models import FieldReport
from storage.models import Dialog, User

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

FLOW = "report"
REPLY_FLOW = "report_reply"
TEXT_MAX = 1500
SHORT_MAX = 100
SKIP_WORDS = bulletins.SKIP_WORDS
CARDS_IN_SUMMARY = 5  # open reports shown with their buttons under /signalements


# -- how a report reads -------------------------------------------------------------------------
def report_text(
    report: FieldReport, sender: User | None, lang: str, *, handled_by: str | None = None, draft: bool = False
) -> str:
    head = "crisis.r_card_head_draft" if draft else "crisis.r_card_head"
    lines = [
        t(head, lang, number=report.id, category=category_label(report.category, lang)),
        t("crisis.r_card_commune", lang, commune=report.commune),
    ]
    if report.product:
        lines.append(
            t(
                "crisis.r_card_shortage",
                lang,
                product=report.product,
                place=report.place or "—",
                stock=stock_label(report.stock or "low", lang),
            )
        )
    if report.text:
        lines.append(t("crisis.r_card_text", lang, text=report.text))
    if sender is not None:
        profession = t(f"profession.{sender.profession or 'other'}", lang, html=False)
        handle = f" @{sender.username}" if sender.username else ""
        lines.append(t("crisis.r_card_from", lang, name=sender.display_name + handle, profession=profession))
    if report.file_id:
        lines.append(t("crisis.r_card_file", lang))
    if handled_by is not None:
        lines.append(t("crisis.r_card_handled", lang, name=handled_by))
    return "\n".join(lines)


def cell_keyboard(report_id: int, lang: str) -> list[list[tuple[str, str]]]:
    return [
        [
            (t("crisis.r_button_reply", lang, html=False), f"cr:ans:{report_id}"),
            (t("crisis.r_button_done", lang, html=False), f"cr:done:{report_id}"),
        ]
    ]


def draft_report(data: dict[str, Any]) -> FieldReport:
    """A not-yet-saved report, to show the sender what will be sent."""
    return FieldReport(
        id=0,
        category=data["category"],
        commune=data.get("commune", ""),
        product=data.get("product"),
        place=data.get("place"),
        stock=data.get("stock"),
        text=data.get("text", ""),
        file_id=data.get("file_id"),
    )


# -- the /signaler conversation -----------------------------------------------------------------
@handler
async def on_report(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/signaler: a field report to the crisis cell (reminder: no patient data)."""
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, FLOW, "category", {})
    ctx.say("crisis.r_intro")
    rows = keyboard_rows([(category_label(c, ctx.lang), f"rp:cat:{c}") for c in store.CATEGORIES])
    rows.append([(ctx.t("common.cancel"), "rp:no:0")])
    ctx.send(ctx.t("crisis.r_ask_category"), rows)


def clean_line(text: str) -> str:
    line = " ".join(text.split())
    return line[:1].upper() + line[1:]


async def step_commune(ctx: Ctx, row: Dialog, text: str) -> None:
    commune = clean_line(text)
    if not 2 <= len(commune) <= SHORT_MAX:
        ctx.say("crisis.r_commune_length")
        return
    if row.data.get("category") == "shortage":
        dialogs.advance(row, "product", commune=commune)
        ctx.say("crisis.r_ask_product")
    else:
        dialogs.advance(row, "text", commune=commune)
        ctx.say("crisis.r_ask_text", max=TEXT_MAX)


def short_answer(ctx: Ctx, text: str, length_key: str) -> str | None:
    """A one-line answer of 2 to 2×SHORT_MAX characters, else None (user told)."""
    answer = clean_line(text)
    if not 2 <= len(answer) <= SHORT_MAX * 2:
        ctx.say(length_key)
        return None
    return answer


async def step_product(ctx: Ctx, row: Dialog, text: str) -> None:
    if (product := short_answer(ctx, text, "crisis.r_product_length")) is None:
        return
    dialogs.advance(row, "place", product=product)
    ctx.say("crisis.r_ask_place")


async def step_place(ctx: Ctx, row: Dialog, text: str) -> None:
    if (place := short_answer(ctx, text, "crisis.r_place_length")) is None:
        return
    dialogs.advance(row, "stock", place=place)
    ctx.say("crisis.r_ask_stock", [[(stock_label(s, ctx.lang), f"rp:stk:{s}") for s in store.STOCK_LEVELS]])


async def step_text(ctx: Ctx, row: Dialog, text: str) -> None:
    body = text.strip()
    if not body or len(body) > TEXT_MAX:
        ctx.say("crisis.r_text_length", max=TEXT_MAX)
        return
    dialogs.advance(row, "file", text=body)
    ctx.say("crisis.r_ask_file", [[(ctx.t("crisis.r_no_file"), "rp:skip:0")]])


async def step_file(ctx: Ctx, row: Dialog, text: str) -> None:
    if dialog.normalized(text) in SKIP_WORDS:
        await show_confirmation(ctx, row)
        return
    ctx.say("crisis.r_file_expected", [[(ctx.t("crisis.r_no_file"), "rp:skip:0")]])


async def show_confirmation(ctx: Ctx, row: Dialog, *, edit: bool = False, **changes: Any) -> None:
    dialogs.advance(row, "confirm", **changes)
    text = ctx.t("crisis.r_confirm", card=SafeHTML(report_text(draft_report(row.data), None, ctx.lang, draft=True)))
    (ctx.edit if edit else ctx.send)(
        text, [[(ctx.t("crisis.r_send"), "rp:send:0"), (ctx.t("common.cancel"), "rp:no:0")]]
    )


async def pressed_no(ctx: Ctx, row: Dialog, button: Button) -> None:
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.edit(ctx.t("crisis.r_cancelled"))


async def pressed_category(ctx: Ctx, row: Dialog, button: Button) -> None:
    value = button.choice(0, store.CATEGORIES)
    dialogs.advance(row, "commune", category=value)
    ctx.edit(ctx.t("crisis.r_ask_commune", category=category_label(value, ctx.lang)))


async def pressed_stock(ctx: Ctx, row: Dialog, button: Button) -> None:
    value = button.choice(0, store.STOCK_LEVELS)
    dialogs.advance(row, "text", stock=value)
    ctx.edit(ctx.t("crisis.r_stock_saved", stock=stock_label(value, ctx.lang)))
    ctx.say("crisis.r_ask_text", max=TEXT_MAX)


async def pressed_skip_file(ctx: Ctx, row: Dialog, button: Button) -> None:
    ctx.edit(ctx.t("crisis.r_file_none"))
    await show_confirmation(ctx, row, file_id=None, file_kind=None)


router.on_step("rp", "no", FLOW, pressed_no)
router.on_step("rp", "cat", FLOW, pressed_category, steps={"category"})
router.on_step("rp", "stk", FLOW, pressed_stock, steps={"stock"})
router.on_step("rp", "skip", FLOW, pressed_skip_file, steps={"file"})
router.on_step("rp", "send", FLOW, lambda ctx, row, button: send_report(ctx, row), steps={"confirm"})


async def send_report(ctx: Ctx, row: Dialog) -> None:
    """Save the report and queue it to the crisis cell (chat or members), file included."""
    report = await store.create_report(ctx.session, user_id=ctx.user.id, data=row.data, now=ctx.now)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    targets = await queue_to_cell(ctx.session, ctx.services, report, ctx.user)
    ctx.wake_outbox = True
    ctx.edit(ctx.t("crisis.r_sent", number=report.id) if targets else ctx.t("crisis.r_sent_no_cell", number=report.id))


async def queue_to_cell(
    session: AsyncSession, services: Services, report: FieldReport, sender: User | None
) -> list[int]:
    """Queue the report's card (and file) to the crisis cell: its chat, or each member."""
    targets = await cell_targets(session, services)
    chat = await cell_chat_id(session, services)
    default = services.settings.default_locale
    langs = await notify.languages(session, [t_ for t_ in targets if t_ > 0], default)
    rows, files = [], []
    for target in targets:
        lang = langs.get(target, default)
        rows.append(
            {
                "purpose": store.report_card_purpose(report.id),
                "chat_id": target,
                "user_id": None if target == chat else target,
                "payload": notify.message_payload(report_text(report, sender, lang), cell_keyboard(report.id, lang)),
                "mentions": [sender.id] if sender is not None else [],
            }
        )
        if report.file_id:
            method, payload = attachment_payload(
                report.file_kind, report.file_id, t("crisis.r_file_caption", lang, number=report.id)
            )
            files.append(
                {"purpose": f"report:{report.id}:file", "chat_id": target, "payload": payload, "method": method}
            )
    await outbox.enqueue_many(session, rows, priority=outbox.HIGH)
    await outbox.enqueue_many(session, files, priority=outbox.HIGH)
    return targets


async def deliver_waiting_reports(session: AsyncSession, services: Services) -> int:
    """Open reports that never reached anyone (filed before the cell existed, or every copy
    failed): queued to the cell as it is now. Called when the cell forms (a first member, the
    bot added to the cell's chat) and by the minute job; returns how many were queued."""
    waiting = await store.reports_never_delivered(session)
    targets = set(await cell_targets(session, services)) if waiting else set()
    queued = 0
    for report in waiting:
        if not targets - await store.report_card_chats(session, report.id):
            continue  # already queued to everyone it could go to (refused there): sent when the bot is back
        sender = await session.get(User, report.user_id) if report.user_id else None
        await queue_to_cell(session, services, report, sender)
        queued += 1
    if queued:
        services.wake_outbox()
    return queued


# -- files sent during a conversation -----------------------------------------------------------
async def on_attachment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or document in private: the file step of /signaler or /bulletin.

    Registered in group 0 before flood's catch-all, so a file nobody asked for still gets
    flood's "unexpected content" answer.
    """
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    services: Services = context.bot_data["services"]
    async with services.db.begin() as session:
        row = await session.get(Dialog, (user.id, chat.id))
        mine = row is not None and row.flow in (FLOW, bulletins.FLOW)
    if mine:
        await _on_flow_attachment(update, context)
        return
    await flood.on_unexpected_content(update, context)


@handler
async def _on_flow_attachment(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    row = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if row is None or row.flow not in (FLOW, bulletins.FLOW):
        return
    if message.photo:
        file_id, kind = message.photo[-1].file_id, "photo"
    elif message.document:
        file_id, kind = message.document.file_id, "document"
    else:
        return
    if row.flow == bulletins.FLOW:
        if require_cell(ctx):
            await bulletins.on_bulletin_file(ctx, row, file_id, kind)
        return
    if row.step != "file":
        ctx.say("dialog.use_buttons")
        return
    ctx.say("crisis.r_file_saved")
    await show_confirmation(ctx, row, file_id=file_id, file_kind=kind)


# -- the crisis cell's side ---------------------------------------------------------------------
async def pressed_cell(ctx: Ctx, button: Button) -> None:
    """Buttons cr:ans|done:<report> on a report shown to the crisis cell (members only)."""
    report = button.found(await store.get_report(ctx.session, button.int(0), lock=True))
    sender = await ctx.session.get(User, report.user_id) if report.user_id else None
    if button.action == "done":
        if not await store.mark_handled(ctx.session, report, by=ctx.user.id, now=ctx.now):
            ctx.answer(ctx.t("crisis.r_already_handled"))
            return
        ctx.answer(ctx.t("crisis.r_handled_toast", number=report.id))
        ctx.edit(
            report_text(report, sender, ctx.lang, handled_by=ctx.user.display_name),
            [[(ctx.t("crisis.r_button_reply"), f"cr:ans:{report.id}")]],
        )
        if sender is not None:
            await notify.notify(
                ctx.session,
                [sender.id],
                purpose=f"report:{report.id}:handled",
                render=notify.simple("crisis.r_handled_notice", number=report.id),
                default_lang=ctx.services.settings.default_locale,
            )
            ctx.wake_outbox = True
        return
    if sender is None:
        ctx.answer(ctx.t("crisis.r_sender_gone"), alert=True)
        return
    await dialogs.start(ctx.session, ctx.user.id, ctx.user.id, REPLY_FLOW, "text", {"report_id": report.id})
    ctx.answer(ctx.t("crisis.r_reply_toast"))
    ctx.replies.append(
        Reply(ctx.t("crisis.r_ask_reply", number=report.id, name=sender.display_name), chat_id=ctx.user.id)
    )


router.on("cr", "ans", pressed_cell, args=1)
router.on("cr", "done", pressed_cell, args=1)
router.guard("cr", lambda ctx, button: require_cell(ctx))


async def step_reply(ctx: Ctx, row: Dialog, text: str) -> None:
    body = text.strip()
    if not body or len(body) > TEXT_MAX:
        ctx.say("crisis.r_text_length", max=TEXT_MAX)
        return
    if not ctx.is_crisis_cell:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.say("crisis.not_allowed")
        return
    report = await store.get_report(ctx.session, int(row.data["report_id"]), lock=True)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    if report is None or report.user_id is None:
        ctx.say("crisis.r_sender_gone")
        return
    report.replies = (report.replies or 0) + 1
    category, commune, number = report.category, report.commune, report.id
    await notify.notify(
        ctx.session,
        [report.user_id],
        purpose=f"report:{number}:reply:{report.replies}",
        render=lambda lang: (
            t(
                "crisis.r_reply_notice",
                lang,
                number=number,
                category=category_label(category, lang),
                commune=commune,
                text=body,
            ),
            None,
        ),
        default_lang=ctx.services.settings.default_locale,
        priority=outbox.HIGH,
    )
    ctx.wake_outbox = True
    ctx.say("crisis.r_reply_sent", number=number)


@handler
async def on_reports_summary(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/signalements [jours]: reports by category and commune, and those still to handle."""
    if not require_cell(ctx):
        return
    days = int_or_none(context.args[0]) if context.args else 7
    if days is None or not 1 <= days <= 365:
        ctx.say("crisis.r_summary_usage")
        return
    summary = await store.report_summary(ctx.session, since=ctx.now - timedelta(days=days))
    if summary.total == 0:
        ctx.say("crisis.r_summary_none", period=ctx.tn("crisis.r_period", days))
        return
    period = ctx.tn("crisis.r_period", days)
    head = ctx.t("crisis.r_summary_head", period=period, total=summary.total, open=summary.open)
    lines = [head, "", ctx.t("crisis.r_summary_by_category")]
    lines += [
        ctx.t("crisis.r_summary_line", label=category_label(c, ctx.lang), n=n, open=o)
        for c, n, o in summary.by_category
    ]
    lines += ["", ctx.t("crisis.r_summary_by_commune")]
    lines += [ctx.t("crisis.r_summary_line", label=c, n=n, open=o) for c, n, o in summary.by_commune]
    if summary.open_reports:
        lines += ["", ctx.t("crisis.r_summary_open")]
        tz = ctx.services.tz
        for r in summary.open_reports:
            what = r.product or r.text
            lines.append(
                ctx.t(
                    "crisis.r_summary_open_line",
                    number=r.id,
                    commune=r.commune,
                    category=category_label(r.category, ctx.lang, icon=False),
                    what=what[:80] + ("…" if len(what) > 80 else ""),
                    time=format_moment(r.created_at, ctx.lang, tz),
                )
            )
    ctx.send("\n".join(lines))
    # The open ones as the cell receives them, buttons included: whoever reads this can act.
    for r in summary.open_reports[:CARDS_IN_SUMMARY]:
        sender = await ctx.session.get(User, r.user_id) if r.user_id else None
        ctx.send(report_text(r, sender, ctx.lang), cell_keyboard(r.id, ctx.lang))


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    FLOW: {"commune": step_commune, "product": step_product, "place": step_place, "text": step_text, "file": step_file},
    REPLY_FLOW: {"text": step_reply},
}
