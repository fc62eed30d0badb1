"""Target clocks and update reminders on durable timers of their own family, each firing once across processes.

Per incident there are at most three timers: `<n>:response`, `<n>:resolution` and `<n>:reminder`. A clock's
timer is due at its next stage (the warning at 80 %, then the breach); it carries the severity it was armed
for, so a timer armed before a severity change is recognised as stale and dropped. Every process runs `tick`;
the claim is atomic, and a stage's message is guarded by a marker, so a warning or breach is told once.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import structlog
from pydantic import BaseModel
from redis.exceptions import RedisError
from structlog.contextvars import bound_contextvars

from domain import EntryKind, Event, Incident, IncidentNotFound, PostUpdate, Severity, TimelineEntry
from domain.metrics import ClockKind, ClockState, Stage, clock
from handlers.incidents import timeline
from handlers.incidents.effects import card, post
from handlers.metrics import messages
from handlers.metrics.recorder import Recorder
from handlers.services import Services
from handlers.slack import incident_key
from storage.metrics import MetricsStore
from storage.timers import Timer, TimerStore

log = structlog.get_logger()

LEASE = timedelta(seconds=30)
CLOCKS_FAMILY = "metrics-timers"  # the timers only the metrics' own loop claims (see `Keys.timers`)
_MAX_PER_TICK = 1000
_PAGED_ON_BREACH = frozenset({Severity.SEV1, Severity.SEV2})


class EscalateHook(Protocol):
    """Page the next escalation step of an incident whose response target was breached; wired by `bot`."""

    async def __call__(self, incident: Incident) -> None: ...


class TimerKind(StrEnum):
    CLOCK = "clock"
    REMINDER = "reminder"


class ClockTimer(BaseModel):
    """The body of every timer the metrics capability arms, serialised and parsed here only."""

    kind: TimerKind
    number: int
    severity: int
    clock: ClockKind | None = None
    stage: Stage | None = None
    due: datetime | None = None  # a reminder's: its post's once-token

    @staticmethod
    def id(number: int, what: ClockKind | TimerKind) -> str:
        return f"{number}:{what.value}"


@dataclass(frozen=True)
class UpdateReminders:
    """How often the commander is asked for an update, per severity (absent: never)."""

    every: dict[Severity, timedelta] = field(
        default_factory=lambda: {Severity.SEV1: timedelta(minutes=30), Severity.SEV2: timedelta(minutes=60)}
    )


@dataclass
class Clocks:
    services: Services
    store: MetricsStore
    timers: TimerStore
    recorder: Recorder
    reminders: UpdateReminders = field(default_factory=UpdateReminders)
    escalate: EscalateHook | None = None

    def states(self, incident: Incident) -> list[ClockState]:
        services = self.services
        return [
            clock(ClockKind.RESPONSE, services.targets.of(incident.severity), incident.declared_at,
                  incident.acknowledged_at, services.calendar),
            clock(ClockKind.RESOLUTION, services.resolution_targets.of(incident.severity), incident.declared_at,
                  incident.resolved_at, services.calendar),
        ]  # fmt: skip

    async def on_change(self, before: Incident | None, after: Incident, event: Event | None) -> None:
        """The incidents capability's change hook: count, re-arm the clocks, reset or stop the reminder."""
        try:
            with bound_contextvars(incident=after.number):
                await self._changed(before, after, event)
        except RedisError as error:  # the repair sweep arms what this missed
            log.warning("metrics_clocks_not_armed", error=str(error))

    async def _changed(self, before: Incident | None, after: Incident, event: Event | None) -> None:
        if before is None:
            self.recorder.incident_declared(after)
        else:
            self.recorder.incident_changed(before, after)
        rearm = before is None or before.severity is not after.severity or before.resolved_at != after.resolved_at
        if rearm or (before is not None and before.acknowledged_at != after.acknowledged_at):
            await self.arm(after)
        if after.resolved_at is not None:
            await self.timers.cancel(ClockTimer.id(after.number, TimerKind.REMINDER))
        elif rearm or isinstance(event, PostUpdate):
            await self.remind_in(after, self.reminders.every.get(after.severity))

    async def arm(self, incident: Incident) -> None:
        """Record the due times and set each running clock's timer to its next stage (stopped clocks: none)."""
        now = self.services.clock()
        states = self.states(incident)
        await self.store.set_due(incident.number, states[0].due, states[1].due)
        for state in states:
            timer_id = ClockTimer.id(incident.number, state.kind)
            upcoming = state.next_stage(now)
            if upcoming is None:
                await self.timers.cancel(timer_id)
                continue
            stage, due = upcoming
            body = ClockTimer(
                kind=TimerKind.CLOCK, number=incident.number, severity=incident.severity, clock=state.kind, stage=stage
            )
            await self.timers.schedule(timer_id, due, body.model_dump(mode="json"))

    async def remind_in(self, incident: Incident, after: timedelta | None) -> None:
        """Set the incident's reminder `after` from now (None: no reminders at this severity)."""
        timer_id = ClockTimer.id(incident.number, TimerKind.REMINDER)
        if after is None:
            await self.timers.cancel(timer_id)
            return
        due = self.services.clock() + after
        body = ClockTimer(kind=TimerKind.REMINDER, number=incident.number, severity=incident.severity, due=due)
        await self.timers.schedule(timer_id, due, body.model_dump(mode="json"))

    async def rearm_missing(self) -> int:
        """Arm the clocks of open incidents that have none recorded (a process died between storing and arming)."""
        numbers = await self.store.unarmed()
        for number in numbers:
            incident = await self.services.incidents.get(number)
            await self.arm(incident)
            await self.remind_in(incident, self.reminders.every.get(incident.severity))
        return len(numbers)

    async def tick(self) -> int:
        """Fire every due clock and reminder, one claim at a time (see `Pager.tick`)."""
        handled = 0
        while handled < _MAX_PER_TICK:
            due = await self.timers.claim(self.services.clock(), LEASE, limit=1)
            if not due:
                break
            await self.fire(due[0])
            handled += 1
        return handled

    async def fire(self, timer: Timer) -> None:
        body = ClockTimer.model_validate(timer.body)
        try:
            incident = await self.services.incidents.get(body.number)
        except IncidentNotFound:
            await self.timers.complete(timer.id)
            return
        with bound_contextvars(incident=incident.number):
            if body.kind is TimerKind.REMINDER:
                await self._remind(incident, body)
            elif body.severity == incident.severity and body.clock is not None:
                await self._stage(incident, body.clock)
        await self.timers.complete(timer.id)

    async def _stage(self, incident: Incident, kind: ClockKind) -> None:
        now = self.services.clock()
        state = next(s for s in self.states(incident) if s.kind is kind)
        if state.stopped_at is not None:
            return
        if now < state.due:
            await self._warn(incident, state, now)
            await self.arm(incident)  # next: the breach
            return
        await self._breach(incident, state)

    async def _warn(self, incident: Incident, state: ClockState, now: datetime) -> None:
        """The 80 % warning in the channel and on the card; queued once however often its timer fires."""
        once = f"warning:{state.kind}:{incident.severity}"
        await self._post(incident, messages.warning(incident, state, now), once)
        log.info("target_warning", target=state.kind.value)

    async def _breach(self, incident: Incident, state: ClockState) -> None:
        """The breach on the timeline (SQL), in the channel and on the card, each once however often its timer
        fires (it fires again if this process dies midway); then, at most once, the next step is paged."""
        once = f"breach:{state.kind}:{incident.severity}"
        entry = TimelineEntry(self.services.clock(), EntryKind.TARGET_BREACHED, None, messages.breach_entry(state))
        [first] = await timeline.record(self.services, incident.number, [(entry, once)])
        if first:
            log.warning("target_breached", target=state.kind.value)
            if not incident.drill:
                self.recorder.breached(state.kind, incident.severity)
        await self._post(incident, messages.breach(incident, state), once)
        paged = state.kind is ClockKind.RESPONSE and incident.severity in _PAGED_ON_BREACH
        if paged and self.escalate is not None and await self._first(incident, f"escalated:{once}"):
            await self.escalate(incident)

    async def _remind(self, incident: Incident, body: ClockTimer) -> None:
        every = self.reminders.every.get(incident.severity)
        if incident.resolved_at is not None or every is None:
            return
        once = f"reminder:{body.due.isoformat()}" if body.due else None  # its timer firing again posts nothing
        command = self.services.command
        reminder = post(
            incident.number, messages.reminder_text(incident, command), messages.reminder(incident, command)
        )
        await self.services.effects.queue(incident_key(incident.number), [reminder], once=once)
        log.info("update_reminder_posted")
        await self.remind_in(incident, every)

    async def _first(self, incident: Incident, what: str) -> bool:
        return await self.services.seen.first_time("metrics", f"{incident.number}:{what}")

    async def _post(self, incident: Incident, text: str, once: str) -> None:
        """Post in the incident's channel and show it on the card: durable, once per `once`."""
        key = incident_key(incident.number)
        await self.services.effects.queue(key, [post(incident.number, text)], once=once)
        await self.services.effects.refresh(key, card(incident.number))
