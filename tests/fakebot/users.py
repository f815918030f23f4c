"""The users' side of the fake: people and chats that talk to the bot.

Tests act as Telegram users (send a command, tap a button, vote, upload a file) and Telegram
turns each action into an Update; this mixin builds those updates exactly as Telegram would
and keeps the fake's knowledge (known chats, blocked users, live messages) consistent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .objects import (
    CHAT_TYPES,
    command_entities,
    group_chat,
    image_size,
    photo_sizes,
    user as make_user_dict,
)
from .spec import ApiError
from .store import ChatState, Store
from .updates import UpdateHub, update_type

JSON = dict[str, Any]


class UserSide:
    """Mixin of FakeBotAPI: simulated users, chats and the updates they produce."""

    store: Store
    hub: UpdateHub
    bot_user: JSON
    privacy_mode: bool
    _open_callbacks: set[str]
    _callback_ids: Iterator[int]

    # ================================================================== users and chats
    def make_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "fr",
    ) -> JSON:
        """A User; its private chat with the bot becomes known (sends to it succeed)."""
        u = make_user_dict(user_id, first_name, last_name, username, language_code)
        self.store.add_user(u)
        return u

    def add_chat(self, chat_id: int, type: str, title: str, username: str | None = None) -> JSON:
        """Register a group / supergroup / channel the bot is in."""
        if type not in CHAT_TYPES or type == "private":
            raise ValueError(f"type must be group, supergroup or channel, not {type!r}")
        return self.store.add_chat(group_chat(chat_id, type, title, username)).chat

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for user_id (creator, administrator, member, left, kicked...)."""
        self.store.chat(chat_id).members[user_id] = status

    # ================================================================== the bot's own membership
    def set_bot_status(self, chat_id: int, status: str, by: JSON) -> JSON:
        """An administrator adds or removes the bot in a group or channel ("administrator",
        "member", "left", "kicked"): sends there follow the new status, and the bot receives the
        my_chat_member update Telegram sends (ChatMemberUpdated with old and new ChatMember)."""
        from .methods import chat_member

        state = self.store.chat(chat_id)
        if state.private:
            raise ValueError("use block()/unblock() for a private chat")
        bot_id = self.bot_user["id"]
        old = state.members.get(bot_id, "administrator")
        state.members[bot_id] = status
        body = {
            "chat": state.chat,
            "from": by,
            "date": int(time.time()),
            "old_chat_member": chat_member(self.bot_user, old),
            "new_chat_member": chat_member(self.bot_user, status),
        }
        return self.hub.push({"my_chat_member": body})

    def migrate_to_supergroup(
        self, chat_id: int, by: JSON, new_chat_id: int | None = None, *, announce: bool = True
    ) -> tuple[int, list[JSON]]:
        """A basic group becomes a supergroup with a new id, as Telegram does (history visible to
        new members, or too many members). Requests to the old id then answer 400 "group chat was
        upgraded to a supergroup chat" with parameters.migrate_to_chat_id; the bot receives the
        two service messages: migrate_to_chat_id in the old chat, migrate_from_chat_id in the new.
        Returns the new id and those two updates. `announce=False` holds the updates back (the
        bot was down, or its outbox spoke first): push them later with push_update()."""
        old = self.store.chat(chat_id)
        if old.chat["type"] != "group":
            raise ValueError("only a basic group migrates to a supergroup")
        new_id = new_chat_id or -(10**12 + abs(chat_id))
        new = self.store.add_chat(group_chat(new_id, "supergroup", old.chat.get("title", ""), old.chat.get("username")))
        new.members.update(old.members)
        now = int(time.time())
        farewell: JSON = {"message_id": old.take_message_id(), "from": by, "chat": old.chat, "date": now, "migrate_to_chat_id": new_id}
        old.msgs[farewell["message_id"]] = farewell
        old.migrated_to = new_id
        welcome: JSON = {"message_id": new.take_message_id(), "from": by, "chat": new.chat, "date": now, "migrate_from_chat_id": chat_id}
        new.msgs[welcome["message_id"]] = welcome
        updates = [{"message": farewell}, {"message": welcome}]
        return new_id, [self.hub.push(u) for u in updates] if announce else updates

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to their private chat answer 403 until unblocked."""
        self.store.blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self.store.blocked.discard(user_id)

    # ================================================================== updates from users
    def _chat_for(self, user: JSON, chat: JSON | int | None) -> ChatState:
        if user["id"] not in self.store.users:
            self.store.add_user(user)
        if chat is None:
            self.store.blocked.discard(user["id"])  # writing to the bot means having unblocked it
            return self.store.chats[user["id"]]
        chat_id = chat["id"] if isinstance(chat, dict) else chat
        try:
            return self.store.chat(chat_id)
        except ApiError:
            raise ValueError(f"chat {chat_id} is unknown: add_chat() it first") from None

    def _user_message(self, user: JSON, chat: JSON | int | None, content: JSON) -> JSON:
        state = self._chat_for(user, chat)
        msg: JSON = {"message_id": state.take_message_id()}
        if state.chat["type"] == "channel":
            msg["sender_chat"] = state.chat
            kind = "channel_post"
        else:
            msg["from"] = user
            kind = "message"
        msg["chat"] = state.chat
        msg["date"] = int(time.time())
        msg.update(content)
        self.store.add_user_message(state, msg)
        if self.privacy_mode and state.chat["type"] in ("group", "supergroup") and not self._addressed(msg):
            update = {"update_id": 0, kind: msg}
            self.hub.dropped.append(update)
            return update
        return self.hub.push({kind: msg})

    def _addressed(self, msg: JSON) -> bool:
        text = msg.get("text") or msg.get("caption") or ""
        reply = msg.get("reply_to_message") or {}
        return (text.startswith("/") or f"@{self.bot_user.get('username')}" in text
                or (reply.get("from") or {}).get("id") == self.bot_user["id"])

    def send_text(self, user: JSON, text: str, chat: JSON | int | None = None, *,
                  reply_to: Any = None) -> JSON:
        """The user sends `text` (in their private chat, or `chat`); commands get entities.

        Writing in the private chat unblocks the bot, as on Telegram. `reply_to`: a message
        (dict or telegram.Message) the user answers, e.g. after a ForceReply.
        """
        if not text.strip():
            raise ValueError("Telegram does not deliver empty messages")
        content: JSON = {}
        if reply_to is not None:
            if hasattr(reply_to, "to_dict"):
                reply_to = reply_to.to_dict()
            state = self.store.chats.get(reply_to["chat"]["id"])
            current = state.msgs.get(reply_to["message_id"]) if state else None
            if current is None:
                raise ValueError("reply_to is not a live message")
            content["reply_to_message"] = {k: v for k, v in current.items() if k != "reply_to_message"}
        content["text"] = text
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(user, chat, content)

    def send_document(
        self,
        user: JSON,
        filename: str,
        content: bytes,
        mime_type: str,
        caption: str | None = None,
        chat: JSON | int | None = None,
    ) -> JSON:
        """The user sends a file; the bot can getFile and download it."""
        sf = self.store.store_file("document", content, filename, mime_type)
        doc = {"file_name": filename, "mime_type": mime_type, "file_id": sf.file_id,
               "file_unique_id": sf.file_unique_id, "file_size": len(content)}
        body: JSON = {"document": doc}
        if caption:
            body["caption"] = caption
        return self._user_message(user, chat, body)

    def send_photo(self, user: JSON, content: bytes, caption: str | None = None,
                   chat: JSON | int | None = None) -> JSON:
        """The user sends a picture (PNG/JPEG/...); the bot can getFile the largest size."""
        wh = image_size(content)
        if wh is None:
            raise ValueError("not an image Telegram would accept")
        sf = self.store.store_file("photo", content, "photo.jpg", "image/jpeg")
        sizes = photo_sizes(sf.file_id, sf.file_unique_id, len(content), wh)
        for s in sizes:
            self.store.alias_file(s["file_id"], sf)
        body: JSON = {"photo": sizes}
        if caption:
            body["caption"] = caption
        return self._user_message(user, chat, body)

    def _live(self, message: Any) -> JSON:
        if hasattr(message, "to_dict"):  # a telegram.Message
            message = message.to_dict()
        key = (message["chat"]["id"], message["message_id"])
        live = self.store.live.get(key)
        if live is None:
            raise ValueError(f"message {key[1]} in chat {key[0]} is not a live bot message (deleted?)")
        return live

    @staticmethod
    def _buttons(message: JSON) -> list[JSON]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return [b for row in rows for b in row]

    def press(self, user: JSON, message: Any, data: str, *, forged: bool = False) -> JSON:
        """The user taps the inline button carrying callback_data `data` on a bot message.

        `forged=True` plays a modified client sending any data on that message: Telegram
        itself does not check callback data against the keyboard, so bots must.
        """
        live = self._live(message)
        datas = [b.get("callback_data") for b in self._buttons(live)]
        if data not in datas and not forged:
            raise ValueError(f"message {live['message_id']} has no button with callback_data {data!r}; it has {datas}")
        qid = str(next(self._callback_ids))
        self._open_callbacks.add(qid)
        query = {
            "id": qid,
            "from": user,
            "message": live,
            "chat_instance": str(abs(hash(("chat_instance", live["chat"]["id"])))),
            "data": data,
        }
        return self.hub.push({"callback_query": query})

    def press_button(self, user: JSON, message: Any, text: str) -> JSON:
        """Like press(), finding the button by its label."""
        live = self._live(message)
        for b in self._buttons(live):
            if b.get("text") == text and "callback_data" in b:
                return self.press(user, live, b["callback_data"])
        labels = [b.get("text") for b in self._buttons(live)]
        raise ValueError(f"no callback button labelled {text!r}; buttons: {labels}")

    def start_in_group(self, user: JSON, chat_id: int, title: str, payload: str, *, type: str = "supergroup") -> JSON:
        """The user opened t.me/<bot>?startgroup=<payload> and picked a group chat.

        As Telegram does: the bot joins the chat (a my_chat_member update, "left" -> "member",
        the user being the one who added it), then the bot receives "/start@<bot> <payload>"
        in that chat from that user. Returns the /start update.
        """
        from .methods import chat_member

        if chat_id not in self.store.chats:
            self.add_chat(chat_id, type, title)
        chat = self.store.chat(chat_id).chat
        self.store.chat(chat_id).members.setdefault(user["id"], "administrator")  # they could add members
        self.push_update({"my_chat_member": {
            "chat": chat, "from": user, "date": int(time.time()),
            "old_chat_member": chat_member(self.bot_user, "left"),
            "new_chat_member": chat_member(self.bot_user, "member"),
        }})
        return self.send_text(user, f"/start@{self.bot_user['username']} {payload}", chat)

    def answer_poll(self, user: JSON, poll_id: str, option_ids: list[int]) -> JSON:
        """The user votes (empty list: retracts); the bot gets a poll_answer update."""
        where = self.store.polls.get(poll_id)
        if where is None:
            raise ValueError(f"unknown poll {poll_id}")
        chat = self.store.chats[where[0]]
        msg = chat.live.get(where[1])
        if msg is None:
            raise ValueError("the poll message was deleted")
        poll = msg["poll"]
        if poll["is_closed"]:
            raise ValueError("the poll is closed")
        if poll["is_anonymous"]:
            raise ValueError("Telegram sends no poll_answer for anonymous polls (send is_anonymous=False)")
        n = len(poll["options"])
        if any(not 0 <= i < n for i in option_ids) or len(set(option_ids)) != len(option_ids):
            raise ValueError(f"option_ids must be distinct indexes below {n}")
        if len(option_ids) > 1 and not poll["allows_multiple_answers"]:
            raise ValueError("this poll allows a single answer")
        votes = self.store.poll_votes[poll_id]
        if user["id"] in votes and not poll["allows_revoting"]:
            raise ValueError("this poll does not allow changing the vote")
        if option_ids:
            votes[user["id"]] = list(option_ids)
        else:
            votes.pop(user["id"], None)
        counts = [0] * n
        for chosen in votes.values():
            for i in chosen:
                counts[i] += 1
        options = [{**o, "voter_count": counts[i]} for i, o in enumerate(poll["options"])]
        self.store.replace(chat, {**msg, "poll": {**poll, "options": options, "total_voter_count": len(votes)}})
        answer = {
            "poll_id": poll_id,
            "user": user,
            "option_ids": list(option_ids),
            "option_persistent_ids": [poll["options"][i]["persistent_id"] for i in option_ids],
        }
        return self.hub.push({"poll_answer": answer})

    def redeliver(self, update: JSON) -> JSON:
        """Telegram delivers `update` (as returned by send_text, press...) a second time, same update_id.

        Over a webhook it is POSTed again at once; with long polling it waits, unconfirmed, for
        the next poller that starts without an offset (restart the bot: `BotHarness.restart`).
        """
        return self.hub.redeliver(update)

    def push_update(self, update: JSON) -> JSON:
        """Deliver any Update (update_id is assigned when missing).

        Like Telegram, what an update reveals becomes known: its sender's private chat, its chat,
        its message (the bot can reply to / copy it); a my_chat_member update in a private chat
        with status "kicked" / "member" blocks / unblocks the bot.
        """
        self._learn(update)
        return self.hub.push(update)

    def _learn(self, update: JSON) -> None:
        kind = update_type(update)
        body = update[kind]
        if not isinstance(body, dict):
            return
        for key in ("from", "user"):
            u = body.get(key)
            if isinstance(u, dict) and not u.get("is_bot") and u.get("id") not in self.store.users:
                self.store.add_user(u)
        chat = body.get("chat") or (body.get("message") or {}).get("chat")
        if isinstance(chat, dict) and chat.get("id") not in self.store.chats:
            if chat.get("type") == "private":
                self.store.add_user(make_user_dict(chat["id"], chat.get("first_name", ""), chat.get("last_name"),
                                                   chat.get("username")))
            elif chat.get("type") in CHAT_TYPES:
                self.store.add_chat(chat)
        if kind in ("message", "edited_message", "channel_post", "edited_channel_post") and "message_id" in body:
            state = self.store.chats.get(body["chat"]["id"])
            if state is not None:
                state.msgs[body["message_id"]] = body
                state.next_message_id = max(state.next_message_id, body["message_id"] + 1)
        if kind == "my_chat_member" and isinstance(chat, dict) and chat.get("type") == "private":
            status = (body.get("new_chat_member") or {}).get("status")
            if status == "kicked":
                self.store.blocked.add(chat["id"])
            elif status == "member":
                self.store.blocked.discard(chat["id"])
