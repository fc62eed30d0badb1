"""The `/incident` slash command: parse, decide (stored before the reply), acknowledge, then act in Slack."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain import Incident, IncidentError, Record
from domain.rotation import Override
from domain.runbooks import slack_text
from handlers import blocks, flows
from handlers.grammar import (
    USAGE,
    DeclareModalRequest,
    DeclareRequest,
    EventRequest,
    HelpRequest,
    ListRequest,
    OnCallRequest,
    OverrideRequest,
    PageRequest,
    Request,
    RunbookRequest,
    TimelineRequest,
    UsageError,
    parse,
)
from handlers.paging import Pager
from handlers.payloads import SlashCommand

log = structlog.get_logger()

FollowUp = Callable[[], Awaitable[list[str]]]


@dataclass(frozen=True)
class Decision:
    """What to reply at once, and the Slack work to do after the reply."""

    reply: str
    number: int = 0
    follow_up: FollowUp | None = None


def register(app: AsyncApp, services: flows.Services, pager: Pager | None) -> None:
    async def handle_incident_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        command = SlashCommand.model_validate(body)
        await run_command(services, pager, command, ack, respond)

    app.command(services.command)(handle_incident_command)


async def run_command(
    services: flows.Services, pager: Pager | None, command: SlashCommand, ack: AsyncAck, respond: AsyncRespond
) -> None:
    try:
        request = parse(command.text, command.user_id)
        decision = await _decide(services, pager, command, request)
    except flows.NotAnIncidentChannel:
        verb = command.text.split()[0].lower() if command.text.split() else ""
        await ack(text=blocks.no_incident_here(services.command, USAGE.get(verb, verb)))
        log.info("command_refused", reason="not_an_incident_channel")
        return
    except IncidentError as error:
        await ack(text=blocks.usage_error(str(error), services.command))
        log.info("command_refused", reason=str(error))
        return
    await ack(text=decision.reply)
    if decision.follow_up is not None:
        failures = await decision.follow_up()
        if failures:
            await respond(text=blocks.slack_failed(decision.number, failures), response_type="ephemeral")


async def _decide(services: flows.Services, pager: Pager | None, command: SlashCommand, request: Request) -> Decision:
    match request:
        case DeclareRequest(title=title, severity=severity):
            incident, _ = await flows.declare_incident(
                services,
                title=title,
                severity=severity,
                declared_by=command.user_id,
                idempotency_key=f"command:{command.trigger_id}",
            )
            return Decision(blocks.declared_reply(incident), incident.number, lambda: _open_channel(services, incident))
        case DeclareModalRequest():
            return Decision("", follow_up=lambda: _open_modal(services, command.trigger_id))
        case EventRequest(target=target, event=event):
            incident = await flows.find_incident(services, target, command.channel_id)
            transition = await flows.act(services, incident, event)
            done = next((e.entry.text for e in transition.effects if isinstance(e, Record)), "Done")
            return Decision(
                f"✓ #{incident.number}: {done}",
                incident.number,
                lambda: flows.perform(services, transition.incident, transition.effects),
            )
        case TimelineRequest(target=target):
            incident = await flows.find_incident(services, target, command.channel_id)
            entries = await services.timeline.read(incident.number)
            return Decision(blocks.timeline_text(incident, entries), incident.number)
        case ListRequest():
            open_incidents = await services.incidents.list(open_only=True)
            return Decision(blocks.list_text(open_incidents, services.clock()))
        case HelpRequest():
            return Decision(blocks.help_text(services.command))
        case RunbookRequest(name=name):
            return Decision(_runbook_reply(services, name))
        case OnCallRequest() | OverrideRequest():
            return Decision(await _oncall(services, _pager(pager), request, command.user_id))
        case PageRequest(target=target, whom=whom):
            pager = _pager(pager)
            incident = await flows.find_incident(services, target, command.channel_id)
            page_id = f"{incident.number}:manual:{command.trigger_id}"
            await pager.page(incident, whom, command.user_id, page_id)
            return Decision(f"📟 Paging {whom} for #{incident.number}.", incident.number)
    raise AssertionError(f"unhandled request {request!r}")


def _pager(pager: Pager | None) -> Pager:
    if pager is None:
        raise UsageError("Paging is not set up: write an on-call config (ONCALL_CONFIG, see oncall.example.yaml).")
    return pager


async def _oncall(services: flows.Services, pager: Pager, request: OnCallRequest | OverrideRequest, actor: str) -> str:
    now = services.clock()
    if isinstance(request, OverrideRequest):
        rotation = pager.oncall.rotation(request.rotation)
        end = now + request.length if request.length else _until(request.until or "", rotation.timezone, now)
        await pager.take_over(Override(request.rotation, request.user, now, end), actor)
        return blocks.override_done(request.rotation, request.user, end)
    names = [request.rotation] if request.rotation else sorted(pager.oncall.rotations)
    return "\n".join([blocks.oncall_text(name, await pager.shifts(name, now)) for name in names])


def _until(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """`2026-11-26T09:00` or `09:00` (its next occurrence), as wall-clock time in the rotation's timezone."""
    try:
        if ":" in text and "T" not in text and len(text) <= 5:
            hour, minute = (int(part) for part in text.split(":"))
            local = now.astimezone(zone).replace(hour=hour, minute=minute, second=0, microsecond=0)
            end = local if local > now else local + timedelta(days=1)
        else:
            end = datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        raise UsageError(
            f"`{text}` is not a time: use 09:00 or 2026-11-26T09:00 (in the rotation's timezone)."
        ) from None
    if end <= now:
        raise UsageError(f"`{text}` is in the past.")
    return end.astimezone(UTC)


def _runbook_reply(services: flows.Services, name: str | None) -> str:
    names = services.runbooks.names()
    if name is None:
        return blocks.runbook_list(names, services.command)
    runbook = services.runbooks.get(name)
    if runbook is None:
        raise UsageError(f"There is no runbook `{name}`. Runbooks: {', '.join(names) or 'none yet'}.")
    return blocks.runbook_message(", ".join(sorted(runbook.alertnames)) or name, runbook.title, slack_text(runbook))


async def _open_channel(services: flows.Services, incident: Incident) -> list[str]:
    _, failure = await flows.try_open_channel(services, incident)
    return [failure] if failure else []


async def _open_modal(services: flows.Services, trigger_id: str) -> list[str]:
    await services.slack.open_modal(trigger_id, blocks.declare_modal())
    return []
