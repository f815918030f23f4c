"""Results (/resultats) and the deadline: counts, percentages, charts, the date grid, CSV.

The same report is shown on demand and sent to the coordinator when a poll closes. Charts are
drawn outside any database transaction (in a worker thread): a slow chart never holds a lock.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import notify
from bot.dates import format_deadline
from bot.i18n import fmt_datetime, t, tn
from bot.services import Services
from bot.transport import file_param
from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, Reply, handler, send_late
from handlers.core.render import shorten
from handlers.polls import charts
from handlers.polls.date_polls import WORD, slot_text
from handlers.polls.polls import coordinator_lang
from storage import outbox
from storage import polls as store
from storage.models import utcnow
from storage.polls_models import Poll

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

ICON = {store.QUICK: "📊", store.DATES: "🗓", store.FORM: "📝"}
SYMBOL = {store.YES: "✅", store.MAYBE: "🤔", store.NO: "❌"}
ChartSpec = tuple[Any, ...]
Keyboard = list[list[tuple[str, str]]]


def clip(text: str, limit: int = 4000) -> str:
    """Telegram refuses messages over 4096 characters: a very long grid is cut at a line end."""
    if len(text) <= limit:
        return text
    return text[: text.rfind("\n", 0, limit - 2)] + "\n…"


def render_chart(spec: ChartSpec) -> bytes:
    """Draw a chart described by a report (runs in a worker thread)."""
    if spec[0] == "bar":
        return charts.bar_chart(*spec[1:])
    return charts.stacked_chart(*spec[1:])


def anonymised(lang: str) -> str:
    """How someone who asked to be forgotten appears where their answer still counts."""
    return t("coord.csv.anonymised", lang, html=False)


def status_line(poll: Poll, lang: str, tz: str) -> str:
    deadline = format_deadline(poll.closes_at, lang, tz)
    return t("polls.results.open_until" if poll.status == "open" else "polls.results.closed", lang, deadline=deadline)


async def quick_report(session: AsyncSession, poll: Poll, lang: str, tz: str) -> tuple[str, ChartSpec]:
    res = await store.quick_results(session, poll)
    lines = [t("polls.results.title", lang, question=poll.question), status_line(poll, lang, tz), ""]
    values = []
    for i, option in enumerate(res.options):
        value = t("polls.results.value", lang, count=res.counts[i], pct=res.percent(i))
        values.append(value)
        lines.append(t("polls.results.line", lang, option=option.text, value=value))
    lines.append("")
    if res.recipients:
        recipients = tn("polls.recipients", res.recipients, lang)
        lines.append(tn("polls.results.voters_of", res.voters, lang, total=recipients))
    else:
        lines.append(tn("polls.results.voters", res.voters, lang))
    if poll.multiple:
        lines.append(t("polls.results.multiple_note", lang))
    if poll.anonymous:
        lines.append(t("polls.results.anonymous_note", lang))
    elif res.missing:
        names = ", ".join(name or anonymised(lang) for name in res.missing)
        lines.append(t("polls.results.missing", lang, names=names))
    elif res.recipients:
        lines.append(t("polls.results.everyone", lang))
    spec = ("bar", poll.question, [o.text for o in res.options], res.counts, values)
    return "\n".join(lines), spec


async def dates_report(session: AsyncSession, poll: Poll, lang: str, tz: str) -> tuple[str, Keyboard | None, ChartSpec]:
    """Counts per slot, the grid (who said what), the best slots and the make-a-meeting buttons."""
    results = await store.slot_results(session, poll)
    lines = [t("polls.results.title_dates", lang, question=poll.question), status_line(poll, lang, tz), ""]
    for i, r in enumerate(results, 1):
        lines.append(
            t("polls.dates.slot_line", lang, n=i, when=slot_text(r.option, lang, tz), yes=r.yes, maybe=r.maybe, no=r.no)
        )
    grid = await store.answer_grid(session, poll)
    if grid:
        lines += ["", t("polls.results.grid_header", lang)]
        for name, answers in grid:
            marks = " ".join(SYMBOL[answers[r.option.id]] if r.option.id in answers else "·" for r in results)
            lines.append(f"{marks}  {name or anonymised(lang)}")
    else:
        lines += ["", t("polls.results.no_answers", lang)]
    best = store.best_slots(results)
    number = {r.option.id: i for i, r in enumerate(results, 1)}
    if best:
        lines += ["", t("polls.results.best", lang, slots=", ".join(f"n°{number[r.option.id]}" for r in best[:3]))]
    keyboard: Keyboard | None = None
    if poll.meeting_id is not None:
        lines += ["", t("polls.results.meeting_made", lang)]
    elif best:
        keyboard = [
            [
                (
                    t(
                        "polls.results.button_make_meeting",
                        lang,
                        n=number[r.option.id],
                        when=slot_text(r.option, lang, tz),
                    ),
                    f"p:d:mk:{poll.id}:{r.option.id}",
                )
            ]
            for r in best[:3]
        ]
    spec = (
        "stacked",
        poll.question,
        [f"{i}. {slot_text(r.option, lang, tz)}" for i, r in enumerate(results, 1)],
        [
            (t(WORD[v], lang), [getattr(r, k) for r in results])
            for v, k in ((store.YES, "yes"), (store.MAYBE, "maybe"), (store.NO, "no"))
        ],
    )
    return "\n".join(lines), keyboard, spec


async def form_report(session: AsyncSession, poll: Poll, lang: str, tz: str) -> tuple[str, bytes]:
    """Completion counts, choice tallies, and every answer as CSV (`;`, UTF-8 with BOM, for Excel)."""
    summary = await store.form_summary(session, poll)
    lines = [
        t("polls.results.title_form", lang, question=poll.question),
        status_line(poll, lang, tz),
        "",
        t(
            "polls.results.form_counts",
            lang,
            completed=tn("polls.results.completed", summary.completed, lang),
            started=summary.started,
            total=tn("polls.recipients", summary.recipients, lang),
        ),
    ]
    for n, question in enumerate(poll.options, 1):
        lines += ["", t("polls.results.form_question", lang, n=n, question=question.text)]
        if question.choices:
            counts = summary.choice_counts.get(question.id, [])
            answered = sum(counts)
            for choice, count in zip(question.choices, counts, strict=False):
                pct = round(100 * count / answered) if answered else 0
                lines.append(
                    t(
                        "polls.results.line",
                        lang,
                        option=choice,
                        value=t("polls.results.value", lang, count=count, pct=pct),
                    )
                )
        else:
            lines.append(t("polls.results.free_text_in_csv", lang))
    return "\n".join(lines), await form_csv(session, poll, lang, tz)


async def form_csv(session: AsyncSession, poll: Poll, lang: str, tz: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            t("polls.csv.respondent", lang, html=False),
            *(q.text for q in poll.options),
            t("polls.csv.last_answer", lang, html=False),
        ]
    )
    for name, answers in await store.form_rows(session, poll):
        cells = []
        for question in poll.options:
            answer = answers.get(question.id)
            if answer is None:
                cells.append("")
            elif question.choices and answer.choice is not None and 0 <= answer.choice < len(question.choices):
                cells.append(question.choices[answer.choice])
            else:
                cells.append(answer.text or "")
        last = max(a.answered_at for a in answers.values())
        writer.writerow([name or anonymised(lang), *cells, fmt_datetime(last, lang, tz=tz, fmt="short")])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_name(poll: Poll) -> str:
    return f"questionnaire-{poll.id}.csv"


def chart_name(poll_id: int) -> str:
    return f"resultats-sondage-{poll_id}.png"


# --------------------------------------------------------------------------- /resultats


@handler
async def on_results_command(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/resultats: pick one of the latest polls of my groups."""
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    polls = await store.polls_for_manager(ctx.session, await ctx.coordinated_group_ids())
    if not polls:
        ctx.say("polls.results.none")
        return
    rows = []
    for poll in polls:
        state = "" if poll.status == "open" else " · " + ctx.t("polls.results.closed_short")
        rows.append([(f"{ICON[poll.kind]} {shorten(poll.question, 45)}{state}", f"p:r:{poll.id}:0")])
    ctx.say("polls.results.pick", rows)


