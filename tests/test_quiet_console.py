"""`python -m bot run` keeps the console for what matters: no library chatter in normal use.

The real command line runs against the fake Bot API (long polling) and a SQLite or PostgreSQL
database with the sample meetings; a professional onboards and a coordinator prints the crisis
kit (a PDF: fpdf2 subsets fonts with fontTools) and the QR codes of a meeting.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from bot.sample_data import load_samples
from storage.db import Database
from storage.models import utcnow
from tests.fakebot import FakeBotAPI
from tests.harness import COORDINATOR_ID

ROOT = Path(__file__).resolve().parent.parent
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO [\w.]+: ")


async def test_normal_use_prints_only_the_bot_own_log_lines(db: Database, api: FakeBotAPI, tmp_path: Path) -> None:
    async with db.begin() as session:
        await load_samples(session, now=utcnow())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_"))},
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": db.url,
        "COORDINATOR_IDS": str(COORDINATOR_ID),
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        camille = api.make_user(user_id=100_901, first_name="Camille", language_code="fr")
        coordinator = api.make_user(user_id=COORDINATOR_ID, first_name="Dominique", language_code="fr")
        api.send_text(camille, "/start")
        welcome = await api.wait_for(
            lambda m: m["chat"]["id"] == camille["id"] and "profession" in (m.get("text") or ""), timeout=30
        )
        api.press_button(camille, welcome, "Infirmier(ère) (IDE)")
        await api.wait_for_call(
            lambda method, params: method == "editMessageText" and "groupes" in str(params.get("text")), timeout=10
        )
        api.send_text(coordinator, "/kit_crise")
        await api.wait_for(lambda m: m["chat"]["id"] == COORDINATOR_ID and "document" in m, timeout=30)
        api.send_text(coordinator, "/lien")
        picker = await api.wait_for(
            lambda m: m["chat"]["id"] == COORDINATOR_ID and "Le lien de quelle" in (m.get("text") or ""), timeout=10
        )
        api.press_button(coordinator, picker, picker["reply_markup"]["inline_keyboard"][0][0]["text"])
        await api.wait_for(lambda m: m["chat"]["id"] == COORDINATOR_ID and "photo" in m, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    lines = err.decode().splitlines()
    assert lines, "the bot says when it is ready"
    noise = [line for line in lines if not LOG_LINE.match(line) or "fontTools" in line]
    assert noise == [], noise[:5]
    assert len(lines) <= 10, lines
