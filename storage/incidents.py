"""Incidents in SQL: the queries flows need (the table and its rows: `storage.incident_rows`).

Each call uses one short connection. `save` refuses lost updates: it writes only if the row still has the
revision the incident was loaded with. The timeline entries a change records are written in the same
transaction to the journal (`storage.journal`), and moved to Redis after: a change is never stored without them.
The statements of the command path are Core statements built once (their compiled form is cached by
SQLAlchemy under a key computed once), read in autocommit (`storage.db.autocommit`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    func,
    insert,
    or_,
    update,
)
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import IncidentNotFound
from domain.incident import Incident
from domain.status import OPEN_STATUSES
from domain.timeline import TimelineEntry
from storage.batch import Batched
from storage.db import CONNECTION_ERRORS, autocommit
from storage.effects import stage_effects
from storage.incident_rows import INCIDENTS, IncidentRow, incident_of, row_values
from storage.journal import JournalEntry, TimelineJournal, stage

Effects = tuple[str, Sequence[dict[str, object]], datetime]  # queue key, effect bodies, when queued


class ConcurrentUpdate(Exception):
    """The incident's row changed since it was loaded: reload it and apply the change again."""


_BY_NUMBER = core_select(INCIDENTS).where(INCIDENTS.c.number == bindparam("b_number"))
_BY_CHANNEL = core_select(INCIDENTS).where(INCIDENTS.c.channel_id == bindparam("b_channel"))
_BY_KEY = core_select(INCIDENTS).where(INCIDENTS.c.idempotency_key == bindparam("b_key"))
_LATEST_FROM_SOURCE = (
    core_select(INCIDENTS)
    .where(INCIDENTS.c.source_group_key == bindparam("b_group"))
    .order_by(INCIDENTS.c.number.desc())
    .limit(1)
)
_FROM_SOURCES = (  # every incident of these groups, newest first
    core_select(INCIDENTS)
    .where(INCIDENTS.c.source_group_key.in_(bindparam("b_groups", expanding=True)))
    .order_by(INCIDENTS.c.number.desc())
)
_KEYS_PER_READ = 500
_OPEN = (
    core_select(INCIDENTS)
    .where(INCIDENTS.c.status.in_([s.value for s in OPEN_STATUSES]))
    .order_by(INCIDENTS.c.number.desc())
)
_ALL = core_select(INCIDENTS).order_by(INCIDENTS.c.number.desc())
_MOST_SEVERE_OPEN = (  # with the count of every open incident on each row (one statement)
    core_select(INCIDENTS, func.count().over().label("open_count"))
    .where(INCIDENTS.c.status.in_([s.value for s in OPEN_STATUSES]))
    .order_by(INCIDENTS.c.severity, INCIDENTS.c.number.desc())
    .limit(bindparam("limit"))
)
# The SET clause comes from the parameters' keys: every column `row_values` names, and the revision.
_SAVE = (
    update(INCIDENTS)
    .where(INCIDENTS.c.number == bindparam("b_number"), INCIDENTS.c.revision == bindparam("b_revision"))
    .returning(*INCIDENTS.c)
)
_INSERT = insert(INCIDENTS).returning(*INCIDENTS.c)
_SET_UP_KEPT = 10_000  # incidents whose channel `set_up_channel` remembers (a dict entry each)


