"""Work that runs beside update handling: the outbox dispatcher and the periodic jobs.

APScheduler (through PTB's JobQueue) only wakes things up; what is due always comes from the
database, so no job state needs pickling and a restart resumes exactly where it was.
Feature modules add their periodic jobs to `PERIODIC` (name, seconds, coroutine function).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram.ext import Application, ContextTypes

from bot.outbox import run_dispatcher
from bot.services import Services
from storage import dialogs
from storage.models import utcnow

log = logging.getLogger(__name__)

JobFn = Callable[[Application], Awaitable[None]]
PERIODIC: list[tuple[str, float, JobFn]] = []


def periodic(name: str, seconds: float) -> Callable[[JobFn], JobFn]:
    """Register `fn(application)` to run every `seconds` in the process that runs jobs."""

    def decorate(fn: JobFn) -> JobFn:
        PERIODIC.append((name, seconds, fn))
        return fn

    return decorate


@periodic("purge_dialogs", 3600)
async def purge_dialogs(application: Application) -> None:
    """Forget guided conversations abandoned for a day."""
    services: Services = application.bot_data["services"]
    async with services.db.begin() as session:
        await dialogs.purge_expired(session, utcnow() - timedelta(days=1))


@periodic("reminders", 60)
async def plan_reminders(application: Application) -> None:
    """Queue the reminders whose time has come (issue #3, handlers/reminders/planner.py)."""
    from handlers.reminders.planner import run_planner

    await run_planner(application)


@periodic("close_polls", 60)
async def close_polls(application: Application) -> None:
    """Stop polls whose deadline passed and send each coordinator the summary (issue #4)."""
    from handlers.polls.poll_results import close_due_polls

    await close_due_polls(application.bot_data["services"])


@periodic("crisis_digests", 60)
async def crisis_digests(application: Application) -> None:
    """Crisis digests and the scheduled crisis kit, once per slot; replaced channel posts (issue #5)."""
    from handlers.crisis.digest import run_scheduled

    await run_scheduled(application.bot_data["services"], application.bot)


def install(application: Application) -> None:
    """Nothing to do before start; kept for symmetry with start/stop."""


async def _run_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    name, fn = context.job.data  # type: ignore[union-attr,misc]
    try:
        await fn(context.application)
    except Exception:
        log.exception("periodic job %s failed", name)


def _schedule_periodic(application: Application) -> None:
    queue = application.job_queue
    if queue is not None:
        for name, seconds, fn in PERIODIC:
            queue.run_repeating(_run_job, interval=seconds, first=1, name=name, data=(name, fn), job_kwargs={"max_instances": 1, "coalesce": True})


def _unschedule_periodic(application: Application) -> None:
    queue = application.job_queue
    if queue is not None:
        for name, _, _ in PERIODIC:
            for job in queue.get_jobs_by_name(name):
                job.schedule_removal()


async def start(application: Application) -> None:
    """The outbox task (every process sends its share, bot/senders.py); only the elected one (bot/leader.py) runs PERIODIC jobs."""
    from handlers.reminders import planner as reminders
    from bot.leader import Leader

    services: Services = application.bot_data["services"]
    reminders.configure(services)  # time zone, language and bot name for calendar files (issue #3)
    application.bot_data["dispatcher_task"] = asyncio.create_task(run_dispatcher(application.bot, services), name="outbox")

    async def elected() -> None:
        _schedule_periodic(application)

    async def lost() -> None:
        _unschedule_periodic(application)

    leader = Leader(services.db.url, on_elected=elected, on_lost=lost)
    application.bot_data["leader"] = leader
    leader.start()


async def stop(application: Application) -> None:
    leader = application.bot_data.pop("leader", None)
    if leader is not None:
        await leader.stop()
    task = application.bot_data.pop("dispatcher_task", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
