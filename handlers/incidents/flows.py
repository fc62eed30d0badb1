"""Use-cases: load, apply the pure model, persist, then perform the effects in Slack.

The deciding half (`declare_incident`, `act`, `capture`) only touches our storage, so listeners can run it
before acknowledging Slack. The performing half (`open_channel`, `perform`) calls Slack afterwards.
"""

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from structlog.contextvars import bound_contextvars

from domain import (
    CaptureMessage,
    Effect,
    Event,
    Incident,
    InvalidTransition,
    NotAnIncidentChannel,
    Record,
    Severity,
    TimelineEntry,
    Transition,
    apply,
    channel_name,
    declare,
)
from handlers.incidents import messages
from handlers.incidents.effects import bodies
from handlers.incidents.timeline import move_kept, move_soon, record, show
from handlers.services import Services
from handlers.slack import FetchedMessage, Message, describe_failure, error_code, incident_key
from handlers.slack.blocks import Block
from storage import ConcurrentUpdate
from storage.journal import JournalEntry, marking_moved

log = structlog.get_logger()

_SAVE_ATTEMPTS = 12
_JITTER = 0.01  # seconds: the first retry waits up to 10 ms, later ones up to 160 ms


@dataclass(frozen=True)
class Acted(Transition):
    """A transition as stored, with its timeline entries as the journal kept them (for `perform` to show)."""

    journal: tuple[JournalEntry, ...] = ()


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
    drill: bool = False,
    earlier: Sequence[TimelineEntry] = (),
) -> tuple[Incident, bool]:
    """Store a new incident and its `declared` event; a repeated idempotency key returns the first one (False).

    The declare hook (paging) runs for a repeat too: it is idempotent, and a first attempt may have died after
    storing the incident and before paging (a redelivered alert notification then pages). `earlier` events
    (the alerts of a group declared by hand) are stored with the incident, so it never exists without them."""
    transition = declare(
        title, severity, declared_by, services.clock(), description, source_group_key, service=service, drill=drill
    )
    entries = [*earlier, *_entries(transition.effects)]
    incident, kept = await services.incidents.add_kept(transition.incident, idempotency_key, entries)
    created = kept is not None
    with bound_contextvars(incident=incident.number):
        if kept is not None:
            await move_kept(services, incident.number, kept)
            log.info("incident_declared", severity=incident.severity.label)
        else:
            log.info("incident_declaration_repeated", idempotency_key=idempotency_key)
        if services.on_declare is not None:  # the page first: the clocks' writes can follow it
            try:
                await services.on_declare(incident, service)
            except (RedisError, OSError) as error:  # the page is in SQL: the repair sweep arms it
                log.warning("paging_deferred", error=type(error).__name__)
        if created and services.on_change is not None:
            await services.on_change(None, incident, None)
    return incident, created


async def find_incident(services: Services, number: int | None, channel_id: str | None) -> Incident:
    """The incident named by number, else the one whose channel this is."""
    if number is not None:
        return await services.incidents.get(number)
    incident = await services.incidents.find_by_channel(channel_id) if channel_id else None
    if incident is None:
        raise NotAnIncidentChannel("This channel is not an incident channel.")
    return incident


async def act(services: Services, incident: Incident, event: Event, stop_pages: bool = True) -> Acted:
    """Apply `event`, store the new state and its timeline entries (and queued Slack effects); `perform` then
    shows the entries and carries out the effects, after the reply (given `journal`, it reads no entries).

    An event that changes only the timeline (a note, an update) is appended without touching the incident's
    row, so it never races a state change. State changes take turns within this process; one racing another
    process's is retried on the reloaded incident, with jitter. Acknowledging stops every page of the
    incident, unless `stop_pages` is False (an acknowledge link stops its own page only)."""
    with bound_contextvars(incident=incident.number):
        now = services.clock()
        transition = apply(incident, event, now)
        if transition.incident == incident:
            queued = (incident_key(incident.number), bodies(services, incident, transition.effects), now)
            kept = await services.incidents.append(incident.number, _entries(transition.effects), queued)
            if services.on_change is not None:  # an update, say: it resets the update reminder
                await services.on_change(incident, incident, event)
            return Acted(transition.incident, transition.effects, tuple(kept))
        async with services.changing.hold(incident.number):
            return await _change(services, incident, event, stop_pages)


