"""The slash command: parse, hand the request to the capability that registered its type, acknowledge with
the decision, then hand the decision's Slack work to the outbox (behind the incident's earlier Slack work), so
the reply goes out at once.

Each capability registers the request types it answers with `CommandRouter.add`; the router knows none of
them. A capability's handler decides (stores what it must) before the reply, so a reply means it is stored.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain import IncidentError, NotAnIncidentChannel
from handlers.command import messages
from handlers.command.grammar import USAGE, HelpRequest, Request, parse
from handlers.slack import SlackOutbox, SlashCommand, incident_key, person_key
from handlers.slack.blocks import Block
from handlers.slack.messages import slack_failed

log = structlog.get_logger()

FollowUp = Callable[[], Awaitable[list[str]]]
R = TypeVar("R", bound=Request)


@dataclass(frozen=True)
class Decision:
    """What to reply at once, and the Slack work to do after the reply (it returns `method: error` failures)."""

    reply: str
    number: int = 0
    follow_up: FollowUp | None = None
    blocks: list[Block] | None = None  # the reply's blocks, when it has buttons


Handler = Callable[[SlashCommand, Any], Awaitable[Decision]]


class CommandRouter:
    def __init__(self, command: str, outbox: SlackOutbox) -> None:
        self.command = command
        self._outbox = outbox
        self._handlers: dict[type, Handler] = {}

    def add(self, kind: type[R], handler: Callable[[SlashCommand, R], Awaitable[Decision]]) -> None:
        """Answer requests of type `kind` with `handler`; one handler per type."""
        if kind in self._handlers:
            raise ValueError(f"{kind.__name__} already has a handler")
        self._handlers[kind] = cast(Handler, handler)

    def register(self, app: AsyncApp) -> None:
        async def handle_incident_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await self.run(SlashCommand.model_validate(body), ack, respond)

        app.command(self.command)(handle_incident_command)  # Socket Mode's way in (HTTP: `DirectCommand`)

    async def run(self, command: SlashCommand, ack: AsyncAck, respond: AsyncRespond) -> None:
        try:
            decision = await self._decide(command)
        except NotAnIncidentChannel:
            words = command.text.split()
            verb = words[0].lower() if words else ""
            await ack(text=messages.no_incident_here(self.command, USAGE.get(verb, verb)))
            log.info("command_refused", reason="not_an_incident_channel")
            return
        except IncidentError as error:
            await ack(text=messages.usage_error(str(error), self.command))
            log.info("command_refused", reason=str(error))
            return
        await ack(text=decision.reply, blocks=decision.blocks)
        follow_up = decision.follow_up
        if follow_up is None:
            return

        async def carry_out() -> None:
            failures = await follow_up()
            if failures:
                await respond(text=slack_failed(decision.number, failures), response_type="ephemeral")

        key = incident_key(decision.number) if decision.number else person_key(command.user_id)
        self._outbox.submit(key, carry_out)

    async def _decide(self, command: SlashCommand) -> Decision:
        request = parse(command.text, command.user_id, self.command)
        if isinstance(request, HelpRequest):
            return Decision(messages.help_text(self.command))
        handler = self._handlers.get(type(request))
        if handler is None:
            raise AssertionError(f"no capability answers {type(request).__name__}")
        return await handler(command, request)
