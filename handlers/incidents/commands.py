"""The incident subcommands: declare, the events (ack, status, note, ...), timeline and list."""

from domain import Incident, Record
from handlers.command import (
    CommandRouter,
    Decision,
    DeclareModalRequest,
    DeclareRequest,
    EventRequest,
    ListRequest,
    TimelineRequest,
)
from handlers.incidents import flows, messages
from handlers.incidents import timeline as timeline_flows
from handlers.services import Services
from handlers.slack import SlashCommand

LISTED = 25  # `/incident list` shows the most severe open incidents, and how many more there are


def register(router: CommandRouter, services: Services) -> None:
    async def declare(command: SlashCommand, request: DeclareRequest) -> Decision:
        incident, _ = await flows.declare_incident(
            services,
            title=request.title,
            severity=request.severity,
            declared_by=command.user_id,
            idempotency_key=flows.IdempotencyKey.command(command.trigger_id),
            service=request.service,
            drill=request.drill,
        )
        return Decision(messages.declared_reply(incident), incident.number, lambda: _open_channel(services, incident))

    async def declare_in_modal(command: SlashCommand, request: DeclareModalRequest) -> Decision:
        async def open_modal() -> list[str]:
            await services.slack.open_modal(command.trigger_id, messages.declare_modal())
            return []

        return Decision("", follow_up=open_modal)

    async def change(command: SlashCommand, request: EventRequest) -> Decision:
        incident = await flows.find_incident(services, request.target, command.channel_id)
        transition = await flows.act(services, incident, request.event)
        done = next((e.entry.text for e in transition.effects if isinstance(e, Record)), "Done")
        return Decision(
            messages.done_reply(incident.number, done),
            incident.number,
            lambda: flows.perform(services, transition.incident, transition.journal),
        )

    async def timeline(command: SlashCommand, request: TimelineRequest) -> Decision:
        incident = await flows.find_incident(services, request.target, command.channel_id)
        entries = await timeline_flows.read_timeline(services, incident.number)
        return Decision(messages.timeline_text(incident, entries), incident.number)

    async def list_open(command: SlashCommand, request: ListRequest) -> Decision:
        listed, open_count = await services.incidents.most_severe_open(LISTED)
        return Decision(messages.list_text(listed, services.clock(), open_count))

    router.add(DeclareRequest, declare)
    router.add(DeclareModalRequest, declare_in_modal)
    router.add(EventRequest, change)
    router.add(TimelineRequest, timeline)
    router.add(ListRequest, list_open)


async def _open_channel(services: Services, incident: Incident) -> list[str]:
    _, failure = await flows.try_open_channel(services, incident)
    return [failure] if failure else []
