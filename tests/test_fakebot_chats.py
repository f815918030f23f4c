"""The fake Bot API's groups and channels as Telegram runs them: the bot removed from a chat,
added back (my_chat_member), and a basic group upgraded to a supergroup (migrate_to_chat_id).

Driven by the real python-telegram-bot client, with every result checked against api.json.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
import telegram
from telegram.error import BadRequest, ChatMigrated, Forbidden

from tests.fakebot import FakeBotAPI, check_object

pytestmark = [pytest.mark.asyncio, pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")]

TOKEN = "123456:TEST-TOKEN"
CHANNEL = -1001234567890
GROUP = -4518810793


@pytest_asyncio.fixture
async def api():
    async with FakeBotAPI(TOKEN, validate_results=True) as fake:
        yield fake
        assert fake.result_problems == [] and fake.internal_errors == []


@pytest_asyncio.fixture
async def bot(api: FakeBotAPI):
    b = telegram.Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url)
    async with b:
        yield b


@pytest.fixture
def admin(api: FakeBotAPI) -> dict[str, Any]:
    return api.make_user(1001, "Camille", username="camille_ide")


async def test_a_channel_refuses_the_bot_once_removed_and_says_so_in_my_chat_member(api: FakeBotAPI, bot: telegram.Bot, admin: dict[str, Any]) -> None:
    api.add_chat(CHANNEL, "channel", "Canal de crise")
    await bot.send_message(CHANNEL, "avant")
    removed = api.set_bot_status(CHANNEL, "left", admin)
    with pytest.raises(Forbidden, match="bot is not a member of the channel chat"):
        await bot.send_message(CHANNEL, "pendant")
    with pytest.raises(Forbidden, match="bot is not a member of the channel chat"):
        await bot.edit_message_text("modifié", chat_id=CHANNEL, message_id=1)
    api.set_bot_status(CHANNEL, "kicked", admin)
    with pytest.raises(Forbidden, match="bot was kicked from the channel chat"):
        await bot.send_message(CHANNEL, "pendant")
    added = api.set_bot_status(CHANNEL, "administrator", admin)
    await bot.send_message(CHANNEL, "après")
    assert [m["text"] for m in api.messages(CHANNEL)] == ["avant", "après"]

    updates = await bot.get_updates()
    assert [u.update_id for u in updates][:1] == [removed["update_id"]] and updates[-1].update_id == added["update_id"]
    change = updates[0].my_chat_member
    assert change is not None and change.chat.id == CHANNEL and change.from_user.id == admin["id"]
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("administrator", "left")
    assert change.new_chat_member.user.id == api.bot_user["id"]
    assert (updates[-1].my_chat_member.old_chat_member.status, updates[-1].my_chat_member.new_chat_member.status) == ("kicked", "administrator")
    assert check_object(removed["my_chat_member"], "ChatMemberUpdated") == []


async def test_unknown_chats_and_groups_the_bot_left(api: FakeBotAPI, bot: telegram.Bot, admin: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="^Chat not found$"):  # PTB capitalises Telegram's "Bad Request: chat not found"
        await bot.send_message(-1009999999999, "x")
    api.add_chat(GROUP, "group", "Cellule")
    api.add_chat(-1001111111111, "supergroup", "Coordination")
    api.set_bot_status(GROUP, "left", admin)
    api.set_bot_status(-1001111111111, "left", admin)
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await bot.send_message(GROUP, "x")
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await bot.send_message(-1001111111111, "x")
    api.set_bot_status(GROUP, "kicked", admin)
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(GROUP, "x")


async def test_a_group_upgraded_to_a_supergroup_answers_with_its_new_id(api: FakeBotAPI, bot: telegram.Bot, admin: dict[str, Any]) -> None:
    api.add_chat(GROUP, "group", "Cellule de crise")
    await bot.send_message(GROUP, "avant")
    new_id, (farewell, welcome) = api.migrate_to_supergroup(GROUP, admin)
    assert str(new_id).startswith("-100")
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(GROUP, "perdu ?")
    assert raised.value.new_chat_id == new_id
    await bot.send_message(new_id, "après")
    assert [m["text"] for m in api.messages(new_id)] == ["après"]

    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [farewell["update_id"], welcome["update_id"]]
    assert updates[0].message.chat.id == GROUP and updates[0].message.migrate_to_chat_id == new_id
    assert updates[1].message.chat.id == new_id and updates[1].message.chat.type == "supergroup"
    assert updates[1].message.migrate_from_chat_id == GROUP
    assert check_object(farewell["message"], "Message") == []
    assert check_object(welcome["message"], "Message") == []


async def test_the_raw_answer_carries_migrate_to_chat_id(api: FakeBotAPI, admin: dict[str, Any]) -> None:
    import aiohttp

    api.add_chat(GROUP, "group", "Cellule de crise")
    new_id, _ = api.migrate_to_supergroup(GROUP, admin)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}{TOKEN}/sendMessage", json={"chat_id": GROUP, "text": "x"}) as response:
            body = await response.json()
    assert response.status == 400
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": new_id},
    }