@router.on("p", "r", args=2)
async def pressed_results(ctx: Ctx, button: Button) -> None:
    """p:r:<poll>:0 — the report of one poll, for a coordinator of its group only."""
    context = button.context
    poll = await store.get_poll(ctx.session, button.int(0))
    if poll is None or not await ctx.may_manage_group(poll.group_id):
        ctx.refuse()
        return
    await store.replay_unmatched(ctx.session)
    tz = ctx.services.settings.timezone
    ctx.answer(ctx.t("polls.results.toast"))
    if poll.kind == store.QUICK:
        text, spec = await quick_report(ctx.session, poll, ctx.lang, tz)
        ctx.send(clip(text))
        send_chart_after_commit(ctx, context, spec, poll.id)
    elif poll.kind == store.DATES:
        text, keyboard, spec = await dates_report(ctx.session, poll, ctx.lang, tz)
        ctx.send(clip(text), keyboard)
        send_chart_after_commit(ctx, context, spec, poll.id)
    else:
        text, content = await form_report(ctx.session, poll, ctx.lang, tz)
        ctx.send(clip(text))
        ctx.send_document(csv_name(poll), content, caption=ctx.t("polls.results.csv_caption"))


def send_chart_after_commit(ctx: Ctx, context: ContextTypes.DEFAULT_TYPE, spec: ChartSpec, poll_id: int) -> None:
    """Draw the chart once the transaction is over, then send it as a picture."""

    async def send() -> None:
        png = await asyncio.to_thread(render_chart, spec)
        await send_late(ctx, context, Reply(photo=png, photo_name=chart_name(poll_id)))

    ctx.after_commit.append(send)


