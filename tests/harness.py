"""Conversation helpers so a test reads like the user's story.

    camille = bot.person("Camille")
    await camille.send("/rencontres")
    await camille.press("S'inscrire")
    assert "Inscription confirmée" in camille.last_text

`send` and `press` return once the bot has fully handled that update (the processor counts
handled updates), so there is no sleeping and no guessing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.app import build_application, start_application, stop_application
from bot.config import Settings
from bot.processor import PerUserOrderedProcessor
from storage.db import Database

COORDINATOR_ID = 900_001
_ids = itertools.count(100_001)


@dataclass
class Person:
    """A Telegram user talking to the bot in their private chat."""

    harness: BotHarness
    user: dict[str, Any]
    seen: int = 0
    replies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _new_messages(self) -> list[dict[str, Any]]:
        sent = self.harness.api.sent(self.id)
        fresh = sent[self.seen :]
        self.seen = len(sent)
        return fresh

    async def send(self, text: str) -> list[dict[str, Any]]:
        """Type a message; returns what the bot sent to this chat while handling it."""
        self._new_messages()
        update = self.harness.api.send_text(self.user, text)
        await self.harness.handled(update)
        self.replies = self._new_messages()
        return self.replies

    async def press(self, label: str, *, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Press the inline button whose label contains `label` on the newest message showing it."""
        target, data = self.find_button(label, message)
        return await self.press_data(data, message=target)

    async def press_data(self, data: str, *, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Press a button with raw callback data (also how tests forge buttons)."""
        self._new_messages()
        message = message or self.latest_with_keyboard() or self.messages()[-1]
        update = self.harness.api.press(self.user, message, data, forged=True)
        await self.harness.handled(update)
        self.replies = self._new_messages()
        return self.replies

    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages in this chat as they look now (edits applied)."""
        return self.harness.api.messages(self.id)

    def latest_with_keyboard(self) -> dict[str, Any] | None:
        for message in reversed(self.messages()):
            if message.get("reply_markup", {}).get("inline_keyboard"):
                return message
        return None

    def buttons(self, message: dict[str, Any] | None = None) -> list[tuple[str, str]]:
        message = message or self.latest_with_keyboard()
        if message is None:
            return []
        return [
            (button["text"], button.get("callback_data") or button.get("url", ""))
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for button in row
        ]

    def find_button(self, label: str, message: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        candidates = [message] if message else list(reversed(self.messages()))
        for candidate in candidates:
            for text, data in self.buttons(candidate):
                if label.lower() in text.lower():
                    return candidate, data
        shown = [text for c in candidates[:3] for text, _ in self.buttons(c)]
        raise AssertionError(f"no button containing {label!r}; buttons shown: {shown}")

    @property
    def last_text(self) -> str:
        """Text of the newest message in the chat (edits applied)."""
        messages = self.messages()
        if not messages:
            return ""
        return messages[-1].get("text") or messages[-1].get("caption") or ""

    @property
    def reply_text(self) -> str:
        """Everything the bot said in answer to the last send/press, joined."""
        return "\n---\n".join(m.get("text") or m.get("caption") or "" for m in self.replies) or self.last_text

    async def onboard(self, profession: str = "Infirmier", groups: tuple[str, ...] = ()) -> None:
        """Go through /start: pick a profession and groups (with no group open, the bot stops after the profession)."""
        await self.send("/start")
        await self.press(profession)
        for group in groups:
            await self.press(group)
        if any("Terminé" in label for label, _ in self.buttons()):
            await self.press("Terminé")


class BotHarness:
    """The real bot (Application, handlers, database) against the fake Bot API."""

    def __init__(self, api: Any, db: Database, **settings: Any) -> None:
        self.api = api
        self.db = db
        self.settings = Settings(
            token=api.token,
            api_url=api.base_url,
            file_api_url=api.base_file_url,
            database_url=db.url,
            coordinator_ids=frozenset({COORDINATOR_ID}),
            **settings,
        )
        self.application = build_application(self.settings, db)

    @property
    def processor(self) -> PerUserOrderedProcessor:
        return self.application.update_processor  # type: ignore[return-value]

    async def start(self) -> None:
        await start_application(self.application, polling=True)

    async def stop(self) -> None:
        await stop_application(self.application)

    async def restart(self, *, unconfirmed: Sequence[dict[str, Any]] = ()) -> None:
        """Stop this bot process and start a new one on the same database and Bot API.

        `unconfirmed`: updates the old process had handled but died before confirming (its next
        getUpdates never left): Telegram delivers them again to the new process.
        """
        await self.stop()
        for update in unconfirmed:
            self.api.redeliver(update)
        background = self.application.bot_data.get("background", True)
        self.application = build_application(self.settings, self.db)
        self.application.bot_data["background"] = background
        await self.start()

    async def handled(self, update: dict[str, Any]) -> None:
        await self.processor.wait_handled(update["update_id"])

    def person(self, first_name: str = "Camille", *, last_name: str | None = None, language_code: str = "fr", user_id: int | None = None, username: str | None = None) -> Person:
        user = self.api.make_user(
            user_id=user_id or next(_ids), first_name=first_name, last_name=last_name, username=username, language_code=language_code
        )
        return Person(self, user)

    def coordinator(self, first_name: str = "Dominique") -> Person:
        return self.person(first_name, user_id=COORDINATOR_ID)
