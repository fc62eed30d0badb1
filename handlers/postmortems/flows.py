"""Postmortem use-cases: start, the draft message, sections, the 5 whys, reviews, publishing.

Each deciding step stores in SQL first (so a reply to Slack means it is stored), with the Slack effects that
follow from it queued in the same transaction (the draft re-rendered from storage, review requests, replies
in its thread, the published post and its announcement); they are carried out after the reply, each once
(`performers.py`). The sweep finishes the announcements the queue gave up.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog
from aiohttp import web
from structlog.contextvars import bound_contextvars

from domain import (
    Close,
    EntryKind,
    Incident,
    InvalidTransition,
    InvalidValue,
    Record,
    Status,
    TimelineEntry,
    apply,
)
from domain import postmortem as model
from domain.postmortem import Postmortem, Section, SectionKey
from domain.postmortem_markdown import Document, render
from handlers.incidents import effects as incident_effects
from handlers.incidents import flows as incident_flows
from handlers.incidents import timeline as timeline_flows
from handlers.postmortems import effects, messages
from handlers.postmortems.export import document_json
from handlers.services import Services
from handlers.slack import incident_key
from handlers.slack.blocks import Block
from handlers.slack.effects import Body
from storage import ConcurrentUpdate, Progress
from storage.incidents import Effects
from storage.postmortems import PostmortemStore, Publication
from storage.timers import TimerStore

log = structlog.get_logger()

_ATTEMPTS = 3
_POSTING_HOLD = timedelta(seconds=30)


@dataclass(frozen=True)
class Postmortems:
    """What the postmortem capability needs beside the shared services; built by `bot`."""

    services: Services
    store: PostmortemStore
    timers: TimerStore
    policy: model.Policy = field(default_factory=model.Policy)
    digest: bool = True


POSTMORTEMS = web.AppKey("postmortems", Postmortems)


@dataclass(frozen=True)
class TimelineChange:
    """What the timeline modal submitted."""

    key: Sequence[str]
    excluded: Sequence[str]
    impact_started: datetime | None
    impact_ended: datetime | None
    add_at: datetime | None
    add_text: str


async def load(pms: Postmortems, number: int) -> Postmortem:
    pm = await pms.store.get(number)
    if pm is None:
        raise InvalidValue(messages.no_postmortem(number, pms.services.command))
    return pm


async def start(pms: Postmortems, incident: Incident) -> tuple[Postmortem, bool]:
    """The incident's draft, stored once with its message queued; starting twice finds the same draft (False)
    and shows it again."""
    number = incident.number
    pm, created = await pms.store.get(number), False
    if pm is None:
        draft = model.start(incident, pms.policy, pms.services.clock())
        pm, created = await pms.store.add(draft, effects.staged(pms.services, number, [effects.draft(number)]))
    if created:
        effects.carry_out(pms.services, number)
        log.info("postmortem_started", incident=number, required=pm.required)
    else:
        await show_draft(pms, number)
    return pm, created


async def show_draft(pms: Postmortems, number: int) -> None:
    """Post and pin the draft message once, or update it in place from what is stored when it runs (queued)."""
    await pms.services.effects.queue(effects.postmortem_key(number), [effects.draft(number)])


async def update(
    pms: Postmortems, number: int, change: Callable[[Postmortem], Postmortem], then: Sequence[Body] = ()
) -> Postmortem:
    """Apply a pure change to the postmortem's own fields and store it, with the Slack effects `then` that
    follow from it (carried out after the commit); retried when it changed meanwhile."""
    for _ in range(_ATTEMPTS):
        pm = await load(pms, number)
        try:
            saved = await pms.store.save(change(pm), effects.staged(pms.services, number, then))
        except ConcurrentUpdate:
            continue
        if then:
            effects.carry_out(pms.services, number)
        return saved
    raise ConcurrentUpdate(f"the postmortem of #{number} kept changing; giving up")


async def save_section(pms: Postmortems, number: int, key: SectionKey, text: str, base: int, actor: str) -> Section:
    """Save one section if nobody saved it since version `base`; else EditConflict naming who did."""
    await load(pms, number)
    clean = model.check_text(key, text)
    redraw = effects.staged(pms.services, number, [effects.draft(number)])
    section = await pms.store.save_section(number, key, clean, base, actor, pms.services.clock(), redraw)
    effects.carry_out(pms.services, number)
    with bound_contextvars(incident=number):
        log.info("postmortem_section_saved", section=key.value, version=section.version)
    return section


async def append_to_section(pms: Postmortems, number: int, key: SectionKey, addition: str, actor: str) -> Section:
    """Add text at the end of a section (a message added from the channel); appending commutes, so retry."""
    for _ in range(_ATTEMPTS):
        section = (await load(pms, number)).section(key)
        text = f"{section.text}\n\n{addition}" if section.text else addition
        try:
            return await save_section(pms, number, key, text, section.version, actor)
        except model.EditConflict:
            continue
    raise ConcurrentUpdate(f"section {key.value} of #{number} kept changing; giving up")


async def answer_why(pms: Postmortems, number: int, answer: str, asked_at: int) -> Postmortem:
    """Add an answer to the 5 whys, once: `asked_at` is how many answers there were when it was asked."""
    if not answer.strip():
        raise InvalidValue("Write an answer.")

    def add(pm: Postmortem) -> Postmortem:
        if len(pm.whys) != asked_at or model.next_why(pm.whys) is None:
            return pm  # a repeated submission, or the chain is complete
        return replace(pm, whys=(*pm.whys, answer.strip()))

    return await update(pms, number, add, [effects.draft(number)])


async def edit_timeline(pms: Postmortems, number: int, actor: str, edits: TimelineChange) -> Postmortem:
    """The owner's timeline edits (key, excluded, impact window, an added entry), stored with the postmortem."""
    added = None
    if edits.add_at is not None and edits.add_text.strip():
        added = TimelineEntry(edits.add_at, EntryKind.NOTE, actor, edits.add_text.strip())
    elif edits.add_at is not None or edits.add_text.strip():
        raise InvalidValue("An added entry needs both its time and what happened.")
    impact = model.ImpactWindow(edits.impact_started, edits.impact_ended)

    def change(pm: Postmortem) -> Postmortem:
        return model.edit_timeline(pm, actor, edits.key, edits.excluded, impact, added)

    return await update(pms, number, change, [effects.draft(number)])


