"""Work that runs beside update handling: the outbox dispatcher and the periodic jobs.

APScheduler (through PTB's JobQueue) only wakes things up; what is due always comes from the
database, so no job state needs pickling and a restart resumes exactly where it was.
The jobs are those the features declared, as `handlers.install` put them in `services.wiring.jobs`.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import Application, ContextTypes

from bot.leader import Leader
from bot.outbox import run_dispatcher
from bot.services import Services
from bot.wiring import Job

log = logging.getLogger(__name__)


async def _run_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    job: Job = context.job.data  # type: ignore[union-attr,assignment]
    try:
        await job.run(context.application)
    except Exception:
        log.exception("periodic job %s failed", job.name)


def _jobs(application: Application) -> list[Job]:
    services: Services = application.bot_data["services"]
    return services.wiring.jobs


def _schedule_periodic(application: Application) -> None:
    queue = application.job_queue
    if queue is not None:
        for job in _jobs(application):
            queue.run_repeating(
                _run_job,
                interval=job.seconds,
                first=1,
                name=job.name,
                data=job,
                job_kwargs={"max_instances": 1, "coalesce": True},
            )


def _unschedule_periodic(application: Application) -> None:
    queue = application.job_queue
    if queue is not None:
        for job in _jobs(application):
            for scheduled in queue.get_jobs_by_name(job.name):
                scheduled.schedule_removal()


async def start(application: Application) -> None:
    """The outbox task (every process sends its share, bot/senders.py); only the elected process
    (bot/leader.py) runs the jobs."""
    services: Services = application.bot_data["services"]
    for hook in services.wiring.on_start:
        hook(services)
    application.bot_data["dispatcher_task"] = asyncio.create_task(
        run_dispatcher(application.bot, services), name="outbox"
    )

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
