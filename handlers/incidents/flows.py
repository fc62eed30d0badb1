"""Use-cases: load, apply the pure model, persist, then perform the effects in Slack.

The deciding half (`declare_incident`, `act`, `capture`) only touches our storage, so listeners can run it
before acknowledging Slack. The performing half (`open_channel`, `perform`) calls Slack afterwards.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import structlog
from slack_sdk.errors import SlackApiError
from structlog.contextvars import bound_contextvars

from domain import (
    Announce,
    CaptureMessage,
    Effect,
    Event,
    Incident,
    InvalidTransition,
    InviteToChannel,
    NotAnIncidentChannel,
    PostInChannel,
    Record,
    RefreshCard,
    Severity,
    TimelineEntry,
    Transition,
    apply,
    channel_name,
    declare,
)
from handlers.incidents import messages
from handlers.services import Services
from handlers.slack import FetchedMessage, Message, describe_failure, incident_key
from handlers.slack.blocks import Block
from storage import ConcurrentUpdate

log = structlog.get_logger()

_SAVE_ATTEMPTS = 3
_SETUP_HOLD = timedelta(seconds=60)


class IdempotencyKey:
    """The natural keys that make a repeated declaration find the first incident, written in one place."""

    @staticmethod
    def command(trigger_id: str) -> str:
        return f"command:{trigger_id}"

    @staticmethod
    def view(view_id: str) -> str:
        return f"view:{view_id}"

    @staticmethod
    def alert_group(group_key: str, after: int) -> str:
        """Two workers declaring for one alert group at once agree on this key (`after`: the group's latest)."""
        return f"alerts:{group_key}:after:{after}"


async def declare_incident(
    services: Services,
    *,
    title: str,
    severity: Severity,
    declared_by: str | None,
    description: str = "",
    idempotency_key: str | None = None,
    source_group_key: str | None = None,
    service: str | None = None,
    earlier: Sequence[TimelineEntry] = (),
) -> tuple[Incident, bool]:
    """Store a new incident and its `declared` event; a repeated idempotency key returns the first one (False).

    The declare hook (paging) runs for a repeat too: it is idempotent, and a first attempt may have died after
    storing the incident and before paging (a redelivered alert notification then pages). `earlier` events
    (the alerts of a group declared by hand) are stored with the incident, so it never exists without them."""
    transition = declare(title, severity, declared_by, services.clock(), description, source_group_key)
    entries = [*earlier, *_entries(transition.effects)]
    incident, created = await services.incidents.add(transition.incident, idempotency_key, entries)
    with bound_contextvars(incident=incident.number):
        if created:
            await move_timeline(services, incident.number)
            log.info("incident_declared", severity=incident.severity.label)
        else:
            log.info("incident_declaration_repeated", idempotency_key=idempotency_key)
        if services.on_declare is not None:
            await services.on_declare(incident, service)
    return incident, created


async def find_incident(services: Services, number: int | None, channel_id: str | None) -> Incident:
    """The incident named by number, else the one whose channel this is."""
    if number is not None:
        return await services.incidents.get(number)
    incident = await services.incidents.find_by_channel(channel_id) if channel_id else None
    if incident is None:
        raise NotAnIncidentChannel("This channel is not an incident channel.")
    return incident


async def act(services: Services, incident: Incident, event: Event, stop_pages: bool = True) -> Transition:
    """Apply `event`, store the new state and its timeline entries; retried on a concurrent change.

    Acknowledging stops every page of the incident, unless `stop_pages` is False (an acknowledge link stops
    its own page only). This process's changes to the incident take turns (`services.changes`): the first
    attempt may find the incident changed while it waited, the second then works from the latest revision."""
    with bound_contextvars(incident=incident.number):
        async with services.changes.hold(incident.number):
            before, transition = await _save_change(services, incident, event)
        saved = transition.incident
        await move_timeline(services, saved.number)
        log.info("incident_changed", change=type(event).__name__, status=saved.status.value)
        if stop_pages and before.acknowledged_at is None and saved.acknowledged_at is not None:
            await _stop_pages(services, saved.number)
        return transition


async def _save_change(services: Services, incident: Incident, event: Event) -> tuple[Incident, Transition]:
    """The incident the change was applied to, and the transition with the saved incident."""
    for _ in range(_SAVE_ATTEMPTS):
        transition = apply(incident, event, services.clock())
        try:
            saved = await services.incidents.save(transition.incident, _entries(transition.effects))
        except ConcurrentUpdate:
            incident = await services.incidents.get(incident.number)
            continue
        return incident, Transition(saved, transition.effects)
    raise ConcurrentUpdate(f"incident #{incident.number} kept changing; giving up")


async def _stop_pages(services: Services, number: int) -> None:
    """An acknowledged incident stops escalating."""
    if services.pages is not None:
        stopped = await services.pages.stop_all(number)
        if stopped:
            log.info("pages_stopped", pages=stopped)


async def capture(services: Services, channel_id: str, message: FetchedMessage, actor: str | None) -> bool:
    """Add a pinned (or 📌-reacted) message to its incident's timeline once. False when nothing was added."""
    incident = await services.incidents.find_by_channel(channel_id)
    if incident is None or message.from_bot:
        return False
    with bound_contextvars(incident=incident.number):
        try:
            transition = apply(
                incident, CaptureMessage(actor, message.user, message.text, message.at), services.clock()
            )
        except InvalidTransition:
            log.info("message_capture_refused", status=incident.status.value)
            return False
        entries = _entries(transition.effects)
        added = all([await services.timeline.append(incident.number, e, once=message.ts) for e in entries])
        log.info("message_captured" if added else "message_capture_repeated", message_ts=message.ts)
        return added


async def open_channel(services: Services, incident: Incident) -> Incident:
    """Create the incident channel, invite the declarer, post and pin the card, announce. Resumable."""
    with bound_contextvars(incident=incident.number):
        if not await services.seen.claim("setup", str(incident.number), _SETUP_HOLD):
            log.info("incident_setup_in_progress")
            return incident
        try:
            return await _set_up(services, incident)
        finally:
            await services.seen.release("setup", str(incident.number))


async def try_open_channel(services: Services, incident: Incident) -> tuple[Incident, str | None]:
    """`open_channel`, with a Slack refusal logged and returned as `method: error` instead of raised."""
    with bound_contextvars(incident=incident.number):
        try:
            return await open_channel(services, incident), None
        except SlackApiError as error:
            log.warning("incident_setup_failed", failure=describe_failure(error))
            return incident, describe_failure(error)


async def _set_up(services: Services, incident: Incident) -> Incident:
    slack = services.slack
    if incident.channel_id is None:
        channel = await slack.create_channel(channel_name(incident.number, incident.title))
        incident = await _save_refs(services, incident, channel_id=channel.id, channel_name=channel.name)
        log.info("incident_channel_opened", channel=channel.name)
        await slack.set_topic(channel.id, messages.topic(incident))
        if incident.declared_by:
            await slack.invite(channel.id, [incident.declared_by])
    assert incident.channel_id is not None
    if incident.card_ts is None:
        card = await slack.post(incident.channel_id, messages.card_text(incident), await _card(services, incident))
        incident = await _save_refs(services, incident, card_ts=card.ts)
        await slack.pin(card)
    if incident.announcement_ts is None and services.incidents_channel:
        posted = await slack.post(services.incidents_channel, messages.announcement(incident))
        incident = await _save_refs(services, incident, announcement_ts=posted.ts)
    return incident


async def resume_setups(services: Services) -> int:
    """Finish the Slack setup (channel, card, announcement) of incidents whose setup should have ended by now.

    A process that died mid-setup, or a Slack that refused it, leaves an incident stored but without channel,
    card or announcement; nobody would see it. Returns how many were set up now.
    """
    finished, announced = 0, services.incidents_channel is not None
    for incident in await services.incidents.unfinished_setups(services.clock() - _SETUP_HOLD, announced):
        done, failure = await try_open_channel(services, incident)
        if failure is None and done.card_ts is not None and (done.announcement_ts is not None or not announced):
            finished += 1
            log.info("incident_setup_resumed", incident=incident.number)
    return finished


async def perform(services: Services, incident: Incident, effects: Sequence[Effect]) -> list[str]:
    """Carry out the Slack effects; returns `method: error` for each Slack call that failed."""
    failures: list[str] = []
    with bound_contextvars(incident=incident.number):
        if incident.card_ts is None:  # its setup failed or its process died: resume it now
            incident, failure = await try_open_channel(services, incident)
            failures += [failure] if failure else []
        for effect in effects:
            try:
                await _perform_one(services, incident, effect)
            except SlackApiError as error:
                log.warning("slack_call_failed", failure=describe_failure(error))
                failures.append(describe_failure(error))
    return failures


def perform_later(services: Services, transition: Transition) -> None:
    """Queue the transition's Slack effects behind the incident's earlier Slack work (failures are logged)."""

    async def carry_out() -> None:
        await perform(services, transition.incident, transition.effects)

    services.outbox.submit(incident_key(transition.incident.number), carry_out)


async def _perform_one(services: Services, incident: Incident, effect: Effect) -> None:
    slack, channel = services.slack, incident.channel_id
    match effect:
        case RefreshCard() if channel and incident.card_ts:
            await refresh_card(services, incident.number)
        case PostInChannel(change=change, detail=detail) if channel:
            await slack.post(channel, messages.change_in_channel(incident, change, detail))
        case Announce(change=change, detail=detail) if services.incidents_channel:
            await slack.post(services.incidents_channel, messages.change_announcement(incident, change, detail))
        case InviteToChannel(user=user) if channel:
            await slack.invite(channel, [user])
        case _:
            pass  # Record is done before acknowledging; others need a channel that is not there yet


async def refresh_card(services: Services, number: int) -> None:
    """Re-render the card from the incident's current state, so the latest state always wins."""
    incident = await services.incidents.get(number)
    if incident.channel_id and incident.card_ts:
        message = Message(incident.channel_id, incident.card_ts)
        await services.slack.update(message, messages.card_text(incident), await _card(services, incident))


async def _card(services: Services, incident: Incident) -> list[Block]:
    alerts = None
    if incident.source_group_key is not None:
        alerts = (await services.alerts.state(incident.source_group_key)).summary
    return messages.card(incident, services.targets, services.clock(), alerts)


def _entries(effects: Sequence[Effect]) -> list[TimelineEntry]:
    return [effect.entry for effect in effects if isinstance(effect, Record)]


async def move_timeline(services: Services, number: int | None = None) -> int:
    """Move timeline entries stored with their changes in SQL to Redis (one incident's, or all); how many moved.

    Each append is once-only by the entry's SQL id, so a move that is repeated (two processes, or a crash
    between the append and forgetting the entry) adds nothing twice.
    """
    pending = await services.incidents.pending_entries(number)
    for item in pending:
        once = f"sql:{item.id}:{item.entry.kind.value}:{item.entry.at.isoformat()}"
        await services.timeline.append(item.number, item.entry, once=once)
    await services.incidents.entries_moved([item.id for item in pending])
    return len(pending)


async def _save_refs(services: Services, incident: Incident, **refs: str) -> Incident:
    """Store Slack references (channel, card, announcement); these merge cleanly into a newer revision."""
    for _ in range(_SAVE_ATTEMPTS):
        try:
            return await services.incidents.save(replace(incident, **refs))  # type: ignore[arg-type]
        except ConcurrentUpdate:
            incident = await services.incidents.get(incident.number)
    raise ConcurrentUpdate(f"incident #{incident.number} kept changing; giving up")