async def _change(services: Services, incident: Incident, event: Event, stop_pages: bool) -> Acted:
    for attempt in range(_SAVE_ATTEMPTS):
        if attempt > 1:  # the first conflict was a stale load; later ones race another process
            await asyncio.sleep(random.uniform(0, _JITTER * 2 ** min(attempt - 1, 4)))
        if attempt:
            incident = await services.incidents.get(incident.number)
        now = services.clock()
        transition = apply(incident, event, now)
        queued = (incident_key(incident.number), bodies(services, transition.incident, transition.effects), now)
        try:
            saved, kept = await services.incidents.change(transition.incident, _entries(transition.effects), queued)
        except ConcurrentUpdate:
            continue
        log.info("incident_changed", change=type(event).__name__, status=saved.status.value)
        if stop_pages and incident.acknowledged_at is None and saved.acknowledged_at is not None:
            await _stop_pages(services, saved.number)
        if services.on_change is not None:
            await services.on_change(incident, saved, event)
        return Acted(saved, transition.effects, tuple(kept))
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
        entries = [(entry, message.ts) for entry in _entries(transition.effects)]
        added = all(await record(services, incident.number, entries))
        log.info("message_captured" if added else "message_capture_repeated", message_ts=message.ts)
        return added


async def open_channel(services: Services, incident: Incident) -> Incident:
    """Create the incident channel, invite the declarer, post and pin the card, announce. Resumable."""
    with bound_contextvars(incident=incident.number):
        held = await services.seen.claim("setup", str(incident.number), services.setup_hold)
        if held is None:
            log.info("incident_setup_in_progress")
            return incident
        try:  # the state as stored now: a setup that held the claim before may have finished meanwhile
            return await _set_up(services, await services.incidents.get(incident.number))
        finally:
            await held.let_go()


async def try_open_channel(services: Services, incident: Incident) -> tuple[Incident, str | None]:
    """`open_channel`, with a Slack refusal logged and returned as `method: error` instead of raised."""
    with bound_contextvars(incident=incident.number):
        try:
            return await open_channel(services, incident), None
        except SlackApiError as error:
            log.warning("incident_setup_failed", failure=describe_failure(error))
            return incident, describe_failure(error)


async def _set_up(services: Services, incident: Incident) -> Incident:
    slack, fresh = services.slack, incident.channel_id is None  # a channel made now holds no earlier card
    if incident.channel_id is None:
        channel = await slack.create_channel(
            channel_name(incident.number, incident.title, services.drill_prefix if incident.drill else "")
        )
        incident = await _save_refs(services, incident, channel_id=channel.id, channel_name=channel.name)
        log.info("incident_channel_opened", channel=channel.name)
        await slack.set_topic(channel.id, messages.topic(incident))
        if incident.declared_by:
            await slack.invite(channel.id, [incident.declared_by])
    assert incident.channel_id is not None
    # The card's and the announcement's references are noted in one write: a setup resumed before it finds
    # each by its tag.
    refs, card = {}, None
    if incident.card_ts is None:
        tag = ("firebreak_card", str(incident.number))
        card = None if fresh else await services.slack.find_posted(incident.channel_id, tag)  # a dead setup's, unnoted
        if card is None:
            blocks = await _card(services, incident)
            card = await slack.post(incident.channel_id, messages.card_text(incident), blocks, tag=tag)
        refs["card_ts"] = card.ts
    announce_in = services.announcements(incident.drill)
    try:
        if incident.announcement_ts is None and announce_in:
            tag = ("firebreak_announcement", str(incident.number))
            posted = None if fresh else await services.slack.find_posted(announce_in, tag)
            if posted is None:
                posted = await slack.post(announce_in, messages.announcement(incident), tag=tag)
            refs["announcement_ts"] = posted.ts
    finally:  # the card is noted and pinned also when the announcement fails (its channel archived, say)
        incident = await _save_refs(services, incident, **refs)
        if card is not None:
            await slack.pin(card)
    return incident


async def resume_setups(services: Services) -> int:
    """Finish the Slack setup (channel, card, announcement) of incidents whose setup should have ended by now.

    A process that died mid-setup, or a Slack that refused it, leaves an incident stored but without channel,
    card or announcement; nobody would see it. Returns how many were set up now.
    """
    finished, announced = 0, services.incidents_channel is not None
    for incident in await services.incidents.unfinished_setups(services.clock() - services.setup_hold, announced):
        done, failure = await try_open_channel(services, incident)
        wanted = services.announcements(done.drill) is not None
        if failure is None and done.card_ts is not None and (done.announcement_ts is not None or not wanted):
            finished += 1
            log.info("incident_setup_resumed", incident=incident.number)
    return finished


