"""Paging: page people by rotation or by name, escalate until someone acknowledges, never page twice.

A page is stored first (under a natural id), then its people are messaged, then its deadline is set as a
durable timer. `fire` handles a due deadline: the next step, or "nobody acknowledged". Acknowledging the
incident stops every page of it (see `flows.act`).
"""

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import aiohttp
import structlog
from aiohttp import web
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from structlog.contextvars import bound_contextvars

from domain import Acknowledge, Incident, InvalidTransition, InvalidValue, TimelineEntry
from domain.escalation import Policy, Position, Target, TargetKind, advance
from domain.paging_config import OnCall
from domain.rotation import Override, Shift, upcoming
from domain.timeline import EntryKind
from handlers import blocks, flows
from handlers.api import incident_json
from handlers.flows import Services
from handlers.http import json_error
from handlers.slack import describe_failure
from storage import Progress
from storage.overrides import OverrideStore
from storage.pages import PageStatus, PageStore
from storage.timers import Timer, TimerStore

log = structlog.get_logger()

LEASE = timedelta(seconds=30)
_MAX_PER_TICK = 1000  # then the loop's other work (and `stop`) gets a turn


@dataclass(frozen=True)
class Pager:
    services: Services
    pages: PageStore
    timers: TimerStore
    overrides: OverrideStore
    oncall: OnCall
    http: aiohttp.ClientSession | None = None
    ack_secret: str | None = None
    public_url: str = "http://localhost:3000"
    renew_every: timedelta = LEASE / 3
    _emails: dict[str, str | None] = field(default_factory=dict, repr=False)

    def ack_token(self, page_id: str, user: str) -> str:
        """The signed token of an acknowledge URL handed to a notification webhook."""
        assert self.ack_secret is not None
        message = f"{page_id}:{user}".encode()
        return hmac.new(self.ack_secret.encode(), message, hashlib.sha256).hexdigest()

    def valid_ack(self, page_id: str, user: str, token: str) -> bool:
        return self.ack_secret is not None and hmac.compare_digest(self.ack_token(page_id, user), token)

    async def shifts(self, rotation: str, at: datetime, count: int = 2) -> list[Shift]:
        """Who is on call for `rotation` at `at`, and who comes next (overrides included)."""
        known = self.oncall.rotation(rotation)  # InvalidValue if there is no such rotation
        return upcoming(known, await self.overrides.ending_after(rotation, at), at, count)

    async def take_over(self, override: Override, actor: str) -> None:
        """Store an override (`/incident oncall override`)."""
        self.oncall.rotation(override.rotation)  # InvalidValue if there is no such rotation
        await self.overrides.add(override, actor, self.services.clock())
        log.info("oncall_overridden", rotation=override.rotation, user=override.user, until=override.end.isoformat())
        await self._arm_handoff(override.rotation)  # the next hand-off may now be this override's end

    async def on_declare(self, incident: Incident, service: str | None) -> None:
        """Page automatically when an incident is declared at a paging severity."""
        policy = self.oncall.policy_for(service)
        if incident.severity in self.oncall.page_on_declare and policy is not None:
            await self.escalate(incident, policy, f"{incident.number}:declared")

    async def escalate(self, incident: Incident, policy: Policy, page_id: str) -> bool:
        """Start `policy` for the incident under `page_id`, its first step due now; False if that page exists."""
        first = (self.services.clock(), _body(_PAGE, Position()))
        _, created = await self.pages.create(page_id, incident.number, policy.name, first)
        return created

    async def page(self, incident: Incident, target: Target, actor: str, page_id: str) -> bool:
        """`/incident page`: a service escalates through its policy; a user or rotation is paged once."""
        if target.kind is TargetKind.SERVICE:
            policy = self.oncall.policy_for(target.name) if target.name in self.oncall.service_policies else None
            if policy is None:
                raise InvalidValue(f"No escalation policy covers service `{target.name}` (see ONCALL_CONFIG).")
            return await self.escalate(incident, policy, page_id)
        _, created = await self.pages.create(page_id, incident.number, "")
        if created:
            await self._notify(incident, page_id, Position(), (target,), f"paged by <@{actor}>")
            await self.pages.finish(page_id, PageStatus.EXHAUSTED)  # one-off: nothing to escalate
        return created

    async def tick(self) -> int:
        """Handle every due timer (a step to page, or a deadline that passed); the number handled. Every
        process runs it every `PAGER_INTERVAL` (0.5 s), so a deadline fires well within 2 s.

        Timers are claimed one at a time, each when its work starts, so that its lease covers its own work
        only: a batch claimed at once would let the last ones' leases run out while the first were worked on,
        and another process would then take them too.
        """
        handled = 0
        while handled < _MAX_PER_TICK:  # a deadline schedules the next step due now: taken in the same tick
            due = await self.timers.claim(self.services.clock(), LEASE, limit=1)
            if not due:
                break
            await self._fire_holding(due[0])
            handled += 1
        return handled

    async def _fire_holding(self, timer: Timer) -> None:
        """Fire `timer`, renewing its lease while the work lasts (Slack retrying a 429 can take a while): a live
        holder's timer is never handed to another process, only a dead one's."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.renew_every.total_seconds())
                try:
                    await self.timers.extend(timer.id, self.services.clock() + LEASE)
                except RedisError as error:  # the lease may run out: at worst another process takes over
                    log.warning("timer_lease_not_renewed", timer=timer.id, error=str(error))

        renewing = asyncio.create_task(renew())
        try:
            await self.fire(timer)
        finally:
            renewing.cancel()

    async def schedule_handoffs(self) -> None:
        """Arm each rotation's next hand-off notice (idempotent: every process may call it at start)."""
        for name in self.oncall.rotations:
            await self._arm_handoff(name)

    async def _arm_handoff(self, name: str) -> None:
        following = (await self.shifts(name, self.services.clock(), count=2))[1]
        await self.timers.schedule(f"handoff:{name}", following.start, {"kind": _HANDOFF, "rotation": name})

    async def _handoff(self, timer: Timer) -> None:
        """DM the person whose shift starts now, once, and arm the next notice."""
        name = str(timer.body["rotation"])
        if name in self.oncall.rotations:
            shift = (await self.shifts(name, self.services.clock(), count=1))[0]
            user = await self._user_id(shift.user)
            if user and await self.services.seen.first_time("handoff", f"{name}:{shift.start.isoformat()}"):
                try:
                    dm = await self.services.slack.open_dm(user)
                    await self.services.slack.post(dm, blocks.handoff_text(name, shift.end))
                except SlackApiError as error:
                    log.warning("handoff_notice_failed", failure=describe_failure(error))
                log.info("handoff_notified", rotation=name, user=user)
            await self.timers.schedule(timer.id, shift.end, {"kind": _HANDOFF, "rotation": name})
        await self.timers.complete(timer.id)

    async def fire(self, timer: Timer) -> None:
        if timer.body.get("kind") == _HANDOFF:
            await self._handoff(timer)
            return
        record = await self.pages.get(timer.id)
        policy = self.oncall.policies.get(record.policy) if record else None
        if record is None or policy is None or record.status is not PageStatus.ACTIVE:
            await self.timers.complete(timer.id)
            return
        incident = await self.services.incidents.get(record.number)
        position = Position(int(str(timer.body["step"])), int(str(timer.body["round"])))
        with bound_contextvars(incident=incident.number, page=record.id):
            if timer.body["kind"] == _PAGE:
                await self._page_step(incident, record.id, policy, position)
            else:
                await self._deadline(incident, record.id, policy, position)
        await self.timers.complete(timer.id)

    async def _page_step(self, incident: Incident, page_id: str, policy: Policy, position: Position) -> None:
        """Page a step's people (each exactly once, see `_page_once`), then set the step's deadline."""
        await self.pages.move(page_id, position)
        if position != Position():
            text = f"Escalated to step {position.step + 1} of {policy.name}" + (
                f" (repeat {position.round})" if position.round else ""
            )
            await self._record(incident, EntryKind.ESCALATED, text, once=f"page:{page_id}:{position}")
        step = policy.steps[position.step]
        await self._notify(incident, page_id, position, step.targets, f"escalation policy {policy.name}")
        due = self.services.clock() + step.ack_timeout
        await self.timers.schedule(page_id, due, _body(_DEADLINE, position))

    async def _deadline(self, incident: Incident, page_id: str, policy: Policy, position: Position) -> None:
        following = advance(policy, position)
        if following is None:
            await self._unanswered(incident, page_id)
            return
        await self.timers.schedule(page_id, self.services.clock(), _body(_PAGE, following))

    async def _notify(
        self, incident: Incident, page_id: str, position: Position, targets: tuple[Target, ...], why: str
    ) -> list[str]:
        paged: list[str] = []
        failed: list[str] = []
        for user, webhook in await self._users(targets):
            delivered = await self._page_once(incident, page_id, position, (user, webhook), why)
            if delivered is not None:
                (paged if delivered else failed).append(user)
        if (paged or failed) and incident.channel_id:
            try:
                await self.services.slack.post(incident.channel_id, blocks.paged_in_channel(paged, why, failed))
            except SlackApiError as error:
                log.warning("slack_call_failed", failure=describe_failure(error))
        log.info("paged", users=paged, failed=failed, page_id=page_id)
        return paged

    async def _page_once(
        self, incident: Incident, page_id: str, position: Position, who: tuple[str, str | None], why: str
    ) -> bool | None:
        """DM one page exactly once: True when sent now, False when Slack refused it, None when it was sent before.

        The page is marked begun before the DM and done after it. A page begun but not done was cut off by a
        process that died: its DM is looked for in the DM channel's history (by the page's metadata tag) and
        sent only if it is not there.
        """
        (user, webhook), seen, slack = who, self.services.seen, self.services.slack
        key = f"{page_id}:{position.round}:{position.step}:{user}"
        tag = (_PAGE_TAG, key)
        progress = await seen.begin("paged", key)
        if progress is Progress.DONE:
            return None
        if webhook and progress is Progress.NEW:
            self._call_webhook(webhook, incident, page_id, user)
        try:
            dm = await slack.open_dm(user)
            if progress is Progress.STARTED and await self._was_sent(dm, tag):
                log.info("page_found_delivered", user=user)
            else:
                page = blocks.page_message(incident, self.services.targets, why)
                await slack.post(dm, f"Paged: {incident.title}", page, tag=tag)
        except SlackApiError as error:
            log.warning("page_delivery_failed", user=user, failure=describe_failure(error))
            text = f"Could not page <@{user}>: {describe_failure(error)}"
            await self._record(incident, EntryKind.PAGE_FAILED, text, once=f"page-failed:{key}")
            return False
        await seen.finish("paged", key)
        await self._record(incident, EntryKind.PAGED, f"Paged <@{user}> ({why})", once=f"paged:{key}")
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

    async def _users(self, targets: tuple[Target, ...]) -> list[tuple[str, str | None]]:
        """The people to page, each with the notification webhook that applies to them (theirs, else the rotation's)."""
        users: dict[str, str | None] = {}
        for target in targets:
            named = target.name if target.kind is TargetKind.USER else None
            if target.kind is TargetKind.ROTATION and target.name in self.oncall.rotations:
                named = (await self.shifts(target.name, self.services.clock(), count=1))[0].user
            user = await self._user_id(named) if named else None
            if user and user not in users:
                users[user] = (
                    self.oncall.webhooks.get(f"user:{user}")
                    or self.oncall.webhooks.get(f"user:{named}")
                    or (self.oncall.webhooks.get(str(target)) if target.kind is TargetKind.ROTATION else None)
                )
        return list(users.items())

    def _call_webhook(self, url: str, incident: Incident, page_id: str, user: str) -> None:
        """POST the page to an SMS/phone gateway in the background, retried with backoff."""
        if self.http is None or self.ack_secret is None:
            log.warning("page_webhook_skipped", reason="no HTTP client or PAGE_ACK_SECRET")
            return
        query = urlencode({"user": user, "token": self.ack_token(page_id, user)})
        payload: dict[str, object] = {
            "incident": incident_json(incident),
            "user": user,
            "page_id": page_id,
            "acknowledge_url": f"{self.public_url.rstrip('/')}/api/pages/{quote(page_id)}/ack?{query}",
        }
        self.services.outbox.submit(f"webhook:{user}", lambda: _deliver(self.http, url, payload))

    async def _user_id(self, name: str) -> str | None:
        """The Slack user ID of a config name: an ID as it is, an email looked up in Slack (once)."""
        if "@" not in name:
            return name
        email = name
        if email not in self._emails:
            try:
                self._emails[email] = await self.services.slack.find_user(email)
            except SlackApiError as error:
                log.warning("user_lookup_failed", email=email, failure=describe_failure(error))
                return None
        user = self._emails[email]
        if user is None:
            log.warning("page_target_unknown", email=email)
        return user

    async def _unanswered(self, incident: Incident, page_id: str) -> None:
        if not await self.pages.finish(page_id, PageStatus.EXHAUSTED):
            return
        text = blocks.nobody_acknowledged(incident)
        await self._record(incident, EntryKind.UNANSWERED, "Nobody acknowledged the page")
        for channel in (incident.channel_id, self.services.incidents_channel):
            if channel:
                try:
                    await self.services.slack.post(channel, text)
                except SlackApiError as error:
                    log.warning("slack_call_failed", failure=describe_failure(error))
        log.warning("page_unanswered", page_id=page_id)

    async def _record(self, incident: Incident, kind: EntryKind, text: str, once: str | None = None) -> None:
        entry = TimelineEntry(self.services.clock(), kind, None, text)
        await self.services.timeline.append(incident.number, entry, once=once)