# --------------------------------------------------------------------------- the deadline


async def close_due_polls(services: Services, now: datetime | None = None) -> int:
    """Close every poll whose deadline passed: stop the native polls, send the coordinator the report.

    Everything goes through the outbox, queued in the transaction that closes the poll; only the
    chart (drawn after that transaction) is queued in a second one.
    """
    now = now or utcnow()
    tz, default = services.settings.timezone, services.settings.default_locale
    pictures: list[tuple[int, int, ChartSpec]] = []
    async with services.db.begin() as session:
        await store.replay_unmatched(session)
        polls = await store.claim_due(session, now)
        for poll in polls:
            await outbox.drop_pending(session, store.purpose(poll.id, ""))  # polls not delivered yet: too late now
            if poll.kind == store.QUICK:
                stops = [
                    {
                        "purpose": store.purpose(poll.id, "stop"),
                        "chat_id": chat_id,
                        "payload": {"message_id": message_id},
                        "method": "stopPoll",
                    }
                    for chat_id, message_id in await store.sent_poll_messages(session, poll.id)
                ]
                await outbox.enqueue_many(session, stops, priority=outbox.HIGH)
            if poll.created_by is None:
                continue
            lang = await coordinator_lang(session, poll.created_by, default)
            header = t("polls.closed_header", lang)
            keyboard: Keyboard | None = None
            rows: list[dict[str, Any]] = []
            if poll.kind == store.QUICK:
                text, spec = await quick_report(session, poll, lang, tz)
                pictures.append((poll.id, poll.created_by, spec))
            elif poll.kind == store.DATES:
                text, keyboard, spec = await dates_report(session, poll, lang, tz)
                pictures.append((poll.id, poll.created_by, spec))
            else:
                text, content = await form_report(session, poll, lang, tz)
                rows.append(
                    {
                        "purpose": store.purpose(poll.id, "csv"),
                        "chat_id": poll.created_by,
                        "user_id": poll.created_by,
                        "method": "sendDocument",
                        "payload": {
                            "document": file_param(content, csv_name(poll)),
                            "caption": t("polls.results.csv_caption", lang, html=False),
                        },
                        "mentions": await store.answerer_ids(session, poll.id),  # one CSV row per respondent
                    }
                )
            named = [] if poll.kind == store.FORM else await store.named_in_results(session, poll)
            summary = {
                "purpose": store.purpose(poll.id, "summary"),
                "chat_id": poll.created_by,
                "user_id": poll.created_by,
                "payload": notify.message_payload(clip(f"{header}\n\n{text}"), keyboard),
                "mentions": named,
            }
            await outbox.enqueue_many(session, [summary, *rows], priority=outbox.HIGH)
    for poll_id, chat_id, spec in pictures:
        png = await asyncio.to_thread(render_chart, spec)
        async with services.db.begin() as session:
            await outbox.enqueue(
                session,
                purpose=store.purpose(poll_id, "chart"),
                chat_id=chat_id,
                user_id=chat_id,
                method="sendPhoto",
                payload={"photo": file_param(png, chart_name(poll_id))},
                priority=outbox.HIGH,
            )
    if polls:
        services.wake_outbox()
    return len(polls)


async def close_polls_job(application: Application) -> None:
    """The minute job: polls whose deadline passed are stopped and their coordinators get the summary."""
    await close_due_polls(application.bot_data["services"])
