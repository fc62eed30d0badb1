"""The bot's own instruments: per-route HTTP counts and latencies, and paging facts counted from the timeline."""

import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import Redis

from domain import TimelineEntry
from handlers.metrics import Recorder
from storage import Keys, TimelineStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_metrics(recorder: Recorder) -> Middleware:
    """Count every request by its route template (never the raw path: incident numbers are not labels)."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            recorder.http_served(route, request.method, status, time.perf_counter() - started)

    return observe


class CountedTimeline(TimelineStore):
    """The timeline store, counting each entry appended (once) by kind: pages, escalations, page failures."""

    def __init__(self, redis: Redis, keys: Keys, recorder: Recorder) -> None:
        super().__init__(redis, keys)
        self._recorder = recorder

    async def append(self, number: int, entry: TimelineEntry, once: str | None = None) -> bool:
        appended = await super().append(number, entry, once)
        if appended:
            self._recorder.timeline_entry(entry.kind)
        return appended

    async def append_all(self, entries: Sequence[tuple[int, TimelineEntry, str]]) -> list[bool]:
        appended = await super().append_all(entries)
        for (_, entry, _), added in zip(entries, appended, strict=True):
            if added:
                self._recorder.timeline_entry(entry.kind)
        return appended
