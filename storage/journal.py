"""The timeline journal in SQL: every entry of every incident, kept for good (the audit record).

An entry is written with the change it records (or alone, for notes, captures, alerts and pages), then moved
to the incident's Redis stream, the live view, and marked moved: never deleted. An entry written with a
`once` token is refused the second time (a unique index on incident and token), so a retried capture, alert
or page adds nothing twice. A Redis stream that lost entries is rebuilt from here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Row, String, Table, Text, Update, bindparam, false, func, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.timeline import EntryKind, TimelineEntry
from storage.batch import Batched
from storage.columns import UTCDateTime, utc
from storage.db import CONNECTION_ERRORS, autocommit

_IN_CHUNK = 1000
_Adding = tuple[int, Sequence[tuple[TimelineEntry, str | None]]]  # an incident and its entries, with once-tokens


class TimelineOutboxRow(SQLModel, table=True):
    """One timeline entry. Schema: migrations 0004 and 0005 (the table kept its first name)."""

    __tablename__ = "timeline_outbox"
    __table_args__ = (
        Index("ix_timeline_outbox_number", "number"),
        Index("ix_timeline_outbox_once", "number", "once", unique=True),
        Index("ix_timeline_outbox_moved", "moved"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    number: int
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(sa_type=String)
    actor: str | None = Field(default=None, sa_type=String)
    text: str = Field(sa_type=Text)
    moved: bool = Field(default=False, sa_type=Boolean)
    once: str | None = Field(default=None, sa_type=String)


_TABLE: Table = TimelineOutboxRow.__table__  # type: ignore[attr-defined]
_INSERT = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
_PENDING_OF = (
    core_select(_TABLE)
    .where(_TABLE.c.moved.is_(false()), _TABLE.c.number == bindparam("b_number"))
    .order_by(_TABLE.c.id)
)

_CLAIMED = (  # the rows of `b_ids` not moved yet, skipping those another mover is marking
    core_select(_TABLE.c.id)
    .where(_TABLE.c.id.in_(bindparam("b_ids", expanding=True)), _TABLE.c.moved.is_(false()))
    .order_by(_TABLE.c.id)
    .with_for_update(skip_locked=True)
)
_MARK_MOVED = update(_TABLE).where(_TABLE.c.id.in_(_CLAIMED)).values(moved=True)


@dataclass(frozen=True)
class JournalEntry:
    """A timeline entry as SQL keeps it; `id` makes its append to Redis idempotent."""

    id: int
    number: int
    entry: TimelineEntry

    @property
    def token(self) -> str:
        """The once-token of its move to Redis."""
        return f"sql:{self.id}:{self.entry.kind.value}:{self.entry.at.isoformat()}"


class TimelineJournal:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine, self._alone = engine, autocommit(engine)
        self._sessions = async_sessionmaker(self._alone, class_=AsyncSession, expire_on_commit=False)  # reads only
        self._dialect = engine.dialect.name
        self._insert_kept = self._insert_new().returning(_TABLE.c.id, _TABLE.c.number, _TABLE.c.once)
        self._adding = Batched(self._insert, self._add_one, CONNECTION_ERRORS)  # calls made meanwhile: one INSERT
        self._marking = Batched(self._mark_many, self._mark_one, CONNECTION_ERRORS)  # and one UPDATE

    def _insert_new(self) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that skips a row whose once-token the incident already has (ON CONFLICT DO NOTHING)."""
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        return dialect_insert(TimelineOutboxRow).on_conflict_do_nothing(index_elements=["number", "once"])

    async def add(self, number: int, entry: TimelineEntry, once: str | None = None) -> bool:
        """Keep `entry`; with `once`, only if that token was never written for this incident. True if kept."""
        return (await self.add_all(number, [(entry, once)]))[0] is not None

    async def add_all(
        self, number: int, entries: Sequence[tuple[TimelineEntry, str | None]]
    ) -> list[JournalEntry | None]:
        """Keep entries in one statement, each with a `once` token only if that token was never written for
        this incident (nor earlier in `entries`); each as kept, None where it was not. Calls made while one
        is out (a batch's alert groups, each following its incident) share one statement."""
        if not entries:
            return []
        return await self._adding((number, entries))

    async def _add_one(self, call: _Adding) -> list[JournalEntry | None]:
        return (await self._insert([call]))[0]

    async def _insert(self, calls: Sequence[_Adding]) -> list[list[JournalEntry | None]]:
        """One INSERT of every call's entries (SQLAlchemy sends the rows a thousand at a time, within every
        driver's limit on bound parameters); each call's entries as kept."""
        rows = [_row(number, entry, once) for number, entries in calls for entry, once in entries]
        async with self._alone.begin() as connection:  # one statement (compiled once: the rows are parameters)
            written = list((await connection.execute(self._insert_kept, rows)).all())
        ids_by_once = {(int(n), once): int(row_id) for row_id, n, once in written if once is not None}
        unnamed = iter(sorted(int(row_id) for row_id, _, once in written if once is None))  # ids grow in row order
        kept: list[list[JournalEntry | None]] = []
        for number, entries in calls:
            ids = [next(unnamed) if once is None else ids_by_once.pop((number, once), None) for _, once in entries]
            pairs = zip(ids, entries, strict=True)
            kept.append([None if i is None else JournalEntry(i, number, entry) for i, (entry, _) in pairs])
        return kept

    async def has(self, number: int, once: str) -> bool:
        """Whether an entry with this once-token was kept for the incident."""
        statement = select(TimelineOutboxRow.id).where(
            col(TimelineOutboxRow.number) == number, col(TimelineOutboxRow.once) == once
        )
        async with self._sessions() as session:
            return (await session.exec(statement)).first() is not None

    async def pending(self, number: int | None = None) -> list[JournalEntry]:
        """Entries not yet moved to Redis (of one incident, or all), oldest first."""
        if number is not None:
            async with self._alone.connect() as connection:
                rows = (await connection.execute(_PENDING_OF, {"b_number": number})).all()
            return [_journal_entry(row) for row in rows]
        statement = select(TimelineOutboxRow).where(col(TimelineOutboxRow.moved).is_(False))
        return await self._rows(statement.order_by(col(TimelineOutboxRow.id)))

    async def entries(self, number: int) -> list[JournalEntry]:
        """Every entry of the incident, in the order they were written."""
        statement = select(TimelineOutboxRow).where(col(TimelineOutboxRow.number) == number)
        return await self._rows(statement.order_by(col(TimelineOutboxRow.id)))

    async def mark_moved(self, ids: Sequence[int]) -> None:
        """These entries are in Redis now (they stay here).

        Rows another mover is marking are skipped, not waited for: two movers locking overlapping rows in
        different orders would deadlock (PostgreSQL finds updated rows in a new place)."""
        if ids:
            await self._marking(ids)

    async def _mark_many(self, calls: Sequence[Sequence[int]]) -> list[None]:
        ids = [row_id for call in calls for row_id in call]
        for start in range(0, len(ids), _IN_CHUNK):
            await self._mark_one(ids[start : start + _IN_CHUNK])
        return [None] * len(calls)

    async def _mark_one(self, ids: Sequence[int]) -> None:
        async with self._alone.begin() as connection:  # one statement: the claim is its subquery
            await connection.execute(*marking_moved(ids))

    async def keep_moved(self, number: int, entries: Sequence[tuple[str, TimelineEntry]]) -> int:
        """Keep entries that are in the incident's Redis stream already (written there before SQL kept every
        entry), each with its stream id as once-token (two backfills keep it once), marked moved so nothing
        appends them to the stream again. How many were kept now."""
        kept = 0
        for stream_id, entry in entries:
            try:
                async with self._engine.begin() as connection:
                    await stage(connection, number, [entry], f"redis:{stream_id}", moved=True)
                kept += 1
            except IntegrityError:
                pass  # kept by another backfill
        return kept

    async def moved_counts(self, numbers: Sequence[int] | None = None, moved_only: bool = True) -> dict[int, int]:
        """How many entries each incident has moved to Redis: its stream holds at least that many. Without
        `moved_only`, how many it has in all."""
        statement = select(TimelineOutboxRow.number, func.count()).group_by(col(TimelineOutboxRow.number))
        if moved_only:
            statement = statement.where(col(TimelineOutboxRow.moved).is_(True))
        if numbers is None:
            return await self._counts(statement)
        counts: dict[int, int] = {}
        for start in range(0, len(numbers), _IN_CHUNK):  # within every driver's limit on bound parameters
            chunk = numbers[start : start + _IN_CHUNK]
            counts |= await self._counts(statement.where(col(TimelineOutboxRow.number).in_(chunk)))
        return counts

    async def _counts(self, statement: Any) -> dict[int, int]:
        async with self._sessions() as session:
            rows = (await session.exec(statement)).all()
        return {int(number): int(count) for number, count in rows}

    async def _rows(self, statement: Any) -> list[JournalEntry]:
        async with self._sessions() as session:
            rows: Sequence[TimelineOutboxRow] = (await session.exec(statement)).all()
        return [_journal_entry(row) for row in rows]


