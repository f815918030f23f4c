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


def install(application: Application) -> None:
    """Nothing to do before start; kept for symmetry with start/stop."""


async def _run_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    name, fn = context.job.data  # type: ignore[union-attr,misc]
    try:
        await fn(context.application)
    except Exception:
        log.exception("periodic job %s failed", name)


async def start(application: Application) -> None:
    services: Services = application.bot_data["services"]
    application.bot_data["dispatcher_task"] = asyncio.create_task(run_dispatcher(application.bot, services), name="outbox")
    queue = application.job_queue
    if queue is not None:
        for name, seconds, fn in PERIODIC:
            queue.run_repeating(_run_job, interval=seconds, first=1, name=name, data=(name, fn), job_kwargs={"max_instances": 1, "coalesce": True})


async def stop(application: Application) -> None:
    task = application.bot_data.pop("dispatcher_task", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
