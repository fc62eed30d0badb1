"""Timeline capture from the incident channel: a 📌 reaction or a pin adds the message once."""

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from handlers.incidents import flows
from handlers.services import Services
from handlers.slack import FetchedMessage, PinAdded, ReactionAdded

log = structlog.get_logger()

CAPTURE_REACTION = "pushpin"


def register(app: AsyncApp, services: Services) -> None:
    async def handle_reaction_added_event(event: dict[str, Any]) -> None:
        reaction = ReactionAdded.model_validate(event)
        if reaction.reaction != CAPTURE_REACTION or reaction.item.type != "message":
            return
        if await services.incidents.find_by_channel(reaction.item.channel) is None:
            return
        message = await services.slack.fetch_message(reaction.item.channel, reaction.item.ts)
        if message is None:
            log.info("message_capture_missing", message_ts=reaction.item.ts)
            return
        await flows.capture(services, reaction.item.channel, message, reaction.user)

    async def handle_pin_added_event(event: dict[str, Any]) -> None:
        pin = PinAdded.model_validate(event)
        raw = pin.item.message
        if pin.item.type != "message" or raw is None:
            return
        message = FetchedMessage(raw.ts, raw.user, raw.text, from_bot=raw.bot_id is not None)
        await flows.capture(services, pin.channel_id, message, pin.user)

    app.event("reaction_added")(handle_reaction_added_event)
    app.event("pin_added")(handle_pin_added_event)
