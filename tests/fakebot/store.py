"""What the fake Telegram knows: users, chats, messages, files, polls.

Every lookup a request needs is a dict access, so the fake stays O(1) per request with 10,000
recipients. Message dicts are never mutated once recorded: an edit stores a new dict, which keeps
`sent()` (what was delivered) distinct from `messages()` (what the chat shows now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .objects import FileIds, StoredFile, Upload, guess_mime, private_chat
from .spec import ApiError, bad_request

JSON = dict[str, Any]


@dataclass(slots=True)
class ChatState:
    """One chat as the bot sees it."""

    chat: JSON  # the Chat object embedded in messages
    next_message_id: int = 1
    msgs: dict[int, JSON] = field(default_factory=dict)  # every live message, bot's and users'
    live: dict[int, JSON] = field(default_factory=dict)  # the bot's live messages, in send order
    sent: list[JSON] = field(default_factory=list)  # every send event, never edited
    members: dict[int, str] = field(default_factory=dict)  # user_id -> status override
    pinned: int | None = None
    migrated_to: int | None = None  # a group upgraded to this supergroup: requests answer 400 + migrate_to_chat_id

    @property
    def id(self) -> int:
        return self.chat["id"]

    @property
    def private(self) -> bool:
        return self.chat["type"] == "private"

    def take_message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid


class Store:
    """Chats, messages and files, indexed for constant-time access."""

    def __init__(self) -> None:
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, ChatState] = {}
        self.usernames: dict[str, int] = {}
        self.blocked: set[int] = set()
        self.live: dict[tuple[int, int], JSON] = {}  # bot messages in all chats, send order
        self.sent: list[JSON] = []
        self.uploads: list[tuple[int, str, bytes, str | None]] = []  # chat_id, name, bytes, caption
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.polls: dict[str, tuple[int, int]] = {}  # poll id -> (chat_id, message_id)
        self.poll_votes: dict[str, dict[int, list[int]]] = {}
        self._ids = FileIds()

    # ----------------------------------------------------------------- chats
    def add_user(self, user: JSON) -> None:
        self.users[user["id"]] = user
        state = self.chats.get(user["id"])
        if state is None:
            self.chats[user["id"]] = ChatState(private_chat(user))
        else:
            state.chat = private_chat(user)

    def add_chat(self, chat: JSON) -> ChatState:
        state = self.chats.get(chat["id"])
        if state is None:
            state = self.chats[chat["id"]] = ChatState(chat)
        else:
            state.chat = chat
        if chat.get("username"):
            self.usernames[chat["username"].lower()] = chat["id"]
        return state

    def chat(self, chat_id: int | str) -> ChatState:
        """The chat a request targets, or Telegram's "chat not found"."""
        if isinstance(chat_id, str):
            key = chat_id[1:].lower() if chat_id.startswith("@") else None
            resolved = self.usernames.get(key) if key else None
            if resolved is None:
                raise bad_request("chat not found")
            chat_id = resolved
        state = self.chats.get(chat_id)
        if state is None:
            raise bad_request("chat not found")
        if state.migrated_to is not None:
            raise ApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": state.migrated_to}
            )
        return state

    # ----------------------------------------------------------------- messages
    def add_user_message(self, chat: ChatState, msg: JSON) -> None:
        chat.msgs[msg["message_id"]] = msg

    def add_bot_message(self, chat: ChatState, msg: JSON) -> None:
        mid = msg["message_id"]
        chat.msgs[mid] = msg
        chat.live[mid] = msg
        chat.sent.append(msg)
        self.live[(chat.id, mid)] = msg
        self.sent.append(msg)

    def replace(self, chat: ChatState, msg: JSON) -> None:
        """Store the new version of an existing message (after an edit)."""
        mid = msg["message_id"]
        chat.msgs[mid] = msg
        if mid in chat.live:
            chat.live[mid] = msg
            self.live[(chat.id, mid)] = msg

    def remove(self, chat: ChatState, mid: int) -> None:
        chat.msgs.pop(mid, None)
        chat.live.pop(mid, None)
        self.live.pop((chat.id, mid), None)

    # ----------------------------------------------------------------- files
    def store_file(self, kind: str, content: bytes, filename: str | None, mime: str | None) -> StoredFile:
        file_id, unique_id, path = self._ids.new(kind, filename)
        sf = StoredFile(file_id, unique_id, path, content, filename, mime)
        self.files[file_id] = sf
        self.files_by_path[path] = sf
        return sf

    def alias_file(self, file_id: str, sf: StoredFile) -> None:
        self.files[file_id] = sf

    def store_upload(self, kind: str, up: Upload) -> StoredFile:
        name = up.filename or "file"
        return self.store_file(kind, up.content, name, guess_mime(name, up.content_type))
