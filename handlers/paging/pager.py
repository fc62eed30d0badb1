"""Paging: page people by rotation or by name, escalate until someone acknowledges, never page twice.

A page is stored first (under a natural id), then its people are messaged, then its deadline is set as a
durable timer. `fire` handles a due timer: a step to page, a deadline that passed ("nobody acknowledged" at
the end), or a rotation's hand-off. Acknowledging the incident stops every page of it (see `flows.act`).
Who is on call lives in `directory`, delivering each DM once in `delivery`, hand-off notices in `handoffs`.
"""

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from redis.exceptions import RedisError
from structlog.contextvars import bound_contextvars

from domain import Incident, InvalidValue
from domain.escalation import Policy, Position, Target, TargetKind, advance
from domain.paging_config import OnCall
from domain.timeline import EntryKind
from handlers.incidents.effects import post
from handlers.paging import messages
from handlers.paging.delivery import PageDelivery
from handlers.paging.directory import Found, OnCallDirectory
from handlers.paging.handoffs import Handoffs
from handlers.paging.overrides import Overrides
from handlers.paging.schedule import LEASE, PageId, TimerBody, TimerKind
from handlers.services import Services
from handlers.slack import incident_key
from storage.pages import PageRecord, PageStatus, PageStore
from storage.timers import Timer, TimerStore

log = structlog.get_logger()

_USER = re.compile(r"[UW][A-Z0-9]{2,30}|[^@\s]+@[^@\s]+\.[^@\s]+")  # a Slack user ID, or an email to look up
_MAX_PER_TICK = 1000  # then the loop's other work (and `stop`) gets a turn


