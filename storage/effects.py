"""Slack work after the reply, queued in SQL until Slack (or a gateway) accepted it.

An effect is a JSON body under a queue key (an incident's effects run in order). `claim` leases it to one
process (its `not_before` moves past the lease); `done` ends it; `retry` sets when to try again; `give_up`
ends it as failed. A process that dies holding an effect loses nothing: its lease runs out and `due` hands
the effect out again, with `attempts` telling the performer it may have been carried out already.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Executable, Index, Row, String, Table, Text, Update, bindparam, delete, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.columns import UTCDateTime, utc
from storage.db import autocommit

PENDING, DONE, FAILED = "pending", "done", "failed"
Statement = tuple[Executable, dict[str, object]]  # a statement of the caller's and its parameters


class EffectRow(SQLModel, table=True):
    """One queued effect. Schema: migrations 0005 and 0009."""

    __tablename__ = "slack_effects"
    __table_args__ = (
        Index("ix_slack_effects_due", "status", "not_before"),
        Index("ix_slack_effects_once", "key", "once", unique=True),
        Index("ix_slack_effects_created", "status", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=String)
    body: str = Field(sa_type=Text)
    status: str = Field(sa_type=String)
    attempts: int
    not_before: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    once: str | None = Field(default=None, sa_type=String)


_TABLE: Table = EffectRow.__table__  # type: ignore[attr-defined]
_ADD = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
_FINISH = update(_TABLE).where(_TABLE.c.id.in_(bindparam("b_ids", expanding=True))).values(status=DONE)


_LEASE_ONE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.status == PENDING, _TABLE.c.not_before <= bindparam("b_now"))
    .values(not_before=bindparam("b_until", type_=UTCDateTime()), attempts=_TABLE.c.attempts + 1)
    .returning(*_TABLE.c)
)


@cache
def _lease_due(limit: int) -> Update:
    """Lease the oldest `limit` pending effects of key `b_key` due at `b_now` until `b_until`, returning them."""
    due = (
        core_select(_TABLE.c.id)
        .where(
            _TABLE.c.key == bindparam("b_key"),
            _TABLE.c.status == PENDING,
            _TABLE.c.not_before <= bindparam("b_now"),
        )
        .order_by(_TABLE.c.id)
        .limit(limit)
    )
    return (
        update(_TABLE)
        .where(_TABLE.c.id.in_(due.scalar_subquery()))
        .values(not_before=bindparam("b_until", type_=UTCDateTime()), attempts=_TABLE.c.attempts + 1)
        .returning(*_TABLE.c)
    )


@dataclass(frozen=True)
class QueuedEffect:
    id: int
    key: str
    body: dict[str, object]
    attempts: int  # including the current one, once claimed
    created_at: datetime


class EffectStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine, self._alone = engine, autocommit(engine)
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def add(
        self,
        key: str,
        bodies: Sequence[dict[str, object]],
        now: datetime,
        hold: timedelta = timedelta(0),
        once: str | None = None,
    ) -> list[int]:
        """Queue effects under `key`, in order; their ids. With `hold`, other processes leave them alone that
        long (the caller means to carry them out itself, when its pacing allows). With `once`, effects queued
        under `key` with that token before are not queued again (nothing is, and the ids are [])."""
        try:
            async with self._alone.begin() as connection:  # one statement
                return await stage_effects(connection, key, bodies, now, hold, once)
        except IntegrityError:
            if once is None:
                raise
            return []

    async def claim(self, effect_id: int, now: datetime, lease: timedelta) -> QueuedEffect | None:
        """Lease a pending effect that is due; None if it is done, failed or held by another process."""
        parameters = {"b_id": effect_id, "b_now": now, "b_until": now + lease}
        async with self._alone.begin() as connection:  # one statement
            row = (await connection.execute(_LEASE_ONE, parameters)).one_or_none()
        return None if row is None else _effect(row)

    async def claim_due(
        self,
        key: str,
        now: datetime,
        lease: timedelta,
        finished: Sequence[int] = (),
        limit: int = 50,
        also: Sequence[Statement] = (),
    ) -> list[QueuedEffect]:
        """Mark `finished` done (and run the caller's statements `also`), then lease the pending effects of
        `key` that are due, in one transaction; those leased, oldest first (at most `limit`)."""
        parameters = {"b_key": key, "b_now": now, "b_until": now + lease}
        engine = self._engine if finished or also else self._alone  # the lease alone is one statement
        async with engine.begin() as connection:
            if finished:
                await connection.execute(_FINISH, {"b_ids": list(finished)})
            for statement, values in also:
                await connection.execute(statement, values)
            rows = (await connection.execute(_lease_due(limit), parameters)).all()
        return sorted((_effect(row) for row in rows), key=lambda e: e.id)

    async def done(self, effect_id: int) -> None:
        await self._set(effect_id, status=DONE)

    async def done_all(self, effect_ids: Sequence[int]) -> None:
        """Mark every one of `effect_ids` done, in one statement."""
        if effect_ids:
            async with self._alone.begin() as connection:
                await connection.execute(_FINISH, {"b_ids": list(effect_ids)})

    async def release(self, effect_ids: Sequence[int], now: datetime) -> None:
        """Hand leased effects back unperformed: due at `now`, the claim not counted as an attempt."""
        if effect_ids:
            statement = (
                update(EffectRow)
                .where(col(EffectRow.id).in_(effect_ids), col(EffectRow.status) == PENDING)
                .values(not_before=utc(now), attempts=col(EffectRow.attempts) - 1)
                .execution_options(synchronize_session=False)
            )
            async with self._sessions.begin() as session:
                await session.exec(statement)

    async def retry(self, effect_id: int, at: datetime, counted: bool = True) -> None:
        """Try again at `at`; not `counted`, the claim that led here is no attempt (it could not run yet)."""
        attempts = {} if counted else {"attempts": col(EffectRow.attempts) - 1}
        await self._set(effect_id, not_before=utc(at), **attempts)

    async def give_up(self, effect_id: int) -> None:
        await self._set(effect_id, status=FAILED)

    async def prune(self, before: datetime) -> int:
        """Forget effects done or given up before `before` (their once-tokens with them); how many."""
        statement = delete(EffectRow).where(
            col(EffectRow.status).in_([DONE, FAILED]), col(EffectRow.created_at) < utc(before)
        )
        async with self._sessions.begin() as session:
            result = await session.exec(statement)
        return int(result.rowcount or 0)

    async def due(self, now: datetime, limit: int = 200, key: str | None = None) -> list[QueuedEffect]:
        """Pending effects nobody holds (of one queue key, or all), oldest first."""
        statement = (
            select(EffectRow)
            .where(col(EffectRow.status) == PENDING, col(EffectRow.not_before) <= now)
            .order_by(col(EffectRow.id))
            .limit(limit)
        )
        if key is not None:
            statement = statement.where(col(EffectRow.key) == key)
        async with self._sessions() as session:
            rows: Sequence[EffectRow] = (await session.exec(statement)).all()
        return [_effect(row) for row in rows]

    async def _set(self, effect_id: int, **values: object) -> None:
        async with self._alone.begin() as connection:  # one statement
            await connection.execute(update(_TABLE).where(_TABLE.c.id == effect_id).values(**values))


async def stage_effects(
    connection: AsyncConnection,
    key: str,
    bodies: Sequence[dict[str, object]],
    now: datetime,
    hold: timedelta = timedelta(0),
    once: str | None = None,
) -> list[int]:
    """Queue effects in the caller's transaction (a change's effects go with the change), in one statement; a
    token already used under `key` fails the transaction (IntegrityError)."""
    times = {"not_before": utc(now + hold), "created_at": utc(now)}
    rows = [
        {"key": key, "body": json.dumps(body), "status": PENDING, "attempts": 0, "once": token} | times
        for body, token in zip(bodies, _tokens(once, len(bodies)), strict=True)
    ]
    if not rows:
        return []
    return [int(row_id) for row_id in (await connection.execute(_ADD, rows)).scalars().all()]


def _tokens(once: str | None, count: int) -> list[str | None]:
    return [None if once is None else f"{once}:{position}" for position in range(count)]


def _effect(row: EffectRow | Row[Any]) -> QueuedEffect:
    assert row.id is not None
    return QueuedEffect(row.id, row.key, json.loads(row.body), row.attempts, row.created_at)