async def document(pms: Postmortems, number: int, pm: Postmortem | None = None) -> Document:
    """The postmortem as a whole: incident, sections, action items and the full timeline (from Redis)."""
    pm = pm or await load(pms, number)
    incident = await pms.services.incidents.get(number)
    items = await pms.store.items(number)
    timeline = await timeline_flows.read_timeline(pms.services, number)
    return Document(incident, pm, tuple(items), tuple(timeline), pms.services.targets.of(incident.severity))


async def publish(pms: Postmortems, number: int, actor: str) -> Postmortem:
    """Publish (or amend): in one SQL transaction the postmortem's state, its revision with the timeline
    snapshot, and the incident closed. Raises InvalidValue naming what is missing; SQL errors propagate and
    leave the draft as it was."""
    for _ in range(_ATTEMPTS):
        pm = await load(pms, number)
        incident = await pms.services.incidents.get(number)
        next_pm = model.publish(pm, await pms.store.items(number))
        closing, entries = _close(incident, actor, pms)
        doc = await document(pms, number, next_pm)
        doc = replace(doc, incident=closing or incident, timeline=(*doc.timeline, *entries))
        publication = Publication(
            next_pm, closing, entries, document_json(doc), render(doc), actor, pms.services.clock()
        )
        then = [effects.announcement(number), effects.draft(number)]
        queued = [*effects.staged(pms.services, number, then), _card(pms.services, closing or incident)]
        try:
            published = await pms.store.publish(publication, queued)
        except ConcurrentUpdate:
            continue
        effects.carry_out(pms.services, number)
        incident_flows.perform_later(pms.services, closing or incident)
        await timeline_flows.move_soon(pms.services, number)
        log.info("postmortem_published", incident=number, revision=published.revisions)
        return published
    raise ConcurrentUpdate(f"the postmortem of #{number} kept changing; giving up")


def _card(services: Services, incident: Incident) -> Effects:
    """The incident card's re-render, queued with the publication that closes the incident."""
    return incident_key(incident.number), [incident_effects.card(incident.number)], services.clock()


def _close(incident: Incident, actor: str, pms: Postmortems) -> tuple[Incident | None, list[TimelineEntry]]:
    if incident.status is Status.CLOSED:
        return None, []
    try:
        transition = apply(incident, Close(actor), pms.services.clock())
    except InvalidTransition as error:
        raise InvalidValue(str(error)) from None
    return transition.incident, [e.entry for e in transition.effects if isinstance(e, Record)]


async def announce_published(pms: Postmortems, number: int, look: bool = True) -> None:
    """After publishing (a queued effect): the final postmortem in the channel and a summary in
    INCIDENTS_CHANNEL, each once per revision. A retry (`look`) after a failure or a crash finds what went out
    by its tag, even when Redis lost the marker that says so."""
    services = pms.services
    pm = await load(pms, number)
    incident = await services.incidents.get(number)
    if pm.announced < pm.revisions:
        items = await pms.store.items(number)
        token = f"{number}:{pm.revisions}"
        if incident.channel_id:
            text, blocks = messages.published_text(incident, pm), messages.published(incident, pm, items)
            await _post_once(pms, incident.channel_id, f"{token}:channel", text, blocks, look)
        if announce_in := services.announcements(incident.drill):
            summary = messages.published_summary(incident, pm)
            await _post_once(pms, announce_in, f"{token}:announcement", summary, None, look)
        revision = pm.revisions
        await update(pms, number, lambda p: replace(p, announced=max(p.announced, revision)))
        log.info("postmortem_announced", incident=number, revision=revision)


async def _post_once(
    pms: Postmortems, channel: str, token: str, text: str, blocks: list[Block] | None, look: bool
) -> None:
    """Post a message at most once: a marker says started/done, and the message carries `token` as metadata so
    that work a dead process left "started" (or a retry, `look`) looks in the channel before posting again."""
    seen, slack = pms.services.seen, pms.services.slack
    tag = ("firebreak_postmortem", token)
    progress = await seen.begin("postmortem-post", token)
    if progress is Progress.DONE:
        return
    if (progress is Progress.NEW and not look) or await slack.find_posted(channel, tag) is None:
        await slack.post(channel, text, blocks, tag=tag)
    await seen.finish("postmortem-post", token)


async def announce_pending(pms: Postmortems, older_than: timedelta = _POSTING_HOLD) -> int:
    """Finish the posts of publications whose queued announcement was given up (those published a while ago, so
    as not to race the queue still posting); how many were finished."""
    finished = 0
    for pm in await pms.store.unannounced():
        revisions = await pms.store.revisions(pm.number)
        if revisions and revisions[-1].published_at < pms.services.clock() - older_than:
            await announce_published(pms, pm.number)
            finished += 1
    return finished