class IncidentStore:
    """Adds, loads, lists and saves incidents."""

    def __init__(self, engine: AsyncEngine, set_up: dict[int, str] | None = None) -> None:
        self._engine, self._alone = engine, autocommit(engine)  # _alone: a read, or a write of one statement
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        self.journal = TimelineJournal(engine)
        self._latest = Batched(self._latest_many, self._latest_one, CONNECTION_ERRORS)
        # number -> channel, of incidents seen with their channel and card noted (`set_up_channel`)
        self._set_up: dict[int, str] = {} if set_up is None else set_up

    def beside(self, engine: AsyncEngine) -> "IncidentStore":
        """A store on connections of `engine`'s (the urgent pool) that shares what this one remembers."""
        return IncidentStore(engine, self._set_up)

    async def add(
        self, incident: Incident, idempotency_key: str | None = None, entries: Sequence[TimelineEntry] = ()
    ) -> tuple[Incident, bool]:
        """Store a new incident (with its timeline `entries`); the database assigns its number.

        True if stored, False if the key existed (then nothing is written)."""
        stored, kept = await self.add_kept(incident, idempotency_key, entries)
        return stored, kept is not None

    async def add_kept(
        self, incident: Incident, idempotency_key: str | None = None, entries: Sequence[TimelineEntry] = ()
    ) -> tuple[Incident, Sequence[JournalEntry] | None]:
        """`add`, with the timeline entries as kept (to be moved to Redis); None if the key existed."""
        if idempotency_key is not None:
            existing = await self._first(_BY_KEY, {"b_key": idempotency_key})
            if existing is not None:
                return existing, None
        try:
            return await self._insert(incident, idempotency_key, entries)
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = await self._first(_BY_KEY, {"b_key": idempotency_key})
            if existing is None:
                raise  # another unique column clashed, e.g. channel_id
            return existing, None

    async def get(self, number: int) -> Incident:
        """The incident with this number, or IncidentNotFound."""
        incident = await self._first(_BY_NUMBER, {"b_number": number})
        if incident is None:
            raise IncidentNotFound(f"#{number}")
        return self._seen(incident)

    async def set_up_channel(self, number: int) -> str | None:
        """The incident's channel once its setup has noted the channel and the card, else None (or
        IncidentNotFound). Remembered from then on, without a read: an incident's number is never reused and
        its channel never changes once noted (its card may be posted again, but it was there first)."""
        channel = self._set_up.get(number)
        if channel is None:
            incident = await self.get(number)
            channel = incident.channel_id if incident.card_ts is not None else None
        return channel

    def _seen(self, incident: Incident) -> Incident:
        if incident.channel_id is not None and incident.card_ts is not None and incident.number not in self._set_up:
            if len(self._set_up) >= _SET_UP_KEPT:
                del self._set_up[next(iter(self._set_up))]  # the oldest noted
            self._set_up[incident.number] = incident.channel_id
        return incident

    async def find_by_channel(self, channel_id: str) -> Incident | None:
        """The incident whose Slack channel this is, if any."""
        return await self._first(_BY_CHANNEL, {"b_channel": channel_id})

    async def latest_from_source(self, group_key: str) -> Incident | None:
        """The newest incident opened by this alert group, open or resolved. Calls made while one is out (a
        batch's alert groups) share one statement."""
        return await self._latest(group_key)

    async def _latest_one(self, group_key: str) -> Incident | None:
        return await self._first(_LATEST_FROM_SOURCE, {"b_group": group_key})

    async def _latest_many(self, group_keys: Sequence[str]) -> list[Incident | None]:
        latest: dict[str, Incident] = {}
        unique = list(dict.fromkeys(group_keys))
        async with self._alone.connect() as connection:
            for start in range(0, len(unique), _KEYS_PER_READ):
                chunk = unique[start : start + _KEYS_PER_READ]
                for row in await connection.execute(_FROM_SOURCES, {"b_groups": chunk}):
                    latest.setdefault(row.source_group_key, incident_of(row))  # newest first
        return [latest.get(group_key) for group_key in group_keys]

    async def save(
        self, incident: Incident, entries: Sequence[TimelineEntry] = (), effects: Effects | None = None
    ) -> Incident:
        """Write every field (and the change's timeline `entries` and queued Slack `effects`) if the row is still
        at `incident.revision`. Returns the incident with its next revision."""
        return (await self.change(incident, entries, effects))[0]

    async def change(
        self, incident: Incident, entries: Sequence[TimelineEntry] = (), effects: Effects | None = None
    ) -> tuple[Incident, list[JournalEntry]]:
        """`save`, and the timeline entries as kept (to be moved to Redis)."""
        alone = not entries and effects is None  # the UPDATE alone (Slack references, clocks): autocommit
        async with (self._alone if alone else self._engine).begin() as connection:
            saved = await _change_in(connection, incident, entries, effects)
        if saved is not None:
            self._seen(saved[0])
            return saved
        await self.get(incident.number)  # raises IncidentNotFound if there is no such row
        raise ConcurrentUpdate(f"Incident #{incident.number} changed since revision {incident.revision} was loaded.")

    async def append(
        self, number: int, entries: Sequence[TimelineEntry], effects: Effects | None = None
    ) -> list[JournalEntry]:
        """Keep timeline entries (and their Slack effects) of a change that leaves the incident's row alone;
        the entries as kept."""
        async with self._engine.begin() as connection:
            kept = await stage(connection, number, entries)
            if effects is not None:
                await stage_effects(connection, *effects)
        return kept

    async def unfinished_setups(self, declared_before: datetime, announced: bool = False) -> list[Incident]:
        """Open incidents declared before this instant whose channel or card (or, with `announced`, whose
        announcement) never made it to Slack."""
        missing: ColumnElement[bool] = col(IncidentRow.card_ts).is_(None)
        if announced:
            missing = or_(missing, col(IncidentRow.announcement_ts).is_(None))
        statement = (
            select(IncidentRow)
            .where(
                col(IncidentRow.status).in_([s.value for s in OPEN_STATUSES]),
                missing,
                col(IncidentRow.declared_at) < declared_before,
            )
            .order_by(col(IncidentRow.number))
        )
        async with self._sessions() as session:
            rows: Sequence[IncidentRow] = (await session.exec(statement)).all()
        return [incident_of(row) for row in rows]

    async def list(self, open_only: bool) -> list[Incident]:
        """Incidents newest first; with `open_only`, those not resolved."""
        async with self._alone.connect() as connection:
            rows = (await connection.execute(_OPEN if open_only else _ALL)).all()
        return [incident_of(row) for row in rows]

    async def most_severe_open(self, limit: int) -> tuple[Sequence[Incident], int]:
        """At most `limit` open incidents, SEV-1 first and newest first within a severity, and how many are
        open in all."""
        async with self._alone.connect() as connection:
            rows = (await connection.execute(_MOST_SEVERE_OPEN, {"limit": limit})).all()
        return [incident_of(row) for row in rows], rows[0].open_count if rows else 0

    async def _insert(
        self, incident: Incident, idempotency_key: str | None, entries: Sequence[TimelineEntry]
    ) -> tuple[Incident, Sequence[JournalEntry]]:
        values = row_values(incident) | {"idempotency_key": idempotency_key, "revision": 1}
        async with self._engine.begin() as connection:
            row = (await connection.execute(_INSERT, values)).one()
            kept = await stage(connection, row.number, entries)
        return incident_of(row), kept

    async def _first(self, statement: Select[Any], parameters: dict[str, object]) -> Incident | None:
        async with self._alone.connect() as connection:
            row = (await connection.execute(statement, parameters)).first()
        return None if row is None else incident_of(row)


async def save_in(
    connection: AsyncConnection,
    incident: Incident,
    entries: Sequence[TimelineEntry],
    effects: Effects | None = None,
) -> Incident | None:
    """`IncidentStore.save` inside a transaction of the caller's (publishing a postmortem closes its incident in
    the same transaction); None if the row is no longer at `incident.revision`."""
    saved = await _change_in(connection, incident, entries, effects)
    return None if saved is None else saved[0]


async def _change_in(
    connection: AsyncConnection,
    incident: Incident,
    entries: Sequence[TimelineEntry],
    effects: Effects | None = None,
) -> tuple[Incident, list[JournalEntry]] | None:
    parameters = row_values(incident) | {
        "revision": incident.revision + 1,
        "b_number": incident.number,
        "b_revision": incident.revision,
    }
    row = (await connection.execute(_SAVE, parameters)).one_or_none()
    if row is None:
        return None
    kept = await stage(connection, row.number, entries)
    if effects is not None:
        await stage_effects(connection, *effects)
    return incident_of(row), kept