async def perform(services: Services, incident: Incident, journal: Sequence[JournalEntry] | None = None) -> list[str]:
    """Carry out the incident's queued Slack effects now; returns `method: error` for each Slack call that failed.

    They were stored with the change, so a process that dies before (or while) doing this loses nothing:
    the repair sweep of any process carries out what is left, each effect once. The timeline entries not yet
    in Redis are moved first; given `journal` (a change's entries as kept), those are, and marked moved with
    the effects' lease (entries an earlier failure left in SQL are moved by the next read or sweep)."""
    failures: list[str] = []
    with bound_contextvars(incident=incident.number):
        marked = []
        if journal is None:
            await move_soon(services, incident.number)
        elif journal and await show(services, incident.number, journal):
            marked = [marking_moved([item.id for item in journal])]
        if incident.card_ts is None:  # its setup failed or its process died: resume it now
            incident, failure = await try_open_channel(services, incident)
            failures += [failure] if failure else []
        async with services.changing.hold(incident_key(incident.number)):  # one runner here: in order, no races
            failures += await services.effects.run_due(incident_key(incident.number), marked)
    return failures


def perform_later(services: Services, incident: Incident) -> None:
    """Carry out the incident's queued Slack effects (a transition's) behind its earlier Slack work."""

    async def carry_out() -> None:
        await perform(services, incident)

    services.outbox.submit(incident_key(incident.number), carry_out)


async def refresh_card(services: Services, number: int) -> bool:
    """Re-render the card from the incident's current state, so the latest state always wins. A card that is
    gone (someone deleted it) is posted and pinned again; one that is still there is never posted twice.
    Raises if Slack refuses; False when there is no card to show yet (no channel, or its setup is under way
    elsewhere)."""
    incident = await services.incidents.get(number)
    if incident.channel_id and incident.card_ts is None:  # a card that is gone, not yet posted again
        return await _set_up_again(services, incident)
    if not (incident.channel_id and incident.card_ts):
        return False
    message = Message(incident.channel_id, incident.card_ts)
    try:
        await services.slack.update(message, messages.card_text(incident), await _card(services, incident))
    except SlackApiError as error:
        if error_code(error) != "message_not_found":
            raise
        log.warning("incident_card_gone", incident=number, card_ts=incident.card_ts)
        return await _set_up_again(services, await _forget_card(services, number, incident.card_ts))
    return True


async def _forget_card(services: Services, number: int, gone: str) -> Incident:
    """Note that the card `gone` is gone, unless a newer card is noted meanwhile (another process posted it)."""
    for _ in range(_SAVE_ATTEMPTS):
        incident = await services.incidents.get(number)
        if incident.card_ts != gone:
            return incident
        try:
            return await services.incidents.save(replace(incident, card_ts=None))
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"incident #{number} kept changing; giving up")


async def _set_up_again(services: Services, incident: Incident) -> bool:
    """Post the card again (a setup under way elsewhere posts it instead; Slack refusing it raises); whether
    it is there now."""
    return (await open_channel(services, incident)).card_ts is not None


async def _card(services: Services, incident: Incident) -> list[Block]:
    alerts = None
    if incident.source_group_key is not None:
        alerts = (await services.alerts.state(incident.source_group_key)).summary
    clocks = messages.Clocks(services.targets, services.resolution_targets, services.calendar)
    return messages.card(incident, clocks, services.clock(), alerts)


def _entries(effects: Sequence[Effect]) -> list[TimelineEntry]:
    return [effect.entry for effect in effects if isinstance(effect, Record)]


async def _save_refs(services: Services, incident: Incident, **refs: str | None) -> Incident:
    """Store Slack references (channel, card, announcement); these merge cleanly into a newer revision. One
    noted meanwhile by another setup (one that outlasted the setup's hold) stays: the first noted wins, so an
    incident's channel never changes once noted (`IncidentStore.set_up_channel` relies on it)."""
    for _ in range(_SAVE_ATTEMPTS):
        if not refs:
            return incident
        try:
            return await services.incidents.save(replace(incident, **refs))  # type: ignore[arg-type]
        except ConcurrentUpdate:
            incident = await services.incidents.get(incident.number)
            refs = {name: ref for name, ref in refs.items() if getattr(incident, name) is None}
    raise ConcurrentUpdate(f"incident #{incident.number} kept changing; giving up")
