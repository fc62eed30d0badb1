"""Delivering pages exactly once: each person's DM (and their SMS/phone gateway webhook) for one step.

A page is marked begun before the DM and done after it. A page begun but not done was cut off by a process
that died: its DM is looked for in the DM channel's history (by the page's metadata tag) and sent only if it
is not there.
"""

import asyncio
from dataclasses import dataclass

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError

from domain import Incident, TimelineEntry
from domain.escalation import Position, Target
from domain.timeline import EntryKind
from handlers.http import safe_url
from handlers.incidents import timeline
from handlers.incidents.api import incident_json
from handlers.incidents.effects import post
from handlers.paging import messages
from handlers.paging.directory import Found, OnCallDirectory, Person
from handlers.paging.links import AckLinks
from handlers.services import Services
from handlers.slack import describe_failure, incident_key
from handlers.slack.effects import EffectFailed
from storage import Progress
from storage.effects import QueuedEffect

log = structlog.get_logger()

_PAGE_TAG = "firebreak_page"  # the metadata event type of a page DM
WEBHOOK = "webhook"  # the effect kind of a notification gateway call


@dataclass(frozen=True)
class PageDelivery:
    services: Services
    directory: OnCallDirectory
    http: aiohttp.ClientSession | None = None
    links: AckLinks | None = None  # None without PAGE_ACK_SECRET: webhooks are not called

    async def notify(
        self,
        incident: Incident,
        page_id: str,
        position: Position,
        targets: tuple[Target, ...],
        why: str,
        found: Found | None = None,
    ) -> list[str]:
        """Page the people `targets` name (`found`, when the caller looked them up), each once and each on their
        own (one slow DM does not hold up the next person's); tell the incident channel (a queued effect, off
        the DM's path). Returns who was paged now."""
        people, unknown = found or await self.directory.people(targets)
        outcomes = await asyncio.gather(*(self._page_once(incident, page_id, position, p, why) for p in people))
        paged = [p.user for p, delivered in zip(people, outcomes, strict=True) if delivered]
        failed = [p.user for p, delivered in zip(people, outcomes, strict=True) if delivered is False]
        step = f"{page_id}:{position.round}:{position.step}"
        unknown = [name for name in unknown if await self._unresolved(incident, step, name)]
        if paged or failed or unknown:
            notice = post(incident.number, messages.paged_in_channel(paged, why, failed, unknown))
            await self.services.effects.queue(incident_key(incident.number), [notice])
        log.info("paged", users=paged, failed=failed, unknown=unknown, page_id=page_id)
        return paged

    async def _unresolved(self, incident: Incident, step: str, name: str) -> bool:
        """A config name that names nobody: a `page_failed` event (once per step); True the first time."""
        text = messages.page_unresolved_entry(name)
        kept = await timeline.record(
            self.services, incident.number, [(self._entry(EntryKind.PAGE_FAILED, text), f"page-failed:{step}:{name}")]
        )
        return kept[0]

    async def _page_once(
        self, incident: Incident, page_id: str, position: Position, person: Person, why: str
    ) -> bool | None:
        """DM one page exactly once: True when sent now, False when Slack refused it, None when it was sent before."""
        user, seen, slack = person.user, self.services.seen, self.services.slack
        key = f"{page_id}:{position.round}:{position.step}:{user}"
        tag = (_PAGE_TAG, key)
        progress, in_journal = await asyncio.gather(
            seen.begin("paged", key), self.services.incidents.journal.has(incident.number, f"paged:{key}")
        )
        if progress is Progress.DONE or in_journal:
            return None  # the journal knows it even when Redis lost the marker
        if person.webhook:  # a page taken over from a dead process queues it again: its token makes that a no-op
            await self._call_webhook(person.webhook, incident, page_id, user, position, once=f"page:{key}")
        try:
            dm = await slack.open_dm(user)
            if progress is Progress.STARTED and await slack.find_posted(dm, tag) is not None:
                log.info("page_found_delivered", user=user)
            else:
                page = messages.page_message(incident, self.services.targets, why)
                await slack.post(dm, messages.page_notification(incident), page, tag=tag)
        except SlackApiError as error:
            log.warning("page_delivery_failed", user=user, failure=describe_failure(error))
            text = messages.page_failed_entry(user, describe_failure(error))
            await self.record(incident, EntryKind.PAGE_FAILED, text, once=f"page-failed:{key}")
            return False
        # the journal first: a death between the two leaves the marker begun, and the next holder finds the
        # entry (or, without it, the DM) instead of a finished marker with no entry ever written
        await self.record(incident, EntryKind.PAGED, messages.paged_entry(user, why), once=f"paged:{key}")
        await seen.finish("paged", key)
        invite = {"kind": "invite", "number": incident.number, "user": user}
        await self.services.effects.queue(incident_key(incident.number), [invite])
        return True

    async def _call_webhook(
        self, url: str, incident: Incident, page_id: str, user: str, position: Position, once: str
    ) -> None:
        """Queue the page for an SMS/phone gateway (durably: a restart during its retries loses nothing)."""
        if self.http is None or self.links is None:
            log.warning("page_webhook_skipped", reason="no HTTP client or PAGE_ACK_SECRET")
            return
        payload: dict[str, object] = {
            "incident": incident_json(incident),
            "user": user,
            "page_id": page_id,
            "acknowledge_url": self.links.url(page_id, user, position, self.services.clock()),
        }
        body = {"kind": WEBHOOK, "url": url, "payload": payload, "number": incident.number, "user": user}
        await self.services.effects.queue(f"webhook:{user}", [body], once=once)

    async def record(self, incident: Incident, kind: EntryKind, text: str, once: str | None = None) -> None:
        await timeline.record(self.services, incident.number, [(self._entry(kind, text), once)])

    def _entry(self, kind: EntryKind, text: str) -> TimelineEntry:
        return TimelineEntry(self.services.clock(), kind, None, text)

    async def deliver_webhook(self, effect: QueuedEffect) -> None:
        """One POST to the gateway; any 2xx is delivered, anything else is retried by the effect queue."""
        assert self.http is not None
        body = effect.body
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with self.http.post(str(body["url"]), json=body["payload"], timeout=timeout) as response:
                if 200 <= response.status < 300:
                    log.info("page_webhook_delivered", url=safe_url(str(body["url"])), attempt=effect.attempts)
                    return
                problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = type(error).__name__
        log.warning("page_webhook_failed", url=safe_url(str(body["url"])), attempt=effect.attempts, problem=problem)
        raise EffectFailed(f"notification gateway: {problem}")

    async def webhook_given_up(self, effect: QueuedEffect, failure: str) -> None:
        """The gateway never took the page: a `page_failed` event and a warning in the incident channel."""
        number, user = int(str(effect.body["number"])), str(effect.body["user"])
        text = messages.page_failed_entry(user, failure)
        await timeline.record(self.services, number, [(self._entry(EntryKind.PAGE_FAILED, text), None)])
        await self.services.effects.queue(incident_key(number), [post(number, messages.webhook_failed(user, failure))])
