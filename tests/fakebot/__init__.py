"""A faithful fake of the Telegram Bot API (api.json, Bot API 10.1), served on 127.0.0.1.

The bot under test talks real HTTP to it, so tests see the bot's actual requests and exercise
its handling of Telegram's actual answers (400/403/409/429...), without reaching Telegram.

    async with FakeBotAPI() as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url)
              .base_file_url(api.base_file_url).build()
        camille = api.make_user(1001, "Camille")
        api.send_text(camille, "/start")
        msg = await api.wait_for(lambda m: m["chat"]["id"] == 1001)

Modules: spec (api.json tables, result checker), formatting (HTML/MarkdownV2 parsing),
sending/methods (Bot API methods), users (simulated users), updates (long polling, webhook),
limits (flood limits), store (state), server (HTTP + the test-facing API).
"""

from .limits import RateLimits
from .server import FakeBotAPI
from .spec import ApiError, check_result, check_type as check_object

__all__ = ["ApiError", "FakeBotAPI", "RateLimits", "check_object", "check_result"]
