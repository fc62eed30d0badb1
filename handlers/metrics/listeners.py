"""`/incident stats` and the Snooze buttons of update reminders."""

from datetime import timedelta
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain.metrics import Window
from handlers.command import CommandRouter, Decision, StatsRequest
from handlers.metrics import messages
from handlers.metrics.capability import Metrics
from handlers.metrics.figures import Query
from handlers.slack import ActionId, SlashCommand

log = structlog.get_logger()


def register(app: AsyncApp, router: CommandRouter, metrics: Metrics) -> None:
    services = metrics.services

    async def stats(command: SlashCommand, request: StatsRequest) -> Decision:
        window = Window.parse(request.window, services.clock())
        figures = await metrics.figures(Query(window, request.service, request.severity))
        return Decision(messages.stats_text(figures), blocks=messages.stats_blocks(figures, services.command))

    async def handle_snooze_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        action = messages.SnoozeAction.parse(str(body["actions"][0]["value"]))
        await ack()
        incident = await services.incidents.get(action.number)
        length = timedelta(minutes=action.minutes)
        await metrics.clocks.remind_in(incident, length)
        log.info("update_reminder_snoozed", incident=incident.number, minutes=action.minutes)
        await respond(text=messages.snoozed(incident.number, length), response_type="ephemeral", replace_original=False)

    router.add(StatsRequest, stats)
    app.action(ActionId.SNOOZE_REMINDER)(handle_snooze_button)