@dataclass(frozen=True)
class Pager:
    services: Services
    pages: PageStore
    timers: TimerStore
    directory: OnCallDirectory
    delivery: PageDelivery
    handoffs: Handoffs
    overrides: Overrides
    renew_every: timedelta = LEASE / 3
    concurrency: int = 16  # timers fired at once by one tick
    woken: asyncio.Event = field(default_factory=asyncio.Event)  # set when a step is due now: tick at once

    @property
    def oncall(self) -> OnCall:
        return self.directory.oncall

    async def on_declare(self, incident: Incident, service: str | None) -> None:
        """Page automatically when an incident is declared at a paging severity."""
        policy = self.oncall.policy_for(service)
        if incident.severity in self.oncall.page_on_declare and policy is not None:
            await self.escalate(incident, policy, PageId.declared(incident.number))

    async def escalate(self, incident: Incident, policy: Policy, page_id: str) -> bool:
        """Start `policy` for the incident under `page_id`, its first step due now; False if that page exists."""
        first = (self.services.clock(), TimerBody.at(TimerKind.PAGE, Position(), policy.name).dump())
        _, created = await self.pages.create(page_id, incident.number, policy.name, first)
        if created:
            self.woken.set()
        return created

    async def escalate_next(self, incident: Incident) -> None:
        """A response target was breached: page the next step of the incident's escalation now (its first step
        if it was never paged); nothing once the policy ran out or was acknowledged."""
        page_id = PageId.declared(incident.number)
        record = await self.pages.get(page_id)
        if record is None:
            policy = self.oncall.policy_for(incident.service)
            if policy is not None:
                await self.escalate(incident, policy, page_id)
            return
        policy = self.oncall.policies.get(record.policy)
        following = advance(policy, record.position) if policy is not None else None
        if record.status is PageStatus.ACTIVE and following is not None:
            body = TimerBody.at(TimerKind.PAGE, following, record.policy).dump()
            await self.timers.schedule(page_id, self.services.clock(), body)
            self.woken.set()
            log.info("page_escalated_on_breach", page_id=page_id)

    async def page(self, incident: Incident, target: Target, actor: str, page_id: str) -> bool:
        """`page`: a service escalates through its policy; a user or rotation is paged once."""
        if target.kind is TargetKind.SERVICE:
            policy = self.oncall.policy_for(target.name) if target.name in self.oncall.service_policies else None
            if policy is None:
                raise InvalidValue(f"No escalation policy covers service `{target.name}` (see ONCALL_CONFIG).")
            return await self.escalate(incident, policy, page_id)
        if target.kind is TargetKind.ROTATION:
            self.oncall.rotation(target.name)  # InvalidValue, naming the rotations, if there is no such one
        elif not _USER.fullmatch(target.name):
            raise InvalidValue(
                f"`{target.name}` is not a Slack user: page an @mention, rotation:<name> or service:<name>."
            )
        _, created = await self.pages.create(page_id, incident.number, "")
        if created:
            await self.delivery.notify(incident, page_id, Position(), (target,), messages.paged_by(actor))
            await self.pages.finish(page_id, PageStatus.EXHAUSTED)  # one-off: nothing to escalate
        return created

    async def tick(self) -> int:
        """Fire every due timer, up to `concurrency` at once; the number fired. Every process runs it every
        `PAGER_INTERVAL` (0.5 s), so a deadline fires well within 2 s.

        Each timer is claimed when there is room to start its work at once, so that its lease covers its own
        work only (a batch claimed ahead would let the last ones' leases run out while they waited, and another
        process would take them too). One page waiting on a slow Slack does not hold up the others. A deadline
        schedules the next step due now: it is taken in the same tick. Raises the first failure, once every
        fire has ended."""
        handled, running, ended = 0, set[asyncio.Task[None]](), list[asyncio.Task[None]]()
        while handled < _MAX_PER_TICK:
            room = self.concurrency - len(running)
            due = await self.timers.claim(self.services.clock(), LEASE, limit=room) if room else []
            for timer in due:
                running.add(asyncio.create_task(self._fire_holding(timer)))
            handled += len(due)
            if not running:
                break
            if not due or len(running) == self.concurrency:
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                ended += finished
        if running:
            ended += (await asyncio.wait(running))[0]
        failures = [task.exception() for task in ended if task.exception() is not None]
        if failures:
            raise failures[0]  # type: ignore[misc]
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

    async def fire(self, timer: Timer) -> None:
        body = TimerBody.parse(timer.body)
        if body.kind is TimerKind.HANDOFF:
            await self.handoffs.fire(timer, body)
            return
        record = await self.pages.get(timer.id)
        policy = self.oncall.policies.get(record.policy) if record else None
        if record is None or policy is None or record.status is not PageStatus.ACTIVE:
            await self.timers.complete(timer.id)
            return
        if body.kind is TimerKind.PAGE:  # whom to page is looked up while the incident is read
            targets = policy.steps[body.position.step].targets
            reading = self.services.incidents.get(record.number)
            incident, found = await asyncio.gather(reading, self.directory.people(targets))
        else:
            incident, found = await self.services.incidents.get(record.number), None
        with bound_contextvars(incident=incident.number, page=record.id):
            if found is not None:
                await self._page_step(incident, record, policy, body.position, found)
            else:
                await self._deadline(incident, record.id, policy, body.position)
        await self.timers.complete(timer.id)

    async def _page_step(
        self, incident: Incident, record: PageRecord, policy: Policy, position: Position, found: Found
    ) -> None:
        """Page a step's people (`found` for its targets; each exactly once), then set the step's deadline. The
        page is moved to the step first, unless it is there already (a first step always is: no write before
        its DM)."""
        page_id = record.id
        if record.position != position:  # SQL is written before Redis, so Redis at `position` means SQL is too
            await self.pages.move(page_id, position)
        if position != Position():
            text = messages.escalated(position.step, policy.name, position.round)
            await self.delivery.record(incident, EntryKind.ESCALATED, text, once=f"page:{page_id}:{position}")
        step = policy.steps[position.step]
        why = messages.by_policy(policy.name)
        await self.delivery.notify(incident, page_id, position, step.targets, why, found=found)
        due = self.services.clock() + step.ack_timeout
        await self.pages.schedule(page_id, due, TimerBody.at(TimerKind.DEADLINE, position, policy.name).dump())

    async def _deadline(self, incident: Incident, page_id: str, policy: Policy, position: Position) -> None:
        following = advance(policy, position)
        if following is None:
            await self._unanswered(incident, page_id)
            return
        await self.pages.schedule(
            page_id, self.services.clock(), TimerBody.at(TimerKind.PAGE, following, policy.name).dump()
        )

    async def _unanswered(self, incident: Incident, page_id: str) -> None:
        if not await self.pages.finish(page_id, PageStatus.EXHAUSTED):
            return
        text = messages.nobody_acknowledged(incident)
        await self.delivery.record(incident, EntryKind.UNANSWERED, "Nobody acknowledged the page")
        notices = [post(incident.number, text)]
        if announce_in := self.services.announcements(incident.drill):
            notices.append(post(incident.number, text, channel=announce_in))
        await self.services.effects.queue(incident_key(incident.number), notices)
        log.warning("page_unanswered", page_id=page_id)
