"""A bot process that only drains the outbox, for tests/test_kill9.py to kill with SIGKILL.

    python -m tests.outbox_runner --db URL --api http://127.0.0.1:PORT/bot --token T --rate 3000

It uses the production entry point (`bot.outbox.run_dispatcher`, sender slot included)
with the pace raised, so 2,000 messages take seconds instead of a minute.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from telegram import Bot

from bot.config import Settings
from bot.outbox import run_dispatcher
from bot.pacing import PaceConfig
from bot.services import Services
from storage.db import Database


async def main(args: argparse.Namespace) -> None:
    db = Database(args.db)
    settings = Settings(token=args.token, api_url=args.api, database_url=args.db)
    services = Services(settings=settings, db=db)
    bot = Bot(args.token, base_url=args.api)
    await run_dispatcher(
        bot,
        services,
        pace=PaceConfig(rate=args.rate, private_gap=0.0, group_gap=0.0),
        concurrency=args.concurrency,
        lease=timedelta(seconds=args.lease),
        timeout=args.lease / 2,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, default=3000.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--lease", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))
