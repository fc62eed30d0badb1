"""What every capability receives: `Services`, the `Clock`, and the app key under which `bot` stores them.

Services carries the shared Slack edge (gateway and outbox) beside storage, so it imports `handlers.slack`."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from aiohttp import web

from domain import Event, Incident, ResponseTargets
from domain.alerts import AlertPolicy
from domain.calendar import WEEKDAYS, BusinessCalendar
from domain.runbooks import Runbooks
from domain.severity import RESOLUTION_TARGETS
from handlers.slack import SlackGateway, SlackOutbox
from handlers.slack.effects import EffectQueue
from storage import IncidentStore, SeenStore, TimelineStore
from storage.alerts import AlertStore
from storage.pages import PageStore


class KeyedLocks:
    """One asyncio lock per key, held only while someone uses it (so the dict stays as small as the activity)."""

    def __init__(self) -> None:
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: object) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class DeclareHook(Protocol):
    """Called once an incident is stored (paging on declare); passed in by `bot`."""

    async def __call__(self, incident: Incident, service: str | None) -> None: ...


class ChangeHook(Protocol):
    """Called once a change is stored: `before` is None for a new incident (metrics); passed in by `bot`."""

    async def __call__(self, before: Incident | None, after: Incident, event: Event | None) -> None: ...


@dataclass(frozen=True)
class Services:
    """Everything the flows need, built once by `bot` and passed in."""

    incidents: IncidentStore
    timeline: TimelineStore
    seen: SeenStore
    slack: SlackGateway
    clock: Clock
    alerts: AlertStore
    outbox: SlackOutbox
    effects: EffectQueue
    targets: ResponseTargets = field(default_factory=ResponseTargets)
    incidents_channel: str | None = None
    command: str = "/incident"
    alert_policy: AlertPolicy = field(default_factory=AlertPolicy)
    runbooks: Runbooks = field(default_factory=lambda: Runbooks.from_texts({}))
    alerts_channel: str | None = None
    pages: PageStore | None = None
    on_declare: DeclareHook | None = None
    setup_hold: timedelta = timedelta(seconds=60)  # a Slack setup older than this is the repair sweep's to finish
    changing: KeyedLocks = field(default_factory=KeyedLocks)  # this process's state changes, one per incident
    on_change: ChangeHook | None = None
    resolution_targets: ResponseTargets = RESOLUTION_TARGETS
    calendar: BusinessCalendar = WEEKDAYS


SERVICES = web.AppKey("services", Services)
