"""The retention schedule: every six hours, delete what is older than we promised to keep.

Durations come from RETENTION_* settings (see storage/privacy.py and SECURITY.md). The job
is idempotent and cheap when there is nothing to delete, so several processes may run it.
"""

from __future__ import annotations

import logging

from telegram.ext import Application

from bot.services import Services
from storage.models import utcnow
from storage.privacy import RetentionPolicy, purge_expired

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 6 * 3600


async def run_purge(services: Services) -> dict[str, int]:
    """One purge pass; returns rows deleted per category (also logged)."""
    policy = RetentionPolicy.from_settings(services.settings.extra)
    async with services.db.begin() as session:
        counts = await purge_expired(session, now=utcnow(), policy=policy)
    if counts:
        log.info("retention purge: %s", ", ".join(f"{name}={n}" for name, n in sorted(counts.items())))
    return counts


async def retention_purge(application: Application) -> None:
    """The periodic job (every INTERVAL_SECONDS)."""
    await run_purge(application.bot_data["services"])
