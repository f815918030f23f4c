"""`python -m bot demo`: chat with the real bot in a terminal, with no token and no network.

The real `Application` and handlers run against a local SQLite file; instead of HTTP, a
`BaseRequest` answers the few Bot API calls locally and prints what the bot sends, buttons
as numbered choices. Type a number to press a button of the last message, `/coord` to play
the coordinator, `/pro` to play the professional again, `quitter` to leave.

Files the bot sends (calendar, CSV, QR codes, charts, PDF) are written to `demo-out/` in the
current directory, numbered in the order they arrive ("03-rencontre-7.ics"), so none
overwrites another; the previous run's numbered files are removed at start.
"""

from __future__ import annotations

import asyncio
import base64
import html
import itertools
import json
import re
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import build_application, start_application, stop_application
from bot.config import Settings
from bot.i18n import t
from bot.sample_data import load_samples
from bot.transport import FILE_TIMEOUT, Answer
from storage import outbox
from storage.db import Database
from storage.migrate import upgrade
from storage.models import utcnow

DEMO_TOKEN = "1:demo"
PROFESSIONAL_ID, COORDINATOR_ID = 1001, 1002
OUT_DIR = Path("demo-out")
_TAG = re.compile(r"<[^>]+>")
_NUMBERED = re.compile(r"^\d{2,}-")
Button = tuple[str, str]  # (label, callback data or url)


def plain(text: str) -> str:
    """Telegram HTML as a terminal shows it: the tags dropped, the entities decoded."""
    return html.unescape(_TAG.sub("", text))


def _safe_name(name: str) -> str:
    """A file name that stays inside `demo-out/` whatever the bot called it."""
    return re.sub(r"[^\w.\-]+", "_", Path(name).name) or "fichier"