async def stage(
    connection: AsyncConnection,
    number: int,
    entries: Sequence[TimelineEntry],
    once: str | None = None,
    moved: bool = False,
) -> list[JournalEntry]:
    """Write timeline entries in the caller's transaction (a change's entries go with the change); as kept."""
    rows = [_row(number, entry, once) | {"moved": moved} for entry in entries]
    if not rows:
        return []
    ids = (await connection.execute(_INSERT, rows)).scalars().all()
    return [JournalEntry(int(row_id), number, entry) for row_id, entry in zip(ids, entries, strict=True)]


def marking_moved(ids: Sequence[int]) -> tuple[Update, dict[str, object]]:
    """The statement (and its parameters) of `TimelineJournal.mark_moved`, for a transaction of the caller's
    (an incident's Slack work marks the entries it moved with its lease)."""
    return _MARK_MOVED, {"b_ids": list(ids)}


def _row(number: int, entry: TimelineEntry, once: str | None) -> dict[str, Any]:
    return {
        "number": number,
        "at": utc(entry.at),
        "kind": entry.kind.value,
        "actor": entry.actor,
        "text": entry.text,
        "once": once,
    }


def _journal_entry(row: TimelineOutboxRow | Row[Any]) -> JournalEntry:
    assert row.id is not None
    return JournalEntry(row.id, row.number, TimelineEntry(row.at, EntryKind(row.kind), row.actor, row.text))
