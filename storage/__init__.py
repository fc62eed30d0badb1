"""Persistence: incidents in SQL, timelines and idempotency markers in Redis."""

from storage.db import async_url, create_engine, migrate, ping, sync_url
from storage.incidents import ConcurrentUpdate, IncidentStore
from storage.keys import Keys
from storage.seen import Progress, SeenStore
from storage.timeline import TimelineStore

__all__ = [
    "ConcurrentUpdate",
    "IncidentStore",
    "Keys",
    "Progress",
    "SeenStore",
    "TimelineStore",
    "async_url",
    "create_engine",
    "migrate",
    "ping",
    "sync_url",
]