PAGER = web.AppKey("pager", Pager)


def routes() -> list[web.RouteDef]:
    """`POST /api/pages/<id>/ack?user=…&token=…`: the acknowledge URL given to notification webhooks."""

    async def acknowledge_page(request: web.Request) -> web.Response:
        pager = request.app.get(PAGER)
        if pager is None:
            return json_error(404, "paging is not set up")
        page_id, user = request.match_info["page_id"], request.query.get("user", "")
        if not pager.valid_ack(page_id, user, request.query.get("token", "")):
            return json_error(403, "the acknowledge link is not valid")
        record = await pager.pages.get(page_id)
        if record is None:
            return json_error(404, f"there is no page {page_id}")
        incident = await pager.services.incidents.get(record.number)
        try:
            transition = await flows.act(pager.services, incident, Acknowledge(user))
        except InvalidTransition:  # acknowledged already (or resolved): only the paging stops
            await pager.pages.stop_all(record.number)
        else:
            flows.perform_later(pager.services, transition)
        return web.json_response({"status": "acknowledged", "incident": incident.number})

    return [web.post("/api/pages/{page_id}/ack", acknowledge_page)]


_PAGE, _DEADLINE, _HANDOFF = "page", "deadline", "handoff"
_PAGE_TAG = "firebreak_page"  # the metadata event type of a page DM
_WEBHOOK_ATTEMPTS = 4


async def _deliver(http: aiohttp.ClientSession | None, url: str, payload: dict[str, object]) -> None:
    """Up to four attempts, 1 s, 2 s and 4 s apart; any 2xx is delivered."""
    assert http is not None
    for attempt in range(_WEBHOOK_ATTEMPTS):
        try:
            async with http.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=5)) as response:
                if 200 <= response.status < 300:
                    log.info("page_webhook_delivered", url=url, attempt=attempt + 1)
                    return
                problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = type(error).__name__
        log.warning("page_webhook_failed", url=url, attempt=attempt + 1, problem=problem)
        if attempt + 1 < _WEBHOOK_ATTEMPTS:
            await asyncio.sleep(2**attempt)


def _body(kind: str, position: Position) -> dict[str, object]:
    return {"kind": kind, "step": position.step, "round": position.round}
