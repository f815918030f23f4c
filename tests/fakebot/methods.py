"""Bot API methods other than sending/editing: identity, updates, webhook, commands, chats,
callbacks, files, plus a spec-driven fallback for every other method in api.json.

The fallback validates required parameters and returns a value of the declared return type,
so a bot calling a method the fake does not model still gets a well-formed answer, not a 404.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from . import sending
from .objects import Upload
from .registry import method
from .spec import (
    MESSAGE_FIELD_TYPES,
    TYPES,
    Kind,
    MethodSpec,
    bad_request,
    skeleton,
    type_fields,
)

if TYPE_CHECKING:
    from .server import FakeBotAPI

JSON = dict[str, Any]
P = dict[str, Any]


# --------------------------------------------------------------------------- identity
@method("getMe")
def get_me(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    return {
        **api.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": not api.privacy_mode,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@method("logOut", "close")
def log_out(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    return True


# --------------------------------------------------------------------------- updates
@method("getUpdates")
async def get_updates(api: FakeBotAPI, spec: MethodSpec, p: P) -> list[JSON]:
    return await api.hub.get_updates(p.get("offset"), p.get("limit"), p.get("timeout"), p.get("allowed_updates"))


_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@method("setWebhook")
def set_webhook(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    url = p["url"]
    if not re.match(r"^https?://[^\s/]+", url):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.get("secret_token")
    if secret is not None and not _SECRET.match(secret):
        raise bad_request("secret token contains unallowed characters")
    conns = p.get("max_connections") or 40
    if not 1 <= conns <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    api.hub.set_webhook(url, secret, conns, p.get("allowed_updates"), bool(p.get("drop_pending_updates")))
    return True


@method("deleteWebhook")
def delete_webhook(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    api.hub.delete_webhook(bool(p.get("drop_pending_updates")))
    return True


@method("getWebhookInfo")
def get_webhook_info(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    return api.hub.webhook_info()


# --------------------------------------------------------------------------- commands
_SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators",
           "chat", "chat_administrators", "chat_member"}
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


def scope_key(api: FakeBotAPI | None, scope: Any) -> str:
    """"default", "chat:<id>", "chat_member:<chat>:<user>"... (chat must exist when api given)."""
    if scope is None:
        return "default"
    if isinstance(scope, str):
        return scope
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        raise bad_request("can't parse BotCommandScope JSON object")
    parts = [scope["type"]]
    if "chat_id" in scope:
        chat_id = scope["chat_id"]
        parts.append(str(api.store.chat(chat_id).id if api else chat_id))
    if "user_id" in scope:
        parts.append(str(scope["user_id"]))
    return ":".join(parts)


@method("setMyCommands")
def set_my_commands(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    commands = p["commands"]
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be a list of at most 100 BotCommand")
    for c in commands:
        if not isinstance(c, dict) or not isinstance(c.get("command"), str) or not _COMMAND.match(c["command"]):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(c.get("description"), str) or not 1 <= len(c["description"].strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = (scope_key(api, p.get("scope")), p.get("language_code") or "")
    if commands:
        api._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
    else:
        api._commands.pop(key, None)
    return True


@method("getMyCommands")
def get_my_commands(api: FakeBotAPI, spec: MethodSpec, p: P) -> list[JSON]:
    return list(api._commands.get((scope_key(api, p.get("scope")), p.get("language_code") or ""), []))


@method("deleteMyCommands")
def delete_my_commands(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    api._commands.pop((scope_key(api, p.get("scope")), p.get("language_code") or ""), None)
    return True


# --------------------------------------------------------------------------- chats
@method("getChat")
def get_chat(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = api.store.chat(p["chat_id"])
    info = {**skeleton("ChatFullInfo"), **chat.chat, "max_reaction_count": 11}
    if chat.pinned is not None and chat.pinned in chat.msgs:
        info["pinned_message"] = chat.msgs[chat.pinned]
    return info


_MEMBER_TYPES = {
    "creator": "ChatMemberOwner",
    "administrator": "ChatMemberAdministrator",
    "member": "ChatMemberMember",
    "restricted": "ChatMemberRestricted",
    "left": "ChatMemberLeft",
    "kicked": "ChatMemberBanned",
}


def chat_member(user: JSON, status: str) -> JSON:
    """A ChatMember of the subtype matching `status`, with every required field."""
    member = skeleton(_MEMBER_TYPES[status])
    member.update(status=status, user=user)
    if status == "administrator":
        member.update({k: True for k in ("can_manage_chat", "can_delete_messages", "can_invite_users",
                                         "can_restrict_members", "can_post_messages", "can_edit_messages",
                                         "can_pin_messages")})
    if status == "restricted":
        member["is_member"] = True
    return member


@method("getChatMember")
def get_chat_member(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = api.store.chat(p["chat_id"])
    uid = p["user_id"]
    if uid == api.bot_user["id"]:
        default = "member" if chat.private else "administrator"
        return chat_member(api.bot_user, chat.members.get(uid, default))
    user = api.store.users.get(uid)
    if user is None:
        raise bad_request("user not found")
    if chat.private and uid != chat.id:
        raise bad_request("member not found")
    return chat_member(user, chat.members.get(uid, "member"))


_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
            "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}


@method("sendChatAction")
def send_chat_action(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    chat = api.store.chat(p["chat_id"])
    if p["action"] not in _ACTIONS:
        raise bad_request("wrong parameter action in request")
    api._check_not_blocked(chat)
    return True


@method("pinChatMessage")
def pin_chat_message(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    chat = api.store.chat(p["chat_id"])
    if p["message_id"] not in chat.msgs:
        raise bad_request("message to pin not found")
    chat.pinned = p["message_id"]
    return True


@method("unpinChatMessage", "unpinAllChatMessages")
def unpin_chat_message(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    chat = api.store.chat(p["chat_id"])
    chat.pinned = None
    return True


# --------------------------------------------------------------------------- callbacks, files
@method("answerCallbackQuery")
def answer_callback_query(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    qid = p["callback_query_id"]
    if qid not in api._open_callbacks:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    if len(p.get("text") or "") > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    api._open_callbacks.discard(qid)
    api.callback_answers[qid] = p
    return True


@method("getFile")
def get_file(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    sf = api.store.files.get(p["file_id"])
    if sf is None:
        raise bad_request("invalid file_id")
    if len(sf.content) > 20 * 1024 * 1024:
        raise bad_request("file is too big")
    return {**sf.as_file(), "file_id": p["file_id"]}


# --------------------------------------------------------------------------- fallback
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _generic_send(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    """send<Thing>: a Message whose <thing> field is built from the spec and the parameters."""
    chat = api.store.chat(p["chat_id"])
    kind = _snake(spec.name[len("send"):])
    content: JSON = {}
    field_types = MESSAGE_FIELD_TYPES.get(kind)
    if field_types and field_types[0] in TYPES and "fields" in TYPES[field_types[0]]:
        obj = skeleton(field_types[0])
        known = type_fields(field_types[0])
        for name, value in p.items():
            param = spec.params.get(name)
            if param is None:
                continue
            if param.kind is Kind.FILE and name == kind:
                doc, _ = sending.document_of(api, value, kind)
                obj.update({k: v for k, v in doc.items() if k in known})
            elif name in known and not isinstance(value, Upload):
                obj[name] = value
        if kind == "dice" and not obj.get("value"):
            obj.setdefault("emoji", "🎲")
            obj["value"] = 1
        content[kind] = obj
    content.update(sending.caption_of(p))
    return sending.deliver(api, chat, p, content)


def _synthesize(returns: tuple[str, ...]) -> Any:
    first = returns[0] if returns else "Boolean"
    if first in ("Boolean", "True"):
        return True
    return skeleton(first)


def generic(api: FakeBotAPI, spec: MethodSpec, p: P) -> Any:
    """Any api.json method without a dedicated handler."""
    chat_param = spec.params.get("chat_id")
    chat = None
    if chat_param is not None and p.get("chat_id") is not None and chat_param.kind in (Kind.INT_OR_STR, Kind.INT):
        chat = api.store.chat(p["chat_id"])
    if "Message" in spec.returns:
        if spec.name.startswith("send") and chat is not None:
            return _generic_send(api, spec, p)
        if p.get("inline_message_id") and "Boolean" in spec.returns:
            return True
        if chat is not None and p.get("message_id") is not None:
            msg = chat.msgs.get(p["message_id"])
            if msg is None:
                raise bad_request("message to edit not found")
            new = {**msg, "edit_date": int(time.time())}
            api.store.replace(chat, new)
            return new
    return _synthesize(spec.returns)
