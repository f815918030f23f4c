"""The message under a pressed button is parsed for what identifies it, nothing more."""

from __future__ import annotations

import json

from telegram import Bot

from bot.incoming import parse_update
from bot.request import UpdatesRequest

PAGE = {
    "message_id": 77,
    "from": {"id": 1, "is_bot": True, "first_name": "Relais"},
    "chat": {"id": 5001, "type": "private", "first_name": "Ana"},
    "date": 1790000000,
    "text": "Rencontres à venir",
    "entities": [{"type": "bold", "offset": 0, "length": 10}],
    "reply_markup": {"inline_keyboard": [[{"text": "S'inscrire", "callback_data": "m:reg:3"}]]},
}
PRESS = {
    "update_id": 9,
    "callback_query": {"id": "q1", "from": {"id": 5001, "is_bot": False, "first_name": "Ana"}, "chat_instance": "c", "data": "m:reg:3", "message": PAGE},
}


def test_a_pressed_button_keeps_its_data_chat_and_message_to_edit() -> None:
    update = parse_update({**PRESS, "callback_query": {**PRESS["callback_query"]}}, Bot("1:x"))
    assert update is not None and update.callback_query is not None
    query = update.callback_query
    assert (query.data, query.message.chat.id, query.message.message_id) == ("m:reg:3", 5001, 77)
    assert query.message.reply_markup is None and query.message.text is None


def test_polled_updates_come_out_lean_and_typed_messages_untouched() -> None:
    typed = {"update_id": 10, "message": {**PAGE, "from": {"id": 5001, "is_bot": False, "first_name": "Ana"}}}
    body = b'{"ok": true, "result": [%s, %s]}' % tuple(json.dumps(u).encode() for u in (PRESS, typed))
    pressed, kept = UpdatesRequest.parse_json_payload(body)["result"]
    assert set(pressed["callback_query"]["message"]) == {"message_id", "from", "chat", "date"}
    assert kept["message"]["text"] == "Rencontres à venir" and "reply_markup" in kept["message"]
