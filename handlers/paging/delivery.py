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
from handlers.slack import describe_failure, incident_key
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
        """Page the people `targets` name, each once and each on their own (one slow DM does not hold up the
        next person's); then tell the incident channel. Returns who was paged now.

        The channel mention and the invitations are the incident's Slack work, queued in its outbox: a page is
        the DM, and it does not wait for an incident channel whose Slack calls are slow (or not made yet)."""
        people = await self.directory.people(targets)
        outcomes = await asyncio.gather(*(self._page_once(incident, page_id, position, p, why) for p in people))
        paged = [p.user for p, delivered in zip(people, outcomes, strict=True) if delivered]
        failed = [p.user for p, delivered in zip(people, outcomes, strict=True) if delivered is False]
        if paged or failed:
            text, number = messages.paged_in_channel(paged, why, failed), incident.number
            self.services.outbox.submit(incident_key(number), lambda: self._tell_channel(number, text, paged))
        log.info("paged", users=paged, failed=failed, page_id=page_id)
        return paged

    async def _tell_channel(self, number: int, text: str, paged: list[str]) -> None:
        """Mention the paged people in the incident channel, and invite them (each call's failure logged). It
        runs behind the incident's earlier Slack work, its channel's setup included: a page fired before the
        channel existed is told there too."""
        slack, channel = self.services.slack, (await self.services.incidents.get(number)).channel_id
        if channel is None:
            return
        try:
            await slack.post(channel, text)
        except SlackApiError as error:
            log.warning("slack_call_failed", failure=describe_failure(error))
        for user in paged:  # one by one: Slack refuses a whole list when one of them is in the channel already
            try:
                await slack.invite(channel, [user])
            except SlackApiError as error:
                log.warning("slack_call_failed", failure=describe_failure(error))

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
