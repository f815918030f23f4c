"""The webhook server: Telegram (or a load balancer in front of several processes) POSTs updates here.

PTB's own `run_webhook` uses tornado and has no health check. This small aiohttp server:

- refuses (403, nothing processed) any POST without the right `X-Telegram-Bot-Api-Secret-Token`,
  and (413) a body over `MAX_BODY` that has it;
- answers `GET /healthz` (200 while the bot runs, 503 while starting or stopping) for the
  load balancer;
- answers Telegram only once the update has been handled (or after `ack_after` seconds, the
  handling then finishing in the background). Telegram redelivers an update it got no 2xx
  for, so a process killed mid-update loses nothing: the update comes back, through the load
  balancer, to a live process. Telegram also waits for that answer before sending the same
  chat's next update, which keeps a user's messages in order across processes.
- carries, in that answer's body, the update's answerCallbackQuery (Telegram executes a
  method given there): one request less per button press (`WebhookReply`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.incoming import parse_update
from bot.transport import WebhookReply, transport_for, webhook_reply

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # an Update is a few kilobytes


class WebhookServer:
    """aiohttp application feeding updates to a started PTB `Application`."""

    def __init__(
        self, application: Application, *, secret: str, path: str = "/telegram", ack_after: float = 8.0
    ) -> None:
        if not secret:
            raise ValueError("a webhook without a secret token accepts forged updates")
        self.application = application
        self.secret = secret.encode()
        self.path = "/" + path.strip("/")
        self.ack_after = ack_after
        self.ready = False
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.path, self._on_update)
        app.router.add_get("/healthz", self._on_health)
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=False, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.ready = True

    async def stop(self) -> None:
        """Stop answering health checks, finish updates in flight, close the port."""
        self.ready = False
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ----------------------------------------------------------------------------
    async def _on_health(self, request: web.Request) -> web.Response:
        ok = self.ready and self.application.running
        return web.Response(status=200 if ok else 503, text="ok" if ok else "starting or stopping")

    async def _on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.warning("webhook : requête refusée (jeton secret absent ou faux) depuis %s", request.remote)
            return web.Response(status=403, text="forbidden")
        if not self.application.running:
            return web.Response(status=503, text="stopping")  # Telegram retries elsewhere
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._too_large()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # no Content-Length (chunked), found while reading
            return self._too_large()
        try:
            data = json.loads(body)
            update = parse_update(data, self.application.bot)
        except Exception:  # malformed JSON or not an Update: retrying would not help
            log.warning("webhook : mise à jour illisible ignorée")
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        reply = WebhookReply()
        task = asyncio.create_task(self._process(update, reply), name=f"webhook-update-{update.update_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        late = False
        try:
            await asyncio.wait_for(asyncio.shield(task), self.ack_after)
        except TimeoutError:
            log.info("webhook : mise à jour %s longue, acquittée avant la fin", update.update_id)
            late = True
        except Exception:  # handler errors are reported by the error handler; this is the processor itself
            log.exception("webhook : échec du traitement de la mise à jour %s", update.update_id)
        call = reply.close()
        if call is None:
            return web.Response(text="ok")
        if late:  # handled too long: answered without it, so it goes out as a request of its own
            self._spawn(self._send_late(call))
            return web.Response(text="ok")
        # Telegram executes the method in the answer's body: one request less per button press.
        return web.Response(body=json.dumps(call, ensure_ascii=False).encode(), content_type="application/json")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_late(self, call: dict[str, Any]) -> None:
        params = {k: v for k, v in call.items() if k != "method"}
        services = self.application.bot_data.get("services")
        if services is not None:
            answer = await services.telegram(self.application.bot).call(call["method"], params)
        else:
            api = transport_for(self.application.bot, pool=1)
            try:
                answer = await api.call(call["method"], params)
            finally:
                await api.close()
        if not answer.ok:
            log.info("webhook : %s en retard refusé : %s", call["method"], answer.description)

    @staticmethod
    def _too_large() -> web.Response:
        log.warning("webhook : mise à jour refusée, plus de %d octets", MAX_BODY)
        return web.Response(status=413, text="too large")

    async def _process(self, update: Update, reply: WebhookReply) -> None:
        """Through the processor: per-user order and the concurrency limit apply as in polling.

        This task's context carries `reply`, so a reply-only call made while handling the
        update (answerCallbackQuery) can go back in the webhook's answer (bot/transport.py).
        """
        webhook_reply.set(reply)
        application = self.application
        await application.update_processor.process_update(update, application.process_update(update))
