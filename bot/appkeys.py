"""The keys under which the application keeps what `bot.server` opens and `bot.loops` runs on."""

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import Services
from handlers.alerts import AlertWorker
from handlers.postmortems import Reminders
from handlers.slack import Admission
from handlers.slack.direct import DirectCommand

REDIS = web.AppKey("redis", Redis)
ENGINE = web.AppKey("engine", AsyncEngine)
URGENT = web.AppKey("urgent_services", Services)  # the services on the urgent connections (see `_resources`)
BOLT = web.AppKey("bolt", AsyncApp)
ADMISSION = web.AppKey("admission", Admission)
DIRECT = web.AppKey("direct_command", DirectCommand)
WORKER = web.AppKey("alert_worker", AlertWorker)
WEBHOOK_CLIENT = web.AppKey("webhook_client", aiohttp.ClientSession)
REMINDERS = web.AppKey("reminders", Reminders)
