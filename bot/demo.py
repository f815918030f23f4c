"""`python -m bot demo`: chat with the real bot in a terminal, with no token and no network.

The real `Application` and handlers run against a local SQLite file; instead of HTTP, a
`BaseRequest` answers the few Bot API calls locally and prints what the bot sends, buttons
as numbered choices. Type a number to press a button, `/coord` to play the coordinator,
`/pro` to play the professional again, `quitter` to leave.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import build_application, start_application, stop_application
from bot.config import Settings
from bot.i18n import t
from bot.sample_data import load_samples
from storage.db import Database
from storage.migrate import upgrade
from storage.models import utcnow

DEMO_TOKEN = "1:demo"
PROFESSIONAL_ID, COORDINATOR_ID = 1001, 1002
OUT_DIR = Path("demo-out")
_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """Telegram HTML as a terminal shows it: bold becomes upper-case-free plain text."""
    return html.unescape(_TAG.sub("", text))


class ConsoleRequest(BaseRequest):
    """Answers Bot API calls locally and prints the bot's messages."""

    def __init__(self, out: Any = sys.stdout) -> None:
        self.out = out
        self.ids = itertools.count(1)
        self.buttons: list[tuple[str, str, dict[str, Any]]] = []  # (label, data, message)

    async def initialize(self) -> None:
        """No connection to open."""

    async def shutdown(self) -> None:
        """No connection to close."""

    @property
    def read_timeout(self) -> float | None:
        return None

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        return {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": 1, "is_bot": True, "first_name": "Relais Santé", "username": "relais_sante_demo_bot"},
            **extra,
        }

    def _print(self, text: str, markup: Any) -> dict[str, Any] | None:
        print("\n🤖 " + plain(text).replace("\n", "\n   "), file=self.out)
        if isinstance(markup, str):
            markup = json.loads(markup)
        if markup and markup.get("inline_keyboard"):
            self.buttons = []
            for row in markup["inline_keyboard"]:
                for button in row:
                    self.buttons.append((button["text"], button.get("callback_data") or button.get("url", ""), {}))
                    print(f"   [{len(self.buttons)}] {button['text']}", file=self.out)
        return markup

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        connect_timeout: float | None = None,
        pool_timeout: float | None = None,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        result: Any = True
        if endpoint == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "Relais Santé", "username": "relais_sante_demo_bot"}
        elif endpoint in ("sendMessage", "editMessageText"):
            markup = self._print(params.get("text", ""), params.get("reply_markup"))
            result = self._message(params, text=params.get("text", ""), **({"reply_markup": markup} if markup else {}))
        elif endpoint in ("sendDocument", "sendPhoto"):
            field = "document" if endpoint == "sendDocument" else "photo"
            upload = request_data.multipart_data.get(field) if request_data and request_data.multipart_data else None
            OUT_DIR.mkdir(exist_ok=True)
            name = upload[0] if upload else f"{field}.bin"
            path = OUT_DIR / str(name)
            path.write_bytes(upload[1] if upload else b"")
            caption = params.get("caption") or ""
            print(f"\n🤖 📎 {path}" + (f" — {plain(caption)}" if caption else ""), file=self.out)
            result = self._message(params, caption=caption)
        elif endpoint == "sendPoll":
            options = [o["text"] if isinstance(o, dict) else o for o in json.loads(params.get("options", "[]")) if o] if isinstance(params.get("options"), str) else params.get("options", [])
            print(f"\n🤖 📊 {params.get('question', '')}", file=self.out)
            for i, option in enumerate(options, 1):
                print(f"   ({i}) {option if isinstance(option, str) else option.get('text')}", file=self.out)
            result = self._message(params, poll={"id": str(next(self.ids)), "question": params.get("question", ""), "options": [], "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular", "allows_multiple_answers": False})
        elif endpoint == "getUpdates":
            result = []
        return 200, json.dumps({"ok": True, "result": result}).encode()


def _user(user_id: int, name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "fr"}


async def _demo(database: str, lines: Any) -> None:
    db_path = Path(database)
    if db_path.exists():
        db_path.unlink()
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(db.engine)
    async with db.begin() as session:
        await load_samples(session, now=utcnow())
    settings = Settings(token=DEMO_TOKEN, database_url=db.url, coordinator_ids=frozenset({COORDINATOR_ID}))
    request = ConsoleRequest()
    application = build_application(settings, db, request=request, get_updates_request=ConsoleRequest())
    await start_application(application, polling=False)
    print(t("demo.intro", "fr", html=False))
    who = {"pro": _user(PROFESSIONAL_ID, "Camille"), "coord": _user(COORDINATOR_ID, "Dominique")}
    current = "pro"
    update_ids = itertools.count(1)
    loop = asyncio.get_running_loop()
    try:
        while True:
            print(f"\n[{t('demo.you_' + current, 'fr', html=False)}] > ", end="", flush=True)
            line = await loop.run_in_executor(None, lines.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in ("quitter", "quit", "exit"):
                break
            if text in ("/coord", "/pro"):
                current = text[1:]
                print(t(f"demo.now_{current}", "fr", html=False))
                continue
            user = who[current]
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            if text.isdigit() and 1 <= int(text) <= len(request.buttons):
                label, data, _ = request.buttons[int(text) - 1]
                if data.startswith("http"):
                    print(f"   🔗 {data}")
                    continue
                raw = {
                    "update_id": next(update_ids),
                    "callback_query": {
                        "id": str(next(update_ids)),
                        "from": user,
                        "chat_instance": "demo",
                        "data": data,
                        "message": {"message_id": 1, "date": int(time.time()), "chat": chat, "text": label},
                    },
                }
            else:
                entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
                raw = {
                    "update_id": next(update_ids),
                    "message": {"message_id": next(update_ids), "date": int(time.time()), "chat": chat, "from": user, "text": text, "entities": entities},
                }
            await application.process_update(Update.de_json(raw, application.bot))
            await asyncio.sleep(0.05)  # let queued outbox messages (promotions) print before the prompt
    finally:
        await stop_application(application)
        await db.dispose()


def run_demo(database: str | None = None, lines: Any = None) -> int:
    """Entry point of `python -m bot demo`."""
    asyncio.run(_demo(database or "data/demo.db", lines or sys.stdin))
    return 0
