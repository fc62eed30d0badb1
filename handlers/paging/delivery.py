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
from handlers.incidents.api import incident_json
from handlers.paging import messages
from handlers.paging.directory import OnCallDirectory, Person
from handlers.paging.links import AckLinks
from handlers.services import Services
from handlers.slack import describe_failure
from storage import Progress

log = structlog.get_logger()

_PAGE_TAG = "firebreak_page"  # the metadata event type of a page DM
_WEBHOOK_ATTEMPTS = 4


@dataclass(frozen=True)
class PageDelivery:
    services: Services
    directory: OnCallDirectory
    http: aiohttp.ClientSession | None = None
    links: AckLinks | None = None  # None without PAGE_ACK_SECRET: webhooks are not called

    async def notify(
        self, incident: Incident, page_id: str, position: Position, targets: tuple[Target, ...], why: str
    ) -> list[str]:
        """Page the people `targets` name, each once; tell the incident channel. Returns who was paged now."""
        paged: list[str] = []
        failed: list[str] = []
        for person in await self.directory.people(targets):
            delivered = await self._page_once(incident, page_id, position, person, why)
            if delivered is not None:
                (paged if delivered else failed).append(person.user)
        if (paged or failed) and incident.channel_id:
            try:
                await self.services.slack.post(incident.channel_id, messages.paged_in_channel(paged, why, failed))
            except SlackApiError as error:
                log.warning("slack_call_failed", failure=describe_failure(error))
        log.info("paged", users=paged, failed=failed, page_id=page_id)
        return paged

    async def _page_once(
        self, incident: Incident, page_id: str, position: Position, person: Person, why: str
    ) -> bool | None:
        """DM one page exactly once: True when sent now, False when Slack refused it, None when it was sent before."""
        user, seen, slack = person.user, self.services.seen, self.services.slack
        key = f"{page_id}:{position.round}:{position.step}:{user}"
        tag = (_PAGE_TAG, key)
        progress = await seen.begin("paged", key)
        if progress is Progress.DONE:
            return None
        if person.webhook and progress is Progress.NEW:
            self._call_webhook(person.webhook, incident, page_id, user, position)
        try:
            dm = await slack.open_dm(user)
            if progress is Progress.STARTED and await self._was_sent(dm, tag):
                log.info("page_found_delivered", user=user)
            else:
                page = messages.page_message(incident, self.services.targets, why)
                await slack.post(dm, messages.page_notification(incident), page, tag=tag)
        except SlackApiError as error:
            log.warning("page_delivery_failed", user=user, failure=describe_failure(error))
            text = messages.page_failed_entry(user, describe_failure(error))
            await self.record(incident, EntryKind.PAGE_FAILED, text, once=f"page-failed:{key}")
            return False
        await seen.finish("paged", key)
        await self.record(incident, EntryKind.PAGED, messages.paged_entry(user, why), once=f"paged:{key}")
        if incident.channel_id:
            try:
                await slack.invite(incident.channel_id, [user])
            except SlackApiError as error:
                log.warning("slack_call_failed", failure=describe_failure(error))
        return True

    async def _was_sent(self, dm: str, tag: tuple[str, str]) -> bool:
        """Whether the DM history shows the page; if Slack will not say (no `im:history`), better twice than never."""
        try:
            return await self.services.slack.has_tagged(dm, tag)
        except SlackApiError as error:
            log.warning("page_history_unreadable", failure=describe_failure(error))
            return False

    def _call_webhook(self, url: str, incident: Incident, page_id: str, user: str, position: Position) -> None:
        """POST the page to an SMS/phone gateway in the background, retried with backoff."""
        if self.http is None or self.links is None:
            log.warning("page_webhook_skipped", reason="no HTTP client or PAGE_ACK_SECRET")
            return
        payload: dict[str, object] = {
            "incident": incident_json(incident),
            "user": user,
            "page_id": page_id,
            "acknowledge_url": self.links.url(page_id, user, position, self.services.clock()),
        }
        self.services.outbox.submit(f"webhook:{user}", lambda: _deliver(self.http, url, payload))

    async def record(self, incident: Incident, kind: EntryKind, text: str, once: str | None = None) -> None:
        entry = TimelineEntry(self.services.clock(), kind, None, text)
        await self.services.timeline.append(incident.number, entry, once=once)


async def _deliver(http: aiohttp.ClientSession | None, url: str, payload: dict[str, object]) -> None:
    """Up to four attempts, 1 s, 2 s and 4 s apart; any 2xx is delivered."""
    assert http is not None
    for attempt in range(_WEBHOOK_ATTEMPTS):
        try:
            async with http.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=5)) as response:
                if 200 <= response.status < 300:
                    log.info("page_webhook_delivered", url=safe_url(url), attempt=attempt + 1)
                    return
                problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = type(error).__name__
        log.warning("page_webhook_failed", url=safe_url(url), attempt=attempt + 1, problem=problem)
        if attempt + 1 < _WEBHOOK_ATTEMPTS:
            await asyncio.sleep(2**attempt)