class ConsoleRequest(BaseRequest):
    """A local Bot API: answers every call, prints what the bot sends and keeps the buttons.

    PTB reaches it as its request object (`do_request`); the bot's own replies and the outbox
    reach it through `call`, the same lean interface as bot/transport.py's HTTP client.
    """

    file_timeout = FILE_TIMEOUT

    def __init__(self, out: Any = sys.stdout, names: dict[int, str] | None = None, out_dir: Path = OUT_DIR) -> None:
        self.out = out
        self.names = names or {}
        self.player: int | None = None  # whose chat the terminal shows without a label
        self.out_dir = out_dir
        self.ids = itertools.count(1)
        self.files = itertools.count(1)
        self.messages: dict[int, dict[str, Any]] = {}
        self.last_in_chat: dict[int, int] = {}  # chat id -> id of the last message shown there
        self.buttons_of: dict[int, list[Button]] = {}  # message id -> its buttons

    # -- PTB's request interface ----------------------------------------------------------
    async def initialize(self) -> None:
        """No connection to open."""

    async def shutdown(self) -> None:
        """No connection to close."""

    @property
    def read_timeout(self) -> float | None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = None,  # unused here; object takes what BaseRequest may pass (ODVInput)
        write_timeout: object = None,
        connect_timeout: object = None,
        pool_timeout: object = None,
    ) -> tuple[int, bytes]:
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.multipart_data:
            for key, (filename, content, *_) in request_data.multipart_data.items():
                params[key] = (str(filename), content)
        result = self.answer(url.rsplit("/", 1)[-1], params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # -- the bot's transport interface (bot/transport.py) ----------------------------------
    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def call(self, method: str, params: dict[str, Any]) -> Answer:
        decoded = {key: _file(v, key) if isinstance(v, dict) and "b64" in v else v for key, v in params.items()}
        return Answer("ok", result=self.answer(method, decoded))

    # -- what "Telegram" does ---------------------------------------------------------------
    def answer(self, method: str, params: dict[str, Any]) -> Any:
        """Print what a person would see and return what Telegram would answer."""
        if method == "getMe":
            return {"id": 1, "is_bot": True, "first_name": "Relais Santé", "username": "relais_sante_demo_bot"}
        if method == "answerCallbackQuery":
            if params.get("text") and str(params.get("show_alert")).lower() == "true":
                print(f"\n🤖 ⚠️  {plain(str(params['text']))}", file=self.out)
            return True
        if method in ("sendMessage", "editMessageText"):
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            return self._show(params, f"🤖 {plain(str(params.get('text', '')))}", markup, text=params.get("text", ""))
        if method in ("sendDocument", "sendPhoto"):
            path = self._save(params.get("document" if method == "sendDocument" else "photo"))
            caption = str(params.get("caption") or "")
            shown = f"🤖 📎 {path}" + (f" — {plain(caption)}" if caption else "")
            return self._show(params, shown, None, caption=caption)
        if method == "sendPoll":
            options = params.get("options", [])
            if isinstance(options, str):
                options = json.loads(options)
            lines = [f"🤖 📊 {params.get('question', '')}"]
            lines += [f"({i}) {o['text'] if isinstance(o, dict) else o}" for i, o in enumerate(options, 1)]
            poll = {
                "id": str(next(self.ids)),
                "question": params.get("question", ""),
                "options": [],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
            return self._show(params, "\n".join(lines), None, poll=poll)
        if method == "getUpdates":
            return []
        return True

    def _show(self, params: dict[str, Any], shown: str, markup: Any, **fields: Any) -> dict[str, Any]:
        """Print one message (or edit) in its chat, labelled when it is not the player's."""
        chat_id = int(params.get("chat_id", 0))
        editing = int(params["message_id"]) if "message_id" in params else None
        message = {
            "message_id": editing or next(self.ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {"id": 1, "is_bot": True, "first_name": "Relais Santé", "username": "relais_sante_demo_bot"},
            **fields,
            **({"reply_markup": markup} if markup else {}),
        }
        if chat_id != self.player:
            who = self.names.get(chat_id, str(chat_id))
            shown = shown.replace("🤖 ", f"🤖 → {who} : ", 1)
        if editing is not None:
            shown = shown.replace("🤖 ", "🤖 ✏️ ", 1)
        print("\n" + shown.replace("\n", "\n   "), file=self.out)
        rows = (markup or {}).get("inline_keyboard", [])
        buttons = [(b["text"], b.get("callback_data") or b.get("url", "")) for row in rows for b in row]
        for i, (label, _) in enumerate(buttons, 1):
            print(f"   [{i}] {label}", file=self.out)
        self.messages[message["message_id"]] = message
        self.buttons_of[message["message_id"]] = buttons
        self.last_in_chat[chat_id] = message["message_id"]
        return message

    def _save(self, upload: Any) -> Path:
        """Write a file the bot sent under a name no later file will take."""
        name, content = upload if isinstance(upload, tuple) else ("fichier", b"")
        self.out_dir.mkdir(exist_ok=True)
        path = self.out_dir / f"{next(self.files):02d}-{_safe_name(str(name))}"
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        return path

    def last_message(self, chat_id: int) -> tuple[dict[str, Any] | None, list[Button]]:
        """The last message shown in a chat and its buttons: the only ones a number presses."""
        message_id = self.last_in_chat.get(chat_id)
        if message_id is None:
            return None, []
        return self.messages[message_id], self.buttons_of.get(message_id, [])


def _file(spec: dict[str, str], key: str) -> tuple[str, bytes]:
    """(file name, content) of a file the bot attached (bot/transport.py `file_param`)."""
    return spec.get("filename", key), base64.b64decode(spec["b64"])


def _user(user_id: int, name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "fr"}


async def _outbox_settled(db: Database, timeout: float = 5.0) -> None:
    """Wait (a few seconds at most) until what the last action queued for now has been shown,
    so messages to other people print before the next prompt rather than in the middle of it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with db.begin() as session:
            if not await outbox.count_waiting(session, utcnow() + timedelta(seconds=timeout)):
                return
        await asyncio.sleep(0.02)


def _clear_previous_files(out_dir: Path) -> None:
    """Remove the numbered files an earlier run wrote (and nothing else) so numbers start at 01."""
    if out_dir.is_dir():
        for path in out_dir.iterdir():
            if path.is_file() and _NUMBERED.match(path.name):
                path.unlink()


async def _demo(database: str, lines: Any) -> None:
    db_path = Path(database)
    if db_path.exists():
        db_path.unlink()
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(db.engine)
    async with db.begin() as session:
        await load_samples(session, now=utcnow())
    settings = Settings(token=DEMO_TOKEN, database_url=db.url, coordinator_ids=frozenset({COORDINATOR_ID}))
    who = {"pro": _user(PROFESSIONAL_ID, "Camille"), "coord": _user(COORDINATOR_ID, "Dominique")}
    _clear_previous_files(OUT_DIR)
    request = ConsoleRequest(names={user["id"]: user["first_name"] for user in who.values()})
    application = build_application(settings, db, request=request, get_updates_request=ConsoleRequest())
    await start_application(application, polling=False)
    print(t("demo.intro", "fr", html=False, folder=f"{OUT_DIR}/"))
    current = "pro"
    update_ids = itertools.count(1)
    loop = asyncio.get_running_loop()
    try:
        while True:
            request.player = who[current]["id"]
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
            message, buttons = request.last_message(user["id"])
            if text.isdigit() and 1 <= int(text) <= len(buttons) and message is not None:
                label, data = buttons[int(text) - 1]
                if data.startswith("http"):
                    print(f"   🔗 {data}")
                    continue
                query = {"id": str(next(update_ids)), "from": user, "chat_instance": "demo", "data": data}
                query["message"] = message
                raw = {"update_id": next(update_ids), "callback_query": query}
            else:
                entities = (
                    [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
                    if text.startswith("/")
                    else []
                )
                raw = {
                    "update_id": next(update_ids),
                    "message": {
                        "message_id": next(update_ids),
                        "date": int(time.time()),
                        "chat": chat,
                        "from": user,
                        "text": text,
                        "entities": entities,
                    },
                }
            await application.process_update(Update.de_json(raw, application.bot))
            await _outbox_settled(db)
    finally:
        await stop_application(application)
        await db.dispose()


def run_demo(database: str | None = None, lines: Any = None) -> int:
    """Entry point of `python -m bot demo`."""
    asyncio.run(_demo(database or "data/demo.db", lines or sys.stdin))
    return 0
